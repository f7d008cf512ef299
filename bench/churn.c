/*
 * churn.c -- workload 10: thread churn.  Rounds of short-lived threads:
 * each thread callocs one block, swaps it into a random slot of a shared
 * table of pointers (atomic exchange), frees what it got out (a block of
 * an earlier, usually exited, thread), and exits.  An allocator that
 * keeps anything per exited thread grows with the number of rounds; the
 * report's peak RSS shows it.
 */
#include "bench.h"

#include <pthread.h>
#include <stdatomic.h>

static long rounds = 5000, threads = 10, slots = 1000, size = 128;

static _Atomic(char *) *table;
static _Atomic(uint64_t) check;

static void *worker(void *arg) {
  uint64_t id = (uint64_t)(uintptr_t)arg;
  bench_rng_t r;
  bench_rng_seed(&r, id);
  char *p = calloc(1, (size_t)size);
  if (!p) {
    fprintf(stderr, "out of memory (%ld bytes)\n", size);
    exit(1);
  }
  p[0] = (char)id;
  char *old = atomic_exchange(&table[bench_uniform(&r, 0, (size_t)slots - 1)], p);
  if (old) {
    atomic_fetch_add_explicit(&check, (unsigned char)old[0], memory_order_relaxed);
    free(old);
  }
  return NULL;
}

int main(int argc, char **argv) {
  bench_param_t ps[] = {
    { "rounds", &rounds, "*rounds of threads" },
    { "threads", &threads, "threads per round" },
    { "slots", &slots, "slots of the shared table" },
    { "size", &size, "bytes per block (>= 1)" },
    { NULL, NULL, NULL },
  };
  bench_args(argc, argv, "thread churn: short-lived threads swap blocks through a table", ps);
  if (threads < 1 || slots < 1 || size < 1) bench_usage(argv[0], "", ps);
  table = calloc((size_t)slots, sizeof(*table));
  pthread_t *tid = bench_xmalloc((size_t)threads * sizeof(*tid));
  if (!table) return 1;
  double t0 = bench_now();
  uint64_t n = 0;
  for (long i = 0; i < rounds; i++) {
    for (long j = 0; j < threads; j++)
      if (pthread_create(&tid[j], NULL, worker, (void *)(uintptr_t)(n + (uint64_t)j + 1)) != 0) {
        fprintf(stderr, "pthread_create failed\n");
        return 1;
      }
    for (long j = 0; j < threads; j++) pthread_join(tid[j], NULL);
    n += (uint64_t)threads;
  }
  double secs = bench_now() - t0;
  for (long i = 0; i < slots; i++) free(atomic_load(&table[i]));
  free(table);
  free(tid);
  /* calloc and the free of what came out: two calls per thread */
  bench_report("churn", 2 * n, threads, secs, atomic_load(&check));
  return 0;
}
