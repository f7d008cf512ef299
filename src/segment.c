/*
 * segment.c -- segments: 4 MiB aligned chunks of address space, the page
 * slots of a segment, the pool of free segments, and the list of
 * abandoned segments (segment.h).
 */
#include "segment.h"
#include "check.h"
#include "options.h"
#include "os.h"
#include "segmap.h"
#include "state.h"

#include <string.h>

static pthread_mutex_t mm_segment_lock = PTHREAD_MUTEX_INITIALIZER;
static mm_segment_t *mm_pool;           /* free segments, newest first */
static mm_segment_t *mm_pool_tail;
static size_t mm_pool_resident;         /* .. of which not purged */
static mm_segment_t *mm_abandoned;      /* segments of dead threads, newest first */
static mm_segment_t *mm_abandoned_tail;
static _Atomic(uint64_t) mm_pool_due;   /* a pooled segment awaits purging then */
_Atomic(uint64_t) mm_segments_held;
mm_pin_t mm_segment_pins[MM_PIN_SHARDS];

/* Is a cross-thread push in flight (segment.h)?  Its pin was taken before
 * its block was published; that block was collected before the segment
 * came to the pool, so the pin is seen here until the push is done. */
static bool pushes_in_flight(void) {
  for (unsigned i = 0; i < MM_PIN_SHARDS; i++)
    if (atomic_load_explicit(&mm_segment_pins[i].n, memory_order_acquire)) return true;
  return false;
}
_Atomic(uint64_t) mm_segments_abandoned;

/* ---- page slot geometry ----------------------------------------------------- */
static size_t slot_purge_size(const mm_segment_t *s, uint32_t i) {
  uint8_t *st, *en;
  mm_slot_area(s, i, &st, &en);
  uint8_t *a = (uint8_t *)mm_align_up((uintptr_t)st, mm_os_page);
  return en > a ? (size_t)(en - a) : 0;
}

/* What a pooled segment gives back when purged: all but its header and
 * its guard page. */
static size_t pool_purge_size(void) {
  return MM_SEGMENT_SIZE - mm_align_up(sizeof(mm_segment_t), mm_os_page) - mm_os_page;
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
  else mm_vg_defined(s->pages, sizeof(s->pages));   /* zero from the kernel (memcheck holds brk memory undefined) */
  for (uint32_t i = 0; i < s->npages; i++)
    if (mm_slot_usable(s, i)) s->free_slots |= (uint64_t)1 << i;
  s->cookie = mm_secret ^ (uintptr_t)s;
}

/* ---- the pool of free segments ----------------------------------------------- */
/* Give one pooled segment's memory back.  Lock held. */
static size_t pool_release_one(mm_segment_t *s) {
  mm_assert(s->heap == NULL);   /* pooled, not in use */
  if (!s->from_sbrk) {
    if (pushes_in_flight()) return 0;   /* next time */
    /* the tail first: mm_seg_remove clears s->prev (read after it, the
     * tail became NULL, the next pooled segment became the tail, and a
     * purge then took that one after it had gone back in use: its
     * memory unmapped under its live blocks, or purged if from sbrk) */
    if (mm_pool_tail == s) mm_pool_tail = s->prev;
    mm_seg_remove(&mm_pool, s);
    if (!s->purged) mm_pool_resident--;
    mm_segmap_set(s, false);
    mm_os_munmap(s, MM_SEGMENT_SIZE);
    atomic_fetch_sub(&mm_segments_held, 1);
    return MM_SEGMENT_SIZE;
  }
  if (s->purged) return 0;
  size_t n = pool_purge_size();
  mm_os_purge((uint8_t *)s + MM_SEGMENT_SIZE - mm_os_page - n, n);
  mm_os_count_purged((int64_t)n);
  s->purged = 1;
  mm_pool_resident--;
  return n;
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
      if (pushes_in_flight()) return;   /* next time */
      mm_os_count_purged(-(int64_t)pool_purge_size());
      if (mm_pool_tail == s) mm_pool_tail = s->prev;
      mm_seg_remove(&mm_pool, s);
      mm_segmap_set(s, false);
      atomic_fetch_sub(&mm_segments_held, 1);
      mm_os_sbrk_trim(s, MM_SEGMENT_SIZE);
      again = true;
      break;
    }
  }
}

/* Purge pooled segments older than the purge delay (all when force).
 * Returns bytes given back.  Lock held. */
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

/* Memory is short: every pooled segment goes.  Mapped ones are unmapped
 * and those at the top of the break cut off it (pool_purge_locked); the
 * others of the break, below a segment in use, are unmapped where they
 * lie: it is their address space that is short, and madvise does not
 * give that back.  Their holes are forgotten (mm_os_sbrk_unmap).  Returns
 * bytes given back. */
size_t mm_segment_pool_release(void) {
  pthread_mutex_lock(&mm_segment_lock);
  size_t released = pool_purge_locked(true);
  mm_segment_t *kept = NULL, *kept_tail = NULL;
  while (mm_pool && !pushes_in_flight()) {   /* all purged now, all from sbrk */
    mm_segment_t *s = mm_pool;
    mm_seg_remove(&mm_pool, s);     /* (its header goes with it) */
    mm_segmap_set(s, false);
    if (mm_os_sbrk_unmap(s, MM_SEGMENT_SIZE)) {
      mm_os_count_purged(-(int64_t)pool_purge_size());
      atomic_fetch_sub(&mm_segments_held, 1);
      released += MM_SEGMENT_SIZE;
    } else {                        /* still ours, pooled again */
      mm_segmap_set(s, true);
      mm_seg_push(&kept, s);
      if (!kept_tail) kept_tail = s;
    }
  }
  if (!mm_pool) mm_pool_tail = NULL;
  if (kept_tail) {                  /* before what a push in flight kept */
    kept_tail->next = mm_pool;
    if (mm_pool) mm_pool->prev = kept_tail; else mm_pool_tail = kept_tail;
    mm_pool = kept;
  }
  pthread_mutex_unlock(&mm_segment_lock);
  return released;
}

size_t mm_segment_pool_purge(bool force) {
  pthread_mutex_lock(&mm_segment_lock);
  size_t r = pool_purge_locked(force);
  pthread_mutex_unlock(&mm_segment_lock);
  return r;
}

uint64_t mm_segment_pool_due(void) { return atomic_load_explicit(&mm_pool_due, memory_order_relaxed); }

bool mm_segment_pool_has_resident(void) { return mm_load_relaxed(&mm_pool_resident) != 0; }

/* ---- segments ------------------------------------------------------------------ */
void mm_segment_attach(mm_heap_t *h, mm_segment_t *s) {
  s->heap = h;
  mm_seg_push(s->free_slots ? &h->segments[s->kind] : &h->segments_full[s->kind], s);
}

mm_segment_t *mm_segment_alloc(mm_heap_t *h, enum mm_kind kind) {
  mm_segment_t *s = NULL;
  bool fresh = false;
  pthread_mutex_lock(&mm_segment_lock);
  if (mm_pool) {
    s = mm_pool;
    mm_seg_remove(&mm_pool, s);
    if (!mm_pool) mm_pool_tail = NULL;
    if (s->purged) mm_os_count_purged(-(int64_t)pool_purge_size());
    else mm_pool_resident--;
  } else if (mm_option(MM_OPT_SBRK)) {
    s = mm_os_sbrk_segment(MM_SEGMENT_SIZE);
    if (s) { fresh = true; s->from_sbrk = 1; }
  }
  pthread_mutex_unlock(&mm_segment_lock);
  if (!s) {
    s = mm_os_mmap_aligned(MM_SEGMENT_SIZE, MM_SEGMENT_SIZE);
    if (!s) return NULL;
    fresh = true;
    s->from_sbrk = 0;
  }
  if (fresh) {
    mm_os_guard((uint8_t *)s + MM_SEGMENT_SIZE - mm_os_page, mm_os_page);
    s->size = MM_SEGMENT_SIZE;
    atomic_fetch_add(&mm_segments_held, 1);
  }
  s->purged = 0;
  segment_init_header(s, kind, fresh);
  mm_segmap_set(s, true);      /* (again: a pooled segment may change kind) */
  mm_segment_attach(h, s);
  return s;
}

/* A segment without used pages goes to the pool. */
static void segment_free(mm_segment_t *s) {
  mm_assert(s->used_pages == 0);
  /* the pool accounts for the whole segment from here on */
  for (uint32_t i = 0; i < s->npages; i++)
    if (s->purged_slots & ((uint64_t)1 << i)) mm_os_count_purged(-(int64_t)slot_purge_size(s, i));
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
  if (!s) return NULL;
  unsigned slot = (unsigned)__builtin_ctzll(s->free_slots);
  s->free_slots &= ~((uint64_t)1 << slot);
  if (s->purged_slots & ((uint64_t)1 << slot)) {
    s->purged_slots &= ~((uint64_t)1 << slot);
    mm_os_count_purged(-(int64_t)slot_purge_size(s, slot));
  }
  s->used_pages++;
  if (!s->free_slots) {
    mm_seg_remove(&h->segments[kind], s);
    mm_seg_push(&h->segments_full[kind], s);
  }
  mm_page_t *pg = &s->pages[slot];
  uint8_t *st, *en;
  mm_slot_area(s, slot, &st, &en);
  pg->index = (uint8_t)slot;
  pg->start = st;
  return pg;
}

void mm_segment_purge_later(mm_heap_t *h) {
  if (!h->purge_at_ns) h->purge_at_ns = mm_clock_ns() + (uint64_t)mm_option(MM_OPT_PURGE_DELAY_MS) * 1000000u;
}

void mm_segment_page_free(mm_heap_t *h, mm_page_t *pg) {
  mm_segment_t *s = mm_segment_of(pg);
  if (h->live) mm_segment_purge_later(h);   /* what is free goes back after the delay */
  bool was_full = s->free_slots == 0;
  pg->block_size = 0;
  pg->magic = 0;                 /* no pointer passes mm_is_block_start */
  pg->limit = 0;
  pg->free = mm_list_end(pg);
  /* relaxed: no block of the page is out, so no other thread may look at
   * it (a free of one of its blocks would be a double free) */
  atomic_store_explicit(&pg->owner, 0, memory_order_relaxed);
  s->free_slots |= (uint64_t)1 << pg->index;
  s->used_pages--;
  if (was_full) {
    mm_seg_remove(&h->segments_full[s->kind], s);
    mm_seg_push(&h->segments[s->kind], s);
  }
  if (s->used_pages == 0) {
    mm_seg_remove(&h->segments[s->kind], s);
    segment_free(s);
  }
}

size_t mm_segment_purge_free_slots(mm_heap_t *h) {
  size_t n = 0;
  for (int k = 0; k < 2; k++) {
    for (mm_segment_t *s = h->segments[k]; s; s = s->next) {
      uint64_t todo = s->free_slots & ~s->purged_slots;
      while (todo) {
        unsigned i = (unsigned)__builtin_ctzll(todo);
        todo &= todo - 1;
        size_t len = slot_purge_size(s, i);
        uint8_t *st, *en;
        mm_slot_area(s, i, &st, &en);
        if (len && mm_os_purge(en - len, len) == 0) {
          s->purged_slots |= (uint64_t)1 << i;
          mm_os_count_purged((int64_t)len);
          n++;
        }
      }
    }
  }
  return n;
}

/* ---- abandoned segments ---------------------------------------------------------- */
void mm_segment_abandon(mm_segment_t *s) {
  s->heap = NULL;
  pthread_mutex_lock(&mm_segment_lock);
  mm_seg_push(&mm_abandoned, s);
  if (!mm_abandoned_tail) mm_abandoned_tail = s;
  atomic_fetch_add(&mm_segments_abandoned, 1);   /* (under the lock: never below 0) */
  pthread_mutex_unlock(&mm_segment_lock);
}

mm_segment_t *mm_segment_take_abandoned(void) {
  if (!atomic_load_explicit(&mm_segments_abandoned, memory_order_relaxed)) return NULL;  /* peek; the lock decides */
  /* the oldest: every abandoned segment comes round in turn, and the
   * blocks freed on it meanwhile are collected (taking the newest would
   * cycle a few segments while the older ones kept their pages) */
  pthread_mutex_lock(&mm_segment_lock);
  mm_segment_t *s = mm_abandoned_tail;
  if (s) {
    mm_abandoned_tail = s->prev;
    mm_seg_remove(&mm_abandoned, s);
  }
  pthread_mutex_unlock(&mm_segment_lock);
  if (s) atomic_fetch_sub(&mm_segments_abandoned, 1);
  return s;
}

/* ---- fork ------------------------------------------------------------------------ */
void mm_segment_fork_prepare(void) { pthread_mutex_lock(&mm_segment_lock); }
void mm_segment_fork_parent(void) { pthread_mutex_unlock(&mm_segment_lock); }
void mm_segment_fork_child(void) { pthread_mutex_init(&mm_segment_lock, NULL); }
