/*
 * alloc.c -- malloc, calloc, realloc and the size-class tables.
 *
 * The fast path (mm_malloc) is a pop from the page of heap->fast[slot]:
 * TLS load, two loads, the link check, the stores and the request
 * counter, 20 instructions.  Everything else is in mm_malloc_small and
 * mm_malloc_generic (noinline).
 */
#include "internal.h"

#include <errno.h>
#include <string.h>

/* The block sizes of the 44 classes (see internal.h), and what each
 * table below derives from them. */
#define MM_CLASSES(X)                                                          \
  X(16) X(32) X(48) X(64) X(80) X(96) X(112) X(128)                            \
  X(160) X(192) X(224) X(256) X(320) X(384) X(448) X(512)                      \
  X(640) X(768) X(896) X(1024) X(1280) X(1536) X(1792) X(2048)                \
  X(2560) X(3072) X(3584) X(4096) X(5120) X(6144) X(7168) X(8192)              \
  X(10240) X(12288) X(14336) X(16384) X(20480) X(24576) X(28672) X(32768)      \
  X(40960) X(49152) X(57344) X(65536)

#define SIZE(s) s,
const uint32_t mm_class_size[MM_NCLASSES] = { MM_CLASSES(SIZE) };

/* Lemire's constant of mm_is_block_start */
#define MAGIC(s) UINT64_MAX / (s) + 1,
const uint64_t mm_class_magic[MM_NCLASSES] = { MM_CLASSES(MAGIC) };

/* the foreign cache holds 32 KiB of a class, 8 to 512 blocks; none of
 * blocks smaller than a cache line: reused by the thread that freed
 * them, they would share lines with their neighbours' threads (passive
 * false sharing, Hoard's cache-scratch test); they go back to their owner */
#define FCAP(s) ((s) < 64 ? 0 : 32768 / (s) < 8 ? 8 : 32768 / (s) > 512 ? 512 : 32768 / (s)),
const uint16_t mm_foreign_cap[MM_NCLASSES] = { MM_CLASSES(FCAP) };

/* mm_class_lookup[(n + 15) >> 4] is the class of n for n <= 1024
 * (generated from mm_size_class's formula; test1 checks the two agree). */
const uint8_t mm_class_lookup[MM_LOOKUP_MAX / 16 + 1] = {
  0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 12, 12,
  13, 13, 13, 13, 14, 14, 14, 14, 15, 15, 15, 15, 16, 16, 16, 16, 16, 16,
  16, 16, 17, 17, 17, 17, 17, 17, 17, 17, 18, 18, 18, 18, 18, 18, 18, 18,
  19, 19, 19, 19, 19, 19, 19, 19,
};

/* Pop b, the first block of pg's list (not empty).  The link must decode
 * to an address in b's own segment (I7): next ^ b is then below 4 MiB, and
 * next ^ b is exactly what the stored word ^ mm_secret gives. */
mm_inline void *page_pop(mm_page_t *pg, mm_block_t *b) {
#if MM_HARDEN
  uintptr_t x = b->next ^ mm_secret;
  if (mm_unlikely(x > MM_SEGMENT_MASK)) mm_corrupt("malloc", b, "corrupted free-list link");
  pg->free = (mm_block_t *)(x ^ (uintptr_t)b);
  b->key = 0;
#else
  pg->free = mm_decode(b);
#endif
  pg->used++;
  return b;
}

void *mm_malloc(size_t n) {
  mm_heap_t *h = mm_heap_tls;
  if (mm_likely(n <= MM_LOOKUP_MAX)) {
    size_t i = (n + 15) >> 4;
    mm_page_t *pg = h->fast[i];
    mm_block_t *b = pg->free;
    if (mm_likely(!mm_list_empty(b))) {
      mm_count(h->nmalloc_fast[i]);
      return page_pop(pg, b);
    }
    return mm_malloc_small(h, i, n);
  }
  return mm_malloc_generic(h, n);
}

/* page_pop in the slow mode (valgrind, MYMALLOC_CHECK=full). */
static mm_noinline void *page_pop_slow(mm_page_t *pg) {
  mm_vg_defined(pg->free, sizeof(mm_block_t));
  void *p = page_pop(pg, pg->free);
  if (pg->checked) mm_check_on_alloc(pg, p);
  mm_vg_alloc(p, mm_page_usable(pg), 0);
  return p;
}

/* The slow-mode part of foreign_pop (valgrind, MYMALLOC_CHECK=full). */
static mm_noinline void *foreign_pop_slow(mm_block_t *b) {
  mm_page_t *bp = mm_page_of(mm_segment_of(b), b);
  mm_vg_defined(b, sizeof(mm_block_t));
  if (bp->checked) mm_check_on_alloc(bp, b);
  mm_vg_alloc(b, mm_page_usable(bp), 0);
  return b;
}

/* Pop the first block of h's foreign cache of class c.  Its links cross
 * segments: the next block must be in one of ours. */
mm_inline void *foreign_pop(mm_heap_t *h, unsigned c, mm_foreign_t *f, mm_block_t *b) {
  mm_block_t *next = mm_decode(b);
  if (mm_unlikely(next && (((uintptr_t)next & (MM_ALIGN - 1)) || !mm_segmap_shift(next))))
    mm_corrupt("malloc", b, "corrupted free-list link");
  f->head = next;
  f->count--;
  b->key = 0;
  mm_count(h->nmalloc[c]);
  mm_count(f->ncollected);    /* it was counted as a remote free */
  if (mm_unlikely(mm_slow_mode)) return foreign_pop_slow(b);
  if (!next) mm_heap_set_fast(h, c, h->direct[c]);   /* back to the page */
  return b;
}

/* A block of class c, by the slow path (which does the checks of the
 * MYMALLOC_CHECK=full mode and tells valgrind).  h is initialised.
 * Blocks this thread freed on other heaps' pages come first: they are
 * hot in this core's cache (tcmalloc and jemalloc reuse them so too). */
static void *malloc_class(mm_heap_t *h, unsigned c) {
  mm_foreign_t *f = &h->foreign[c];
  if (f->head) return foreign_pop(h, c, f, f->head);
  mm_page_t *pg = h->direct[c];
  if (mm_list_empty(pg->free)) {
#ifdef MM_DEBUG
    mm_heap_check(h);
#endif
    pg = mm_page_find(h, c);
    if (!pg) { errno = ENOMEM; return NULL; }
  }
  mm_count(h->nmalloc[c]);
  if (mm_unlikely(mm_slow_mode)) return page_pop_slow(pg);
  return page_pop(pg, pg->free);
}

/* The fast path of slot i (n <= 1 KiB) found no block: the class has
 * foreign blocks waiting (taken here, first), or its page ran dry. */
mm_noinline void *mm_malloc_small(mm_heap_t *h, size_t i, size_t n) {
  unsigned c = mm_class_lookup[i];
  mm_foreign_t *f = &h->foreign[c];
  if (mm_likely(f->head != NULL && !mm_slow_mode)) return foreign_pop(h, c, f, f->head);
  if (mm_unlikely(h == &mm_heap_empty || mm_check_full)) return mm_malloc_generic(h, n);
  return malloc_class(h, c);
}

/* Everything malloc does not do in its fast path. */
mm_noinline void *mm_malloc_generic(mm_heap_t *h, size_t n) {
  if (mm_unlikely(h == &mm_heap_empty)) {
    h = mm_heap_init_thread();
    if (!h) { errno = ENOMEM; return NULL; }
  }
  if (mm_unlikely(mm_check_full) && n <= MM_MEDIUM_MAX) n += MM_CANARY;   /* room for the canary */
  if (n > MM_MEDIUM_MAX) return mm_huge_alloc(n, 0, false);
  return malloc_class(h, mm_size_class(n));
}

/* Aligned allocation: a class whose blocks are multiples of `align` sits
 * at aligned addresses, because pages start at 64 KiB boundaries; beyond
 * that, a huge block placed at an aligned offset of its mapping.  Either
 * way free() is the same O(1) free.  align: a power of two. */
void *mm_malloc_aligned(size_t n, size_t align) {
  if (align <= MM_ALIGN) return mm_malloc(n);
  if (n > PTRDIFF_MAX) { errno = ENOMEM; return NULL; }
  size_t need = n + (mm_check_full ? MM_CANARY : 0);
  if (align <= ((size_t)1 << MM_SMALL_PAGE_SHIFT) && need <= MM_MEDIUM_MAX) {
    size_t m = need < align ? align : need;
    for (unsigned c = mm_size_class(m); c < MM_NCLASSES; c++) {
      if ((mm_class_size[c] & (align - 1)) == 0) {
        mm_heap_t *h = mm_heap_tls;
        if (mm_unlikely(h == &mm_heap_empty) && !(h = mm_heap_init_thread())) { errno = ENOMEM; return NULL; }
        return malloc_class(h, c);
      }
    }
  }
  return mm_huge_alloc(n ? n : 1, align, false);
}

void *mm_calloc(size_t nmemb, size_t size) {
  size_t n;
  if (mm_unlikely(__builtin_mul_overflow(nmemb, size, &n))) { errno = ENOMEM; return NULL; }
  if (n > MM_MEDIUM_MAX) {
    /* memory fresh from the kernel is known to be zero */
    mm_heap_t *h = mm_heap_tls;
    if (mm_unlikely(h == &mm_heap_empty) && !mm_heap_init_thread()) { errno = ENOMEM; return NULL; }
    return mm_huge_alloc(n, 0, true);
  }
  void *p = mm_malloc(n);
  if (mm_likely(p != NULL)) memset(p, 0, n);
  return p;
}

/* Usable bytes of a block we returned (0 for NULL). */
size_t mm_usable_size(void *p) {
  if (!p) return 0;
  mm_segment_t *s;
  mm_page_t *pg;
  const char *err = mm_check_pointer(p, &s, &pg);
  if (err) mm_corrupt("malloc_usable_size", p, err == mm_msg_freed ? "use after free (block is already free)" : err);
  if (s->kind == MM_HUGE) return s->size - s->huge_align_off;
  return mm_page_usable(pg);
}

void *mm_realloc(void *p, size_t n) {
  if (!p) return mm_malloc(n);
  if (n == 0) { mm_free(p); return NULL; }   /* glibc: frees, returns NULL */
  mm_segment_t *s;
  mm_page_t *pg;
  const char *err = mm_check_pointer(p, &s, &pg);
  if (err) mm_corrupt("realloc", p, err == mm_msg_freed ? "use after free (block is already free)" : err);
  if (n > PTRDIFF_MAX) { errno = ENOMEM; return NULL; }
  size_t old;
  if (s->kind == MM_HUGE) {
    old = s->size - s->huge_align_off;
    if (n > MM_MEDIUM_MAX) {
      void *r = mm_huge_realloc(s, n);
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
