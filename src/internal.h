/*
 * internal.h -- the design of mymalloc, its data structures and invariants.
 *
 * Read this file first.  Everything else implements what is written here.
 *
 * ==========================================================================
 * Glossary
 * ==========================================================================
 *
 * block    What malloc returns.  Blocks of one page all have the same size
 *          (the page's size class).  A free block holds, in its first two
 *          words, the encoded link to the next free block and the free key.
 *
 * page     A run of memory inside a segment that serves ONE size class:
 *          64 KiB for classes up to 8 KiB ("small" segments), 512 KiB for
 *          classes up to 64 KiB ("medium" segments).  Its descriptor
 *          (mm_page) lives in the segment header, never beside user data.
 *
 * segment  MM_SEGMENT_SIZE (4 MiB) of address space aligned to its own size,
 *          obtained from sbrk() (or mmap() when sbrk fails or is disabled).
 *          Its first MM_META bytes are: one OS page left PROT_NONE (a guard
 *          against overflows from the segment below), then the header
 *          (mm_segment and the page descriptors).  All its pages have the
 *          same size.  A "huge" segment holds one block larger than 64 KiB
 *          in its own mmap() mapping.
 *
 * heap     Per-thread state (mm_heap), found through the initial-exec TLS
 *          pointer mm_heap_tls.  It owns segments; it keeps for each size
 *          class a queue of pages and the "direct" page malloc pops from.
 *
 * ==========================================================================
 * The paths
 * ==========================================================================
 *
 * malloc (alloc.c): for n <= 1 KiB, page = heap->fast[(n + 15) >> 4]
 *   (one slot per 16 bytes, each pointing at the direct page of its class,
 *   so the fast path needs no class lookup); pop page->free.  No lock, no
 *   atomic.  When the list is empty (or the slots point at the empty page
 *   because the class has foreign blocks waiting), mm_malloc_small() /
 *   mm_malloc_generic() (noinline): pop a foreign block first, else
 *   collect the page's cross-thread list, carve fresh blocks, move to
 *   another page of the class, take a free page slot from one of the
 *   heap's segments, adopt an abandoned segment, or get a new segment.
 *
 * free (free.c): the segment map (segment.c, one byte per 4 MiB of
 *   address space) gives the page shift of the segment p lies in, or 0 when
 *   it is not ours -- O(1), no search.  segment = p & ~(MM_SEGMENT_SIZE - 1),
 *   page = segment->pages[offset >> shift].  If page->owner is the calling
 *   thread's heap: check that p is a block start and not already free
 *   (below), push on page->free.
 *   Otherwise (another thread's page, a full page, a huge block, an
 *   abandoned segment) mm_free_remote(): the same two checks, then a
 *   block of another heap's page goes to this thread's "foreign cache" of
 *   its class (bounded, 32 KiB), which this thread's next mallocs of the
 *   class take first, while the block is hot in this core's cache; when
 *   that cache is full, an atomic push on page->xfree, which the owner
 *   collects when it needs blocks.  Huge blocks and the slow mode take mm_free_generic() (full checks).
 *
 * A huge block aligned to 4 MiB or more sits exactly at the end of the
 * first 4 MiB of its mapping; its granule is not in the map, so free()
 * finds it on the slow path through (p - 1) (mimalloc does the same).
 *
 * ==========================================================================
 * Hardening (on by default; --disable-hardening only to measure its cost:
 * it compiles out the checks of free's fast and remote paths, so a bad
 * pointer there is not caught)
 * ==========================================================================
 *
 *  - Free lists are singly linked through the first word of each free
 *    block, stored as next ^ mm_secret ^ (address of the block).  A list
 *    ends with the base address of the block's own segment (never NULL),
 *    so "the decoded link stays inside this block's segment" is the whole
 *    check when malloc follows a link: one compare.  "Empty" is any
 *    pointer whose low 22 bits are zero (mm_list_empty).
 *  - The second word of a free block holds mm_free_key (random per
 *    process); malloc clears it.  free() sees the key: double free.
 *  - free() checks that p is a block start of a carved block: one
 *    multiply by the page's Lemire constant (off * magic < magic iff the
 *    block size divides off) and one compare with page->limit.
 *  - Page and segment headers sit in the segment's first 64 KiB, behind a
 *    PROT_NONE guard page; segment headers carry a cookie.
 *  - MYMALLOC_CHECK=full adds fill patterns and canaries (slow mode).
 *
 * ==========================================================================
 * Invariants (checked by mm_heap_check() in --enable-debug builds)
 * ==========================================================================
 *
 *  I1  for every page: used + |free| + |xfree| + (capacity - reserved)
 *      == capacity, where |xfree| is the number of blocks pushed by other
 *      threads and not yet collected.
 *  I2  every block on page->free or page->xfree lies inside the page at a
 *      block boundary, and carries the free key in its second word.
 *  I3  page->owner is the owning heap, (heap | 1) while the page sits on
 *      the heap's full list, or NULL while the segment is abandoned.
 *  I4  segment->used_pages == number of pages in use (page->block_size != 0)
 *      and segment->free_slots has a bit for every other page.
 *  I5  a segment is in the segment map iff it is live (owned, abandoned,
 *      cached in the segment pool or a cached huge mapping); its byte
 *      there is its page_shift.
 *  I7  page->free and every list reachable from it end with the segment's
 *      base (mm_list_end); page->limit == reserved * block_size.
 *  I6  every pointer returned is a multiple of 16 (MM_ALIGN).
 *
 * ==========================================================================
 * Size classes  (the "fixed-size bins")
 * ==========================================================================
 *
 *  class  0..7  : 16 32 48 64 80 96 112 128            (16-byte steps)
 *  class  8..43 : four classes per doubling, block = 2^k * (5,6,7,8)/8
 *                 160 192 224 256 | 320 384 448 512 | 640 768 896 1024 |
 *                 1280 .. 2048 | 2560 .. 4096 | 5120 .. 8192 |
 *                 10240 .. 16384 | 20480 .. 32768 | 40960 .. 65536
 *  > 64 KiB     : a huge block in its own mapping (huge.c).
 *
 *  Worst-case internal waste: up to 15 bytes below 128 (47% of a 32-byte
 *  block asked as 17), then under 20% of the block (129 -> 160, 257 ->
 *  320 ...: (2^k/8 - 1) / (2^k * 5/8)); huge blocks waste less than one OS
 *  page plus the one-page header.  Page tail waste: at most one block of
 *  the page (< 1.6% for small pages except 5-7 KiB classes: < 11%).
 */
#ifndef MM_INTERNAL_H
#define MM_INTERNAL_H

#include "config.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>

#include "mymalloc/malloc.h"

/* Everything declared from here on is internal to the library: hidden
 * visibility lets the compiler address it directly, not through the GOT. */
#pragma GCC visibility push(hidden)

/* ---- compiler helpers -------------------------------------------------- */
#define mm_likely(x)    __builtin_expect(!!(x), 1)
#define mm_unlikely(x)  __builtin_expect(!!(x), 0)
#define mm_noinline     __attribute__((noinline))
#define mm_cold         __attribute__((cold, noinline))
#define mm_inline       static inline __attribute__((always_inline))
#define mm_export       __attribute__((visibility("default")))
#define mm_noreturn     __attribute__((noreturn))

/* Relaxed access for fields that other threads read (statistics). */
#define mm_load_relaxed(p)      __atomic_load_n((p), __ATOMIC_RELAXED)
#define mm_store_relaxed(p, v)  __atomic_store_n((p), (v), __ATOMIC_RELAXED)

#ifdef MM_DEBUG
#define mm_assert(c) ((c) ? (void)0 : mm_fatal_assert(#c, __FILE__, __LINE__))
#else
#define mm_assert(c) ((void)0)
#endif

/* Export `impl` under the public name `name` (same address, no wrapper).
 * MM_EXPORT_AS: always (the prefixed API).  MM_OVERRIDE_AS: only when the
 * library overrides libc (not with --disable-override).  No symbol
 * version: a versioned malloc would not bind malloc@GLIBC_2.2.5. */
#define MM_EXPORT_AS(impl, name) \
  extern __typeof__(impl) name __attribute__((alias(#impl), visibility("default")));
#ifdef MM_OVERRIDE
#define MM_OVERRIDE_AS(impl, name) MM_EXPORT_AS(impl, name)
#else
#define MM_OVERRIDE_AS(impl, name)
#endif

/* ---- fixed parameters ---------------------------------------------------- */
#define MM_ALIGN             16
#define MM_SEGMENT_SHIFT     22                       /* 4 MiB */
#define MM_SEGMENT_SIZE      ((size_t)1 << MM_SEGMENT_SHIFT)
#define MM_SEGMENT_MASK      (MM_SEGMENT_SIZE - 1)
#define MM_SMALL_PAGE_SHIFT  16                       /* 64 KiB */
#define MM_MEDIUM_PAGE_SHIFT 19                       /* 512 KiB */
#define MM_META              ((size_t)64 << 10)       /* guard + header */
#define MM_MAX_PAGES         (MM_SEGMENT_SIZE >> MM_SMALL_PAGE_SHIFT)

#define MM_NCLASSES          44
#define MM_SMALL_MAX         8192                     /* small pages */
#define MM_MEDIUM_MAX        65536                    /* largest class */
#define MM_LOOKUP_MAX        1024                     /* table lookup */
#define MM_HUGE_CLASS        MM_NCLASSES              /* stats row of huge */
_Static_assert(MM_SEGMENT_SIZE >> 16 <= 64, "free_slots is a 64-bit mask");

/* Address space covered by the segment map: 47 bits (x86_64 user space),
 * one byte per segment: 32 MiB of .bss, touched only where segments are. */
#define MM_ADDRESS_BITS      47
#define MM_SEGMAP_SIZE       ((size_t)1 << (MM_ADDRESS_BITS - MM_SEGMENT_SHIFT))
#define MM_NSLOTS            (MM_LOOKUP_MAX / 16 + 1)  /* heap->fast[] */

/* ---- data structures ------------------------------------------------------ */
/* (the foreign cache of a class holds at most 32 KiB, and 8..512 blocks;
 * none for blocks under 64 bytes) */
typedef struct mm_block_s   mm_block_t;
typedef struct mm_page_s    mm_page_t;
typedef struct mm_segment_s mm_segment_t;
typedef struct mm_heap_s    mm_heap_t;

struct mm_block_s {
  uintptr_t next;                 /* encoded link (mm_encode) */
  uintptr_t key;                  /* mm_free_key while the block is free */
};

enum mm_kind { MM_SMALL = 0, MM_MEDIUM = 1, MM_HUGE = 2 };

struct __attribute__((aligned(64))) mm_page_s {   /* 128 bytes, 2 cache lines */
  /* first line: what every free reads (mostly written once per page) and
   * the cross-thread list; another thread's free touches only this line */
  _Atomic(uintptr_t) owner;       /* heap, heap|1 on the full list, or 0 */
  uint8_t *start;                 /* first block */
  uint64_t magic;                 /* UINT64_MAX / block_size + 1 (Lemire) */
  uint64_t limit;                 /* bytes carved: reserved * block_size */
  _Atomic(uintptr_t) xfree;       /* blocks freed by other threads, with
                                     their count in the top 16 bits */
  uint32_t block_size;            /* 0: the page slot is not in use */
  uint8_t class_idx;              /* size class (MM_HUGE_CLASS for huge) */
  uint8_t in_full;                /* on the heap's full list */
  uint8_t index;                  /* slot in the segment */
  uint8_t checked;                /* MYMALLOC_CHECK=full: fill and canary */
  uint16_t capacity;              /* blocks that fit (<= 4096) */
  uint16_t reserved;              /* blocks carved so far (bump) */
  /* second line: what the owner's malloc writes */
  mm_block_t *free __attribute__((aligned(64)));   /* owner's free list */
  uint32_t used;                  /* blocks out of the page (incl. in xfree) */
  mm_page_t *next, *prev;         /* the heap's queue of this class */
};

_Static_assert(sizeof(struct mm_page_s) == 128, "free() finds a page by shifting");

struct mm_segment_s {
  uintptr_t cookie;               /* mm_secret ^ address: header is intact */
  uint8_t kind;                   /* enum mm_kind */
  uint8_t page_shift;             /* log2 page size; 63 for huge */
  uint8_t from_sbrk;              /* sbrk memory: never munmap */
  uint8_t purged;                 /* free pages were given back (pool) */
  uint32_t npages;                /* page slots (incl. those in the header) */
  uint32_t used_pages;            /* slots in use */
  uint64_t free_slots;            /* bit i: slot i is free */
  uint64_t purged_slots;          /* bit i: free slot i was given back */
  size_t size;                    /* bytes of address space (huge: mapping) */
  size_t huge_align_off;          /* huge: offset of the block from base */
  mm_heap_t *heap;                /* owner, NULL when abandoned or pooled */
  mm_segment_t *next, *prev;      /* heap's list / abandoned / pool / cache */
  uint64_t freed_at_ns;           /* pool / huge cache: time of release */
  mm_page_t pages[MM_MAX_PAGES];
};

/* Per-class counters of a heap.  Only the owning thread writes them;
 * the report reads them with relaxed loads. */
typedef struct mm_class_stats_s {
  uint64_t nmalloc;               /* allocation requests (fold only) */
  uint64_t nfree;                 /* free requests (fold only) */
  uint64_t nfree_remote;          /*  .. of which on another thread's page (fold only) */
  uint64_t ncollected;            /* remote frees back in use (fold only) */
  uint64_t pages;                 /* pages held */
  uint64_t blocks;                /* their capacity */
} mm_class_stats_t;

/* A heap's cache of foreign blocks of one class, and the counters of the
 * remote frees that go with it (one cache line or less per class). */
typedef struct mm_foreign_s {
  mm_block_t *head;               /* blocks of other heaps' pages freed here */
  uint32_t count;                 /* .. how many */
  uint32_t cap;                   /* mm_foreign_cap[c]; 0: take none (dying) */
  uint64_t nfree_remote;          /* frees by this thread of blocks of other
                                     heaps' pages (cached or pushed) */
  uint64_t ncollected;            /* remote frees back in use here (foreign
                                     blocks reused, xfree lists collected) */
} mm_foreign_t;

typedef struct mm_page_queue_s {
  mm_page_t *first, *last;
} mm_page_queue_t;

struct __attribute__((aligned(64))) mm_heap_s {   /* no cache line shared by two heaps */
  mm_page_t *fast[MM_NSLOTS];             /* malloc(n <= 1 KiB) pops from
                                             fast[(n + 15) >> 4] */
  uint64_t nmalloc_fast[MM_NSLOTS];       /* its requests, by slot */
  mm_page_t *direct[MM_NCLASSES];         /* the page each class pops from */
  mm_page_queue_t queue[MM_NCLASSES];     /* pages with room */
  mm_page_queue_t full[MM_NCLASSES];      /* pages without room */
  mm_segment_t *segments[2];              /* small, medium with free slots */
  mm_segment_t *segments_full[2];         /* no free slot */
  _Atomic(uint64_t) full_xfree;           /* bit c: a remote free hit a full
                                             page of class c */
  mm_heap_t *next_heap, *prev_heap;       /* all heaps (mm_heaps) */
  uint8_t live;                           /* 0: in the free heap pool */
  uint64_t trim_seen;                     /* mm_trim_epoch acted upon */
  uint64_t purge_at_ns;                   /* free page slots to purge then */
  uint32_t purge_tick;                    /* slow paths since the clock was read */
  uint64_t last_block_purge_ns;           /* free blocks were purged then */
  /* blocks of other heaps' pages freed by this thread, reused first */
  mm_foreign_t foreign[MM_NCLASSES];
  /* the two counters of the fast paths, one 8-byte slot per class */
  uint64_t nmalloc[MM_NCLASSES];          /* allocation requests (slow path) */
  uint64_t nfree[MM_NCLASSES];            /* frees by this thread of blocks
                                             of its own pages */
  mm_class_stats_t stats[MM_NCLASSES];    /* the rest (slow paths) */
};

/* ---- globals ---------------------------------------------------------------- */
extern uintptr_t mm_secret;               /* link encoding */
extern uintptr_t mm_free_key;             /* marks free blocks */
extern size_t mm_os_page;                 /* sysconf(_SC_PAGESIZE) */
extern mm_heap_t mm_heap_empty;           /* every thread starts here */
extern mm_page_t mm_page_empty;           /* direct[] of mm_heap_empty */
extern uint8_t mm_segmap[MM_SEGMAP_SIZE];  /* page_shift, 0: not ours */
extern __thread mm_heap_t *mm_heap_tls __attribute__((tls_model("initial-exec")));
extern const uint8_t mm_class_lookup[MM_LOOKUP_MAX / 16 + 1];
extern const uint32_t mm_class_size[MM_NCLASSES];
extern const uint64_t mm_class_magic[MM_NCLASSES];   /* UINT64_MAX / size + 1 */

/* page->owner: the heap, with two flag bits */
#define MM_OWNER_FULL 1u           /* the page is on the heap's full list */
#define MM_OWNER_SLOW 2u           /* every free takes mm_free_generic (valgrind) */
extern uintptr_t mm_owner_slow;    /* MM_OWNER_SLOW when mm_slow_mode */
extern bool mm_valgrind;           /* running on valgrind */
extern bool mm_check_full;         /* MYMALLOC_CHECK=full */
extern bool mm_slow_mode;          /* either: every malloc and free is slow */

/* MYMALLOC_CHECK=full: a freed block is filled with MM_FILL (after its
 * link words), checked when it is handed out again (a write after free
 * shows); the last MM_CANARY bytes of each block hold a canary, checked
 * by free (an overflow past the usable size shows). */
#define MM_FILL   0xdf
#define MM_CANARY 8
void mm_check_on_alloc(mm_page_t *pg, void *p);
void mm_check_on_free(mm_page_t *pg, void *p, const char *fn);
void mm_check_fill(mm_page_t *pg, void *p);
mm_inline uintptr_t mm_owner_tag(const mm_heap_t *h, bool full) {
  return (uintptr_t)h | mm_owner_slow | (full ? MM_OWNER_FULL : 0u);
}
mm_inline mm_heap_t *mm_owner_heap(uintptr_t owner) {
  return (mm_heap_t *)(owner & ~(uintptr_t)(MM_OWNER_FULL | MM_OWNER_SLOW));
}

/* Valgrind client requests, only in slow paths: on valgrind, mallocs skip
 * the direct pages and frees see MM_OWNER_SLOW, so both reach the code
 * that tells memcheck about blocks (whole usable size). */
#ifdef HAVE_VALGRIND_MEMCHECK_H
#include <valgrind/memcheck.h>
#define mm_vg_alloc(p, n, zero) \
  do { if (mm_valgrind) { VALGRIND_MALLOCLIKE_BLOCK((p), (n), 0, (zero)); } } while (0)
#define mm_vg_free(p) \
  do { if (mm_valgrind) { VALGRIND_FREELIKE_BLOCK((p), 0); \
                          VALGRIND_MAKE_MEM_DEFINED((p), sizeof(mm_block_t)); } } while (0)
#define mm_vg_defined(p, n) \
  do { if (mm_valgrind) { VALGRIND_MAKE_MEM_DEFINED((p), (n)); } } while (0)
#define mm_vg_undefined(p, n) \
  do { if (mm_valgrind) { VALGRIND_MAKE_MEM_UNDEFINED((p), (n)); } } while (0)
#else
#define mm_vg_undefined(p, n) ((void)0)
#define mm_vg_alloc(p, n, zero) ((void)0)
#define mm_vg_free(p) ((void)0)
#define mm_vg_defined(p, n) ((void)0)
#endif

/* ---- small inline helpers ------------------------------------------------------ */
/* The request counters of the fast paths (compiled out by --disable-stats). */
#if MM_STATS
#define mm_count(x) ((x)++)
#else
#define mm_count(x) ((void)(x))
#endif

/* Segments on a doubly linked list through next/prev (a heap's lists, the
 * pool, the abandoned list, the huge cache). */
mm_inline void mm_seg_push(mm_segment_t **head, mm_segment_t *s) {
  s->prev = NULL;
  s->next = *head;
  if (*head) (*head)->prev = s;
  *head = s;
}
mm_inline void mm_seg_remove(mm_segment_t **head, mm_segment_t *s) {
  if (s->prev) s->prev->next = s->next; else *head = s->next;
  if (s->next) s->next->prev = s->prev;
  s->next = s->prev = NULL;
}
mm_inline unsigned mm_size_class(size_t n) {
  if (mm_likely(n <= MM_LOOKUP_MAX)) return mm_class_lookup[(n + 15) >> 4];
  size_t m = n - 1;
  unsigned bit = 63u - (unsigned)__builtin_clzl(m);
  return 8u + (bit - 7u) * 4u + (unsigned)((m >> (bit - 2u)) & 3u);
}

mm_inline mm_segment_t *mm_segment_of(const void *p) {
  return (mm_segment_t *)(((uintptr_t)p - 1) & ~(uintptr_t)MM_SEGMENT_MASK);
}

/* The byte of the segment map for address p: the page_shift of the
 * segment whose first 4 MiB hold p, 0 when there is none of ours. */
mm_inline unsigned mm_segmap_shift(const void *p) {
  uintptr_t i = (uintptr_t)p >> MM_SEGMENT_SHIFT;
  if (mm_unlikely(i >= MM_SEGMAP_SIZE)) return 0;
  return mm_load_relaxed(&mm_segmap[i]);
}

/* Is the segment at s one of ours?  (also false for NULL's (p-1)) */
mm_inline bool mm_segmap_has(const mm_segment_t *s) { return mm_segmap_shift(s) != 0; }

mm_inline mm_page_t *mm_page_of(mm_segment_t *s, const void *p) {
  return &s->pages[((uintptr_t)p - (uintptr_t)s) >> s->page_shift];
}

/* The segment and page of p, given shift = mm_segmap_shift(p) != 0. */
mm_inline mm_page_t *mm_page_by_map(const void *p, unsigned shift, mm_segment_t **sp) {
  mm_segment_t *s = (mm_segment_t *)((uintptr_t)p & ~(uintptr_t)MM_SEGMENT_MASK);
  *sp = s;
  return &s->pages[((uintptr_t)p & MM_SEGMENT_MASK) >> shift];
}

/* Is p the start of a block pg has carved?  One multiply (Lemire:
 * off % size == 0 iff off * magic mod 2^64 < magic) and one compare. */
mm_inline bool mm_is_block_start(const mm_page_t *pg, const void *p) {
  uint64_t off = (uint64_t)((uintptr_t)p - (uintptr_t)pg->start);
  return off < pg->limit && off * pg->magic < pg->magic;
}

/* Lists end with the base of the segment their blocks are in (I7), so
 * that a link always decodes to an address in the block's own segment.
 * Empty: a segment base, or NULL (mm_page_empty). */
mm_inline mm_block_t *mm_list_end(const void *in_segment) {
  return (mm_block_t *)((uintptr_t)in_segment & ~(uintptr_t)MM_SEGMENT_MASK);
}
mm_inline bool mm_list_empty(const mm_block_t *b) {
  return ((uintptr_t)b & MM_SEGMENT_MASK) == 0;
}

/* page->xfree packs the list head (47-bit user addresses) and the number
 * of blocks on it, so that one CAS pushes and counts, and the owner takes
 * both with one exchange, without walking the list. */
#define MM_XFREE_SHIFT 48
#define MM_XFREE_PTR   (((uintptr_t)1 << MM_XFREE_SHIFT) - 1)
mm_inline mm_block_t *mm_xfree_list(uintptr_t x) { return (mm_block_t *)(x & MM_XFREE_PTR); }
mm_inline uint32_t mm_xfree_count(uintptr_t x) { return (uint32_t)(x >> MM_XFREE_SHIFT); }

/* Free-list links are stored as next ^ secret ^ (address of the block):
 * a forged or overwritten link decodes to garbage that mm_decode's caller
 * catches (it must stay inside the block's segment). */
#if MM_HARDEN
mm_inline uintptr_t mm_encode(const mm_block_t *b, const mm_block_t *next) {
  return (uintptr_t)next ^ mm_secret ^ (uintptr_t)b;
}
mm_inline mm_block_t *mm_decode(const mm_block_t *b) {
  return (mm_block_t *)(b->next ^ mm_secret ^ (uintptr_t)b);
}
#else   /* --disable-hardening: only to measure what hardening costs */
mm_inline uintptr_t mm_encode(const mm_block_t *b, const mm_block_t *next) {
  (void)b;
  return (uintptr_t)next;
}
mm_inline mm_block_t *mm_decode(const mm_block_t *b) { return (mm_block_t *)b->next; }
#endif

/* Bytes the program may use in a block of pg. */
mm_inline size_t mm_page_usable(const mm_page_t *pg) {
  return pg->block_size - (pg->checked ? MM_CANARY : 0u);
}

static inline size_t mm_align_up(size_t n, size_t a) { return (n + a - 1) & ~(a - 1); }

/* ---- cross-file functions ---------------------------------------------------- */
/* init.c */
mm_heap_t *mm_heap_init_thread(void);
void mm_process_init(void);
uint64_t mm_clock_ns(void);
extern _Atomic(int) mm_process_ready;

/* alloc.c */
void *mm_malloc_generic(mm_heap_t *h, size_t n);
void *mm_malloc_small(mm_heap_t *h, size_t i, size_t n);
void *mm_malloc(size_t n);
void *mm_malloc_aligned(size_t n, size_t align);
void *mm_calloc(size_t nmemb, size_t size);
void *mm_realloc(void *p, size_t n);
size_t mm_usable_size(void *p);

/* posix.c */
int mm_stats_print(int fd, const char *format);
void mm_malloc_stats(void);
struct mallinfo2 mm_mallinfo2(void);
struct mallinfo mm_mallinfo(void);
size_t mm_segment_purge_free_slots(mm_heap_t *h);
extern _Atomic(uint64_t) mm_trim_epoch;

/* free.c */
void mm_xfree_push(mm_page_t *pg, mm_block_t *b);
void mm_foreign_flush(mm_heap_t *h);
/* the foreign cache of a class holds at most 32 KiB (and 8..512 blocks) */
extern const uint16_t mm_foreign_cap[MM_NCLASSES];
void mm_free(void *p);
void mm_free_generic(mm_segment_t *s, mm_page_t *pg, mm_block_t *b, const char *fn);
mm_noreturn void mm_corrupt(const char *fn, const void *p, const char *what);
const char *mm_check_pointer(const void *p, mm_segment_t **sp, mm_page_t **pgp);
const char *mm_check_block(mm_segment_t *s, mm_page_t *pg, const void *p);
extern const char mm_msg_freed[];          /* what mm_check_block says of a free block */
void mm_free_invalid(const void *p);
void mm_free_slow(void *p);
void mm_free_remote(mm_segment_t *s, mm_page_t *pg, mm_block_t *b, mm_heap_t *h);

/* page.c */
mm_page_t *mm_page_find(mm_heap_t *h, unsigned c);
void mm_page_collect(mm_page_t *pg);
void mm_page_emptied(mm_heap_t *h, mm_page_t *pg);
void mm_page_unfull(mm_heap_t *h, mm_page_t *pg);
void mm_heap_set_direct(mm_heap_t *h, unsigned c, mm_page_t *pg);
void mm_heap_set_fast(mm_heap_t *h, unsigned c, mm_page_t *pg);
void mm_heap_collect_full(mm_heap_t *h);
void mm_queue_remove(mm_page_queue_t *q, mm_page_t *pg);
void mm_queue_push(mm_page_queue_t *q, mm_page_t *pg);
size_t mm_heap_release_empty(mm_heap_t *h, bool all);

/* segment.c */
mm_segment_t *mm_segment_alloc(mm_heap_t *h, enum mm_kind kind);
void mm_segment_free(mm_segment_t *s);
mm_page_t *mm_segment_page_alloc(mm_heap_t *h, enum mm_kind kind);
void mm_segment_slot_area(const mm_segment_t *s, uint32_t i, uint8_t **start, uint8_t **end);
void mm_segment_page_free(mm_heap_t *h, mm_page_t *pg);
void mm_segmap_set(const mm_segment_t *s, bool on);
void mm_heap_abandon(mm_heap_t *h);
bool mm_segment_try_adopt(mm_heap_t *h);
size_t mm_segment_pool_purge(bool force);
void mm_heap_purge_due(mm_heap_t *h);
void mm_heap_purge_free_blocks(mm_heap_t *h);
void mm_segment_fork_prepare(void);
void mm_segment_fork_parent(void);
void mm_segment_fork_child(void);

/* huge.c */
void *mm_huge_alloc(size_t n, size_t align, bool zero);
void mm_huge_free(mm_segment_t *s);
void *mm_huge_realloc(mm_segment_t *s, size_t n);
size_t mm_huge_cache_purge(bool force);
extern _Atomic(uint64_t) mm_huge_due_ns;  /* the cache's oldest is due then; 0: empty */
bool mm_release_cached(void);
void mm_huge_fork_prepare(void);
void mm_huge_fork_parent(void);
void mm_huge_fork_child(void);

/* os.c -- the whole contact with the kernel (see os.c for the contract) */
void *mm_os_sbrk_segment(size_t size);
void *mm_os_mmap_aligned(size_t size, size_t align, size_t *mapped);
void *mm_os_mmap(size_t size);
int mm_os_munmap(void *addr, size_t size);
int mm_os_purge(void *addr, size_t size);
int mm_os_guard(void *addr, size_t size);
bool mm_os_sbrk_trim(void *addr, size_t size);
bool mm_os_sbrk_is_top(void *addr, size_t size);
void *mm_os_mremap(void *addr, size_t old_size, size_t new_size, void *fixed);
size_t mm_os_move(void *addr, size_t len, void *dst);
int mm_os_write(int fd, const char *s, size_t n);

/* stats.c */
typedef struct mm_os_stats_s {
  _Atomic(uint64_t) sbrk_bytes;           /* obtained with sbrk */
  _Atomic(uint64_t) mmap_bytes;           /* currently mapped with mmap */
  _Atomic(uint64_t) mmap_total;           /* ever mapped */
  _Atomic(uint64_t) purged_bytes;         /* currently given back */
  _Atomic(uint64_t) peak_bytes;           /* peak of sbrk + mmap - purged */
  _Atomic(uint64_t) huge_count;           /* live huge blocks */
  _Atomic(uint64_t) huge_bytes;           /* their usable bytes */
  _Atomic(uint64_t) huge_requests;
  _Atomic(uint64_t) huge_frees;
  _Atomic(uint64_t) huge_cached_bytes;    /* in the huge cache */
  _Atomic(uint64_t) heaps_live;
  _Atomic(uint64_t) segments_abandoned;
  _Atomic(uint64_t) segments;             /* small/medium segments held */
} mm_os_stats_t;
extern mm_os_stats_t mm_os_stats;
void mm_stats_os_changed(void);
void mm_stats_fold_heap(mm_heap_t *h);
void mm_stats_page_abandoned(mm_heap_t *h, mm_page_t *pg, bool abandoned);
void mm_stats_count_orphan_free(unsigned c);
void mm_stats_print_at_exit(void);
extern int mm_stats_fd;            /* where the exit report goes */
void mm_stats_fork_prepare(void);
void mm_stats_fork_parent(void);
void mm_stats_fork_child(void);
extern pthread_mutex_t mm_heaps_lock;
extern mm_heap_t *mm_heaps;

/* options.c */
typedef enum mm_option_e {
  MM_OPT_STATS,            /* 0 off, 1 text, 2 json at exit */
  MM_OPT_VERBOSE,
  MM_OPT_SBRK,             /* use sbrk for segments */
  MM_OPT_PURGE_DELAY_MS,   /* delay before free memory is given back */
  MM_OPT_HUGE_CACHE_MB,    /* bound of the huge block cache */
  MM_OPT_HUGE_DECAY_MS,    /* cached huge blocks live this long */
  MM_OPT_SEGMENT_POOL,     /* free segments kept resident */
  MM_OPT_CHECK,            /* 1: MYMALLOC_CHECK=full */
  MM_OPT_COUNT
} mm_option_t;
extern long mm_options[MM_OPT_COUNT];
void mm_options_init(void);
void mm_options_read_env(void);
mm_inline long mm_option(mm_option_t o) { return mm_options[o]; }

/* debug (page.c) */
void mm_heap_check(mm_heap_t *h);
mm_noreturn void mm_fatal_assert(const char *cond, const char *file, int line);

/* format.c: allocation-free formatting into a caller's buffer */
typedef struct mm_buf_s {
  char *p;
  size_t len, cap;
  int fd;
  int failed;                   /* a write failed */
} mm_buf_t;
void mm_buf_flush(mm_buf_t *b);
void mm_buf_str(mm_buf_t *b, const char *s);
void mm_buf_u64(mm_buf_t *b, uint64_t v);
void mm_buf_hex(mm_buf_t *b, uintptr_t v);
void mm_buf_pad(mm_buf_t *b, size_t width, size_t used);
void mm_buf_size(mm_buf_t *b, uint64_t bytes);
size_t mm_fmt_size(char *out, uint64_t bytes);

#pragma GCC visibility pop

#endif /* MM_INTERNAL_H */
