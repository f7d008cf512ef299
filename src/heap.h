/*
 * heap.h -- the thread heap (heap.c): its birth and death, the refill
 * ladder of the malloc slow path, trim, purge, memory pressure, abandon
 * and adopt, and the totals the heap report reads.
 */
#ifndef MM_HEAP_H
#define MM_HEAP_H

#include "internal.h"
#include "check.h"
#include "page.h"

#pragma GCC visibility push(hidden)

/* A heap for the calling thread (mm_heap_tls points at it), NULL when
 * there is no memory.  mm_heap_done: the thread exits; its caches go
 * back, its empty pages to their segments, the rest is abandoned for
 * another thread to adopt, and the structure is kept for the next heap. */
mm_heap_t *mm_heap_create(void);
mm_heap_t *mm_heap_create_shared(void);
void mm_heap_done(mm_heap_t *h);

/* The rungs of mm_heap_refill: what is due (cross-thread frees that hit
 * full pages, a malloc_trim: h->upkeep; purges: every 8th refill); a page
 * when no page of the queue has room: of an adopted segment, else a new
 * page (a free slot, an adopted segment, a new segment). */
void mm_heap_upkeep(mm_heap_t *h);
mm_page_t *mm_heap_refill_new(mm_heap_t *h, unsigned c);

/* Is the upkeep due?  One test: a relaxed peek at h->upkeep (the
 * upkeep's exchange orders) and the countdown to the next look at the
 * purges.  (The profiler's heap, which has no thread and no slow path of
 * its own, asks on its frees.) */
mm_inline bool mm_heap_upkeep_due(mm_heap_t *h) {
  return mm_unlikely((atomic_load_explicit(&h->upkeep, memory_order_relaxed) | (uint64_t)(--h->purge_tick == 0)) != 0);
}

/* A page of class c with a free block, h->current[c]: the upkeep that is
 * due first, then a page of the queue, else a new page.  NULL when memory
 * is exhausted.  Inline: the malloc slow path calls page.c directly. */
mm_inline mm_page_t *mm_heap_refill(mm_heap_t *h, unsigned c) {
#ifdef MM_DEBUG
  mm_heap_check(h);
#endif
  if (mm_heap_upkeep_due(h)) mm_heap_upkeep(h);
  mm_page_t *pg = mm_page_find(h, c);
  if (mm_likely(pg != NULL)) return pg;
  return mm_heap_refill_new(h, c);
}

/* malloc_trim: h (the caller's heap, or NULL) gives back what it can
 * now, the others at their next slow path.  Returns 1 when memory was
 * released. */
int mm_heap_trim(mm_heap_t *h);

/* Out of memory or address space: give back what h (the caller's heap,
 * maybe mm_heap_empty) keeps unused -- its cross-thread cache, its empty
 * pages -- and what the caches hold (the huge cache, the segment pool,
 * address space included); the other heaps follow at their next slow
 * path.  True when something was released, so that the caller tries once
 * more. */
bool mm_heap_release_memory(mm_heap_t *h);

/* What the report reads.  All heaps (under mm_heaps_lock); the counters
 * of dead heaps folded per class (under mm_heaps_lock); pages of
 * abandoned segments and heapless frees (atomic). */
typedef struct mm_class_totals_s {
  uint64_t nmalloc;               /* allocation requests */
  uint64_t nfree;                 /* free requests */
  uint64_t nfree_xthread;         /*  .. of which cross-thread */
  uint64_t ncollected;            /* cross-thread frees back in use */
  uint64_t pages;                 /* pages held */
  uint64_t blocks;                /* their capacity */
} mm_class_totals_t;
extern pthread_mutex_t mm_heaps_lock;
extern mm_heap_t *mm_heaps;
extern mm_class_totals_t mm_heaps_dead[MM_NCLASSES];
extern _Atomic(uint64_t) mm_abandoned_pages[MM_NCLASSES];
extern _Atomic(uint64_t) mm_abandoned_blocks[MM_NCLASSES];
extern _Atomic(uint64_t) mm_heapless_frees[MM_NCLASSES];

void mm_heap_fork_prepare(void);
void mm_heap_fork_parent(void);
void mm_heap_fork_child(void);

#pragma GCC visibility pop

#endif
