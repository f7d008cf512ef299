/*
 * falseshare.c -- workload 5: false sharing, the cache-thrash and
 * cache-scratch tests of Hoard (Berger et al., ASPLOS 2000).
 *
 * cache-thrash (active false sharing): each thread allocates a small
 * object, writes every byte of it `writes` times, frees it, and repeats
 * `iters` times.  An allocator that hands objects of one cache line to
 * two threads makes the cores fight over that line.
 *
 * cache-scratch (passive false sharing): the main thread allocates one
 * small object per thread, side by side, and gives one to each thread;
 * the thread frees it, then runs the cache-thrash loop.  An allocator
 * that gives the freed object back to the thread that freed it (instead
 * of to its owner) hands the threads neighbouring objects.
 *
 * Each thread does the same work: with T threads on T idle cores the wall
 * time should stay that of one thread.
 */
#include "bench.h"

#include <pthread.h>

static long threads = 2, iters = 1000, writes = 40000, objsize = 8;

typedef struct {
  long id;
  char *given;          /* cache-scratch: the object to free first */
  uint64_t check;
  char pad[BENCH_CACHE_LINE];
} worker_t;

static void *work(void *arg) {
  worker_t *w = arg;
  uint64_t check = 0;
  if (w->given) free(w->given);
  for (long i = 0; i < iters; i++) {
    volatile char *p = bench_xmalloc((size_t)objsize);
    for (long j = 0; j < writes; j++) {
      for (long k = 0; k < objsize; k++) p[k] = (char)(p[k] + 1);
    }
    check += (unsigned char)p[0];
    free((void *)p);
  }
  w->check = check;
  return NULL;
}

static double run(int scratch, uint64_t *check) {
  worker_t *w = bench_xmalloc(sizeof(worker_t) * (size_t)threads);
  pthread_t *t = bench_xmalloc(sizeof(pthread_t) * (size_t)threads);
  double t0 = bench_now();
  for (long i = 0; i < threads; i++) {
    w[i].id = i;
    w[i].given = NULL;
  }
  if (scratch) {
    /* neighbouring objects, allocated by the main thread */
    for (long i = 0; i < threads; i++) {
      w[i].given = bench_xmalloc((size_t)objsize);
      memset(w[i].given, 0, (size_t)objsize);
    }
  }
  for (long i = 0; i < threads; i++) pthread_create(&t[i], NULL, work, &w[i]);
  for (long i = 0; i < threads; i++) {
    pthread_join(t[i], NULL);
    *check += w[i].check;
  }
  double secs = bench_now() - t0;
  free(t);
  free(w);
  return secs;
}

int main(int argc, char **argv) {
  bench_param_t ps[] = {
    { "threads", &threads, "threads, each doing the same work" },
    { "iters", &iters, "*objects allocated per thread and test" },
    { "writes", &writes, "writes of each byte of an object" },
    { "size", &objsize, "object size" },
    { NULL, NULL, NULL },
  };
  bench_args(argc, argv, "false sharing: cache-thrash and cache-scratch", ps);
  if (threads < 1 || objsize < 1) bench_usage(argv[0], "", ps);
  uint64_t check = 0;
  double thrash = run(0, &check);
  double scratch = run(1, &check);
  printf("cache-thrash: %.4f s  cache-scratch: %.4f s\n", thrash, scratch);
  uint64_t ops = 2 * 2 * (uint64_t)threads * (uint64_t)iters + 2 * (uint64_t)threads;
  bench_report("falseshare", ops, threads, thrash + scratch, check);
  return 0;
}
