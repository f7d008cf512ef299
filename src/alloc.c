/*
 * alloc.c -- malloc, calloc, realloc, malloc_usable_size.
 *
 * The fast path (mm_malloc) is a pop from the page of heap->fast[slot]:
 * TLS load, two loads, the link check, the stores and the slot's
 * countdown (its requests, and the profiler's next sample: prof.c), 21
 * instructions.  Everything else is behind one branch, in malloc_small
 * and malloc_generic (noinline), the top of the ladder that internal.h
 * draws; a sample behind another, in malloc_sample_slot.
 *
 * Every function here is in the section mymalloc_api (MM_API_TEXT): the
 * profiler skips their frames.
 */
#include "api.h"
#include "check.h"
#include "heap.h"
#include "huge.h"
#include "init.h"
#include "page.h"
#include "prof.h"
#include "segmap.h"
#include "sizeclass.h"
#include "state.h"

#include <errno.h>
#include <string.h>

/* Pop b, the first block of pg's list, whose link word x = b->next ^
 * mm_secret is known to be good (below 4 MiB). */
mm_inline void *page_pop_x(mm_page_t *pg, mm_block_t *b, uintptr_t x) {
#if MM_HARDEN
  pg->free = (mm_block_t *)(x ^ (uintptr_t)b);
  b->key = 0;
#else
  (void)x;
  pg->free = mm_decode(b);
#endif
  pg->used++;
  return b;
}

/* Pop b, the first block of pg's list (not empty).  The link must decode
 * to an address in b's own segment (I7): next ^ b is then below 4 MiB, and
 * next ^ b is exactly what the stored word ^ mm_secret gives. */
mm_inline void *page_pop(mm_page_t *pg, mm_block_t *b) {
  uintptr_t x = b->next ^ mm_secret;
#if MM_HARDEN
  if (mm_unlikely(x > MM_SEGMENT_MASK)) mm_corrupt("malloc", b, "corrupted free-list link");
#endif
  return page_pop_x(pg, b, x);
}

/* Has pg a block to pop?  (the empty page's list is mm_no_block, state.c) */
mm_inline bool page_empty(const mm_page_t *pg) {
  return mm_list_empty(pg->free) || pg == &mm_page_empty;
}

static void *malloc_small(size_t n, mm_heap_t *h);
static void *malloc_generic(size_t n, mm_heap_t *h);
static void *malloc_sample_slot(mm_heap_t *h, mm_fast_slot_t *slot);

MM_API_TEXT void *mm_malloc(size_t n) {
  mm_heap_t *h = mm_heap_tls;
  if (mm_likely(n <= MM_LOOKUP_MAX)) {
    /* &h->fast[(n + 15) >> 4]: 16-byte slots at the start of the heap */
    mm_fast_slot_t *slot = (mm_fast_slot_t *)((uintptr_t)h + ((n + 15) & ~(size_t)15));
    mm_page_t *pg = slot->page;
    mm_block_t *b = pg->free;
#if MM_HARDEN
    /* one test for "empty" and "corrupted": the end of a list (a segment
     * base, or the empty page's mm_no_block) holds a word that decodes to
     * above 4 MiB, like a corrupted link; the slow path tells them apart */
    uintptr_t x = b->next ^ mm_secret;
    if (mm_likely(x <= MM_SEGMENT_MASK)) {
      if (mm_unlikely(mm_dec_borrows(&slot->left))) return malloc_sample_slot(h, slot);
      return page_pop_x(pg, b, x);
    }
#else
    if (mm_likely(!mm_list_empty(b))) {
      if (mm_unlikely(mm_dec_borrows(&slot->left))) return malloc_sample_slot(h, slot);
      return page_pop(pg, b);
    }
#endif
    return malloc_small(n, h);
  }
  return malloc_generic(n, h);
}

/* page_pop in the checked mode (valgrind, MYMALLOC_CHECK=full). */
static MM_API_TEXT mm_noinline void *page_pop_checked(mm_page_t *pg) {
  mm_vg_defined(pg->free, sizeof(mm_block_t));
  void *p = page_pop(pg, pg->free);
  if (pg->checked) mm_check_on_alloc(pg, p);
  mm_vg_alloc(p, mm_page_usable(pg), 0);
  return p;
}

/* The checked-mode part of xcache_pop. */
static MM_API_TEXT mm_noinline void *xcache_pop_checked(mm_block_t *b) {
  mm_page_t *bp = mm_page_of(mm_segment_of(b), b);
  mm_vg_defined(b, sizeof(mm_block_t));
  if (bp->checked) mm_check_on_alloc(bp, b);
  mm_vg_alloc(b, mm_page_usable(bp), 0);
  return b;
}

/* Pop the first block of h's cross-thread cache of class c.  Its links
 * cross segments: the next block must be in one of ours. */
mm_inline void *xcache_pop(mm_xcache_t *x, mm_block_t *b) {
  mm_block_t *next = mm_xcache_next(b, "malloc");
  x->head = next;
  x->count--;
  b->key = 0;
  /* (counted by the report as npushed - nflushed - count) */
  if (mm_checked_mode()) return xcache_pop_checked(b);
  return b;   /* (the fast slots stay diverted: malloc_small undoes it) */
}

static void *malloc_first(unsigned c);
static void *malloc_sampled(mm_heap_t *h, unsigned c);

/* The thread's heap, made now if it has none (NULL: no memory), its
 * profiling countdowns set if profiling is on (a new heap's are off). */
static MM_API_TEXT mm_noinline mm_heap_t *thread_heap(void) {
  mm_heap_t *h = mm_thread_init();
  if (h && mm_prof_on && h->prof_left == INT64_MAX) mm_prof_arm(h);
  return h;
}

/* The slow paths' byte countdown of the profiler (prof.c): is this block
 * of class c the next sample?  (Off, it never runs out.) */
mm_inline bool sample_due(mm_heap_t *h, unsigned c) {
  return mm_unlikely((h->prof_left -= (int64_t)mm_class_size[c]) < 0);
}

/* Pop a block of pg, the current page of class c (not empty). */
mm_inline void *malloc_pop(mm_heap_t *h, unsigned c, mm_page_t *pg) {
  mm_count(h->nmalloc[c]);
  if (mm_checked_mode()) return page_pop_checked(pg);
  return page_pop(pg, pg->free);
}

/* A block of class c from the current page, refilled when it has none,
 * once the cross-thread cache is found empty (if it had diverted the
 * fast slots, they go back to the page).  Apart from its callers, so
 * that their pops save no register for the refill.  may_sample: as in
 * malloc_class_in. */
static MM_API_TEXT mm_noinline void *malloc_refill(mm_heap_t *h, unsigned c, bool may_sample) {
  mm_xcache_t *x = &h->xcache[c];
  if (x->diverted) {   /* the cache ran dry: the fast slots back to the page */
    x->diverted = 0;
    mm_page_set_fast(h, c, h->current[c]);
  }
  mm_page_t *pg = h->current[c];
  if (page_empty(pg)) {
    if (mm_unlikely(h == &mm_heap_empty)) return malloc_first(c);
    pg = mm_heap_refill(h, c);
    if (!pg) { errno = ENOMEM; return NULL; }
  }
  if (may_sample && sample_due(h, c)) return malloc_sampled(h, c);
  return malloc_pop(h, c, pg);
}

/* A block of class c, by the slow path (which does the checks of the
 * checked mode and tells valgrind).  Blocks this thread freed on other
 * heaps' pages come first: they are hot in this core's cache (tcmalloc
 * and jemalloc reuse them so too).  may_sample: false for the
 * profiler's own heap, and when a sample cannot be taken. */
mm_inline void *malloc_class_in(mm_heap_t *h, unsigned c, bool may_sample) {
  mm_xcache_t *x = &h->xcache[c];
  if (x->head) {
    if (may_sample && sample_due(h, c)) return malloc_sampled(h, c);
    return xcache_pop(x, x->head);
  }
  mm_page_t *pg = h->current[c];
  if (mm_likely(!page_empty(pg))) {
    if (may_sample && sample_due(h, c)) return malloc_sampled(h, c);
    return malloc_pop(h, c, pg);
  }
  return malloc_refill(h, c, may_sample);
}

static MM_API_TEXT void *malloc_class(mm_heap_t *h, unsigned c) { return malloc_class_in(h, c, true); }
static MM_API_TEXT mm_noinline void *malloc_unsampled(mm_heap_t *h, unsigned c) {
  return malloc_class_in(h, c, false);
}

/* The thread's first block: its heap is made here, the only place that
 * tests for it (every thread starts on the empty heap, whose pages have
 * no block, so all its mallocs come to malloc_class). */
static MM_API_TEXT mm_noinline void *malloc_first(unsigned c) {
  mm_heap_t *h = thread_heap();
  if (!h) { errno = ENOMEM; return NULL; }
  return malloc_class(h, c);
}

/* ---- profiling samples (prof.c) ------------------------------------------ */
/* A sample of class c: its stack, then a block of the profiler's heap
 * (which free() recognises by its page's owner). */
static MM_API_TEXT mm_noinline void *malloc_sampled(mm_heap_t *h, unsigned c) {
  mm_prof_rearm_bytes(h);
  if (mm_prof_busy()) return malloc_unsampled(h, c);   /* (the unwinder's own) */
  uintptr_t frames[MM_PROF_RAW];
  unsigned first, depth;
  MM_PROF_BACKTRACE(frames, first, depth);
  mm_heap_t *ph = mm_prof_lock();
  if (!ph) return malloc_unsampled(h, c);
  void *p = malloc_unsampled(ph, c);
  /* (its usable size: the class's, less the canary of MYMALLOC_CHECK=full) */
  if (p) mm_prof_record(p, mm_class_size[c] - (mm_check_full() ? MM_CANARY : 0), h, frames + first, depth);
  mm_prof_unlock();
  return p ? p : malloc_unsampled(h, c);
}

/* Fast slot `slot` counted down to its sample. */
static MM_API_TEXT mm_noinline void *malloc_sample_slot(mm_heap_t *h, mm_fast_slot_t *slot) {
  size_t i = (size_t)(slot - h->fast);
  mm_prof_rearm_slot(h, i);
  return malloc_sampled(h, mm_class_lookup[i]);
}

static MM_API_TEXT void *huge_alloc_in(size_t n, size_t align, bool zero) {
  void *p = mm_huge_alloc(n, align, zero);
  if (!p && mm_heap_release_memory(mm_heap_tls)) p = mm_huge_alloc(n, align, zero);
  return p;
}

/* A huge sample: marked in its segment header. */
static MM_API_TEXT mm_noinline void *huge_sampled(mm_heap_t *h, size_t n, size_t align, bool zero) {
  mm_prof_rearm_bytes(h);
  if (mm_prof_busy()) return huge_alloc_in(n, align, zero);
  uintptr_t frames[MM_PROF_RAW];
  unsigned first, depth;
  MM_PROF_BACKTRACE(frames, first, depth);
  void *p = huge_alloc_in(n, align, zero);
  mm_segment_t *s;
  mm_page_t *pg;
  if (p && mm_find_page(p, &s, &pg) && mm_prof_lock()) {
    s->prof_sampled = 1;
    mm_prof_record(p, s->size - s->huge_align_off, h, frames + first, depth);
    mm_prof_unlock();
  }
  return p;
}

/* A huge block; on failure the caches go back and it is tried again. */
static MM_API_TEXT void *huge_alloc(size_t n, size_t align, bool zero) {
  mm_process_init();
  mm_heap_t *h = mm_heap_tls;
  if (mm_unlikely(mm_prof_on)) {
    if (h == &mm_heap_empty) h = thread_heap();
    if (h && (h->prof_left -= (int64_t)(n < ((size_t)1 << 62) ? n : (size_t)1 << 62)) < 0)
      return huge_sampled(h, n, align, zero);
  }
  return huge_alloc_in(n, align, zero);
}

/* The fast path (n <= 1 KiB) found no block: the class has blocks in the
 * cross-thread cache (taken here, first), or its page ran dry, or the
 * thread has no heap yet. */
static MM_API_TEXT mm_noinline void *malloc_small(size_t n, mm_heap_t *h) {
  unsigned c = mm_class_lookup[(n + 15) >> 4];
  mm_xcache_t *x = &h->xcache[c];
  if (mm_likely(x->head != NULL && !mm_check_full())) {
    if (sample_due(h, c)) return malloc_sampled(h, c);
    return xcache_pop(x, x->head);
  }
  if (mm_check_full()) return malloc_generic(n, h);   /* room for the canary */
  return malloc_refill(h, c, true);
}

/* Everything malloc does not do in its fast path. */
static MM_API_TEXT mm_noinline void *malloc_generic(size_t n, mm_heap_t *h) {
  if (mm_check_full() && n <= MM_MEDIUM_MAX) n += MM_CANARY;   /* room for the canary */
  if (n > MM_MEDIUM_MAX) return huge_alloc(n, 0, false);
  return malloc_class(h, mm_size_class(n));
}

/* Aligned allocation: a class whose blocks are multiples of `align` sits
 * at aligned addresses, because pages start at 64 KiB boundaries; beyond
 * that, a huge block placed at an aligned offset of its mapping.  Either
 * way free() is the same O(1) free.  align: a power of two. */
MM_API_TEXT void *mm_malloc_aligned(size_t n, size_t align) {
  if (align <= MM_ALIGN) return mm_malloc(n);
  if (n > PTRDIFF_MAX) { errno = ENOMEM; return NULL; }
  size_t need = n + (mm_check_full() ? MM_CANARY : 0);
  if (align <= ((size_t)1 << MM_SMALL_PAGE_SHIFT) && need <= MM_MEDIUM_MAX) {
    size_t m = need < align ? align : need;
    for (unsigned c = mm_size_class(m); c < MM_NCLASSES; c++)
      if ((mm_class_size[c] & (align - 1)) == 0) return malloc_class(mm_heap_tls, c);
  }
  return huge_alloc(n ? n : 1, align, false);
}

MM_API_TEXT void *mm_calloc(size_t nmemb, size_t size) {
  size_t n;
  if (mm_unlikely(__builtin_mul_overflow(nmemb, size, &n))) { errno = ENOMEM; return NULL; }
  if (n > MM_MEDIUM_MAX) return huge_alloc(n, 0, true);   /* fresh from the kernel: zero */
  void *p = mm_malloc(n);
  if (mm_likely(p != NULL)) memset(p, 0, n);
  return p;
}

/* The block p given back to fn(), validated, or the one-line abort. */
static MM_API_TEXT void checked_block(const char *fn, void *p, mm_segment_t **s, mm_page_t **pg) {
  const char *err = mm_check_pointer(p, s, pg);
  if (err) mm_corrupt(fn, p, err == mm_msg_freed ? "use after free (block is already free)" : err);
}

/* Usable bytes of a block we returned (0 for NULL). */
MM_API_TEXT size_t mm_usable_size(void *p) {
  if (!p) return 0;
  mm_segment_t *s;
  mm_page_t *pg;
  checked_block("malloc_usable_size", p, &s, &pg);
  if (s->kind == MM_HUGE) return s->size - s->huge_align_off;
  return mm_page_usable(pg);
}

/* A huge block resized in place or moved; on failure the caches go back
 * and it is tried again. */
static MM_API_TEXT void *huge_realloc_in(mm_segment_t *s, size_t n) {
  void *r = mm_huge_realloc(s, n);
  if (!r && mm_heap_release_memory(mm_heap_tls)) r = mm_huge_realloc(s, n);
  return r;
}

/* A huge sample resized in place or moved by mremap: its record is held
 * out of the profiler's table meanwhile, then follows the block (or goes
 * back to p when this fails: the caller copies, a new allocation, and
 * the free of p forgets it). */
static MM_API_TEXT mm_noinline void *huge_realloc_sampled(void *p, mm_segment_t *s, size_t n) {
  mm_prof_held_t held;
  bool have = false;
  if (mm_prof_lock()) {
    have = mm_prof_hold(p, &held);
    mm_prof_unlock();
  }
  void *r = huge_realloc_in(s, n);
  void *at = r ? r : p;
  mm_segment_t *rs;
  mm_page_t *pg;
  if (mm_find_page(at, &rs, &pg) && mm_prof_lock()) {
    rs->prof_sampled = have && mm_prof_place(at, rs->size - rs->huge_align_off, &held);
    mm_prof_unlock();
  }
  return r;
}

MM_API_TEXT void *mm_realloc(void *p, size_t n) {
  if (!p) return mm_malloc(n);
  if (n == 0) { mm_free(p); return NULL; }   /* glibc: frees, returns NULL */
  mm_segment_t *s;
  mm_page_t *pg;
  checked_block("realloc", p, &s, &pg);
  if (n > PTRDIFF_MAX) { errno = ENOMEM; return NULL; }
  size_t old;
  if (s->kind == MM_HUGE) {
    old = s->size - s->huge_align_off;
    if (n > MM_MEDIUM_MAX) {
      void *r = mm_unlikely(s->prof_sampled) ? huge_realloc_sampled(p, s, n) : huge_realloc_in(s, n);
      if (r) return r;
      /* fall through to copy (or fail) */
    }
  } else {
    old = mm_page_usable(pg);
    /* stay in place when the new size fits and wastes at most half */
    if (n <= old && (n >= old / 2 || old <= 128)) return p;
  }
  void *q = mm_malloc(n);
  if (!q) return NULL;   /* p untouched and still valid */
  memcpy(q, p, n < old ? n : old);
  mm_free(p);
  return q;
}

MM_EXPORT_AS(mm_malloc, mymalloc_malloc)
MM_EXPORT_AS(mm_calloc, mymalloc_calloc)
MM_EXPORT_AS(mm_realloc, mymalloc_realloc)
MM_EXPORT_AS(mm_usable_size, mymalloc_malloc_usable_size)
MM_OVERRIDE_AS(mm_malloc, malloc)
MM_OVERRIDE_AS(mm_calloc, calloc)
MM_OVERRIDE_AS(mm_realloc, realloc)
MM_OVERRIDE_AS(mm_usable_size, malloc_usable_size)
MM_OVERRIDE_AS(mm_malloc, __libc_malloc)
MM_OVERRIDE_AS(mm_calloc, __libc_calloc)
MM_OVERRIDE_AS(mm_realloc, __libc_realloc)
