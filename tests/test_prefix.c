/* test_prefix -- the prefixed API (mymalloc_*), which exists in every build
 * and is the only one of a --disable-override build: single-thread
 * semantics, then threads that hand blocks to each other (cross-thread
 * frees on the atomic lists), checked under ThreadSanitizer in CI. */
#define _GNU_SOURCE
#include "config.h"
#include "harness.h"
#include <errno.h>
#include <pthread.h>
#include <mymalloc/malloc.h>

#define THREADS 4
#define ROUNDS 200
#define PER 500

static void *volatile ring[THREADS][PER];
static pthread_barrier_t bar;

static void *worker(void *arg) {
  int id = (int)(intptr_t)arg;
  unsigned seed = (unsigned)id * 2654435761u;
  long bad = 0;
  for (int r = 0; r < ROUNDS; r++) {
    for (int i = 0; i < PER; i++) {
      seed = seed * 1103515245u + 12345u;
      size_t n = 1 + (seed >> 16) % (i % 50 == 0 ? 100000 : 600);
      unsigned char *p = (i & 1) ? mymalloc_calloc(1, n) : mymalloc_malloc(n);
      if (!p || ((uintptr_t)p & 15)) { bad++; continue; }
      if ((i & 1) && p[n - 1] != 0) bad++;
      memset(p, (unsigned char)(id + i), n);
      p[0] = (unsigned char)id; /* owner tag */
      ring[id][i] = p;
    }
    pthread_barrier_wait(&bar);
    /* free the blocks of the next thread: every free here is remote */
    int o = (id + 1) % THREADS;
    for (int i = 0; i < PER; i++) {
      unsigned char *p = ring[o][i];
      if (!p) continue;
      if (p[0] != (unsigned char)o) bad++;
      size_t u = mymalloc_malloc_usable_size(p);
      if (u == 0) bad++;
      if (i % 7 == 0) mymalloc_free_sized(p, 0); else mymalloc_free(p);
      ring[o][i] = NULL;
    }
    pthread_barrier_wait(&bar);
  }
  return (void *)bad;
}

int main(void) {
  /* single thread semantics */
  void *p = mymalloc_malloc(0);
  CHECK(p != NULL && aligned16(p));
  mymalloc_free(p);
  errno = 0;
  volatile size_t huge = SIZE_MAX;
  CHECK(mymalloc_malloc(huge) == NULL && errno == ENOMEM);
  CHECK(mymalloc_calloc(huge, 2) == NULL && errno == ENOMEM);
  CHECK(mymalloc_reallocarray(NULL, huge, 2) == NULL && errno == ENOMEM);
  void *a = (void *)1;
  CHECK(mymalloc_posix_memalign(&a, 24, 10) == EINVAL && a == (void *)1);
  CHECK(mymalloc_posix_memalign(&a, 4096, 10) == 0 && ((uintptr_t)a & 4095) == 0);
  mymalloc_free(a);
  for (size_t al = 16; al <= (8u << 20); al <<= 1) {
    void *volatile q = mymalloc_aligned_alloc(al, 100);   /* volatile: _FORTIFY_SOURCE knows alloc_size */
    CHECKF(q && ((uintptr_t)q & (al - 1)) == 0, "aligned_alloc(%zu)", al);
    memset(q, 1, mymalloc_malloc_usable_size(q));
    mymalloc_free(q);
  }
  void *m = mymalloc_memalign(100, 10);   /* rounded up to 128 */
  CHECK(m && ((uintptr_t)m & 127) == 0);
  mymalloc_free(m);
  void *v = mymalloc_valloc(1), *pv = mymalloc_pvalloc(1);
  CHECK(v && pv && ((uintptr_t)v & 4095) == 0 && ((uintptr_t)pv & 4095) == 0);
  CHECK(mymalloc_malloc_usable_size(pv) >= 4096);
  mymalloc_free(v);
  mymalloc_free_aligned_sized(pv, 4096, 4096);
  unsigned char *r = mymalloc_malloc(10);
  memcpy(r, "abcdefghij", 10);
  r = mymalloc_realloc(r, 100000);
  CHECK(r && memcmp(r, "abcdefghij", 10) == 0);
  r = mymalloc_realloc(r, 5);
  CHECK(r && memcmp(r, "abcde", 5) == 0);
  CHECK(mymalloc_realloc(r, 0) == NULL);
  CHECK(mymalloc_malloc_usable_size(NULL) == 0);
  CHECK(mymalloc_mallopt(M_TRIM_THRESHOLD, 1000) == 1);
  void *live = mymalloc_malloc(3000);
  struct mallinfo2 mi = mymalloc_mallinfo2();
#if MM_STATS   /* config.h: the byte counts come from the request counters */
  CHECK(mi.uordblks >= 3000);
#else
  (void)mi;
#endif
  mymalloc_free(live);

  /* threads freeing each other's blocks */
  pthread_barrier_init(&bar, NULL, THREADS);
  pthread_t t[THREADS];
  for (int i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i);
  long bad = 0;
  for (int i = 0; i < THREADS; i++) {
    void *res;
    pthread_join(t[i], &res);
    bad += (long)res;
  }
  CHECKF(bad == 0, "%ld bad blocks in the threads", bad);
  int tr = mymalloc_malloc_trim(0);
  CHECKF(tr == 0 || tr == 1, "malloc_trim returned %d", tr);
  return test_done("test_prefix");
}
