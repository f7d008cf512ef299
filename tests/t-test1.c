/* t-test1 -- our version of ptmalloc's classic multi-thread test.
 *
 * NTHREADS threads share an array of NSLOTS slots.  Each step a thread
 * picks a random slot under that slot's lock: an empty slot gets a new
 * block (malloc, calloc, memalign, posix_memalign or aligned_alloc of a
 * random size: mostly small, some medium, a few up to 1 MiB), filled with a
 * pattern derived from a seed; a full slot has its block's pattern checked
 * and then either freed, or resized with realloc (pattern checked up to
 * the smaller size and refilled).  Slots are shared, so most blocks are
 * freed or reallocated by a thread other than the one that allocated them.
 *
 * Checked: every pointer is 16-aligned (and aligned as asked),
 * malloc_usable_size >= the size asked, calloc memory reads as zero,
 * contents survive until free, and blocks really do cross threads.
 * Bounded: 300000 steps per thread or 3 seconds, whichever first
 * (MYMALLOC_TEST_LONG=1: 10x the steps, 60 s).
 */
#include "config.h"
#include "harness.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#define NTHREADS 4
#define NSLOTS 4096

struct slot {
  pthread_mutex_t lock;
  unsigned char *p;
  size_t size;
  size_t align;        /* asked alignment (0: none) */
  uint64_t seed;
  int owner;           /* thread that allocated */
};

static struct slot slots[NSLOTS];
static long iters_per_thread = 300000;
static double time_limit = 3.0;
static struct timespec t_start;

struct tstat {
  long ops, allocs, frees, reallocs, cross_frees, cross_reallocs;
  long bad_align, bad_contents, bad_usable, bad_zero, null_results;
};
static struct tstat stats[NTHREADS];

static double elapsed(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)(t.tv_sec - t_start.tv_sec) + (double)(t.tv_nsec - t_start.tv_nsec) / 1e9;
}


static size_t random_size(uint64_t *r) {
  unsigned k = (unsigned)(th_rng(r) % 1000);
  if (k < 800) return (size_t)(th_rng(r) % 257);            /* 0..256 */
  if (k < 950) return (size_t)(th_rng(r) % 8192) + 1;        /* small pages */
  if (k < 994) return (size_t)(th_rng(r) % 65536) + 1;       /* medium */
  return (size_t)(th_rng(r) % (1u << 20)) + 1;               /* huge, <= 1 MiB */
}

static void check_new_block(struct tstat *st, struct slot *s) {
  if (!aligned16(s->p) || (s->align && !aligned_to(s->p, s->align))) {
    st->bad_align++;
    fprintf(stderr, "FAIL: %p not aligned to %zu (size %zu)\n", (void *)s->p,
            s->align ? s->align : 16, s->size);
  }
  if (malloc_usable_size(s->p) < s->size) {
    st->bad_usable++;
    fprintf(stderr, "FAIL: usable size %zu < %zu\n", malloc_usable_size(s->p), s->size);
  }
}

static void allocate(struct tstat *st, struct slot *s, int me, uint64_t *r) {
  size_t n = random_size(r);
  unsigned how = (unsigned)(th_rng(r) % 16);
  s->align = 0;
  if (how < 9) {
    s->p = malloc(n);
  } else if (how < 11) {
    size_t nm = (size_t)(th_rng(r) % 8) + 1;
    size_t each = n / nm + 1;
    s->p = calloc(nm, each);
    n = nm * each;
    if (s->p) {
      size_t nz = 0;
      for (size_t i = 0; i < n; i++) nz += s->p[i] != 0;
      if (nz) {
        st->bad_zero++;
        fprintf(stderr, "FAIL: calloc(%zu, %zu) has %zu non-zero bytes\n", nm, each, nz);
      }
    }
  } else {
    /* 16 .. 64 KiB, now and then 1 MiB or 4 MiB */
    unsigned sh = (unsigned)(th_rng(r) % 14);
    size_t a = sh < 13 ? (size_t)16 << sh : (size_t)1 << (20 + 2 * (th_rng(r) % 2));
    s->align = a;
    if (how < 13) {
      s->p = memalign(a, n);
    } else if (how < 15) {
      void *q = NULL;
      int e = posix_memalign(&q, a, n);
      s->p = e == 0 ? (unsigned char *)q : NULL;
    } else {
      s->p = aligned_alloc(a, n);
    }
  }
  if (!s->p) {
    st->null_results++;
    fprintf(stderr, "FAIL: allocation of %zu returned NULL (errno %d)\n", n, errno);
    return;
  }
  s->size = n;
  s->seed = th_rng(r);
  s->owner = me;
  check_new_block(st, s);
  th_fillw(s->p, n, s->seed);
  st->allocs++;
}

static void check_contents(struct tstat *st, struct slot *s, size_t n) {
  if (!th_verifyw(s->p, n, s->seed)) {
    st->bad_contents++;
    fprintf(stderr, "FAIL: block %p (size %zu, allocated by thread %d) was overwritten\n",
            (void *)s->p, s->size, s->owner);
  }
}

static void *worker(void *arg) {
  int me = (int)(intptr_t)arg;
  struct tstat *st = &stats[me];
  uint64_t r = 0x1234567ULL * (uint64_t)(me + 1) + (uint64_t)time(NULL);
  for (long i = 0; i < iters_per_thread; i++) {
    if ((i & 1023) == 0 && elapsed() > time_limit) break;
    struct slot *s = &slots[th_rng(&r) % NSLOTS];
    pthread_mutex_lock(&s->lock);
    if (!s->p) {
      allocate(st, s, me, &r);
    } else {
      unsigned what = (unsigned)(th_rng(&r) % 4);
      if (what < 3) {
        check_contents(st, s, s->size);
        if (s->owner != me) st->cross_frees++;
        free(s->p);
        s->p = NULL;
        st->frees++;
      } else {
        size_t n = random_size(&r);
        unsigned char *q = realloc(s->p, n);
        if (n == 0) {
          /* glibc semantics: realloc(p, 0) frees p and returns NULL */
          if (q != NULL) { st->null_results++; free(q); }
          s->p = NULL;
        } else if (!q) {
          st->null_results++;
          fprintf(stderr, "FAIL: realloc to %zu returned NULL\n", n);
        } else {
          if (s->owner != me) st->cross_reallocs++;
          s->p = q;
          check_contents(st, s, n < s->size ? n : s->size);
          s->size = n;
          s->align = 0;
          s->seed = th_rng(&r);
          s->owner = me;
          check_new_block(st, s);
          th_fillw(s->p, n, s->seed);
        }
        st->reallocs++;
      }
    }
    pthread_mutex_unlock(&s->lock);
    st->ops++;
  }
  return NULL;
}

int main(void) {
  if (th_long()) { iters_per_thread *= 10; time_limit = 60.0; }
  for (int i = 0; i < NSLOTS; i++) pthread_mutex_init(&slots[i].lock, NULL);
  clock_gettime(CLOCK_MONOTONIC, &t_start);

  pthread_t tid[NTHREADS];
  for (int i = 0; i < NTHREADS; i++)
    CHECK(pthread_create(&tid[i], NULL, worker, (void *)(intptr_t)i) == 0);
  for (int i = 0; i < NTHREADS; i++) pthread_join(tid[i], NULL);

  struct tstat tot;
  memset(&tot, 0, sizeof(tot));
  for (int i = 0; i < NTHREADS; i++) {
    tot.ops += stats[i].ops; tot.allocs += stats[i].allocs; tot.frees += stats[i].frees;
    tot.reallocs += stats[i].reallocs; tot.cross_frees += stats[i].cross_frees;
    tot.cross_reallocs += stats[i].cross_reallocs; tot.bad_align += stats[i].bad_align;
    tot.bad_contents += stats[i].bad_contents; tot.bad_usable += stats[i].bad_usable;
    tot.bad_zero += stats[i].bad_zero; tot.null_results += stats[i].null_results;
  }
  printf("t-test1: %ld ops in %.2f s: %ld allocs, %ld frees (%ld by another thread), "
         "%ld reallocs (%ld of another thread's block)\n",
         tot.ops, elapsed(), tot.allocs, tot.frees, tot.cross_frees, tot.reallocs, tot.cross_reallocs);
  CHECK(tot.bad_align == 0);
  CHECK(tot.bad_contents == 0);
  CHECK(tot.bad_usable == 0);
  CHECK(tot.bad_zero == 0);
  CHECK(tot.null_results == 0);
  CHECK(tot.ops > 10000);
  /* the point of the test: blocks really crossed threads */
  CHECK(tot.cross_frees > 100);
  CHECK(tot.cross_reallocs > 10);

  /* the survivors (allocated by the workers, now dead): check and free */
  long left = 0, bad = 0;
  for (int i = 0; i < NSLOTS; i++) {
    struct slot *s = &slots[i];
    if (!s->p) continue;
    if (!th_verifyw(s->p, s->size, s->seed)) bad++;
    free(s->p);
    s->p = NULL;
    left++;
  }
  CHECKF(bad == 0, "%ld of %ld surviving blocks damaged", bad, left);

  /* the heap is usable after the workers are gone */
  void *p = malloc(100);
  CHECK(p != NULL && aligned16(p));
  th_sink = p;
  free(p);
  return test_done("t-test1");
}
