/*
 * huge.c -- blocks above 64 KiB, each in its own mmap() mapping.
 *
 * Layout: the mapping starts at a 4 MiB boundary with a header (an
 * mm_segment_t of kind MM_HUGE, registered in the segment map); the block
 * starts one OS page further, or at `align` for aligned requests
 * (exactly 4 MiB further when align >= 4 MiB: the (p - 1) of
 * mm_segment_of finds the header then too).  free() is the same O(1)
 * lookup as for small blocks.
 *
 * Freed huge mappings go to a cache, bounded in bytes (MYMALLOC_HUGE_CACHE_MB)
 * and in time (MYMALLOC_HUGE_DECAY_MS): programs that allocate and free big
 * buffers in a loop reuse them instead of paying page faults each round.
 * realloc grows in place with mremap() when the kernel can, else moves the
 * pages with mremap(MREMAP_FIXED) into a new 4 MiB-aligned reservation,
 * without copying.
 */
#include "internal.h"

#include <errno.h>
#include <string.h>

static pthread_mutex_t mm_huge_lock = PTHREAD_MUTEX_INITIALIZER;
static mm_segment_t *mm_huge_cache;      /* newest first */
static size_t mm_huge_cache_bytes;

static size_t huge_header_size(void) {
  return mm_align_up(offsetof(mm_segment_t, pages) + sizeof(mm_page_t), mm_os_page);
}

static void huge_init(mm_segment_t *s, size_t size, size_t off, size_t n) {
  s->kind = MM_HUGE;
  s->page_shift = 63;
  s->from_sbrk = 0;
  s->npages = 1;
  s->used_pages = 1;
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
  atomic_fetch_add(&mm_os_stats.huge_count, 1);
  atomic_fetch_add(&mm_os_stats.huge_bytes, usable);
  atomic_fetch_add(&mm_os_stats.huge_requests, 1);
}

static void huge_unmap(mm_segment_t *s) {
  mm_segmap_set(s, false);
  mm_os_munmap(s, s->size);
  mm_stats_os_changed();
}

/* Take from the cache the smallest mapping of at least `size` bytes, or
 * else the largest one, which the caller grows (lock held). */
static mm_segment_t *cache_take(size_t size, bool allow_smaller) {
  mm_segment_t *best = NULL, *largest = NULL;
  for (mm_segment_t *s = mm_huge_cache; s; s = s->next) {
    if (s->size >= size && (!best || s->size < best->size)) best = s;
    if (!largest || s->size > largest->size) largest = s;
  }
  /* a much bigger mapping would keep too much memory resident; a smaller
   * one is worth growing if it is at least half the size */
  if (best && best->size > 2 * size + MM_SEGMENT_SIZE) best = NULL;
  if (!best && allow_smaller && largest && largest->size >= size / 2 && largest->size < size) best = largest;
  if (!best) return NULL;
  if (best->prev) best->prev->next = best->next; else mm_huge_cache = best->next;
  if (best->next) best->next->prev = best->prev;
  mm_huge_cache_bytes -= best->size;
  atomic_store(&mm_os_stats.huge_cached_bytes, mm_huge_cache_bytes);
  return best;
}

/* Grow the mapping of s to `size` bytes keeping its pages (no copy, no new
 * page faults for what it had): in place if the kernel can, else moved
 * into a new 4 MiB-aligned reservation.  Returns the (maybe moved)
 * segment, or NULL with s unchanged. */
static mm_segment_t *mapping_grow(mm_segment_t *s, size_t size) {
  if (mm_os_mremap(s, s->size, size, NULL)) { s->size = size; return s; }
  size_t mapped;
  mm_segment_t *dst = mm_os_mmap_aligned(size, MM_SEGMENT_SIZE, &mapped);
  if (!dst && mm_release_cached()) dst = mm_os_mmap_aligned(size, MM_SEGMENT_SIZE, &mapped);
  if (!dst) return NULL;
  mm_segmap_set(s, false);
  if (!mm_os_mremap(s, s->size, size, dst)) {
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
  if (align <= huge_header_size() && atomic_load_explicit(&mm_os_stats.huge_cached_bytes, memory_order_relaxed)) {
    pthread_mutex_lock(&mm_huge_lock);
    s = cache_take(size, true);
    pthread_mutex_unlock(&mm_huge_lock);
    if (s && s->size < size) {
      mm_segment_t *g = mapping_grow(s, size);
      if (!g) { huge_unmap(s); s = NULL; }
      else s = g;
    }
    if (s) {
      if (s->size > size + (size >> 1)) {       /* give back a big tail */
        mm_os_munmap((uint8_t *)s + size, s->size - size);
        s->size = size;
        mm_stats_os_changed();
      }
      huge_init(s, s->size, off, n);
      mm_vg_alloc((uint8_t *)s + off, s->size - off, 0);
      if (zero) memset((uint8_t *)s + off, 0, n);
      huge_account_alloc(s->size - off);
      return (uint8_t *)s + off;
    }
  }
  if (align <= MM_SEGMENT_SIZE) {
    size_t mapped;
    s = mm_os_mmap_aligned(size, MM_SEGMENT_SIZE, &mapped);
    if (!s && mm_release_cached()) s = mm_os_mmap_aligned(size, MM_SEGMENT_SIZE, &mapped);
  } else {
    /* the block at base + 4 MiB must be a multiple of align */
    size_t extra = align;
    if (size + extra < size) { errno = ENOMEM; return NULL; }
    uint8_t *raw = mm_os_mmap(size + extra);
    if (!raw && mm_release_cached()) raw = mm_os_mmap(size + extra);
    if (raw) {
      uint8_t *base = (uint8_t *)(mm_align_up((uintptr_t)raw + MM_SEGMENT_SIZE, align) - MM_SEGMENT_SIZE);
      size_t head = (size_t)(base - raw), tail = extra - head;
      if (head) mm_os_munmap(raw, head);
      if (tail) mm_os_munmap(base + size, tail);
      s = (mm_segment_t *)base;
    }
  }
  if (!s) { errno = ENOMEM; return NULL; }
  huge_init(s, size, off, n);
  mm_segmap_set(s, true);
  huge_account_alloc(size - off);
  mm_vg_alloc((uint8_t *)s + off, size - off, 1);
  return (uint8_t *)s + off;
}

/* Drop cached mappings past their decay or over the byte bound (lock held);
 * they are chained on *out to be unmapped after unlocking. */
static void cache_expire(bool force, mm_segment_t **out) {
  uint64_t now = mm_clock_ns();
  uint64_t decay = (uint64_t)mm_option(MM_OPT_HUGE_DECAY_MS) * 1000000u;
  size_t bound = (size_t)mm_option(MM_OPT_HUGE_CACHE_MB) << 20;
  mm_segment_t *s = mm_huge_cache, *last = NULL;
  while (s) { last = s; s = s->next; }
  for (s = last; s;) {   /* oldest first */
    mm_segment_t *prev = s->prev;
    if (force || mm_huge_cache_bytes > bound || now - s->freed_at_ns >= decay) {
      if (s->prev) s->prev->next = s->next; else mm_huge_cache = s->next;
      if (s->next) s->next->prev = s->prev;
      mm_huge_cache_bytes -= s->size;
      s->next = *out;
      *out = s;
    }
    s = prev;
  }
  atomic_store(&mm_os_stats.huge_cached_bytes, mm_huge_cache_bytes);
}

void mm_huge_free(mm_segment_t *s) {
  size_t usable = s->size - s->huge_align_off;
  s->pages[0].block_size = 0;   /* free: a second free is detected */
  atomic_fetch_sub(&mm_os_stats.huge_count, 1);
  atomic_fetch_sub(&mm_os_stats.huge_bytes, usable);
  atomic_fetch_add(&mm_os_stats.huge_frees, 1);
  mm_segment_t *victims = NULL;
  size_t bound = (size_t)mm_option(MM_OPT_HUGE_CACHE_MB) << 20;
  pthread_mutex_lock(&mm_huge_lock);
  if (s->size <= bound && s->huge_align_off == huge_header_size()) {
    s->freed_at_ns = mm_clock_ns();
    s->prev = NULL;
    s->next = mm_huge_cache;
    if (mm_huge_cache) mm_huge_cache->prev = s;
    mm_huge_cache = s;
    mm_huge_cache_bytes += s->size;
  } else {
    s->next = victims;
    victims = s;
  }
  cache_expire(false, &victims);
  pthread_mutex_unlock(&mm_huge_lock);
  while (victims) {
    mm_segment_t *next = victims->next;
    huge_unmap(victims);
    victims = next;
  }
}

size_t mm_huge_cache_purge(bool force) {
  mm_segment_t *victims = NULL;
  pthread_mutex_lock(&mm_huge_lock);
  cache_expire(force, &victims);
  pthread_mutex_unlock(&mm_huge_lock);
  size_t n = 0;
  while (victims) {
    mm_segment_t *next = victims->next;
    n += victims->size;
    huge_unmap(victims);
    victims = next;
  }
  return n;
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
  if (mm_valgrind) return NULL;   /* copy, so that memcheck follows */
  if (size == s->size) return p;
  if (size < s->size) {
    if (s->size - size < (s->size >> 2)) return p;   /* keep small shrinks */
    mm_os_munmap((uint8_t *)s + size, s->size - size);
    s->size = size;
  } else {
    /* a cached mapping that fits: copying into it costs about what the
     * page faults of a grown mapping would, and keeps the cache in use */
    if (off == huge_header_size() && !mm_valgrind &&
        atomic_load_explicit(&mm_os_stats.huge_cached_bytes, memory_order_relaxed)) {
      pthread_mutex_lock(&mm_huge_lock);
      mm_segment_t *c = cache_take(size, false);
      pthread_mutex_unlock(&mm_huge_lock);
      if (c) {
        huge_init(c, c->size, off, n);
        huge_account_alloc(c->size - off);
        atomic_fetch_sub(&mm_os_stats.huge_requests, 1);   /* a realloc, not a new request */
        memcpy((uint8_t *)c + off, p, old_usable);
        atomic_fetch_sub(&mm_os_stats.huge_frees, 1);
        mm_huge_free(s);
        return (uint8_t *)c + off;
      }
    }
    if (off >= MM_SEGMENT_SIZE) {                 /* alignment would be lost */
      if (!mm_os_mremap(s, s->size, size, NULL)) return NULL;
      s->size = size;
    } else {
      mm_segment_t *g = mapping_grow(s, size);
      if (!g) return NULL;
      s = g;
      p = (uint8_t *)s + off;
    }
  }
  s->pages[0].block_size = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
  atomic_fetch_add(&mm_os_stats.huge_bytes, s->size - off);
  atomic_fetch_sub(&mm_os_stats.huge_bytes, old_usable);
  mm_stats_os_changed();
  return p;
}

void mm_huge_fork_prepare(void) { pthread_mutex_lock(&mm_huge_lock); }
void mm_huge_fork_parent(void) { pthread_mutex_unlock(&mm_huge_lock); }
void mm_huge_fork_child(void) { pthread_mutex_init(&mm_huge_lock, NULL); }

/* Out of address space or memory: give back what the caches hold (huge
 * cache, segment pool).  Returns true when something was released, so
 * that the caller tries once more. */
bool mm_release_cached(void) {
  int saved = errno;
  size_t n = mm_huge_cache_purge(true) + mm_segment_pool_purge(true);
  errno = saved;
  return n > 0;
}
