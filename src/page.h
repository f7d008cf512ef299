/*
 * page.h -- pages of one size class (page.c): the per-class queues of a
 * heap, carving fresh blocks, collecting a page's cross-thread list,
 * pages that fill up, empty out, and go back to their segment.
 */
#ifndef MM_PAGE_H
#define MM_PAGE_H

#include "internal.h"
#include "state.h"

#pragma GCC visibility push(hidden)

/* A page of class c of h with a free block: the current one if it has
 * one, else the first of the queue that has or can get one (collected,
 * carved); it becomes h->current[c].  NULL when no page of the queue has
 * room (the caller gets a new page). */
mm_page_t *mm_page_find(mm_heap_t *h, unsigned c);
/* pg, a fresh slot of h's segments, becomes a page of class c with its
 * first blocks carved, at the front of the queue, h->current[c]. */
void mm_page_init(mm_heap_t *h, mm_page_t *pg, unsigned c);

/* pg becomes the page class c allocates from, for the fast path too; the
 * fast slots of class c point at pg (or at the empty page: I8). */
void mm_page_set_current(mm_heap_t *h, unsigned c, mm_page_t *pg);
void mm_page_set_fast(mm_heap_t *h, unsigned c, mm_page_t *pg);

/* The blocks other threads freed on pg, onto the owner's list. */
void mm_page_collect(mm_page_t *pg);
/* The pages of h on full lists of the classes that cross-thread frees
 * hit (bit c: class c; the caller takes them off h->upkeep), back to the
 * queues. */
void mm_page_collect_full(mm_heap_t *h, uint64_t classes);
/* A page on the full list got a block back / has no block out any more. */
void mm_page_unfull(mm_heap_t *h, mm_page_t *pg);
/* b (checked, key written) of pg, a page of h on the full list whose
 * owner word is owner: pg goes back to the queue with b, and becomes the
 * page its class allocates from if that one has run dry (in a heap whose
 * pages are all nearly full, a large live set replaced at random, the
 * next malloc of the class then takes the fast path instead of searching
 * the queue for a page with one free block). */
void mm_page_free_full(mm_heap_t *h, mm_page_t *pg, mm_block_t *b, uintptr_t owner);
void mm_page_emptied(mm_heap_t *h, mm_page_t *pg);
/* Give every empty page of h back to its segment (all: the last one of
 * each class too).  Returns how many. */
size_t mm_page_release_empty(mm_heap_t *h, bool all);
/* Give back h's kept pages (emptied pages it keeps for reuse, up to
 * MM_KEPT_MAX bytes: internal.h, I9) in segments of `kind` (enum
 * mm_kind; -1: all of them); how many. */
size_t mm_page_release_kept(mm_heap_t *h, int kind);

/* A page of an adopted segment joins h / of an abandoned one leaves it. */
void mm_page_attach(mm_heap_t *h, mm_page_t *pg);
void mm_page_detach(mm_heap_t *h, mm_page_t *pg);

/* Push b (checked, key written) on the cross-thread list of pg, a page
 * of another heap (or of none). */
void mm_page_push_xfree(mm_page_t *pg, mm_block_t *b);
/* The same for first .. last, n blocks of pg linked from first to last
 * (last's link is written here). */
void mm_page_push_xfree_list(mm_page_t *pg, mm_block_t *first, mm_block_t *last, uint32_t n);
/* The blocks x holds for their owner's current page go onto its list. */
void mm_page_flush_home(mm_xcache_t *x);

/* Push b (checked, key written) on pg, a page of h's own.  A page that
 * empties is looked at (mm_page_emptied). */
mm_inline void mm_page_push_local(mm_heap_t *h, mm_page_t *pg, mm_block_t *b) {
  b->next = mm_encode(b, pg->free);
  pg->free = b;
  if (mm_unlikely(--pg->used == 0)) mm_page_emptied(h, pg);
}

#pragma GCC visibility pop

#endif
