/*
 * small.c -- workloads 1 and 2: a tight loop of malloc and free of small
 * blocks (16 to 256 bytes) around a live set, in 1 or more threads, each
 * thread on its own blocks.
 *
 * Each step frees a random block of the thread's live set and puts a new
 * block of a random size in its place, writing its first and last words;
 * every `burst` steps a burst of short-lived blocks is allocated and freed
 * in LIFO order (the temporary objects of real code).  Each thread does
 * the same work, so with T threads on T idle cores the wall time should
 * stay that of one thread.
 */
#include "bench.h"

#include <pthread.h>

static long threads = 1, iters = 16000000, live = 10000, minsz = 16, maxsz = 256, burst = 16;

typedef struct {
  long id;
  uint64_t check;
  uint64_t ops;
  char pad[BENCH_CACHE_LINE];
} worker_t;

static void *work(void *arg) {
  worker_t *w = arg;
  bench_rng_t r;
  bench_rng_seed(&r, 42 + (uint64_t)w->id);
  void **slot = bench_xmalloc(sizeof(void *) * (size_t)live);
  void *tmp[64];
  uint64_t check = 0, ops = 0;
  for (long i = 0; i < live; i++) {
    size_t n = bench_uniform(&r, (size_t)minsz, (size_t)maxsz);
    slot[i] = bench_xmalloc(n);
    memset(slot[i], (int)i, 8);
    ops++;
  }
  long nb = burst < 64 ? burst : 64;
  for (long i = 0; i < iters; i++) {
    size_t k = (size_t)(bench_rand(&r) % (uint64_t)live);
    char *old = slot[k];
    check += (unsigned char)old[0];
    free(old);
    size_t n = bench_uniform(&r, (size_t)minsz, (size_t)maxsz);
    char *p = bench_xmalloc(n);
    p[0] = (char)i;
    p[n - 1] = (char)k;
    slot[k] = p;
    ops += 2;
    if (nb > 0 && (i & 63) == 0) {
      /* a burst of temporaries, freed in reverse order */
      for (long j = 0; j < nb; j++) {
        tmp[j] = bench_xmalloc((size_t)minsz + (size_t)(j * 16) % (size_t)(maxsz - minsz + 1));
        *(volatile char *)tmp[j] = (char)j;
      }
      for (long j = nb; j-- > 0;) free(tmp[j]);
      ops += 2 * (uint64_t)nb;
    }
  }
  for (long i = 0; i < live; i++) free(slot[i]);
  ops += (uint64_t)live;
  free(slot);
  w->check = check;
  w->ops = ops;
  return NULL;
}

int main(int argc, char **argv) {
  bench_param_t ps[] = {
    { "threads", &threads, "threads, each doing the same work" },
    { "iters", &iters, "*replacement steps per thread" },
    { "live", &live, "live blocks per thread" },
    { "min", &minsz, "smallest block" },
    { "max", &maxsz, "largest block" },
    { "burst", &burst, "temporaries per burst (every 64 steps; 0: none)" },
    { NULL, NULL, NULL },
  };
  bench_args(argc, argv, "small blocks in a tight loop, each thread on its own blocks", ps);
  if (threads < 1 || live < 1 || minsz < 1 || maxsz < minsz) bench_usage(argv[0], "", ps);
  worker_t *w = bench_xmalloc(sizeof(worker_t) * (size_t)threads);
  pthread_t *t = bench_xmalloc(sizeof(pthread_t) * (size_t)threads);
  double t0 = bench_now();
  for (long i = 0; i < threads; i++) {
    w[i].id = i;
    if (threads == 1) work(&w[i]);
    else pthread_create(&t[i], NULL, work, &w[i]);
  }
  uint64_t ops = 0, check = 0;
  for (long i = 0; i < threads; i++) {
    if (threads > 1) pthread_join(t[i], NULL);
    ops += w[i].ops;
    check += w[i].check;
  }
  double secs = bench_now() - t0;
  bench_report("small", ops, threads, secs, check);
  free(t);
  free(w);
  return 0;
}
