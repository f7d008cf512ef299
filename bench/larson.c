/*
 * larson.c -- workload 3: a server simulation in the style of Larson and
 * Krishnan's benchmark ("Memory allocation for long-running server
 * applications", ISMM 1998).
 *
 * A shared array of `slots` blocks, filled by the main thread.  In each
 * of `rounds` rounds, `threads` new threads are started; each replaces
 * `iters` random blocks of the whole array (atomic exchange) by new blocks
 * of random sizes, freeing the old block.  So most frees are of blocks
 * that another thread allocated -- often a thread that has exited since,
 * as in a server whose worker threads come and go.
 */
#include "bench.h"

#include <pthread.h>
#include <stdatomic.h>

static long threads = 2, rounds = 20, iters = 300000, slots = 20000, minsz = 16, maxsz = 1024;

static _Atomic(char *) *array;

typedef struct {
  long id;
  uint64_t check;
  char pad[BENCH_CACHE_LINE];
} worker_t;

static void *work(void *arg) {
  worker_t *w = arg;
  bench_rng_t r;
  bench_rng_seed(&r, 1000 + (uint64_t)w->id);
  uint64_t check = 0;
  for (long i = 0; i < iters; i++) {
    size_t k = (size_t)(bench_rand(&r) % (uint64_t)slots);
    size_t n = bench_uniform(&r, (size_t)minsz, (size_t)maxsz);
    char *p = bench_xmalloc(n);
    p[0] = (char)n;
    p[n - 1] = (char)i;
    char *old = atomic_exchange_explicit(&array[k], p, memory_order_acq_rel);
    check += (unsigned char)old[0];
    free(old);
  }
  w->check = check;
  return NULL;
}

int main(int argc, char **argv) {
  bench_param_t ps[] = {
    { "threads", &threads, "threads per round" },
    { "rounds", &rounds, "*rounds (new threads each round)" },
    { "iters", &iters, "replacements per thread and round" },
    { "slots", &slots, "blocks in the shared array" },
    { "min", &minsz, "smallest block" },
    { "max", &maxsz, "largest block" },
    { NULL, NULL, NULL },
  };
  bench_args(argc, argv, "Larson-style server: threads replace random blocks of a shared array", ps);
  if (threads < 1 || slots < 1 || minsz < 1 || maxsz < minsz) bench_usage(argv[0], "", ps);
  array = bench_xmalloc(sizeof(*array) * (size_t)slots);
  bench_rng_t r;
  bench_rng_seed(&r, 7);
  double t0 = bench_now();
  for (long i = 0; i < slots; i++) {
    size_t n = bench_uniform(&r, (size_t)minsz, (size_t)maxsz);
    char *p = bench_xmalloc(n);
    p[0] = (char)n;
    atomic_init(&array[i], p);
  }
  worker_t *w = bench_xmalloc(sizeof(worker_t) * (size_t)threads);
  pthread_t *t = bench_xmalloc(sizeof(pthread_t) * (size_t)threads);
  uint64_t check = 0;
  for (long round = 0; round < rounds; round++) {
    for (long i = 0; i < threads; i++) {
      w[i].id = round * threads + i;
      pthread_create(&t[i], NULL, work, &w[i]);
    }
    for (long i = 0; i < threads; i++) {
      pthread_join(t[i], NULL);
      check += w[i].check;
    }
  }
  for (long i = 0; i < slots; i++) free(atomic_load(&array[i]));
  double secs = bench_now() - t0;
  uint64_t ops = 2 * (uint64_t)slots + 2 * (uint64_t)rounds * (uint64_t)threads * (uint64_t)iters;
  bench_report("larson", ops, threads, secs, check);
  free(t);
  free(w);
  free(array);
  return 0;
}
