/*
 * page.c -- pages of one size class: the per-class queues of a heap,
 * finding a page with a free block (the heart of the malloc slow path),
 * carving fresh blocks, collecting cross-thread frees, and giving empty
 * pages back to their segment.  Also the debug heap checker.
 */
#include "internal.h"

#include <string.h>

/* ---- queues ----------------------------------------------------------------- */
void mm_queue_push(mm_page_queue_t *q, mm_page_t *pg) {
  pg->prev = NULL;
  pg->next = q->first;
  if (q->first) q->first->prev = pg; else q->last = pg;
  q->first = pg;
}

void mm_queue_remove(mm_page_queue_t *q, mm_page_t *pg) {
  if (pg->prev) pg->prev->next = pg->next; else q->first = pg->next;
  if (pg->next) pg->next->prev = pg->prev; else q->last = pg->prev;
  pg->next = pg->prev = NULL;
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
    b->key = mm_free_key;
    if (pg->checked) mm_check_fill(pg, b);
    tail = b;
  }
  pg->free = tail;
  pg->reserved = (uint16_t)(pg->reserved + n);
  pg->limit = (uint64_t)pg->reserved * bsize;
}

/* Move the blocks other threads freed onto the owner's list.  When the
 * owner's list is empty (the usual case: we collect when it runs dry),
 * the list is taken as it is, without touching its blocks. */
void mm_page_collect(mm_page_t *pg) {
  if (atomic_load_explicit(&pg->xfree, memory_order_relaxed) == 0) return;
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
  mm_heap_t *h = mm_owner_heap(atomic_load_explicit(&pg->owner, memory_order_relaxed));
  if (h) h->foreign[pg->class_idx].ncollected += n;
}

/* ---- pages of a heap ------------------------------------------------------------ */
static mm_page_t *page_new(mm_heap_t *h, unsigned c) {
  size_t bsize = mm_class_size[c];
  mm_page_t *pg = mm_segment_page_alloc(h, bsize <= MM_SMALL_MAX ? MM_SMALL : MM_MEDIUM);
  if (!pg) return NULL;
  uint8_t *start, *end;
  mm_segment_slot_area(mm_segment_of(pg), pg->index, &start, &end);
  pg->block_size = (uint32_t)bsize;
  pg->class_idx = (uint8_t)c;
  pg->capacity = (uint16_t)((size_t)(end - start) / bsize);
  pg->reserved = 0;
  pg->limit = 0;
  pg->magic = mm_class_magic[c];
  pg->used = 0;
  pg->free = mm_list_end(pg);
  pg->in_full = 0;
  pg->checked = mm_check_full;
  atomic_store_explicit(&pg->xfree, 0, memory_order_relaxed);
  atomic_store_explicit(&pg->owner, mm_owner_tag(h, false), memory_order_release);
  mm_queue_push(&h->queue[c], pg);
  mm_store_relaxed(&h->stats[c].pages, h->stats[c].pages + 1);
  mm_store_relaxed(&h->stats[c].blocks, h->stats[c].blocks + pg->capacity);
  return pg;
}

static void page_release(mm_heap_t *h, mm_page_t *pg) {
  unsigned c = pg->class_idx;
  if (pg->in_full) mm_queue_remove(&h->full[c], pg);
  else mm_queue_remove(&h->queue[c], pg);
  mm_store_relaxed(&h->stats[c].pages, h->stats[c].pages - 1);
  mm_store_relaxed(&h->stats[c].blocks, h->stats[c].blocks - pg->capacity);
  if (h->direct[c] == pg) mm_heap_set_direct(h, c, &mm_page_empty);
  mm_segment_page_free(h, pg);
}

/* A page on the full list got a block back. */
void mm_page_unfull(mm_heap_t *h, mm_page_t *pg) {
  unsigned c = pg->class_idx;
  mm_queue_remove(&h->full[c], pg);
  mm_queue_push(&h->queue[c], pg);
  pg->in_full = 0;
  atomic_store_explicit(&pg->owner, mm_owner_tag(h, false), memory_order_relaxed);
}

static void page_to_full(mm_heap_t *h, mm_page_t *pg) {
  unsigned c = pg->class_idx;
  mm_queue_remove(&h->queue[c], pg);
  mm_queue_push(&h->full[c], pg);
  pg->in_full = 1;
  atomic_store_explicit(&pg->owner, mm_owner_tag(h, true), memory_order_seq_cst);
  /* a remote free that saw the old owner value pushed without raising
   * full_xfree: look once more now that the mark is visible */
  if (atomic_load_explicit(&pg->xfree, memory_order_seq_cst)) {
    mm_page_collect(pg);
    mm_page_unfull(h, pg);
  }
}

/* A page of h has no block out any more. Keep it when it is the last page
 * of its class with room (a program that frees and allocates one block in
 * a loop must not get a new page each time); give it back otherwise. */
void mm_page_emptied(mm_heap_t *h, mm_page_t *pg) {
  unsigned c = pg->class_idx;
  if (pg->in_full) mm_page_unfull(h, pg);
  if (h->queue[c].first == pg && pg->next == NULL) return;
  if (mm_unlikely(h->live == 0)) return;
  page_release(h, pg);
}

/* Remote frees hit pages on the full lists: bring those pages back
 * (only the classes whose bit is set). */
void mm_heap_collect_full(mm_heap_t *h) {
  uint64_t classes = atomic_exchange_explicit(&h->full_xfree, 0, memory_order_acquire);
  while (classes) {
    unsigned c = (unsigned)__builtin_ctzll(classes);
    classes &= classes - 1;
    mm_page_t *pg = h->full[c].first;
    while (pg) {
      mm_page_t *next = pg->next;
      if (atomic_load_explicit(&pg->xfree, memory_order_relaxed)) {
        mm_page_collect(pg);
        mm_page_unfull(h, pg);
        if (pg->used == 0) mm_page_emptied(h, pg);
      }
      pg = next;
    }
  }
}

/* Find (or make) a page of class c with a free block; it becomes
 * h->direct[c].  NULL when memory is exhausted. */
mm_page_t *mm_page_find(mm_heap_t *h, unsigned c) {
  if (atomic_load_explicit(&h->full_xfree, memory_order_relaxed)) mm_heap_collect_full(h);
  uint64_t epoch = atomic_load_explicit(&mm_trim_epoch, memory_order_relaxed);
  if (mm_unlikely(h->trim_seen != epoch)) {   /* malloc_trim was called */
    h->trim_seen = epoch;
    mm_foreign_flush(h);             /* other heaps' pages may empty */
    mm_heap_release_empty(h, true);
    mm_segment_purge_free_slots(h);
  }
  mm_heap_purge_due(h);
  mm_page_t *pg = h->queue[c].first;
  while (pg) {
    mm_page_t *next = pg->next;
    if (!mm_list_empty(pg->free)) break;
    mm_page_collect(pg);
    if (!mm_list_empty(pg->free)) break;
    if (pg->reserved < pg->capacity) { page_carve(pg); break; }
    page_to_full(h, pg);
    pg = next;
  }
  if (!pg) {
    /* a new page: what is free elsewhere is purged after the delay */
    if (!h->purge_at_ns)
      h->purge_at_ns = mm_clock_ns() + (uint64_t)mm_option(MM_OPT_PURGE_DELAY_MS) * 1000000u;
    pg = page_new(h, c);
    if (!pg) { mm_heap_set_direct(h, c, &mm_page_empty); return NULL; }
    page_carve(pg);
  } else if (h->queue[c].first != pg) {
    /* keep the page we allocate from at the front */
    mm_queue_remove(&h->queue[c], pg);
    mm_queue_push(&h->queue[c], pg);
  }
  if (!mm_slow_mode && h->direct[c] != pg) mm_heap_set_direct(h, c, pg);   /* else every malloc is slow */
  return pg;
}

/* pg becomes the page class c allocates from, for the fast path too. */
void mm_heap_set_direct(mm_heap_t *h, unsigned c, mm_page_t *pg) {
  h->direct[c] = pg;
  mm_heap_set_fast(h, c, h->foreign[c].head ? &mm_page_empty : pg);
}

/* The page the fast path of class c pops from: the direct page, or
 * mm_page_empty to send it to the slow path (foreign blocks waiting). */
void mm_heap_set_fast(mm_heap_t *h, unsigned c, mm_page_t *pg) {
  if (mm_class_size[c] > MM_LOOKUP_MAX) return;
  if (mm_slow_mode) pg = &mm_page_empty;   /* every malloc is slow */
  /* the slots of class c: (size of c - 1) / 16 + 1 .. size of c / 16 */
  size_t i = c ? mm_class_size[c - 1] / 16 + 1 : 0, last = mm_class_size[c] / 16;
  do h->fast[i] = pg; while (++i <= last);
}

/* Give back every empty page of h (all: also the last one of a class).
 * Returns the number of pages released. */
size_t mm_heap_release_empty(mm_heap_t *h, bool all) {
  size_t n = 0;
  mm_heap_collect_full(h);
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

/* ---- debug: the expensive invariant checker ----------------------------------- */
mm_noreturn void mm_fatal_assert(const char *cond, const char *file, int line) {
  mm_buf_t b;
  char buf[512];
  b.p = buf; b.len = 0; b.cap = sizeof(buf); b.fd = 2; b.failed = 0;
  mm_buf_str(&b, "mymalloc: assertion failed: ");
  mm_buf_str(&b, cond);
  mm_buf_str(&b, " at ");
  mm_buf_str(&b, file);
  mm_buf_str(&b, ":");
  mm_buf_u64(&b, (uint64_t)line);
  mm_buf_str(&b, "\n");
  mm_buf_flush(&b);
  __builtin_trap();
}

#ifdef MM_DEBUG
static void check_page(mm_heap_t *h, mm_page_t *pg, unsigned c, bool full) {
  mm_segment_t *s = mm_segment_of(pg);
  mm_assert(s->cookie == (mm_secret ^ (uintptr_t)s));
  mm_assert(s->heap == h);
  mm_assert(pg->block_size == mm_class_size[c] && pg->class_idx == c);
  mm_assert(pg->in_full == full);
  uintptr_t own = atomic_load_explicit(&pg->owner, memory_order_relaxed);
  mm_assert(own == mm_owner_tag(h, full));
  mm_assert(pg->reserved <= pg->capacity && pg->used <= pg->reserved);
  uint32_t nfree = 0;
  mm_assert(pg->limit == pg->reserved * pg->block_size && pg->magic == mm_class_magic[c]);
  for (mm_block_t *b = pg->free; !mm_list_empty(b); b = mm_decode(b)) {
    mm_assert(mm_segment_of(b) == s);                            /* I7 */
    uintptr_t off = (uintptr_t)b - (uintptr_t)pg->start;
    mm_assert(off % pg->block_size == 0 && off / pg->block_size < pg->reserved);
#if MM_HARDEN   /* without it, free does not write the key */
    mm_assert(b->key == mm_free_key);
#endif
    nfree++;
    mm_assert(nfree <= pg->reserved);
  }
  /* xfree can grow concurrently: count what is there, it only adds */
  uint32_t nx = 0;
  for (mm_block_t *b = mm_xfree_list(atomic_load(&pg->xfree)); b && !mm_list_empty(b) && nx <= pg->capacity; b = mm_decode(b)) nx++;
  mm_assert(pg->used >= nx);
  mm_assert(nfree + pg->used == pg->reserved);   /* I1, with xfree inside used */
}

void mm_heap_check(mm_heap_t *h) {
  if (h == &mm_heap_empty) return;
  for (unsigned c = 0; c < MM_NCLASSES; c++) {
    for (mm_page_t *pg = h->queue[c].first; pg; pg = pg->next) check_page(h, pg, c, false);
    for (mm_page_t *pg = h->full[c].first; pg; pg = pg->next) check_page(h, pg, c, true);
    mm_assert(h->direct[c] == &mm_page_empty || h->direct[c]->class_idx == c);
    for (size_t i = 0; i < MM_NSLOTS; i++)
      if (mm_class_lookup[i] == c)
        mm_assert(h->fast[i] == (mm_slow_mode || h->foreign[c].head ? &mm_page_empty : h->direct[c]));
  }
  for (int k = 0; k < 2; k++) {
    for (mm_segment_t *s = h->segments[k]; s; s = s->next) {
      uint32_t used = 0;
      for (uint32_t i = 0; i < s->npages; i++) used += s->pages[i].block_size != 0;
      mm_assert(used == s->used_pages && s->free_slots != 0);   /* I4 */
      mm_assert(mm_segmap_has(s));                                /* I5 */
    }
    for (mm_segment_t *s = h->segments_full[k]; s; s = s->next) mm_assert(s->free_slots == 0);
  }
}
#else
void mm_heap_check(mm_heap_t *h) { (void)h; }
#endif
