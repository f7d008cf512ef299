/*
 * rpbench.c -- the pattern of rpmalloc's benchmark: `threads` threads
 * each allocate batches of `batch` blocks of mixed sizes (log-uniform,
 * 16 bytes to 16 KB; first and last byte written), and free the previous
 * batch -- all but a share of it (`cross` percent), which goes to the
 * next thread through a lock-free queue and is freed there.  So
 * `cross` percent of the frees are of blocks another thread allocated.
 *
 * Fixed work (`loops` batches per thread); the figure is memory
 * operations (malloc and free calls) per CPU second of the process
 * (ops_per_cpu_s), as rpmalloc's benchmark reports it.
 */
#include "bench.h"

#include <stdatomic.h>
#include <sys/resource.h>
#include <time.h>

static long threads = 2, loops = 20000, batch = 256, cross = 25, minsz = 16, maxsz = 16383;

/* A handed-over part of a batch: a node of a Treiber stack (pushed by
 * one thread, all taken at once by the owner). */
typedef struct handoff {
  struct handoff *next;
  long n;
  void *blk[];
} handoff_t;

typedef struct worker {
  _Alignas(BENCH_CACHE_LINE) _Atomic(handoff_t *) inbox;
  _Alignas(BENCH_CACHE_LINE) struct worker *next;
  long id;
  uint64_t ops, check;
  _Atomic long done;   /* batches done so far (read by the first to finish) */
} worker_t;

/* The drift: when the first thread finishes, how far the others are
 * behind.  The others then hand blocks to its inbox, which nobody drains
 * until the end, so the run's memory (and its page faults) grows with
 * the drift: read the figure with it. */
static _Atomic int first_done;
static double first_cpu_s;
static long behind;

static uint64_t drain(worker_t *w) {
  uint64_t ops = 0;
  handoff_t *h = atomic_exchange_explicit(&w->inbox, NULL, memory_order_acquire);
  while (h) {
    handoff_t *next = h->next;
    for (long i = 0; i < h->n; i++) {
      w->check += *(unsigned char *)h->blk[i];
      free(h->blk[i]);
    }
    ops += (uint64_t)h->n + 1;
    free(h);
    h = next;
  }
  return ops;
}

static void *work(void *arg) {
  worker_t *w = arg;
  bench_rng_t r;
  bench_rng_seed(&r, 5 + (uint64_t)w->id);
  void **prev = bench_xmalloc(sizeof(void *) * (size_t)batch);
  void **cur = bench_xmalloc(sizeof(void *) * (size_t)batch);
  long nprev = 0, give = batch * cross / 100;
  uint64_t ops = 0;
  for (long l = 0; l < loops; l++) {
    for (long i = 0; i < batch; i++) {
      size_t n = bench_loguniform(&r, (size_t)minsz, (size_t)maxsz);
      unsigned char *p = bench_xmalloc(n);
      p[0] = (unsigned char)n;
      p[n - 1] = (unsigned char)i;
      cur[i] = p;
    }
    ops += (uint64_t)batch;
    if (nprev) {
      handoff_t *h = bench_xmalloc(sizeof(handoff_t) + sizeof(void *) * (size_t)give);
      h->n = give;
      memcpy(h->blk, prev, sizeof(void *) * (size_t)give);
      h->next = atomic_load_explicit(&w->next->inbox, memory_order_relaxed);
      while (!atomic_compare_exchange_weak_explicit(&w->next->inbox, &h->next, h,
                                                    memory_order_release, memory_order_relaxed)) {
      }
      for (long i = give; i < nprev; i++) {
        w->check += *(unsigned char *)prev[i];
        free(prev[i]);
      }
      ops += 1 + (uint64_t)(nprev - give);
    }
    ops += drain(w);
    atomic_store_explicit(&w->done, l + 1, memory_order_relaxed);
    void **t = prev;
    prev = cur;
    cur = t;
    nprev = batch;
  }
  if (!atomic_exchange(&first_done, 1)) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    first_cpu_s = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
    for (worker_t *o = w->next; o != w; o = o->next)
      behind += loops - atomic_load_explicit(&o->done, memory_order_relaxed);
  }
  for (long i = 0; i < nprev; i++) free(prev[i]);
  ops += (uint64_t)nprev;
  free(prev);
  free(cur);
  w->ops = ops;
  return NULL;
}

static double cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

int main(int argc, char **argv) {
  bench_param_t ps[] = {
    { "threads", &threads, "threads, in a ring: each hands blocks to the next" },
    { "loops", &loops, "*batches per thread" },
    { "batch", &batch, "blocks per batch" },
    { "cross", &cross, "percent of each batch freed by the next thread" },
    { "min", &minsz, "smallest block" },
    { "max", &maxsz, "largest block" },
    { NULL, NULL, NULL },
  };
  bench_args(argc, argv, "rpmalloc's benchmark pattern: batches, a share freed by another thread", ps);
  if (threads < 1 || batch < 1 || cross < 0 || cross > 100 || minsz < 1 || maxsz < minsz)
    bench_usage(argv[0], "", ps);
  worker_t *w = aligned_alloc(BENCH_CACHE_LINE, sizeof(worker_t) * (size_t)threads);
  if (!w) return 1;
  for (long i = 0; i < threads; i++) {
    memset(&w[i], 0, sizeof(w[i]));
    w[i].id = i;
    w[i].next = &w[(i + 1) % threads];
  }
  double t0 = bench_now(), c0 = cpu_s();
  bench_parallel(threads, work, w, sizeof(*w));
  uint64_t ops = 0, check = 0;
  for (long i = 0; i < threads; i++) ops += drain(&w[i]);  /* the last handovers */
  double secs = bench_now() - t0, cpu = cpu_s() - c0;
  for (long i = 0; i < threads; i++) {
    ops += w[i].ops;
    check += w[i].check;
  }
  printf("rpbench: cpu_s=%.4f ops_per_cpu_s=%.0f\n", cpu, cpu > 0 ? (double)ops / cpu : 0.0);
  printf("rpbench: first thread done after %.4f CPU s; the others %ld batches behind (drift)\n",
         first_cpu_s, behind);
  bench_report("rpbench", ops, threads, secs, check);
  free(w);
  return 0;
}
