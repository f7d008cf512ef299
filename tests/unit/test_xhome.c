/*
 * test_xhome -- where a cross-thread free puts its block: a block of the
 * page its owner is allocating from (the owner's current page of the
 * class) goes back to that page's cross-thread list (held with the others
 * of that page until a block of another page comes, there are 16, or the
 * freeing thread's cache is flushed: here at its exit); a block of
 * another of the owner's pages goes to the freeing thread's cross-thread
 * cache.
 *
 * Fed with the blocks another thread is allocating from, the freeing
 * thread's cache made it work on that thread's pages (its mallocs taking
 * them from the cache, its frees putting them back) while the owner
 * worked on its own, on the fast paths: two threads that hand each other
 * part of what they allocate then ran 1.3 times apart (internal.h).
 */
#include "internal.h"
#include "state.h"
#include "harness.h"

#include <pthread.h>

#define SIZE 256                 /* a class with a cache of 128 blocks */
#define N 8

static void *blocks[2][N];       /* [0]: of the owner's current page, [1]: of an older one */
static unsigned cache_count[2], held[2];
static uintptr_t cur_xfree_before_exit;

static mm_page_t *page_of(void *p) { return mm_page_of(mm_segment_of(p), p); }

static void *freer(void *arg) {
  (void)arg;
  mymalloc_free(mymalloc_malloc(16));          /* this thread's heap */
  unsigned c = page_of(blocks[0][0])->class_idx;
  for (int k = 0; k < 2; k++) {
    for (int i = 0; i < N; i++) mymalloc_free(blocks[k][i]);
    cache_count[k] = mm_heap_tls->xcache[c].count;
    held[k] = mm_heap_tls->xcache[c].nhome;
  }
  cur_xfree_before_exit = atomic_load_explicit(&page_of(blocks[0][0])->xfree, memory_order_relaxed);
  return NULL;
}

int main(void) {
  mymalloc_free(mymalloc_malloc(1));   /* the process is set up */
  th_skip_under_valgrind("test_xhome", "the checked mode keeps no current page");
  if (mm_checked_mode()) th_skip("test_xhome", "the checked mode (MYMALLOC_CHECK=full) keeps no current page");
  /* blocks[1]: the first blocks of a page, which then fills up: the
   * class moves on to a new page, whose first blocks are blocks[0] */
  mm_page_t *old = NULL;
  void *fill[4096];
  size_t nfill = 0;
  for (int i = 0; i < N; i++) {
    blocks[1][i] = mymalloc_malloc(SIZE);
    CHECK(blocks[1][i] != NULL);
    if (i == 0) old = page_of(blocks[1][0]);
    CHECK(page_of(blocks[1][i]) == old);
  }
  void *p;
  while ((p = mymalloc_malloc(SIZE)) != NULL && page_of(p) == old && nfill < 4096) fill[nfill++] = p;
  CHECKF(p != NULL && page_of(p) != old, "a new page after %zu blocks", nfill);
  blocks[0][0] = p;
  for (int i = 1; i < N; i++) {
    blocks[0][i] = mymalloc_malloc(SIZE);
    CHECK(page_of(blocks[0][i]) == page_of(p));
  }
  mm_page_t *cur = page_of(p);
  unsigned c = cur->class_idx;
  CHECK(mm_heap_tls->current[c] == cur);

  pthread_t t;
  CHECK(pthread_create(&t, NULL, freer, NULL) == 0);
  CHECK(pthread_join(t, NULL) == 0);
  uintptr_t x = atomic_load_explicit(&cur->xfree, memory_order_acquire);
  CHECKF(mm_xfree_count(x) == N, "%u blocks of the owner's current page on its list, not %d",
         mm_xfree_count(x), N);
  CHECKF(cache_count[0] == 0, "%u blocks of the owner's current page in the freeing thread's cache",
         cache_count[0]);
  CHECKF(cache_count[1] == N, "%u blocks of an older page in the freeing thread's cache, not %d",
         cache_count[1], N);
  CHECKF(held[0] == N && held[1] == N && cur_xfree_before_exit == 0,
         "the blocks of the owner's current page held until the freeing thread's exit (%u, %u)",
         held[0], held[1]);
  /* the freeing thread is gone: its cache went back to the old page */
  CHECKF(mm_xfree_count(atomic_load_explicit(&old->xfree, memory_order_acquire)) == N,
         "the dead thread's cache back on the old page's list");
  /* the owner takes them all back once its page's own list runs dry
   * (the old page first: the dead thread's flush hit it on the full list) */
  void *again[4 * N];
  size_t nagain = 0;
  while (nagain < 4 * N && (atomic_load_explicit(&cur->xfree, memory_order_relaxed) ||
                            atomic_load_explicit(&old->xfree, memory_order_relaxed)))
    again[nagain++] = mymalloc_malloc(SIZE);
  CHECKF(!atomic_load_explicit(&cur->xfree, memory_order_relaxed) &&
         !atomic_load_explicit(&old->xfree, memory_order_relaxed),
         "the owner collected both pages' lists within %d mallocs", 4 * N);
  for (size_t i = 0; i < nagain; i++) mymalloc_free(again[i]);
  for (size_t i = 0; i < nfill; i++) mymalloc_free(fill[i]);
  return test_done("test_xhome");
}
