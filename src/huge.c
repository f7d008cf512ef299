/*
 * huge.c -- blocks above 64 KiB, each in its own 4 MiB-aligned mapping.
 *
 * Layout: the mapping starts at a 4 MiB boundary with a header (an
 * mm_segment_t of kind MM_HUGE, registered in the segment map); the block
 * starts one OS page further, or at `align` for aligned requests
 * (exactly 4 MiB further when align >= 4 MiB: the (p - 1) of
 * mm_segment_of finds the header then too).  free() is the same O(1)
 * lookup as for small blocks.
 *
 * The cache.  What freed huge blocks leave stays resident for a while as
 * "extents", and the next huge request of ANY size is made of them, so
 * that the pages the program already faulted are not faulted again (the
 * cost of a large block is its first touch, not the mmap call):
 *
 *   - an extent as large as the request is used in place: its first
 *     `size` bytes become the block, the rest stays cached (no system
 *     call, the split is written in the memory itself);
 *   - otherwise a new mapping is reserved (no page faulted yet) and
 *     cached extents are moved into it with mremap(MREMAP_FIXED): the
 *     kernel moves their page tables, pages stay resident, nothing is
 *     copied; only what the cache could not cover faults later;
 *   - realloc grows a block into the cached extent that follows it in the
 *     address space (no system call), else with mremap() in place or moved
 *     to a new reservation, and fills the new part from the cache the same
 *     way; a shrink caches the tail it cuts.
 *
 * Extents are of two kinds, told apart by huge_align_off:
 *   mapping  (huge_align_off == header size): the mapping of a freed
 *            block, 4 MiB aligned, still in the segment map with its
 *            header (block_size 0), so a second free of the block is
 *            reported as a double free.  It is consumed from its tail;
 *            taken whole, it leaves the segment map.
 *   piece    (huge_align_off == 0): any page-aligned range (the rest of
 *            a split, a tail cut by realloc, the mapping of a freed
 *            aligned block); its header is written in its own first page,
 *            and it is not in the segment map (free() never finds it).
 * Only the fields kind, size, huge_align_off, cookie, next, prev and
 * freed_at_ns of an extent's header are used.
 *
 * Bounds, so that a program that stops using huge blocks gets its memory
 * back without calling anything: the cache holds at most MYMALLOC_HUGE_CACHE_MB bytes
 * (the oldest extents are cut first, from their tails) and
 * MM_HUGE_MAX_EXTENTS extents; an extent is unmapped MYMALLOC_HUGE_DECAY_MS
 * after the block it came from was freed (checked by huge frees and by
 * the malloc slow path); malloc_trim(0), a heap that needs a new segment,
 * and a failed mapping empty it.  Since every request
 * takes from the cache before faulting new pages, the resident huge
 * memory (live + cached) never exceeds the largest live huge total of the
 * last decay period.
 */
#include "huge.h"
#include "options.h"
#include "os.h"
#include "segmap.h"
#include "state.h"

#include <errno.h>
#include <string.h>

#define MM_HUGE_MIN_PIECE   ((size_t)64 << 10)   /* smaller rests are not kept apart */
#define MM_HUGE_MAX_EXTENTS 64                   /* extents cached at most */
#define MM_HUGE_MAX_PARTS   8                    /* extents moved into one block */
#define MM_HUGE_BATCH       16                   /* ranges unmapped per call */

static pthread_mutex_t mm_huge_lock = PTHREAD_MUTEX_INITIALIZER;
mm_huge_counters_t mm_huge_counters;
static mm_segment_t *mm_huge_cache;      /* the extents, newest first */
static size_t mm_huge_cache_bytes;
static unsigned mm_huge_cache_count;

/* Ranges taken out of the cache under the lock, to be moved or unmapped
 * after it is released. */
typedef struct huge_range_s {
  uint8_t *addr;
  size_t len;
} huge_range_t;
typedef struct huge_batch_s {
  unsigned n;
  huge_range_t r[MM_HUGE_BATCH];
} huge_batch_t;

static size_t huge_header_size(void) {
  return mm_align_up(offsetof(mm_segment_t, pages) + sizeof(mm_page_t), mm_os_page);
}

static void huge_init(mm_segment_t *s, size_t size, size_t off, size_t n) {
  s->kind = MM_HUGE;
  s->page_shift = 63;
  s->from_sbrk = 0;
  s->npages = 1;
  s->used_pages = 1;
  s->prof_sampled = 0;           /* (a header made from cached pages holds old data) */
  s->free_slots = 0;
  s->size = size;
  s->huge_align_off = off;
  s->heap = NULL;
  s->next = s->prev = NULL;
  mm_page_t *pg = &s->pages[0];
  memset(pg, 0, sizeof(*pg));
  pg->block_size = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;   /* != 0: live */
  pg->capacity = 1;
  pg->reserved = 1;
  pg->used = 1;
  pg->class_idx = MM_HUGE_CLASS;
  pg->start = (uint8_t *)s + off;
  s->cookie = mm_secret ^ (uintptr_t)s;
}

static void huge_account_alloc(size_t usable) {
  atomic_fetch_add(&mm_huge_counters.count, 1);
  atomic_fetch_add(&mm_huge_counters.bytes, usable);
  atomic_fetch_add(&mm_huge_counters.requests, 1);
}

/* ---- the cache (all of these with mm_huge_lock held) ------------------- */

static bool extent_is_mapping(const mm_segment_t *e) { return e->huge_align_off != 0; }

/* The least an extent keeps when its tail is taken or cut. */
static size_t extent_min(const mm_segment_t *e) {
  return extent_is_mapping(e) ? huge_header_size() + MM_HUGE_MIN_PIECE : MM_HUGE_MIN_PIECE;
}

/* When the oldest cached extent is due (0: none cached), for the malloc
 * slow path (heap.c), so that the cache decays also in a program that
 * frees no more huge blocks. */
static _Atomic(uint64_t) mm_huge_due_ns;

uint64_t mm_huge_cache_due(void) { return atomic_load_explicit(&mm_huge_due_ns, memory_order_relaxed); }

static void cache_publish(void) {
  atomic_store(&mm_huge_counters.cached_bytes, mm_huge_cache_bytes);
  uint64_t oldest = UINT64_MAX;
  for (mm_segment_t *e = mm_huge_cache; e; e = e->next)
    if (e->freed_at_ns < oldest) oldest = e->freed_at_ns;
  uint64_t due = 0;
  if (mm_huge_cache) {
    due = oldest + (uint64_t)mm_option(MM_OPT_HUGE_DECAY_MS) * 1000000u;
    if (due == 0) due = 1;
  }
  atomic_store_explicit(&mm_huge_due_ns, due, memory_order_relaxed);
}

static void cache_link(mm_segment_t *e) {
  mm_seg_push(&mm_huge_cache, e);
  mm_huge_cache_bytes += e->size;
  mm_huge_cache_count++;
}

static void cache_unlink(mm_segment_t *e) {
  mm_seg_remove(&mm_huge_cache, e);
  mm_huge_cache_bytes -= e->size;
  mm_huge_cache_count--;
}

/* Out of the cache for good: a mapping also leaves the segment map (its
 * header is about to be moved, unmapped or overwritten). */
static void cache_remove(mm_segment_t *e) {
  cache_unlink(e);
  if (extent_is_mapping(e)) mm_segmap_set(e, false);
}

/* Cache [addr, addr+size) as a piece. */
static void piece_make(uint8_t *addr, size_t size, uint64_t freed_at) {
  mm_segment_t *e = (mm_segment_t *)addr;
  /* the header lies in what memcheck knows as a freed block */
  mm_vg_undefined(addr, offsetof(mm_segment_t, pages));
  e->cookie = 0;
  e->kind = MM_HUGE;
  e->huge_align_off = 0;
  e->size = size;
  e->heap = NULL;
  e->freed_at_ns = freed_at;
  cache_link(e);
}

/* The cached extent that starts at addr, if any. */
static mm_segment_t *cache_find_at(const uint8_t *addr) {
  for (mm_segment_t *e = mm_huge_cache; e; e = e->next)
    if ((const uint8_t *)e == addr) return e;
  return NULL;
}

static bool batch_add(huge_batch_t *b, uint8_t *addr, size_t len) {
  if (b->n == MM_HUGE_BATCH) return false;
  b->r[b->n].addr = addr;
  b->r[b->n].len = len;
  b->n++;
  return true;
}

/* Cut the cache down to its bounds: extents past their decay, or all of
 * them when forced; the oldest ones (cut from their tails) while it holds
 * more than the byte bound or too many extents.  What goes is put on *out
 * (until it is full: the rest next time). */
static void cache_expire(bool force, huge_batch_t *out) {
  uint64_t now = mm_clock_ns();
  uint64_t decay = (uint64_t)mm_option(MM_OPT_HUGE_DECAY_MS) * 1000000u;
  size_t bound = (size_t)mm_option(MM_OPT_HUGE_CACHE_MB) << 20;
  while (mm_huge_cache && out->n < MM_HUGE_BATCH) {
    mm_segment_t *old = mm_huge_cache;
    for (mm_segment_t *e = mm_huge_cache->next; e; e = e->next)
      if (e->freed_at_ns <= old->freed_at_ns) old = e;
    bool all = force || now - old->freed_at_ns >= decay || mm_huge_cache_count > MM_HUGE_MAX_EXTENTS;
    if (!all && mm_huge_cache_bytes <= bound) break;
    if (!all) {
      size_t cut = mm_align_up(mm_huge_cache_bytes - bound, mm_os_page);
      if (old->size >= cut + extent_min(old)) {
        old->size -= cut;
        mm_huge_cache_bytes -= cut;
        batch_add(out, (uint8_t *)old + old->size, cut);
        break;
      }
    }
    cache_remove(old);
    batch_add(out, (uint8_t *)old, old->size);
  }
  cache_publish();
}

/* The smallest cached mapping of at least `size` bytes, out of the cache,
 * for a block in place; a rest of MM_HUGE_MIN_PIECE or more stays cached
 * as a piece. */
static mm_segment_t *cache_take_fit(size_t size) {
  mm_segment_t *best = NULL;
  for (mm_segment_t *e = mm_huge_cache; e; e = e->next)
    if (extent_is_mapping(e) && e->size >= size && (!best || e->size < best->size)) best = e;
  if (!best) return NULL;
  cache_unlink(best);          /* stays in the segment map: it becomes the block */
  if (best->size - size >= MM_HUGE_MIN_PIECE) {
    piece_make((uint8_t *)best + size, best->size - size, best->freed_at_ns);
    best->size = size;
  }
  cache_publish();
  return best;
}

/* Take up to `need` bytes out of the cache, in at most MM_HUGE_MAX_PARTS
 * ranges (into parts[]): the best fit's tail, else the largest extents
 * whole.  Rests too small to keep go on *rel.  Returns the number of
 * ranges. */
static unsigned cache_take_parts(size_t need, huge_range_t *parts, huge_batch_t *rel) {
  unsigned n = 0;
  while (need && n < MM_HUGE_MAX_PARTS && mm_huge_cache && rel->n < MM_HUGE_BATCH) {
    mm_segment_t *best = NULL, *largest = NULL;
    for (mm_segment_t *e = mm_huge_cache; e; e = e->next) {
      if (e->size >= need && (!best || e->size < best->size)) best = e;
      if (!largest || e->size > largest->size) largest = e;
    }
    mm_segment_t *e = best ? best : largest;
    size_t take = e->size < need ? e->size : need;
    if (take == e->size) {
      cache_remove(e);
      parts[n].addr = (uint8_t *)e;
    } else {
      e->size -= take;
      mm_huge_cache_bytes -= take;
      parts[n].addr = (uint8_t *)e + e->size;
      if (e->size < extent_min(e)) {
        cache_remove(e);
        batch_add(rel, (uint8_t *)e, e->size);
      }
    }
    parts[n].len = take;
    n++;
    need -= take;
  }
  cache_publish();
  return n;
}

/* ---- outside the lock ------------------------------------------------------ */

static void release(huge_batch_t *b) {
  for (unsigned i = 0; i < b->n; i++) mm_os_munmap(b->r[i].addr, b->r[i].len);
  b->n = 0;
}

/* Move cached pages over [dst, dst+len), fresh pages of a block's own
 * mapping (mremap replaces them).  zero: the moved pages are cleared.
 * Returns the bytes moved. */
static size_t huge_fill(uint8_t *dst, size_t len, bool zero) {
  if (mm_on_valgrind() || !atomic_load_explicit(&mm_huge_counters.cached_bytes, memory_order_relaxed)) return 0;
  huge_range_t parts[MM_HUGE_MAX_PARTS];
  huge_batch_t rel;
  rel.n = 0;
  pthread_mutex_lock(&mm_huge_lock);
  unsigned n = cache_take_parts(len, parts, &rel);
  pthread_mutex_unlock(&mm_huge_lock);
  size_t pos = 0, moved = 0;
  for (unsigned i = 0; i < n; i++) {
    moved += mm_os_move(parts[i].addr, parts[i].len, dst + pos);
    if (zero) memset(dst + pos, 0, parts[i].len);
    pos += parts[i].len;
  }
  release(&rel);
  return moved;
}

/* Grow the mapping of s to `size` bytes keeping its pages (no copy, no new
 * page faults for what it had): in place if the kernel can, else moved
 * into a new 4 MiB-aligned reservation.  Returns the (maybe moved)
 * segment, or NULL with s unchanged. */
static mm_segment_t *mapping_grow(mm_segment_t *s, size_t size) {
  if (mm_os_mremap(s, s->size, size, NULL)) { s->size = size; return s; }
  mm_segment_t *dst = mm_os_mmap_aligned(size, MM_SEGMENT_SIZE);
  if (!dst) return NULL;
  mm_segmap_set(s, false);
  /* a block made of moved extents may span several kernel mappings, which
   * mremap can move (since Linux 6.17) but not resize: then move it as is
   * into the front of the reservation */
  if (!mm_os_mremap(s, s->size, size, dst) && !mm_os_mremap(s, s->size, s->size, dst)) {
    mm_segmap_set(s, true);
    mm_os_munmap(dst, size);
    return NULL;
  }
  dst->size = size;
  dst->cookie = mm_secret ^ (uintptr_t)dst;
  dst->pages[0].start = (uint8_t *)dst + dst->huge_align_off;
  mm_segmap_set(dst, true);
  return dst;
}

void *mm_huge_alloc(size_t n, size_t align, bool zero) {
  if (n > PTRDIFF_MAX) { errno = ENOMEM; return NULL; }
  size_t off = huge_header_size();
  if (align > off) off = align < MM_SEGMENT_SIZE ? align : MM_SEGMENT_SIZE;
  size_t size;
  if (__builtin_add_overflow(n, off + mm_os_page - 1, &size)) { errno = ENOMEM; return NULL; }
  size &= ~(mm_os_page - 1);

  mm_segment_t *s = NULL;
  if (align <= huge_header_size() && atomic_load_explicit(&mm_huge_counters.cached_bytes, memory_order_relaxed)) {
    pthread_mutex_lock(&mm_huge_lock);
    s = cache_take_fit(size);
    pthread_mutex_unlock(&mm_huge_lock);
    if (s) {
      huge_init(s, s->size, off, n);
      mm_vg_alloc((uint8_t *)s + off, s->size - off, 0);
      if (zero) memset((uint8_t *)s + off, 0, n);
      huge_account_alloc(s->size - off);
      return (uint8_t *)s + off;
    }
  }
  if (align <= MM_SEGMENT_SIZE) {
    s = mm_os_mmap_aligned(size, MM_SEGMENT_SIZE);
  } else {
    /* the block at base + 4 MiB must be a multiple of align */
    size_t extra = align;
    if (size + extra < size) { errno = ENOMEM; return NULL; }
    uint8_t *raw = mm_os_mmap(size + extra);
    if (raw) {
      uint8_t *base = (uint8_t *)(mm_align_up((uintptr_t)raw + MM_SEGMENT_SIZE, align) - MM_SEGMENT_SIZE);
      size_t head = (size_t)(base - raw), tail = extra - head;
      if (head) mm_os_munmap(raw, head);
      if (tail) mm_os_munmap(base + size, tail);
      s = (mm_segment_t *)base;
    }
  }
  if (!s) { errno = ENOMEM; return NULL; }
  /* the pages before the block of an aligned request are never touched:
   * only the block's are worth taking from the cache */
  size_t from = off == huge_header_size() ? 0 : off;
  size_t moved = huge_fill((uint8_t *)s + from, size - from, zero);
  huge_init(s, size, off, n);
  mm_segmap_set(s, true);
  huge_account_alloc(size - off);
  mm_vg_alloc((uint8_t *)s + off, size - off, moved == 0);
  return (uint8_t *)s + off;
}

void mm_huge_free(mm_segment_t *s) {
  size_t usable = s->size - s->huge_align_off;
  s->pages[0].block_size = 0;   /* free: a second free is detected */
  atomic_fetch_sub(&mm_huge_counters.count, 1);
  atomic_fetch_sub(&mm_huge_counters.bytes, usable);
  atomic_fetch_add(&mm_huge_counters.frees, 1);
  huge_batch_t rel;
  rel.n = 0;
  uint64_t now = mm_clock_ns();
  pthread_mutex_lock(&mm_huge_lock);
  /* coalesce with the extent that follows (the rest of a split, often);
   * the whole decays from the older time: memory idle for long is never
   * kept longer because a neighbour was used for a moment */
  uint64_t freed_at = now;
  mm_segment_t *next = cache_find_at((uint8_t *)s + s->size);
  if (next) {
    cache_remove(next);
    s->size += next->size;
    if (next->freed_at_ns < freed_at) freed_at = next->freed_at_ns;
  }
  if (s->huge_align_off == huge_header_size()) {
    s->freed_at_ns = freed_at;
    cache_link(s);
  } else {
    /* an aligned block: its pages are cached, its address is forgotten */
    mm_segmap_set(s, false);
    piece_make((uint8_t *)s, s->size, freed_at);
  }
  cache_expire(false, &rel);
  pthread_mutex_unlock(&mm_huge_lock);
  release(&rel);
}

size_t mm_huge_cache_purge(bool force) {
  size_t total = 0;
  for (;;) {
    huge_batch_t rel;
    rel.n = 0;
    pthread_mutex_lock(&mm_huge_lock);
    cache_expire(force, &rel);
    pthread_mutex_unlock(&mm_huge_lock);
    for (unsigned i = 0; i < rel.n; i++) total += rel.r[i].len;
    bool full = rel.n == MM_HUGE_BATCH;
    release(&rel);
    if (!full) return total;
  }
}

/* Resize a huge block without copying where the kernel allows.
 * NULL: could not (the caller copies, or fails leaving the block intact). */
void *mm_huge_realloc(mm_segment_t *s, size_t n) {
  size_t off = s->huge_align_off;
  size_t size;
  if (__builtin_add_overflow(n, off + mm_os_page - 1, &size)) return NULL;
  size &= ~(mm_os_page - 1);
  size_t old_usable = s->size - off;
  uint8_t *p = (uint8_t *)s + off;
  if (mm_on_valgrind()) return NULL;   /* copy, so that memcheck follows */
  if (size == s->size) return p;
  if (size < s->size) {
    if (s->size - size < (s->size >> 2)) return p;   /* keep small shrinks */
    huge_batch_t rel;
    rel.n = 0;
    pthread_mutex_lock(&mm_huge_lock);
    if (s->size - size >= MM_HUGE_MIN_PIECE) {       /* the tail is cached */
      piece_make((uint8_t *)s + size, s->size - size, mm_clock_ns());
      cache_expire(false, &rel);
    } else {
      batch_add(&rel, (uint8_t *)s + size, s->size - size);
    }
    pthread_mutex_unlock(&mm_huge_lock);
    release(&rel);
    s->size = size;
  } else {
    /* the cached extent that follows, if any, is taken without a system
     * call (its front; its header moves up) */
    mm_segment_t *e = NULL;
    if (atomic_load_explicit(&mm_huge_counters.cached_bytes, memory_order_relaxed)) {
      pthread_mutex_lock(&mm_huge_lock);
      e = cache_find_at((uint8_t *)s + s->size);
      if (e) {
        size_t want = size - s->size, esize = e->size;
        uint64_t freed_at = e->freed_at_ns;
        cache_remove(e);
        if (esize >= want + MM_HUGE_MIN_PIECE) {
          piece_make((uint8_t *)s + size, esize - want, freed_at);
          s->size = size;
        } else {
          s->size += esize;
        }
        cache_publish();
      }
      pthread_mutex_unlock(&mm_huge_lock);
      if (e) {   /* accounted now: the growth below may still fail */
        atomic_fetch_add(&mm_huge_counters.bytes, s->size - off);
        atomic_fetch_sub(&mm_huge_counters.bytes, old_usable);
        old_usable = s->size - off;
      }
    }
    if (s->size < size) {
      size_t had = s->size;
      if (off >= MM_SEGMENT_SIZE) {                 /* alignment would be lost */
        if (!mm_os_mremap(s, s->size, size, NULL)) return NULL;
        s->size = size;
      } else {
        mm_segment_t *g = mapping_grow(s, size);
        if (!g) return NULL;
        s = g;
        p = (uint8_t *)s + off;
      }
      huge_fill((uint8_t *)s + had, size - had, false);
    }
  }
  s->pages[0].block_size = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
  atomic_fetch_add(&mm_huge_counters.bytes, s->size - off);
  atomic_fetch_sub(&mm_huge_counters.bytes, old_usable);
  return p;
}

void mm_huge_fork_prepare(void) { pthread_mutex_lock(&mm_huge_lock); }
void mm_huge_fork_parent(void) { pthread_mutex_unlock(&mm_huge_lock); }
void mm_huge_fork_child(void) { pthread_mutex_init(&mm_huge_lock, NULL); }
