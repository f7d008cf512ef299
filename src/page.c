/*
 * page.c -- pages of one size class (page.h): the per-class queues of a
 * heap, finding a page with a free block, carving fresh blocks, collecting
 * cross-thread frees, and giving empty pages back to their segment.
 */
#include "page.h"
#include "check.h"
#include "os.h"
#include "segment.h"
#include "sizeclass.h"

#include <string.h>

/* ---- queues ----------------------------------------------------------------- */
static void queue_push(mm_page_queue_t *q, mm_page_t *pg) {
  pg->prev = NULL;
  pg->next = q->first;
  if (q->first) q->first->prev = pg; else q->last = pg;
  q->first = pg;
}

/* at the end: a page that came back from the full list is used after
 * those before it, which gives it time to gather more free blocks (one
 * fence of page_mark_full per visit, not per block) */
static void queue_append(mm_page_queue_t *q, mm_page_t *pg) {
  pg->next = NULL;
  pg->prev = q->last;
  if (q->last) q->last->next = pg; else q->first = pg;
  q->last = pg;
}

static void queue_remove(mm_page_queue_t *q, mm_page_t *pg) {
  if (pg->prev) pg->prev->next = pg->next; else q->first = pg->next;
  if (pg->next) pg->next->prev = pg->prev; else q->last = pg->prev;
  pg->next = pg->prev = NULL;
}

/* Is pg on its heap's full list (I3)?  (relaxed: the owner asks, and
 * only the owner changes the flag) */
static bool page_is_full(const mm_page_t *pg) {
  return atomic_load_explicit(&pg->owner, memory_order_relaxed) & MM_OWNER_FULL;
}

/* ---- blocks ------------------------------------------------------------------ */
/* Carve the next fresh blocks of the page (about one OS page worth) onto
 * its free list.  Fresh memory is touched only as it is needed. */
static void page_carve(mm_page_t *pg) {
  size_t bsize = pg->block_size;
  uint32_t n = (uint32_t)(mm_os_page / bsize);
  if (n < 1) n = 1;
  uint32_t left = (uint32_t)pg->capacity - pg->reserved;
  if (n > left) n = left;
  uint8_t *first = pg->start + (size_t)pg->reserved * bsize;
  mm_block_t *tail = pg->free;
  mm_vg_undefined(first, (size_t)n * bsize);   /* memcheck may remember old blocks here */
  for (uint32_t i = n; i-- > 0;) {
    mm_block_t *b = (mm_block_t *)(first + (size_t)i * bsize);
    b->next = mm_encode(b, tail);
    b->key = mm_free_key(b);
    if (pg->checked) mm_check_fill(pg, b);
    tail = b;
  }
  pg->free = tail;
  pg->reserved = (uint16_t)(pg->reserved + n);
  /* relaxed: a cross-thread free reads limit meanwhile (mm_is_block_start);
   * its block lies below the old value and the new one alike */
  mm_store_relaxed(&pg->limit, (uint64_t)pg->reserved * mm_class_step[pg->class_idx]);
}

/* When the owner's list is empty (the usual case: we collect when it runs
 * dry), the cross-thread list is taken as it is, without touching its
 * blocks. */
void mm_page_collect(mm_page_t *pg) {
  /* relaxed peek: a stale 0 only leaves the blocks for the next collect;
   * nothing is read through it */
  if (atomic_load_explicit(&pg->xfree, memory_order_relaxed) == 0) return;
  /* acquire: pairs with the release of every pusher's CAS (one release
   * sequence on xfree), so the link and key words they wrote in the
   * blocks are visible before we follow and reuse them */
  uintptr_t x = atomic_exchange_explicit(&pg->xfree, 0, memory_order_acquire);
  mm_block_t *list = mm_xfree_list(x);
  uint32_t n = mm_xfree_count(x);
  if (!list) return;
  if (!mm_list_empty(pg->free)) {
    mm_block_t *last = list;
    for (uint32_t i = 1; i < n; i++) {
      mm_block_t *next = mm_decode(last);
      if (mm_unlikely(mm_segment_of(next) != mm_segment_of(last)))
        mm_corrupt("free", last, "corrupted cross-thread free list");
      last = next;
    }
    last->next = mm_encode(last, pg->free);
  }
  pg->free = list;
  pg->used -= n;
  /* relaxed: the caller owns (or is adopting) the page and wrote owner */
  mm_heap_t *h = mm_owner_heap(atomic_load_explicit(&pg->owner, memory_order_relaxed));
  if (h) h->xcache[pg->class_idx].ncollected += n;
}

/* The orderings, on every architecture (not only x86's):
 *   - the first load is relaxed: the CAS checks the value, and the old
 *     head is only stored in b, never followed;
 *   - the CAS is seq_cst: its release half publishes b's words (link,
 *     key) to the owner's acquire exchange in mm_page_collect; its seq_cst
 *     half, with the seq_cst load of owner after it, pairs with
 *     page_to_full's seq_cst store of owner and load of xfree (a Dekker
 *     pair: either we see MM_OWNER_FULL, or the owner sees our block);
 *   - a failed CAS is relaxed: it only gives the new head;
 *   - the fetch_or is release: pairs with mm_page_collect_full's acquire
 *     exchange (the block itself is ordered by the CAS). */
void mm_page_push_xfree_list(mm_page_t *pg, mm_block_t *first, mm_block_t *last, uint32_t n) {
  unsigned c = pg->class_idx;   /* (before the blocks are published) */
  _Atomic(uint32_t) *pin = mm_segment_pin(&mm_heap_tls);
  uintptr_t head = atomic_load_explicit(&pg->xfree, memory_order_relaxed);
  uintptr_t next;
  do {
    mm_block_t *old = mm_xfree_list(head);
    last->next = mm_encode(last, old ? old : mm_list_end(last));
    next = (uintptr_t)first | ((uintptr_t)(mm_xfree_count(head) + n) << MM_XFREE_SHIFT);
  } while (!atomic_compare_exchange_weak_explicit(&pg->xfree, &head, next,
                                                  memory_order_seq_cst, memory_order_relaxed));
  /* If the page is (now) on its owner's full list, tell the owner. */
  uintptr_t owner = atomic_load_explicit(&pg->owner, memory_order_seq_cst);
  if (owner & MM_OWNER_FULL)
    atomic_fetch_or_explicit(&mm_owner_heap(owner)->upkeep, (uint64_t)1 << c, memory_order_release);
  mm_segment_unpin(pin);
}

void mm_page_push_xfree(mm_page_t *pg, mm_block_t *b) { mm_page_push_xfree_list(pg, b, b, 1); }

/* The blocks x holds for their owner's current page onto that page's
 * list (they are counted as used by their page until then: the page
 * stays, whatever its owner does meanwhile). */
void mm_page_flush_home(mm_xcache_t *x) {
  mm_block_t *first = x->home;
  if (!first) return;
  x->home = NULL;
  mm_page_push_xfree_list(mm_page_of(mm_segment_of(first), first), first, x->home_last, x->nhome);
  x->nhome = 0;
}

/* ---- kept pages: emptied pages that stay with their heap ------------------ */

static void kept_add(mm_heap_t *h, mm_page_t *pg) {
  pg->kept = 1;
  pg->kept_prev = NULL;
  pg->kept_next = h->kept;
  if (h->kept) h->kept->kept_prev = pg;
  h->kept = pg;
  h->kept_bytes += mm_page_bytes(pg);
}

mm_inline void kept_remove(mm_heap_t *h, mm_page_t *pg) {
  if (mm_likely(!pg->kept)) return;
  if (pg->kept_prev) pg->kept_prev->kept_next = pg->kept_next;
  else h->kept = pg->kept_next;
  if (pg->kept_next) pg->kept_next->kept_prev = pg->kept_prev;
  pg->kept_next = pg->kept_prev = NULL;
  pg->kept = 0;
  h->kept_bytes -= mm_page_bytes(pg);
}

/* ---- pages of a heap ------------------------------------------------------------ */
void mm_page_init(mm_heap_t *h, mm_page_t *pg, unsigned c) {
  size_t bsize = mm_class_size[c];
  uint8_t *start, *end;
  mm_slot_area(mm_segment_of(pg), pg->index, &start, &end);
  pg->block_size = (uint32_t)bsize;
  pg->class_idx = (uint8_t)c;
  pg->capacity = (uint16_t)((size_t)(end - start) / bsize);
  pg->reserved = 0;
  pg->limit = 0;
  pg->magic = mm_class_magic[c];
  pg->used = 0;
  pg->kept = 0;
  pg->kept_next = pg->kept_prev = NULL;
  pg->free = mm_list_end(pg);
  pg->checked = mm_check_full();
  /* relaxed: no block of the page is out, no other thread touches it */
  atomic_store_explicit(&pg->xfree, 0, memory_order_relaxed);
  /* release: the fields above are written before owner for a reader that
   * loads it with acquire.  free() loads it relaxed: a block reaches
   * another thread only through the program's own hand-over, after this
   * malloc, which orders the fields and this store before its loads. */
  atomic_store_explicit(&pg->owner, mm_owner_tag(h, false), memory_order_release);
  queue_push(&h->queue[c], pg);
  mm_store_relaxed(&h->npages[c], h->npages[c] + 1);
  mm_store_relaxed(&h->nblocks[c], h->nblocks[c] + pg->capacity);
  page_carve(pg);
  if (!mm_checked_mode()) mm_page_set_current(h, c, pg);   /* else every malloc is slow */
}

void mm_page_attach(mm_heap_t *h, mm_page_t *pg) {
  unsigned c = pg->class_idx;
  pg->kept = 0;   /* (the heap that left it dropped its list) */
  pg->kept_next = pg->kept_prev = NULL;
  /* release, as in mm_page_init; the fields came with the segment, under
   * the segment lock (abandon, then adopt) */
  atomic_store_explicit(&pg->owner, mm_owner_tag(h, false), memory_order_release);
  queue_push(&h->queue[c], pg);
  mm_store_relaxed(&h->npages[c], h->npages[c] + 1);
  mm_store_relaxed(&h->nblocks[c], h->nblocks[c] + pg->capacity);
}

/* (the heap's lists are dropped as a whole by the caller) */
void mm_page_detach(mm_heap_t *h, mm_page_t *pg) {
  unsigned c = pg->class_idx;
  kept_remove(h, pg);
  mm_store_relaxed(&h->npages[c], h->npages[c] - 1);
  mm_store_relaxed(&h->nblocks[c], h->nblocks[c] - pg->capacity);
  pg->next = pg->prev = NULL;
  /* release: the page's state before owner 0 (the segment then goes to
   * the abandoned list under the segment lock, which orders it for the
   * adopter) */
  atomic_store_explicit(&pg->owner, 0, memory_order_release);
}

static void page_release(mm_heap_t *h, mm_page_t *pg) {
  unsigned c = pg->class_idx;
  kept_remove(h, pg);
  if (page_is_full(pg)) queue_remove(&h->full[c], pg);
  else queue_remove(&h->queue[c], pg);
  mm_store_relaxed(&h->npages[c], h->npages[c] - 1);
  mm_store_relaxed(&h->nblocks[c], h->nblocks[c] - pg->capacity);
  if (h->current[c] == pg) mm_page_set_current(h, c, &mm_page_empty);
  mm_segment_page_free(h, pg);
}

/* owner: pg's, without the flag MM_OWNER_FULL */
mm_inline void page_unfull(mm_heap_t *h, mm_page_t *pg, unsigned c, uintptr_t owner) {
  queue_remove(&h->full[c], pg);
  /* (a page of few blocks, medium ones, goes first as before: it would
   * rather be used again than empty and be faulted in anew) */
  if (pg->capacity >= 32) queue_append(&h->queue[c], pg);
  else queue_push(&h->queue[c], pg);
  /* relaxed: only the flag goes; a pusher that still sees it raises
   * its class's upkeep bit for nothing (mm_page_collect_full finds no
   * block) */
  atomic_store_explicit(&pg->owner, owner, memory_order_relaxed);
}

void mm_page_unfull(mm_heap_t *h, mm_page_t *pg) {
  page_unfull(h, pg, pg->class_idx, mm_owner_tag(h, false));
}

static void page_set_current(mm_heap_t *h, unsigned c, mm_page_t *pg);

void mm_page_free_full(mm_heap_t *h, mm_page_t *pg, mm_block_t *b, uintptr_t owner) {
  unsigned c = pg->class_idx;
  page_unfull(h, pg, c, owner & ~(uintptr_t)MM_OWNER_FULL);
  /* mm_page_push_local, with mm_page_emptied a tail call: no call that
   * returns here, so no register to save */
  b->next = mm_encode(b, pg->free);
  pg->free = b;
  if (mm_unlikely(--pg->used == 0)) {
    mm_page_emptied(h, pg);
    return;
  }
  /* (a class without a current page takes this one; else it waits its
   * turn in the queue, see queue_append) */
  if (h->current[c] == &mm_page_empty) page_set_current(h, c, pg);
}

/* pg, the queue's first page, goes to the full list.  Returns true when
 * a cross-thread push may have come too late to see the mark (the
 * caller takes it: page_late_push); *owner: the owner word before. */
mm_inline bool page_mark_full(mm_heap_t *h, mm_page_t *pg, unsigned c, uintptr_t *owner) {
  mm_page_queue_t *q = &h->queue[c];
  mm_assert(q->first == pg);   /* (mm_page_find looks at the first only) */
  q->first = pg->next;
  if (pg->next) pg->next->prev = NULL; else q->last = NULL;
  queue_push(&h->full[c], pg);
  /* seq_cst store, then seq_cst load of xfree: the Dekker pair with
   * mm_page_push_xfree's CAS and load of owner.  A cross-thread free that
   * saw the old owner value pushed without raising the upkeep bit: look once
   * more now that the mark is visible */
  *owner = atomic_load_explicit(&pg->owner, memory_order_relaxed);   /* (ours to change) */
  atomic_store_explicit(&pg->owner, *owner | MM_OWNER_FULL, memory_order_seq_cst);
  return atomic_load_explicit(&pg->xfree, memory_order_seq_cst) != 0;
}

/* A late push gave pg, just marked full, blocks again: back to the
 * queue's front with them. */
static void page_late_push(mm_heap_t *h, mm_page_t *pg, unsigned c, uintptr_t owner) {
  mm_page_collect(pg);
  page_unfull(h, pg, c, owner);
}

/* Keep the page when it is the current page of its class (the next
 * malloc of the class pops from it: a loop that allocates and frees one
 * block must not give its page back and take it again each time), or the
 * last page of its class with room; else keep it on the heap's kept list
 * while MM_KEPT_MAX allows (I9: the class takes it back as it is; the
 * next purge gives it back); give it back otherwise.  The page is
 * on the queue: every caller has taken it off the full list first (the
 * fast path of free only sees pages whose owner has no flag). */
void mm_page_emptied(mm_heap_t *h, mm_page_t *pg) {
  mm_assert(!page_is_full(pg));
  unsigned c = pg->class_idx;
  if (h->current[c] == pg || (h->queue[c].first == pg && pg->next == NULL)) return;
  if (mm_unlikely(h->live == 0)) return;
  if (!pg->kept && h->kept_bytes + mm_page_bytes(pg) <= MM_KEPT_MAX) {
    /* kept for the class's next mallocs, without a new page's set-up
     * and carving (a program that frees and allocates batches, like
     * rpmalloc's benchmark, empties pages and needs them again at once);
     * given back at the next purge (heap.c) */
    kept_add(h, pg);
    mm_segment_purge_later(h);
    return;
  }
  page_release(h, pg);
}

/* Only the classes whose bit is set (taken off h->upkeep by the caller,
 * with acquire: pairs with the pushers' release fetch_or). */
void mm_page_collect_full(mm_heap_t *h, uint64_t classes) {
  while (classes) {
    unsigned c = (unsigned)__builtin_ctzll(classes);
    classes &= classes - 1;
    mm_page_t *pg = h->full[c].first;
    while (pg) {
      mm_page_t *next = pg->next;
      if (atomic_load_explicit(&pg->xfree, memory_order_relaxed)) {   /* peek (the exchange orders) */
        mm_page_collect(pg);
        mm_page_unfull(h, pg);
        if (pg->used == 0) mm_page_emptied(h, pg);
      }
      pg = next;
    }
  }
}

/* The fast slots of class c point at pg (or at the empty page in the
 * checked mode): the class's 1 to 8 slots end at mm_class_slot_end[c],
 * one store each, without a loop. */
mm_inline void page_set_fast(mm_heap_t *h, unsigned c, mm_page_t *pg) {
  if (c >= MM_LOOKUP_CLASSES) return;
  if (mm_checked_mode()) pg = &mm_page_empty;   /* every malloc is slow */
  unsigned end = mm_class_slot_end[c];
  unsigned n = end - (c ? mm_class_slot_end[c - 1] : 0u);
  mm_fast_slot_t *f = &h->fast[end];
  mm_assert(n >= 1 && n <= 8);   /* the widest: 896 to 1 KiB, 8 slots of 16 bytes */
  switch (n) {
  case 8: f[-8].page = pg; __attribute__((fallthrough));
  case 7: f[-7].page = pg; __attribute__((fallthrough));
  case 6: f[-6].page = pg; __attribute__((fallthrough));
  case 5: f[-5].page = pg; __attribute__((fallthrough));
  case 4: f[-4].page = pg; __attribute__((fallthrough));
  case 3: f[-3].page = pg; __attribute__((fallthrough));
  case 2: f[-2].page = pg; __attribute__((fallthrough));
  default: f[-1].page = pg;
  }
}

static inline __attribute__((always_inline)) void page_set_current(mm_heap_t *h, unsigned c, mm_page_t *pg) {
  mm_xcache_t *x = &h->xcache[c];
  mm_store_relaxed(&h->current[c], pg);   /* (another thread's free compares it: free.c) */
  x->diverted = x->head != NULL;
  page_set_fast(h, c, x->diverted ? &mm_page_empty : pg);
}

void mm_page_set_current(mm_heap_t *h, unsigned c, mm_page_t *pg) { page_set_current(h, c, pg); }

void mm_page_set_fast(mm_heap_t *h, unsigned c, mm_page_t *pg) { page_set_fast(h, c, pg); }

/* The page mm_page_find returns becomes the current one. */
mm_inline mm_page_t *page_found(mm_heap_t *h, unsigned c, mm_page_t *pg) {
  mm_assert(h->queue[c].first == pg);
  kept_remove(h, pg);   /* (in use again) */
  if (!mm_checked_mode() && h->current[c] != pg) page_set_current(h, c, pg);   /* else every malloc is slow */
  return pg;
}

/* The first page of the queue with a block, or that can get one: its
 * own list, its cross-thread list (peeked before the call), fresh blocks
 * to carve; a page that has none goes to the full list, so that the
 * queue's first page is always the one looked at (none moves within the
 * queue). */
static mm_noinline mm_page_t *page_find_slow(mm_heap_t *h, unsigned c) {
  mm_page_queue_t *q = &h->queue[c];
  mm_page_t *pg;
  uintptr_t owner;
  for (;;) {
    pg = q->first;
    if (!pg) return NULL;
    if (!mm_list_empty(pg->free)) break;
    if (atomic_load_explicit(&pg->xfree, memory_order_relaxed)) {   /* (peek, as mm_page_collect) */
      mm_page_collect(pg);
      if (!mm_list_empty(pg->free)) break;
    }
    if (pg->reserved < pg->capacity) { page_carve(pg); break; }
    if (page_mark_full(h, pg, c, &owner)) {
      page_late_push(h, pg, c, owner);
      if (!mm_list_empty(pg->free)) break;   /* (first again) */
    }
  }
  return page_found(h, c, pg);
}

static mm_noinline mm_page_t *page_find_late(mm_heap_t *h, unsigned c, mm_page_t *pg, uintptr_t owner) {
  page_late_push(h, pg, c, owner);
  return page_find_slow(h, c);
}

/* The common cases of page_find_slow without a call (so without saving
 * registers): the first page has blocks, or has none to collect or carve
 * and goes to the full list. */
mm_page_t *mm_page_find(mm_heap_t *h, unsigned c) {
  mm_page_queue_t *q = &h->queue[c];
  mm_page_t *pg;
  uintptr_t owner;
  while ((pg = q->first) != NULL && mm_list_empty(pg->free)) {
    if (atomic_load_explicit(&pg->xfree, memory_order_relaxed) || pg->reserved < pg->capacity)
      return page_find_slow(h, c);
    if (mm_unlikely(page_mark_full(h, pg, c, &owner))) return page_find_late(h, c, pg, owner);
  }
  if (!pg) return NULL;
  return page_found(h, c, pg);
}

size_t mm_page_release_kept(mm_heap_t *h, int kind) {
  size_t n = 0;
  mm_page_t *pg = h->kept;
  while (pg) {
    mm_page_t *next = pg->kept_next;
    if (kind < 0 || mm_segment_of(pg)->kind == kind) {
      page_release(h, pg);
      n++;
    }
    pg = next;
  }
  return n;
}

size_t mm_page_release_empty(mm_heap_t *h, bool all) {
  size_t n = 0;
  uint64_t w = atomic_fetch_and_explicit(&h->upkeep, ~MM_UPKEEP_CLASSES, memory_order_acquire);
  mm_page_collect_full(h, w & MM_UPKEEP_CLASSES);
  for (unsigned c = 0; c < MM_NCLASSES; c++) {
    mm_page_t *pg = h->queue[c].first;
    while (pg) {
      mm_page_t *next = pg->next;
      mm_page_collect(pg);
      if (pg->used == 0 && (all || pg != h->queue[c].first)) { page_release(h, pg); n++; }
      pg = next;
    }
  }
  return n;
}
