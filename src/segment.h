/*
 * segment.h -- segments (segment.c): 4 MiB aligned chunks of address
 * space cut into page slots, the pool of free segments, the list of
 * abandoned segments (of threads that have exited).
 *
 * Locking: the segment lock (inside segment.c) protects sbrk, the pool and
 * the abandoned list.  A live segment's slots and lists belong to its
 * heap's thread alone.
 */
#ifndef MM_SEGMENT_H
#define MM_SEGMENT_H

#include "internal.h"

#pragma GCC visibility push(hidden)

/* A new segment of h (from the pool, sbrk or mmap), on h's list of its
 * kind.  NULL when the kernel refuses (the caller may free memory and try
 * again). */
mm_segment_t *mm_segment_alloc(mm_heap_t *h, enum mm_kind kind);
/* s goes on h's list of its kind (an adopted segment). */
void mm_segment_attach(mm_heap_t *h, mm_segment_t *s);

/* A free page slot of one of h's segments of this kind, NULL if none;
 * its start is set, the rest is the page code's. */
mm_page_t *mm_segment_page_alloc(mm_heap_t *h, enum mm_kind kind);
/* The slot of pg is free again; a segment left without pages goes to the
 * pool (and may be given back to the kernel). */
void mm_segment_page_free(mm_heap_t *h, mm_page_t *pg);
/* h's purge timer, armed unless it is: what h holds free is given back
 * MYMALLOC_PURGE_DELAY_MS from now (heap.c, purge_due). */
void mm_segment_purge_later(mm_heap_t *h);

/* The thread of s is gone: s goes to the abandoned list, without owner.
 * mm_segment_take_abandoned gives one back (NULL: none). */
void mm_segment_abandon(mm_segment_t *s);
mm_segment_t *mm_segment_take_abandoned(void);

/* Give back the memory of h's free page slots (returns how many); of the
 * pool's segments older than the purge delay, or all (force; returns
 * bytes). */
size_t mm_segment_purge_free_slots(mm_heap_t *h);
size_t mm_segment_pool_purge(bool force);
size_t mm_segment_pool_release(void);     /* short of memory: unmap them all */
uint64_t mm_segment_pool_due(void);       /* a pooled segment is due then; 0: none */
bool mm_segment_pool_has_resident(void);  /* a resident segment waits in the pool */

/* Pins: a thread pushing on a page's cross-thread list reads the page's
 * descriptor after its push has published the block, when the owner may
 * already have collected it, released the page and pooled the segment:
 * while any push is in flight no pooled segment is unmapped or cut off
 * the break (a later purge does it).  One counter per shard of threads,
 * each on its own cache line. */
#define MM_PIN_SHARDS 64
typedef struct mm_pin_s { _Atomic(uint32_t) n; char pad[60]; } mm_pin_t;
extern mm_pin_t mm_segment_pins[MM_PIN_SHARDS];
mm_inline _Atomic(uint32_t) *mm_segment_pin(const void *thread_key) {
  uintptr_t k = (uintptr_t)thread_key;
  _Atomic(uint32_t) *pin = &mm_segment_pins[((k >> 12) ^ (k >> 20)) & (MM_PIN_SHARDS - 1)].n;
  atomic_fetch_add_explicit(pin, 1, memory_order_seq_cst);
  return pin;
}
mm_inline void mm_segment_unpin(_Atomic(uint32_t) *pin) {
  atomic_fetch_sub_explicit(pin, 1, memory_order_release);
}

extern _Atomic(uint64_t) mm_segments_held;       /* small/medium segments held */
extern _Atomic(uint64_t) mm_segments_abandoned;  /* .. of which abandoned */

void mm_segment_fork_prepare(void);
void mm_segment_fork_parent(void);
void mm_segment_fork_child(void);

#pragma GCC visibility pop

#endif
