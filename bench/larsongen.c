/*
 * larsongen.c -- the server of Larson and Krishnan's benchmark
 * ("Memory allocation for long-running server applications", ISMM 1998)
 * as the public suites run it: each of `threads` threads owns an array of
 * `blocks` blocks of `min` to `max` bytes and replaces `iters` random ones
 * (free the old block, malloc a new one of a random size); then it starts
 * a new thread -- the next generation -- that takes over its array, and
 * exits.  The main thread fills the arrays.  So most frees are of blocks
 * that another thread allocated, usually one that has exited: with
 * iters = blocks, about 63 % of a generation's frees.
 *
 * Fixed time: the generations run for `ms` milliseconds, then each chain
 * finishes its current generation; the figure is the malloc+free calls
 * per second of that phase (mops_per_s; filling and the final frees are
 * not timed).
 */
#include "bench.h"

#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

static long threads = 2, blocks = 5000, iters = 5000, minsz = 8, maxsz = 1000, ms = 1000;

static atomic_int stop;
static pthread_mutex_t done_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cond = PTHREAD_COND_INITIALIZER;
static long chains_done;

typedef struct {
  char **array;
  bench_rng_t rng;
  uint64_t ops, check, generations;
  char pad[BENCH_CACHE_LINE];
} chain_t;

static void *generation(void *arg) {
  chain_t *c = arg;
  uint64_t check = c->check;
  for (long i = 0; i < iters; i++) {
    size_t k = (size_t)(bench_rand(&c->rng) % (uint64_t)blocks);
    check += (unsigned char)c->array[k][0];
    free(c->array[k]);
    size_t n = bench_uniform(&c->rng, (size_t)minsz, (size_t)maxsz);
    char *p = bench_xmalloc(n);
    p[0] = (char)n;
    p[n - 1] = (char)i;
    c->array[k] = p;
  }
  c->check = check;
  c->ops += 2 * (uint64_t)iters;
  c->generations++;
  if (!atomic_load_explicit(&stop, memory_order_relaxed)) {
    pthread_t t;
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &a, generation, c) == 0) {
      pthread_attr_destroy(&a);
      return NULL;
    }
    pthread_attr_destroy(&a);
  }
  pthread_mutex_lock(&done_lock);
  chains_done++;
  pthread_cond_signal(&done_cond);
  pthread_mutex_unlock(&done_lock);
  return NULL;
}

int main(int argc, char **argv) {
  bench_param_t ps[] = {
    { "threads", &threads, "threads (chains of generations)" },
    { "blocks", &blocks, "blocks in each thread's array" },
    { "iters", &iters, "replacements per generation" },
    { "min", &minsz, "smallest block" },
    { "max", &maxsz, "largest block" },
    { "ms", &ms, "*milliseconds the generations run" },
    { NULL, NULL, NULL },
  };
  bench_args(argc, argv, "Larson server: per-thread arrays handed to the next generation", ps);
  if (threads < 1 || blocks < 1 || iters < 1 || minsz < 1 || maxsz < minsz)
    bench_usage(argv[0], "", ps);
  chain_t *c = aligned_alloc(BENCH_CACHE_LINE, sizeof(chain_t) * (size_t)threads);
  if (!c) return 1;
  for (long i = 0; i < threads; i++) {
    memset(&c[i], 0, sizeof(c[i]));
    bench_rng_seed(&c[i].rng, 4141 + (uint64_t)i);
    c[i].array = bench_xmalloc(sizeof(char *) * (size_t)blocks);
    for (long j = 0; j < blocks; j++) {
      size_t n = bench_uniform(&c[i].rng, (size_t)minsz, (size_t)maxsz);
      c[i].array[j] = bench_xmalloc(n);
      c[i].array[j][0] = (char)n;
    }
  }
  double t0 = bench_now();
  for (long i = 0; i < threads; i++) {
    pthread_t t;
    if (pthread_create(&t, NULL, generation, &c[i]) != 0) return 1;
    pthread_detach(t);
  }
  usleep((useconds_t)(ms * 1000));
  atomic_store(&stop, 1);
  pthread_mutex_lock(&done_lock);
  while (chains_done < threads) pthread_cond_wait(&done_cond, &done_lock);
  pthread_mutex_unlock(&done_lock);
  double secs = bench_now() - t0;
  uint64_t ops = 0, check = 0, gens = 0;
  for (long i = 0; i < threads; i++) {
    ops += c[i].ops;
    check += c[i].check;
    gens += c[i].generations;
    for (long j = 0; j < blocks; j++) free(c[i].array[j]);
    free(c[i].array);
  }
  printf("larson-gen: generations=%llu\n", (unsigned long long)gens);
  bench_report("larson-gen", ops, threads, secs, check);
  free(c);
  return 0;
}
