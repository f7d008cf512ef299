/*
 * segment.c -- segments: 4 MiB aligned chunks of address space, the
 * segment map that tells "is this pointer ours" in O(1), the page slots of
 * a segment, the pool of free segments, and the hand-over of a dead
 * thread's segments (abandon / adopt).
 *
 * Locking: mm_segment_lock protects sbrk, the pool and the abandoned list.
 * A live segment's slots and lists belong to its heap's thread alone.
 */
#include "internal.h"

#include <string.h>

uint8_t mm_segmap[MM_SEGMAP_SIZE];

static pthread_mutex_t mm_segment_lock = PTHREAD_MUTEX_INITIALIZER;
static mm_segment_t *mm_pool;           /* free segments, newest first */
static mm_segment_t *mm_pool_tail;
static size_t mm_pool_resident;         /* .. of which not purged */
static mm_segment_t *mm_abandoned;      /* segments of dead threads */
static _Atomic(uint64_t) mm_pool_due;   /* a pooled segment awaits purging then */

/* Enter s in the segment map with its page shift (on), or take it out.
 * The byte is rewritten whenever a pooled segment changes kind. */
void mm_segmap_set(const mm_segment_t *s, bool on) {
  uintptr_t i = (uintptr_t)s >> MM_SEGMENT_SHIFT;
  if (i >= MM_SEGMAP_SIZE) return;
  __atomic_store_n(&mm_segmap[i], on ? s->page_shift : 0, __ATOMIC_RELEASE);
}

/* ---- page slot geometry ----------------------------------------------------- */
/* Where the blocks of page slot i may lie: after the header, before the
 * guard page at the segment's end. */
void mm_segment_slot_area(const mm_segment_t *s, uint32_t i, uint8_t **start, uint8_t **end) {
  uint8_t *base = (uint8_t *)s;
  uint8_t *st = base + ((size_t)i << s->page_shift);
  uint8_t *en = st + ((size_t)1 << s->page_shift);
  if (st < base + MM_META) st = base + MM_META;
  /* the last OS page of the segment is the guard below the next one */
  if (en > base + MM_SEGMENT_SIZE - mm_os_page) en = base + MM_SEGMENT_SIZE - mm_os_page;
  *start = st;
  *end = en > st ? en : st;
}

static size_t slot_purge_size(const mm_segment_t *s, uint32_t i) {
  uint8_t *st, *en;
  mm_segment_slot_area(s, i, &st, &en);
  uint8_t *a = (uint8_t *)mm_align_up((uintptr_t)st, mm_os_page);
  return en > a ? (size_t)(en - a) : 0;
}

/* A page descriptor is written when its slot is first used: a fresh
 * segment (zero from the kernel) keeps untouched the header pages of the
 * slots it does not use.  A reused segment's descriptors are cleared. */
static void segment_init_header(mm_segment_t *s, enum mm_kind kind, bool fresh) {
  s->kind = (uint8_t)kind;
  s->page_shift = kind == MM_SMALL ? MM_SMALL_PAGE_SHIFT : MM_MEDIUM_PAGE_SHIFT;
  s->npages = (uint32_t)(MM_SEGMENT_SIZE >> s->page_shift);
  s->used_pages = 0;
  s->free_slots = 0;
  s->purged_slots = 0;
  s->next = s->prev = NULL;
  if (!fresh) memset(s->pages, 0, sizeof(s->pages));
  for (uint32_t i = 0; i < s->npages; i++) {
    uint8_t *st, *en;
    mm_segment_slot_area(s, i, &st, &en);
    /* a slot usable for blocks keeps at least half of its page */
    if ((size_t)(en - st) >= ((size_t)1 << s->page_shift) / 2) {
      s->free_slots |= (uint64_t)1 << i;
    }
  }
  s->cookie = mm_secret ^ (uintptr_t)s;
}

/* ---- the pool of free segments ----------------------------------------------- */
/* Give one pooled segment's memory back.  Lock held. */
static size_t pool_release_one(mm_segment_t *s) {
  size_t hdr = mm_align_up(sizeof(mm_segment_t), mm_os_page);
  if (!s->from_sbrk) {
    mm_seg_remove(&mm_pool, s);
    if (mm_pool_tail == s) mm_pool_tail = s->prev;
    if (!s->purged) mm_pool_resident--;
    mm_segmap_set(s, false);
    mm_os_munmap(s, MM_SEGMENT_SIZE);
    atomic_fetch_sub(&mm_os_stats.segments, 1);
    return MM_SEGMENT_SIZE;
  }
  if (s->purged) return 0;
  mm_os_purge((uint8_t *)s + hdr, MM_SEGMENT_SIZE - hdr - mm_os_page);
  atomic_fetch_add(&mm_os_stats.purged_bytes, MM_SEGMENT_SIZE - hdr - mm_os_page);
  mm_stats_os_changed();
  s->purged = 1;
  mm_pool_resident--;
  return MM_SEGMENT_SIZE - hdr - mm_os_page;
}

/* The break can shrink when pooled segments that are given back (purged)
 * sit at its very top; a resident pooled segment stays until its delay
 * passes like any other (lowering the break at once would make the next
 * segment fault all its pages again).  A segment is unlinked and
 * accounted before its memory goes. */
static void pool_trim_brk(void) {
  bool again = true;
  while (again) {
    again = false;
    for (mm_segment_t *s = mm_pool; s; s = s->next) {
      if (!s->from_sbrk || !s->purged || !mm_os_sbrk_is_top(s, MM_SEGMENT_SIZE)) continue;
      size_t hdr = mm_align_up(sizeof(mm_segment_t), mm_os_page);
      if (s->purged) atomic_fetch_sub(&mm_os_stats.purged_bytes, MM_SEGMENT_SIZE - hdr - mm_os_page);
      else mm_pool_resident--;
      if (mm_pool_tail == s) mm_pool_tail = s->prev;
      mm_seg_remove(&mm_pool, s);
      mm_segmap_set(s, false);
      atomic_fetch_sub(&mm_os_stats.segments, 1);
      /* false only if another sbrk user moved the break just now: the
       * address space then stays unused (and is no longer counted) */
      if (!mm_os_sbrk_trim(s, MM_SEGMENT_SIZE)) atomic_fetch_sub(&mm_os_stats.sbrk_bytes, MM_SEGMENT_SIZE);
      mm_stats_os_changed();
      again = true;
      break;
    }
  }
}

/* Purge pooled segments older than the purge delay (all when force).
 * Returns bytes given back. */
static size_t pool_purge_locked(bool force) {
  size_t released = 0;
  uint64_t now = mm_clock_ns();
  uint64_t delay = (uint64_t)mm_option(MM_OPT_PURGE_DELAY_MS) * 1000000u;
  mm_segment_t *s = mm_pool_tail;
  while (s) {
    mm_segment_t *prev = s->prev;
    bool too_many = mm_pool_resident > (size_t)mm_option(MM_OPT_SEGMENT_POOL);
    if (force || too_many || now - s->freed_at_ns >= delay) released += pool_release_one(s);
    else break;  /* the rest is newer */
    s = prev;
  }
  pool_trim_brk();
  atomic_store_explicit(&mm_pool_due, mm_pool_resident ? now + delay : 0, memory_order_relaxed);
  return released;
}

size_t mm_segment_pool_purge(bool force) {
  pthread_mutex_lock(&mm_segment_lock);
  size_t r = pool_purge_locked(force);
  pthread_mutex_unlock(&mm_segment_lock);
  return r;
}

/* ---- segments ------------------------------------------------------------------ */
mm_segment_t *mm_segment_alloc(mm_heap_t *h, enum mm_kind kind) {
  mm_segment_t *s = NULL;
  bool fresh = false;
  pthread_mutex_lock(&mm_segment_lock);
  if (mm_pool) {
    s = mm_pool;
    mm_seg_remove(&mm_pool, s);
    if (!mm_pool) mm_pool_tail = NULL;
    if (s->purged) {
      size_t hdr = mm_align_up(sizeof(mm_segment_t), mm_os_page);
      atomic_fetch_sub(&mm_os_stats.purged_bytes, MM_SEGMENT_SIZE - hdr - mm_os_page);
      mm_stats_os_changed();
    } else {
      mm_pool_resident--;
    }
  } else if (mm_option(MM_OPT_SBRK)) {
    s = mm_os_sbrk_segment(MM_SEGMENT_SIZE);
    if (s) { fresh = true; s->from_sbrk = 1; }
  }
  pthread_mutex_unlock(&mm_segment_lock);
  if (!s) {
    size_t mapped;
    s = mm_os_mmap_aligned(MM_SEGMENT_SIZE, MM_SEGMENT_SIZE, &mapped);
    if (!s && mm_release_cached()) s = mm_os_mmap_aligned(MM_SEGMENT_SIZE, MM_SEGMENT_SIZE, &mapped);
    if (!s) return NULL;
    fresh = true;
    s->from_sbrk = 0;
  }
  if (fresh) {
    mm_os_guard((uint8_t *)s + MM_SEGMENT_SIZE - mm_os_page, mm_os_page);
    s->size = MM_SEGMENT_SIZE;
    atomic_fetch_add(&mm_os_stats.segments, 1);
  }
  s->purged = 0;
  segment_init_header(s, kind, fresh);
  mm_segmap_set(s, true);      /* (again: a pooled segment may change kind) */
  s->heap = h;
  return s;
}

/* A segment without used pages goes to the pool. */
void mm_segment_free(mm_segment_t *s) {
  mm_assert(s->used_pages == 0);
  /* the pool accounts for the whole segment from here on */
  for (uint32_t i = 0; i < s->npages; i++)
    if (s->purged_slots & ((uint64_t)1 << i)) atomic_fetch_sub(&mm_os_stats.purged_bytes, slot_purge_size(s, i));
  s->purged_slots = 0;
  s->heap = NULL;
  s->freed_at_ns = mm_clock_ns();
  pthread_mutex_lock(&mm_segment_lock);
  mm_seg_push(&mm_pool, s);
  if (!mm_pool_tail) mm_pool_tail = s;
  mm_pool_resident++;
  pool_purge_locked(false);
  pthread_mutex_unlock(&mm_segment_lock);
}

mm_page_t *mm_segment_page_alloc(mm_heap_t *h, enum mm_kind kind) {
  mm_segment_t *s = h->segments[kind];
  if (!s) {
    for (int tries = 0; tries < 4 && !h->segments[kind] && mm_segment_try_adopt(h); tries++) {}
    s = h->segments[kind];
  }
  if (!s) {
    /* The heap needs a new segment: unless the pool holds a resident one,
     * memory really grows.  What it holds free and cannot use for this
     * kind of page -- free slots of the other kind, free blocks inside
     * fragmented pages, the huge cache -- goes back to the kernel now (at
     * most every 10 ms) rather than after the purge delay.  Slots this
     * heap could reuse are never purged here (they would fault back). */
    uint64_t now = mm_clock_ns();
    if (!mm_load_relaxed(&mm_pool_resident) && now - h->last_block_purge_ns >= 10000000u) {
      h->last_block_purge_ns = now;
      mm_heap_purge_free_blocks(h);
      mm_segment_purge_free_slots(h);
      /* huge blocks kept for reuse are not reused by small ones */
      if (atomic_load_explicit(&mm_os_stats.huge_cached_bytes, memory_order_relaxed)) mm_huge_cache_purge(true);
    }
    s = mm_segment_alloc(h, kind);
    if (!s) return NULL;
    mm_seg_push(&h->segments[kind], s);
  }
  unsigned slot = (unsigned)__builtin_ctzll(s->free_slots);
  s->free_slots &= ~((uint64_t)1 << slot);
  if (s->purged_slots & ((uint64_t)1 << slot)) {
    s->purged_slots &= ~((uint64_t)1 << slot);
    atomic_fetch_sub(&mm_os_stats.purged_bytes, slot_purge_size(s, slot));
  }
  s->used_pages++;
  if (!s->free_slots) {
    mm_seg_remove(&h->segments[kind], s);
    mm_seg_push(&h->segments_full[kind], s);
  }
  mm_page_t *pg = &s->pages[slot];
  uint8_t *st, *en;
  mm_segment_slot_area(s, slot, &st, &en);
  pg->index = (uint8_t)slot;
  pg->start = st;
  return pg;
}

/* Called from the malloc slow path: purge what is due (free page slots of
 * this heap, pooled segments) once the purge delay has passed, and the
 * cached huge blocks past their decay. */
void mm_heap_purge_due(mm_heap_t *h) {
  uint64_t pool_due = atomic_load_explicit(&mm_pool_due, memory_order_relaxed);
  uint64_t huge_due = atomic_load_explicit(&mm_huge_due_ns, memory_order_relaxed);
  if (mm_likely(!h->purge_at_ns && !pool_due && !huge_due)) return;
  /* slow paths come in bursts: read the clock at every 8th */
  if ((++h->purge_tick & 7) != 0 && mm_option(MM_OPT_PURGE_DELAY_MS) != 0) return;
  uint64_t now = mm_clock_ns();
  if (huge_due && now >= huge_due) mm_huge_cache_purge(false);
  if (h->purge_at_ns && now >= h->purge_at_ns) {
    h->purge_at_ns = 0;
    mm_segment_purge_free_slots(h);
    mm_heap_purge_free_blocks(h);
  }
  if (pool_due && now >= pool_due) mm_segment_pool_purge(false);
}

void mm_segment_page_free(mm_heap_t *h, mm_page_t *pg) {
  mm_segment_t *s = mm_segment_of(pg);
  if (!h->purge_at_ns && h->live)
    h->purge_at_ns = mm_clock_ns() + (uint64_t)mm_option(MM_OPT_PURGE_DELAY_MS) * 1000000u;
  bool was_full = s->free_slots == 0;
  pg->block_size = 0;
  pg->magic = 0;                 /* no pointer passes mm_is_block_start */
  pg->limit = 0;
  pg->free = mm_list_end(pg);
  atomic_store_explicit(&pg->owner, 0, memory_order_relaxed);
  s->free_slots |= (uint64_t)1 << pg->index;
  s->used_pages--;
  if (was_full) {
    mm_seg_remove(&h->segments_full[s->kind], s);
    mm_seg_push(&h->segments[s->kind], s);
  }
  if (s->used_pages == 0) {
    mm_seg_remove(&h->segments[s->kind], s);
    mm_segment_free(s);
  }
}

/* Give back the memory of the free page slots of h's segments. */
size_t mm_segment_purge_free_slots(mm_heap_t *h) {
  size_t n = 0;
  for (int k = 0; k < 2; k++) {
    for (mm_segment_t *s = h->segments[k]; s; s = s->next) {
      uint64_t todo = s->free_slots & ~s->purged_slots;
      while (todo) {
        unsigned i = (unsigned)__builtin_ctzll(todo);
        todo &= todo - 1;
        uint8_t *st, *en;
        mm_segment_slot_area(s, i, &st, &en);
        uint8_t *a = (uint8_t *)mm_align_up((uintptr_t)st, mm_os_page);
        if (en > a && mm_os_purge(a, (size_t)(en - a)) == 0) {
          s->purged_slots |= (uint64_t)1 << i;
          atomic_fetch_add(&mm_os_stats.purged_bytes, slot_purge_size(s, i));
          n++;
        }
      }
    }
  }
  if (n) mm_stats_os_changed();
  return n;
}

/* Give back the OS pages inside free blocks of two OS pages or more
 * (their first OS page holds the free-list link): fragmented pages that cannot be released as a whole
 * still stop holding resident memory for their free blocks.  A block
 * purged once carries a mark in its third word and is not purged again
 * while it stays free. */
void mm_heap_purge_free_blocks(mm_heap_t *h) {
  if (mm_slow_mode) return;   /* the fill patterns must stay */
  uintptr_t mark = mm_free_key ^ (uintptr_t)0x5a5a5a5a5a5a5a5aULL;
  for (unsigned c = mm_size_class(2 * mm_os_page); c < MM_NCLASSES; c++) {
    for (mm_page_t *pg = h->queue[c].first; pg; pg = pg->next) {
      uint32_t n = 0;
      for (mm_block_t *b = pg->free; !mm_list_empty(b) && n <= pg->capacity; b = mm_decode(b), n++) {
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

/* ---- abandon and adopt ----------------------------------------------------------- */
/* The thread of h is gone: its segments with live blocks go to the
 * abandoned list, where the next thread that needs pages adopts them. */
void mm_heap_abandon(mm_heap_t *h) {
  for (int k = 0; k < 2; k++) {
    mm_segment_t **lists[2] = { &h->segments[k], &h->segments_full[k] };
    for (int l = 0; l < 2; l++) {
      while (*lists[l]) {
        mm_segment_t *s = *lists[l];
        mm_seg_remove(lists[l], s);
        s->heap = NULL;
        for (uint32_t i = 0; i < s->npages; i++) {
          mm_page_t *pg = &s->pages[i];
          if (pg->block_size) {
            mm_stats_page_abandoned(h, pg, true);
            pg->next = pg->prev = NULL;
            pg->in_full = 0;
            atomic_store_explicit(&pg->owner, 0, memory_order_release);
          }
        }
        pthread_mutex_lock(&mm_segment_lock);
        mm_seg_push(&mm_abandoned, s);
        pthread_mutex_unlock(&mm_segment_lock);
        atomic_fetch_add(&mm_os_stats.segments_abandoned, 1);
      }
    }
  }
}

/* Take one abandoned segment into h.  Returns false when there is none. */
bool mm_segment_try_adopt(mm_heap_t *h) {
  if (!atomic_load_explicit(&mm_os_stats.segments_abandoned, memory_order_relaxed)) return false;  /* peek; the lock decides */
  pthread_mutex_lock(&mm_segment_lock);
  mm_segment_t *s = mm_abandoned;
  if (s) mm_seg_remove(&mm_abandoned, s);
  pthread_mutex_unlock(&mm_segment_lock);
  if (!s) return false;
  atomic_fetch_sub(&mm_os_stats.segments_abandoned, 1);
  s->heap = h;
  mm_seg_push(s->free_slots ? &h->segments[s->kind] : &h->segments_full[s->kind], s);
  for (uint32_t i = 0; i < s->npages; i++) {
    mm_page_t *pg = &s->pages[i];
    if (!pg->block_size) continue;
    atomic_store_explicit(&pg->owner, mm_owner_tag(h, false), memory_order_release);
    mm_stats_page_abandoned(h, pg, false);
    mm_queue_push(&h->queue[pg->class_idx], pg);
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

/* ---- fork ------------------------------------------------------------------------ */
void mm_segment_fork_prepare(void) { pthread_mutex_lock(&mm_segment_lock); }
void mm_segment_fork_parent(void) { pthread_mutex_unlock(&mm_segment_lock); }
void mm_segment_fork_child(void) { pthread_mutex_init(&mm_segment_lock, NULL); }
