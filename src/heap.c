/*
 * heap.c -- the thread heap (heap.h): birth and death, the refill ladder
 * of the malloc slow path, and the policy around it: when to collect,
 * trim, purge, adopt a dead thread's segments, and what to give back
 * under memory pressure.  The mechanisms it drives are in page.c,
 * segment.c and huge.c.
 */
#include "heap.h"
#include "check.h"
#include "huge.h"
#include "options.h"
#include "os.h"
#include "page.h"
#include "segment.h"
#include "sizeclass.h"
#include "state.h"

#include <errno.h>
#include <string.h>

pthread_mutex_t mm_heaps_lock = PTHREAD_MUTEX_INITIALIZER;
mm_heap_t *mm_heaps;                     /* live heaps */
static mm_heap_t *mm_heap_pool;          /* structures of dead heaps, for reuse */
mm_class_totals_t mm_heaps_dead[MM_NCLASSES];
_Atomic(uint64_t) mm_abandoned_pages[MM_NCLASSES];
_Atomic(uint64_t) mm_abandoned_blocks[MM_NCLASSES];
_Atomic(uint64_t) mm_heapless_frees[MM_NCLASSES];

/* Abandoned segments adopted at most by one refill. */
#define MM_ADOPT_TRIES 4


/* ---- the cross-thread caches ----------------------------------------------- */

/* Every block of h's cross-thread caches back to its page: blocks of
 * pages that are ours (adopted since) by a local free, others'
 * through their pages' cross-thread lists; the blocks held for their
 * owners' current pages onto those pages' lists. */
static void xcache_flush(mm_heap_t *h) {
  for (unsigned c = 0; c < MM_NCLASSES; c++) {
    mm_xcache_t *x = &h->xcache[c];
    mm_page_flush_home(x);
    mm_block_t *b = x->head;
    x->head = NULL;
    mm_store_relaxed(&x->nflushed, x->nflushed + x->count);
    __atomic_store_n(&x->count, 0, __ATOMIC_RELEASE);   /* (after nflushed: mm_xcache_reused) */
    x->diverted = 0;
    mm_page_set_fast(h, c, h->current[c]);
    while (b) {
      mm_block_t *next = mm_xcache_next(b, "free");
      mm_segment_t *s = mm_segment_of(b);
      mm_page_t *pg = mm_page_of(s, b);
      uintptr_t owner = atomic_load_explicit(&pg->owner, memory_order_relaxed);   /* (as in mm_free) */
      if (mm_owner_heap(owner) == h) {
        if (owner & MM_OWNER_FULL) mm_page_unfull(h, pg);
        x->ncollected++;   /* a cross-thread free back in our page */
        mm_page_push_local(h, pg, b);
      } else {
        mm_page_push_xfree(pg, b);
      }
      b = next;
    }
  }
}

/* ---- birth and death ----------------------------------------------------- */
static uint8_t *mm_heap_chunk, *mm_heap_chunk_end;   /* untouched structures */

/* A heap structure: a dead thread's, or the next of a chunk from the
 * kernel (handed out in order: the rest of the chunk stays untouched,
 * and costs no resident memory).  mm_heaps_lock held. */
static mm_heap_t *heap_struct_alloc(void) {
  mm_heap_t *h = mm_heap_pool;
  if (h) { mm_heap_pool = h->next_heap; return h; }
  if ((size_t)(mm_heap_chunk_end - mm_heap_chunk) < sizeof(mm_heap_t)) {   /* (both NULL at first) */
    size_t sz = mm_align_up(sizeof(mm_heap_t) * 16, mm_os_page);
    uint8_t *chunk = mm_os_mmap(sz);
    if (!chunk) return NULL;
    mm_heap_chunk = chunk;
    mm_heap_chunk_end = chunk + sz;
  }
  h = (mm_heap_t *)mm_heap_chunk;
  mm_heap_chunk += sizeof(mm_heap_t);
  return h;
}

/* A new heap, its countdowns off (until the profiler arms them, prof.c).
 * shared: no thread's TLS points at it (the profiler's heap of sampled
 * blocks, used under its lock, which never adopts a dead thread's
 * segments). */
static mm_heap_t *heap_new(bool shared) {
  pthread_mutex_lock(&mm_heaps_lock);
  mm_heap_t *h = heap_struct_alloc();
  if (!h) { pthread_mutex_unlock(&mm_heaps_lock); return NULL; }
  memset(h, 0, sizeof(*h));
  for (unsigned c = 0; c < MM_NCLASSES; c++) {
    mm_page_set_current(h, c, &mm_page_empty);
    h->xcache[c].cap = mm_xcache_cap[c];
  }
  for (size_t i = 0; i < MM_NSLOTS; i++) h->fast[i].left = h->fast_start[i] = UINT64_MAX;
  h->prof_left = INT64_MAX;
  h->shared = shared;
  h->purge_tick = 1;
  h->live = 1;
  h->next_heap = mm_heaps;
  if (mm_heaps) mm_heaps->prev_heap = h;
  mm_heaps = h;
  pthread_mutex_unlock(&mm_heaps_lock);
  return h;
}

mm_heap_t *mm_heap_create(void) {
  mm_heap_t *h = heap_new(false);
  if (h) mm_heap_tls = h;
  return h;
}

mm_heap_t *mm_heap_create_shared(void) { return heap_new(true); }

/* The thread of h is gone: its segments with live blocks go to the
 * abandoned list, where the next thread that needs a page adopts them
 * (mm_heap_refill). */
static void heap_abandon(mm_heap_t *h) {
  for (int k = 0; k < 2; k++) {
    mm_segment_t **lists[2] = { &h->segments[k], &h->segments_full[k] };
    for (int l = 0; l < 2; l++) {
      while (*lists[l]) {
        mm_segment_t *s = *lists[l];
        mm_seg_remove(lists[l], s);
        for (uint32_t i = 0; i < s->npages; i++) {
          mm_page_t *pg = &s->pages[i];
          if (!pg->block_size) continue;
          mm_page_detach(h, pg);
          atomic_fetch_add(&mm_abandoned_pages[pg->class_idx], 1);
          atomic_fetch_add(&mm_abandoned_blocks[pg->class_idx], pg->capacity);
        }
        mm_segment_abandon(s);
      }
    }
  }
}

/* Take one abandoned segment into h.  Returns false when there is none. */
static bool heap_adopt(mm_heap_t *h) {
  if (h->shared) return false;   /* the profiler's heap: its pages are samples only */
  mm_segment_t *s = mm_segment_take_abandoned();
  if (!s) return false;
  mm_segment_attach(h, s);
  for (uint32_t i = 0; i < s->npages; i++) {
    mm_page_t *pg = &s->pages[i];
    if (!pg->block_size) continue;
    mm_page_attach(h, pg);
    atomic_fetch_sub(&mm_abandoned_pages[pg->class_idx], 1);
    atomic_fetch_sub(&mm_abandoned_blocks[pg->class_idx], pg->capacity);
  }
  /* collect what other threads freed meanwhile; release empty pages */
  uint32_t npages = s->npages;
  for (uint32_t i = 0; i < npages; i++) {
    mm_page_t *pg = &s->pages[i];
    if (!pg->block_size) continue;
    mm_page_collect(pg);
    if (pg->used == 0) {
      /* releasing the last used page may give the segment back (even
       * unmap it): do not look at it any more then */
      bool last = s->used_pages == 1;
      mm_page_emptied(h, pg);
      if (last) break;   /* no other used page is left to scan */
    }
  }
  return true;
}

/* The counters of a dead heap into the process totals.  mm_heaps_lock held. */
static void fold_dead(mm_heap_t *h) {
  uint64_t fast[MM_NCLASSES] = { 0 };
  mm_fast_requests(h, fast, mm_class_lookup);
  for (unsigned c = 0; c < MM_NCLASSES; c++) mm_heaps_dead[c].nmalloc += fast[c];
  for (unsigned c = 0; c < MM_NCLASSES; c++) {
    mm_class_totals_t *d = &mm_heaps_dead[c];
    d->nmalloc += h->nmalloc[c];
    const mm_xcache_t *x = &h->xcache[c];
    uint64_t reused = mm_xcache_reused(x);
    d->nmalloc += reused;
    d->nfree += h->nfree[c] + x->npushed + x->nxlist;
    d->nfree_xthread += x->npushed + x->nxlist;
    d->ncollected += x->ncollected + reused;
    d->pages += h->npages[c];
    d->blocks += h->nblocks[c];
  }
}

/* Nothing of a dead thread may stay behind but its live blocks: its
 * caches go back, its empty pages to their segments (empty segments to
 * the pool), the free slots of what is left go back to the kernel now (no
 * one would purge them after the delay), and the structure is reused. */
void mm_heap_done(mm_heap_t *h) {
  for (unsigned c = 0; c < MM_NCLASSES; c++) h->xcache[c].cap = 0;   /* takes no more */
  xcache_flush(h);
  mm_page_release_empty(h, true);
  mm_segment_purge_free_slots(h);
  heap_abandon(h);
  mm_heap_tls = &mm_heap_empty;
  pthread_mutex_lock(&mm_heaps_lock);
  fold_dead(h);
  if (h->prev_heap) h->prev_heap->next_heap = h->next_heap; else mm_heaps = h->next_heap;
  if (h->next_heap) h->next_heap->prev_heap = h->prev_heap;
  h->live = 0;
  h->next_heap = mm_heap_pool;
  mm_heap_pool = h;
  pthread_mutex_unlock(&mm_heaps_lock);
}

/* ---- purging ---------------------------------------------------------------- */
/* Give back the OS pages inside free blocks of two OS pages or more
 * (their first OS page holds the free-list link): fragmented pages that
 * cannot be released as a whole still stop holding resident memory for
 * their free blocks.  A block purged once carries a mark in its third
 * word and is not purged again while it stays free. */
static void purge_free_blocks(mm_heap_t *h) {
  if (mm_checked_mode()) return;   /* the fill patterns must stay */
  if (2 * mm_os_page > MM_MEDIUM_MAX) return;   /* 64 KiB OS pages: no block holds two */
  uintptr_t mark = mm_secret ^ (uintptr_t)0x5a5a5a5a5a5a5a5aULL;
  for (unsigned c = mm_size_class(2 * mm_os_page); c < MM_NCLASSES; c++) {
    for (mm_page_t *pg = h->queue[c].first; pg; pg = pg->next) {
      uint32_t n = 0;
      mm_segment_t *s = mm_segment_of(pg);
      for (mm_block_t *b = pg->free; !mm_list_empty(b) && n <= pg->capacity; b = mm_decode(b), n++) {
        if (mm_unlikely(mm_segment_of(b) != s)) mm_corrupt("malloc", b, "corrupted free-list link");
        uintptr_t *w = (uintptr_t *)b + 2;
        if (*w == mark) continue;
        uint8_t *a = (uint8_t *)mm_align_up((uintptr_t)b + sizeof(mm_block_t) + sizeof(uintptr_t), mm_os_page);
        uint8_t *e = (uint8_t *)(((uintptr_t)b + pg->block_size) & ~(uintptr_t)(mm_os_page - 1));
        if (e > a) mm_os_purge(a, (size_t)(e - a));
        *w = mark;
      }
    }
  }
}

/* What is due at every 8th refill (slow paths come in bursts; at every
 * one when the purge delay is 0): the free page slots of this heap and
 * its fragmented free blocks once the purge delay has passed, the pooled
 * segments likewise, the cached huge blocks past their decay. */
static void purge_due(mm_heap_t *h) {
  h->purge_tick = mm_option(MM_OPT_PURGE_DELAY_MS) != 0 ? 8 : 1;
  uint64_t pool_due = mm_segment_pool_due();
  uint64_t huge_due = mm_huge_cache_due();
  if (mm_likely(!h->purge_at_ns && !pool_due && !huge_due)) return;
  uint64_t now = mm_clock_ns();
  if (huge_due && now >= huge_due) mm_huge_cache_purge(false);
  if (h->purge_at_ns && now >= h->purge_at_ns) {
    h->purge_at_ns = 0;
    mm_page_release_kept(h, -1);   /* first: their slots are purged with the others */
    mm_segment_purge_free_slots(h);
    purge_free_blocks(h);
  }
  if (pool_due && now >= pool_due) mm_segment_pool_purge(false);
}

/* The heap needs a new segment: unless the pool holds a resident one,
 * memory really grows.  What it holds free and cannot use for this kind
 * of page -- free slots of the other kind, free blocks inside fragmented
 * pages, the huge cache -- goes back to the kernel now (at most every
 * 10 ms) rather than after the purge delay.  Slots this heap could reuse
 * are never purged here (they would fault back). */
static void purge_before_growth(mm_heap_t *h) {
  uint64_t now = mm_clock_ns();
  if (mm_segment_pool_has_resident() || now - h->last_block_purge_ns < 10000000u) return;
  h->last_block_purge_ns = now;
  purge_free_blocks(h);
  mm_segment_purge_free_slots(h);
  /* huge blocks kept for reuse are not reused by small ones */
  if (atomic_load_explicit(&mm_huge_counters.cached_bytes, memory_order_relaxed)) mm_huge_cache_purge(true);
}

/* What h keeps that it does not use: its cross-thread cache, its empty
 * pages (the last one of each class too), and the empty pages of dead
 * threads' segments (adopted so that they can go).  Returns the pages
 * released. */
static size_t heap_give_back(mm_heap_t *h) {
  xcache_flush(h);
  for (int i = 0; i < 1024 && heap_adopt(h); i++) {}
  return mm_page_release_empty(h, true);
}

/* Every live heap gives back what it keeps at its next refill (upkeep):
 * a malloc_trim, or memory is short. */
static void trim_others(void) {
  pthread_mutex_lock(&mm_heaps_lock);
  for (mm_heap_t *o = mm_heaps; o; o = o->next_heap)
    atomic_fetch_or_explicit(&o->upkeep, MM_UPKEEP_TRIM, memory_order_relaxed);
  pthread_mutex_unlock(&mm_heaps_lock);
}

/* Out of memory: what h keeps, then the huge cache and the segment pool
 * go back, address space included; the other heaps give back what they
 * keep at their next slow path (as after a malloc_trim). */
bool mm_heap_release_memory(mm_heap_t *h) {
  int saved = errno;
  trim_others();
  size_t n = 0;
  if (h->live) n += heap_give_back(h);
  n += mm_huge_cache_purge(true);
  n += mm_segment_pool_release();
  errno = saved;
  return n > 0;
}

/* ---- the refill ladder --------------------------------------------------------- */
/* Cross-thread frees that hit full pages, a malloc_trim (h->upkeep),
 * purges (every 8th refill: purge_tick). */
void mm_heap_upkeep(mm_heap_t *h) {
  /* acquire: pairs with the pushers' release fetch_or (page.c) */
  uint64_t w = atomic_exchange_explicit(&h->upkeep, 0, memory_order_acquire);
  if (w & MM_UPKEEP_CLASSES) mm_page_collect_full(h, w & MM_UPKEEP_CLASSES);
  if (w & MM_UPKEEP_TRIM) {      /* malloc_trim was called */
    xcache_flush(h);             /* other heaps' pages may empty */
    mm_page_release_empty(h, true);
    mm_segment_purge_free_slots(h);
  }
  if (h->purge_tick == 0) purge_due(h);
}

/* A free page slot: of the heap's segments, of an adopted segment, of a
 * new one. */
static mm_page_t *new_page_slot(mm_heap_t *h, enum mm_kind kind) {
  mm_page_t *pg = mm_segment_page_alloc(h, kind);
  if (pg) return pg;
  /* the pages kept for reuse (I9) give way before the heap grows */
  if (h->kept && mm_page_release_kept(h, (int)kind) && (pg = mm_segment_page_alloc(h, kind))) return pg;
  for (int tries = 0; tries < MM_ADOPT_TRIES && !h->segments[kind] && heap_adopt(h); tries++) {}
  if ((pg = mm_segment_page_alloc(h, kind))) return pg;
  purge_before_growth(h);
  if (!mm_segment_alloc(h, kind) && !(mm_heap_release_memory(h) && mm_segment_alloc(h, kind))) return NULL;
  return mm_segment_page_alloc(h, kind);
}

mm_page_t *mm_heap_refill_new(mm_heap_t *h, unsigned c) {
  mm_page_t *pg;
  /* a dead thread's page of the class with room comes before a new page
   * (a short-lived thread would otherwise leave one page per thread
   * behind, each holding its one live block) */
  for (int tries = 0; tries < MM_ADOPT_TRIES && heap_adopt(h); tries++)
    if ((pg = mm_page_find(h, c))) return pg;
  /* a new page: what is free elsewhere is purged after the delay */
  mm_segment_purge_later(h);
  pg = new_page_slot(h, mm_class_size[c] <= MM_SMALL_MAX ? MM_SMALL : MM_MEDIUM);
  if (!pg) {
    mm_page_set_current(h, c, &mm_page_empty);
    return NULL;
  }
  mm_page_init(h, pg, c);
  return pg;
}

/* ---- trim --------------------------------------------------------------------- */
/* This heap's empty pages and the free pages of its segments, the
 * segments of dead threads that have become empty (adopted so that their
 * empty pages can go), the segment pool and the huge cache.  Other live
 * heaps give back their empty pages at their next slow path. */
int mm_heap_trim(mm_heap_t *h) {
  trim_others();
  size_t released = 0;
  if (h) {
    released += heap_give_back(h);
    released += mm_segment_purge_free_slots(h);
  }
  released += mm_segment_pool_purge(true);
  released += mm_huge_cache_purge(true);
  return released > 0;
}

/* ---- fork ------------------------------------------------------------------------ */
void mm_heap_fork_prepare(void) { pthread_mutex_lock(&mm_heaps_lock); }
void mm_heap_fork_parent(void) { pthread_mutex_unlock(&mm_heaps_lock); }
void mm_heap_fork_child(void) { pthread_mutex_init(&mm_heaps_lock, NULL); }
