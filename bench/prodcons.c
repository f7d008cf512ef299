/*
 * prodcons.c -- workload 4: producer/consumer.  One thread allocates
 * blocks of random small sizes, writes them and passes them through a
 * bounded lock-free ring; another thread reads and frees them.  Every free
 * is a cross-thread free, at the full rate the allocator can take.
 * With pairs=P, P producer/consumer pairs run side by side.  Fixed work;
 * the figure is the frees per second (frees_per_s) from the threads'
 * start to their end.
 */
#include "bench.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

static long items = 3000000, ring = 1024, minsz = 16, maxsz = 256, pairs = 1;

typedef struct {
  _Alignas(BENCH_CACHE_LINE) _Atomic(uint64_t) head;   /* written by the producer */
  _Alignas(BENCH_CACHE_LINE) _Atomic(uint64_t) tail;   /* written by the consumer */
  _Alignas(BENCH_CACHE_LINE) char **buf;
  uint64_t mask;
  long id;
  uint64_t check;
} queue_t;

static inline void relax(unsigned *spins) {
  if (++*spins < 64) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  } else {
    *spins = 0;
    sched_yield();
  }
}

static void *producer(void *arg) {
  queue_t *q = arg;
  bench_rng_t r;
  bench_rng_seed(&r, 3 + (uint64_t)q->id);
  uint64_t head = 0;
  for (long i = 0; i < items; i++) {
    size_t n = bench_uniform(&r, (size_t)minsz, (size_t)maxsz);
    char *p = bench_xmalloc(n);
    memcpy(p, &n, sizeof(n) < n ? sizeof(n) : n);
    p[n - 1] = (char)i;
    unsigned spins = 0;
    while (head - atomic_load_explicit(&q->tail, memory_order_acquire) > q->mask) relax(&spins);
    q->buf[head & q->mask] = p;
    atomic_store_explicit(&q->head, ++head, memory_order_release);
  }
  return NULL;
}

static void *consumer(void *arg) {
  queue_t *q = arg;
  uint64_t tail = 0, check = 0;
  for (long i = 0; i < items; i++) {
    unsigned spins = 0;
    while (atomic_load_explicit(&q->head, memory_order_acquire) == tail) relax(&spins);
    char *p = q->buf[tail & q->mask];
    atomic_store_explicit(&q->tail, ++tail, memory_order_release);
    check += (unsigned char)p[0];
    free(p);
  }
  q->check = check;
  return NULL;
}

int main(int argc, char **argv) {
  bench_param_t ps[] = {
    { "items", &items, "*blocks passed per pair" },
    { "ring", &ring, "ring slots (a power of two)" },
    { "min", &minsz, "smallest block (>= 8)" },
    { "max", &maxsz, "largest block" },
    { "pairs", &pairs, "producer/consumer pairs" },
    { NULL, NULL, NULL },
  };
  bench_args(argc, argv, "producer/consumer: one thread allocates, another frees", ps);
  if (ring < 2 || (ring & (ring - 1)) || minsz < 8 || maxsz < minsz || pairs < 1)
    bench_usage(argv[0], "", ps);
  queue_t *q = aligned_alloc(BENCH_CACHE_LINE, sizeof(queue_t) * (size_t)pairs);
  pthread_t *t = bench_xmalloc(sizeof(pthread_t) * 2 * (size_t)pairs);
  if (!q) return 1;
  double t0 = bench_now();
  for (long i = 0; i < pairs; i++) {
    memset(&q[i], 0, sizeof(q[i]));
    q[i].buf = bench_xmalloc(sizeof(char *) * (size_t)ring);
    q[i].mask = (uint64_t)ring - 1;
    q[i].id = i;
    pthread_create(&t[2 * i], NULL, producer, &q[i]);
    pthread_create(&t[2 * i + 1], NULL, consumer, &q[i]);
  }
  uint64_t check = 0;
  for (long i = 0; i < pairs; i++) {
    pthread_join(t[2 * i], NULL);
    pthread_join(t[2 * i + 1], NULL);
    check += q[i].check;
    free(q[i].buf);
  }
  double secs = bench_now() - t0;
  uint64_t frees = (uint64_t)items * (uint64_t)pairs;
  printf("prodcons: frees=%llu frees_per_s=%.0f\n", (unsigned long long)frees,
         secs > 0 ? (double)frees / secs : 0.0);
  bench_report("prodcons", 2 * (uint64_t)items * (uint64_t)pairs, 2 * pairs, secs, check);
  free(t);
  free(q);
  return 0;
}
