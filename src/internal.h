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
 *          (mm_page_t) lives in the segment header, never beside user data.
 *
 * segment  MM_SEGMENT_SIZE (4 MiB) of address space aligned to its own size,
 *          obtained from sbrk() (or mmap() when sbrk fails or is disabled).
 *          Its first MM_META (64 KiB) bytes hold the header (mm_segment_t
 *          and the page descriptors); its LAST OS page is PROT_NONE, a guard
 *          between its blocks and the header of the segment above.  All its
 *          pages have the same size.  A "huge" segment holds one block
 *          larger than 64 KiB in its own mmap() mapping (huge.c).
 *
 * heap     Per-thread state (mm_heap_t), found through the initial-exec TLS
 *          pointer mm_heap_tls.  It owns segments; it keeps for each size
 *          class a queue of pages and the "current" page malloc pops from.
 *
 * cross-thread free   free() of a block by a thread whose heap does not own
 *          the block's page.  The block goes to one of two structures:
 *   - the freeing thread's cross-thread cache (heap->xcache[class]): blocks
 *     of other heaps' pages, reused first by that thread's next mallocs of
 *     the class (hot in its core's cache); at most 32 KiB of a class, but
 *     never fewer than 8 blocks (so up to 512 KiB for the 64 KiB class,
 *     3.9 MiB over all classes of one heap), none for blocks under 64
 *     bytes (passive false sharing), none of the owner's current page of
 *     the class (heap->current[c], read relaxed): the owner is popping
 *     that page and takes them back with its next collect.  Fed with
 *     them, the freeing thread would work on the owner's blocks, on the
 *     slow paths, while the owner worked on the fast ones: a thread that
 *     hands part of what it allocates to another one, as in rpmalloc's
 *     benchmark, then ran 1.3 times slower.  They go back to their page's
 *     list a few at a time (xcache->home: blocks of one page, up to 16
 *     or 32 KiB, pushed by one atomic operation, when a block of another
 *     page comes or the cache is flushed);
 *   - the page's cross-thread list (page->xfree, atomic, with its count),
 *     collected by the owner when it needs blocks: when the cache is full,
 *     for blocks under 64 bytes, for blocks of the owner's current page
 *     (above), and for frees by a thread without a heap ("heapless"
 *     frees, e.g. from a TLS destructor after ours ran).
 *   The report counts both as "remote" frees; "pending" are those not yet
 *   back in use.
 *
 * ==========================================================================
 * Floors: each file calls only files on its own floor or below, and the
 * files of one floor call each other without a cycle.  tests/test_layers.sh
 * reads this list and checks the object files against it.
 * ==========================================================================
 *
 *   floor 6 api:        alloc free posix stats compat prof
 *   floor 5 process:    init
 *   floor 4 policy:     heap
 *   floor 3 mechanism:  page huge segment
 *   floor 2 base:       check options format segmap sizeclass state stackwalk
 *   floor 1 kernel:     os
 *
 *   os.c        the only contact with the kernel (memory, clock, write);
 *               the page size and the counters of what the kernel gave us
 *   state.c     process-wide state: secrets, the mode word, the empty heap
 *   sizeclass.c the size-class tables, all generated from one list of sizes
 *   segmap.c    the segment map: "is this address ours?" in O(1)
 *   format.c    formatting into a stack buffer, out through write(2)
 *   options.c   the MYMALLOC_* options
 *   stackwalk.c call stacks from the DWARF call-frame information, for
 *               the profiler (a cache of rules; libgcc behind it)
 *   check.c     pointer validation, the one fatal-error function, the
 *               MYMALLOC_CHECK=full fills and canaries, the debug walker
 *   segment.c   segments: page slots, the pool of free segments, the list
 *               of abandoned segments
 *   page.c      pages of one class: queues, carving, collecting
 *               cross-thread lists, release of empty pages
 *   huge.c      blocks above 64 KiB and the cache of their mappings
 *   heap.c      a thread heap's birth and death, the malloc refill ladder,
 *               trim, purge, memory pressure, abandon and adopt
 *   init.c      process start, the thread key, fork
 *   alloc.c free.c posix.c stats.c compat.c   the API
 *
 * ==========================================================================
 * The paths
 * ==========================================================================
 *
 * malloc (alloc.c): for n <= 1 KiB, page = heap->fast[(n + 15) >> 4].page
 *   (one slot per 16 bytes, each pointing at the current page of its
 *   class, so the fast path needs no class lookup); pop page->free.  No
 *   lock, no atomic.  When the list is empty (or the slot points at the
 *   empty page because the class has blocks in the cross-thread cache, or
 *   the thread has no heap yet), one ladder, each rung calling down:
 *     alloc.c  malloc_small / malloc_generic: the heap exists (created
 *              once here, init.c), the cross-thread cache of the class;
 *     heap.h   mm_heap_refill (inline): upkeep due (full pages hit by
 *              cross-thread frees, a malloc_trim: one word; purges:
 *              every 8th refill), then a page of the class;
 *     page.c   mm_page_find: collect, carve, or move to the next page;
 *     heap.c   mm_heap_refill_new, a new page: a page with room in adopted segments of dead
 *              threads, a free slot of the heap's segments, or a new
 *              segment (purging first what the heap cannot reuse; on
 *              failure giving back what the heap keeps unused and the
 *              caches, address space included, and trying again);
 *     segment.c / os.c   slots, the pool, sbrk and mmap.
 *
 * free (free.c): the segment map (segmap.c, one byte per 4 MiB of
 *   address space) gives the page shift of the segment p lies in, or 0 when
 *   it is not ours -- O(1), no search.  segment = p & ~(MM_SEGMENT_SIZE - 1),
 *   page = segment->pages[offset >> shift].  Four cases:
 *     local            the page's owner is the calling thread's heap:
 *                      the hardening checks, push on page->free;
 *     local full page  our page on the full list: back to the end of
 *                      the queue (it gathers more free blocks before
 *                      malloc comes to it; mimalloc does the same), or
 *                      to its front when it holds under 32 blocks;
 *     cross-thread     another heap's (or an abandoned) page: the same
 *                      checks, then the cross-thread cache or the page's
 *                      cross-thread list (above);
 *     huge             its mapping goes to the huge cache (huge.c).
 *   In the checked mode (valgrind, MYMALLOC_CHECK=full) every free takes
 *   the full validation of check.c.
 *
 * A huge block aligned to 4 MiB or more sits exactly at the end of the
 * first 4 MiB of its mapping; its granule is not in the map, so free()
 * finds it on the slow path through (p - 1) (mimalloc does the same).
 *
 * ==========================================================================
 * Hardening (on by default; --disable-hardening only to measure its cost:
 * it compiles out the checks of free's fast and cross-thread paths, so a
 * bad pointer there is not caught)
 * ==========================================================================
 *
 *  - Free lists are singly linked through the first word of each free
 *    block, stored as next ^ mm_secret ^ (address of the block).  A list
 *    ends with the base address of the block's own segment (never NULL),
 *    so "the decoded link stays inside this block's segment" is the whole
 *    check when malloc follows a link: one compare.  "Empty" is any
 *    pointer whose low 22 bits are zero (mm_list_empty).
 *  - The second word of a free block holds its key, mm_secret ^ its
 *    address (mm_free_key); malloc clears it.  free() sees the key:
 *    double free.  free() computes secret ^ address anyway, to encode the
 *    link, so the key costs a compare and a store.  (A program that reads
 *    freed memory learns the secret from a key, as it could from the end
 *    of any list, which decodes to its known segment base: the encoding
 *    stops blind overwrites, not a reader.)
 *  - Following the end of a list fails the link check, which is how
 *    malloc's fast path sees an empty list: a list ends with its segment's
 *    base, whose first word (the cookie, secret ^ base) decodes to the
 *    base itself, a nonzero multiple of 4 MiB; and the empty page's list
 *    is mm_no_block, a word 0 that decodes to the secret, whose top bit is
 *    set (also before the secret is drawn).
 *  - free() checks that p is a block start of a carved block: one
 *    multiply by the page's constant and one compare with page->limit
 *    (sizeclass.c explains why that is exact; mm_free_check in check.h,
 *    used by both free paths).
 *  - Page and segment headers sit in the segment's first 64 KiB; the
 *    segment below ends with a PROT_NONE guard page; segment headers
 *    carry a cookie.
 *  - MYMALLOC_CHECK=full adds fill patterns and canaries (checked mode).
 *
 * ==========================================================================
 * Invariants (each checked by the walker mm_heap_check() in check.c, which
 * --enable-debug builds run on every malloc slow path; the walker names the
 * invariant it finds broken)
 * ==========================================================================
 *
 *  I1  for every page: |free| + used == reserved, where used counts the
 *      blocks out of the page, including those on its cross-thread list
 *      (page->xfree) and in cross-thread caches; reserved <= capacity.
 *  I2  every block on page->free lies inside the page at a block boundary
 *      below page->limit, and carries the free key in its second word.
 *  I3  page->owner is the owning heap, | MM_OWNER_FULL while the page sits
 *      on the heap's full list, | MM_OWNER_CHECKED in the checked mode;
 *      0 while the segment is abandoned, for unused slots and for huge
 *      blocks.  A page is on exactly one of its heap's two lists of its
 *      class, the one its MM_OWNER_FULL bit names.
 *  I4  segment->used_pages == number of page slots in use (block_size
 *      != 0) and segment->free_slots has a bit for every other usable
 *      slot; a segment is on its heap's full list iff free_slots == 0.
 *  I5  a segment is in the segment map iff it is live (owned, abandoned,
 *      pooled, or a cached huge mapping); its byte there is its page_shift.
 *  I6  every pointer returned is a multiple of 16 (MM_ALIGN).
 *  I7  page->free and every list reachable from it end with the segment's
 *      base (mm_list_end); page->limit == reserved * step and
 *      page->magic is its class's constant (sizeclass.c).
 *  I8  heap->fast[i].page is the current page of the class of slot i, or the
 *      empty page while the class's cross-thread cache is diverted (it
 *      has or had blocks since the last slow path) or in the checked
 *      mode; a cache with blocks is diverted; heap->current[c] is the
 *      empty page or a page of class c.
 *  I9  heap->kept lists exactly the pages with page->kept set; while
 *      kept, a page is owned by the heap, on its class's queue (never a
 *      full list), not current, with used == 0; heap->kept_bytes is the
 *      sum of their capacity * block_size, at most MM_KEPT_MAX.
 *
 * ==========================================================================
 * Size classes  (the "fixed-size bins", sizeclass.c)
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
#define mm_noreturn     __attribute__((noreturn))

/* MM_TSAN: built with -fsanitize=thread (gcc or clang), which must see
 * every access to shared fields (no inline-asm loads then). */
#if defined(__SANITIZE_THREAD__)
#define MM_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MM_TSAN 1
#endif
#endif

/* The functions that can be on the stack between a program's call of the
 * API and a profiling sample's stack capture (alloc.c, posix.c, prof.c)
 * live in one section: its bounds, __start_mymalloc_api and
 * __stop_mymalloc_api, tell the profiler which frames are ours, in a
 * shared library and in a static link alike (prof.c).  gcc does not split
 * a function with a section of its own into hot and cold parts. */
#define MM_API_TEXT __attribute__((section("mymalloc_api")))

/* --*p; true when it borrowed (*p was 0).  On x86_64 a subtract in
 * memory and the branch on its carry (compilers load, subtract, store
 * and test otherwise). */
mm_inline bool mm_dec_borrows(uint64_t *p) {
#if defined(__x86_64__) && defined(__GCC_ASM_FLAG_OUTPUTS__) && !defined(MM_TSAN)
  bool borrow;
  __asm__("subq $1, %0" : "+m"(*p), "=@ccc"(borrow));
  return borrow;
#else
  return (*p)-- == 0;
#endif
}

/* Relaxed access for fields that other threads read (statistics). */
#define mm_load_relaxed(p)      __atomic_load_n((p), __ATOMIC_RELAXED)
#define mm_store_relaxed(p, v)  __atomic_store_n((p), (v), __ATOMIC_RELAXED)

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

/* The request counters of the fast paths (compiled out by --disable-stats). */
#if MM_STATS
#define mm_count(x) ((x)++)
#else
#define mm_count(x) ((void)(x))
#endif

/* ---- fixed parameters ---------------------------------------------------- */
#define MM_ALIGN             16
#define MM_SEGMENT_SHIFT     22                       /* 4 MiB */
#define MM_SEGMENT_SIZE      ((size_t)1 << MM_SEGMENT_SHIFT)
#define MM_SEGMENT_MASK      (MM_SEGMENT_SIZE - 1)
#define MM_SMALL_PAGE_SHIFT  16                       /* 64 KiB */
#define MM_MEDIUM_PAGE_SHIFT 19                       /* 512 KiB */
#define MM_META              ((size_t)64 << 10)       /* segment header */
#define MM_MAX_PAGES         (MM_SEGMENT_SIZE >> MM_SMALL_PAGE_SHIFT)

/* Every byte of memory the allocator uses lies below 2^MM_ADDRESS_BITS
 * (os.c refuses what the kernel gives above it, os.h): the segment map
 * covers exactly that (segmap.h), and page->xfree packs a block's address
 * in its low 48 bits.  48 bits is the user address space of every 64-bit
 * Debian architecture as the kernel hands it out unasked: x86_64 (47
 * bits; with 5-level paging, addresses above 2^47 only for an mmap hint
 * above it), arm64 (48 bits, PIE programs and their break near
 * 0xaaaa_0000_0000; with 52-bit VA, above 2^48 only for a hint above it),
 * ppc64el (above 128 TiB only for a hint above it), riscv64 (sv39, sv48;
 * sv57 hardware running kernels before 6.8 may hand out more), s390x (4
 * TiB, grown to 8 PiB only once a process has used those up), loong64
 * and mips64el (at most 48).  We never pass a hint, so only the last
 * cases can reach the limit, and they get memory elsewhere or ENOMEM. */
#define MM_ADDRESS_BITS      48
#define MM_ADDRESS_LIMIT     ((uintptr_t)1 << MM_ADDRESS_BITS)

#define MM_NCLASSES          44
#define MM_KEPT_MAX          ((size_t)1 << 20)        /* kept empty pages, per heap */
#define MM_SMALL_MAX         8192                     /* small pages */
#define MM_MEDIUM_MAX        65536                    /* largest class */
#define MM_LOOKUP_MAX        1024                     /* table lookup */
#define MM_LOOKUP_CLASSES    20                       /* classes up to 1 KiB */
#define MM_HUGE_CLASS        MM_NCLASSES              /* class_idx of huge */
#define MM_NSLOTS            (MM_LOOKUP_MAX / 16 + 1)  /* heap->fast[] */
_Static_assert(MM_SEGMENT_SIZE >> 16 <= 64, "free_slots is a 64-bit mask");

/* ---- data structures ------------------------------------------------------ */
typedef struct mm_block_s   mm_block_t;
typedef struct mm_page_s    mm_page_t;
typedef struct mm_segment_s mm_segment_t;
typedef struct mm_heap_s    mm_heap_t;

struct mm_block_s {
  uintptr_t next;                 /* encoded link (mm_encode) */
  uintptr_t key;                  /* mm_free_key(b) while the block is free */
};

enum mm_kind { MM_SMALL = 0, MM_MEDIUM = 1, MM_HUGE = 2 };

/* page->owner: the heap, with two flag bits (I3) */
#define MM_OWNER_FULL    1u        /* the page is on the heap's full list */
#define MM_OWNER_CHECKED 2u        /* checked mode: every free is checked */

struct __attribute__((aligned(64))) mm_page_s {   /* 128 bytes, 2 cache lines */
  /* first line: what every free reads (mostly written once per page) and
   * the cross-thread list; another thread's free touches only this line */
  _Atomic(uintptr_t) owner;       /* heap | MM_OWNER_*, or 0 (I3) */
  uint8_t *start;                 /* first block */
  uint64_t magic;                 /* of the class (sizeclass.c) */
  uint64_t limit;                 /* reserved * step of the class: the
                                     block starts carved (sizeclass.c) */
  _Atomic(uintptr_t) xfree;       /* the cross-thread list: blocks freed by
                                     other threads, their count in the top
                                     16 bits */
  uint32_t block_size;            /* 0: the page slot is not in use */
  uint8_t class_idx;              /* size class (MM_HUGE_CLASS for huge) */
  uint8_t index;                  /* slot in the segment */
  uint8_t checked;                /* MYMALLOC_CHECK=full: fill and canary */
  uint16_t capacity;              /* blocks that fit (<= 4096) */
  uint16_t reserved;              /* blocks carved so far (bump) */
  /* second line: what the owner's malloc writes */
  mm_block_t *free __attribute__((aligned(64)));   /* owner's free list */
  uint32_t used;                  /* blocks out of the page (I1) */
  mm_page_t *next, *prev;         /* the heap's queue of this class */
  mm_page_t *kept_next, *kept_prev;   /* the heap's kept pages (I9) */
  uint8_t kept;                   /* on that list */
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
  uint32_t prof_sampled;          /* huge: the block is a profiling sample */
  uint64_t free_slots;            /* bit i: slot i is free */
  uint64_t purged_slots;          /* bit i: free slot i was given back */
  size_t size;                    /* bytes of address space (huge: mapping) */
  size_t huge_align_off;          /* huge: offset of the block from base */
  mm_heap_t *heap;                /* owner, NULL when abandoned or pooled */
  mm_segment_t *next, *prev;      /* heap's list / abandoned / pool / cache */
  uint64_t freed_at_ns;           /* pool / huge cache: time of release */
  mm_page_t pages[MM_MAX_PAGES];
};

/* The freeing thread's cache of cross-thread blocks of one class, and the
 * counters of the cross-thread frees that go with it.  A malloc that
 * takes a block of the cache counts nothing: the blocks reused are
 * npushed - nflushed - count (the report derives them). */
typedef struct mm_xcache_s {
  mm_block_t *head;               /* blocks of other heaps' pages freed here */
  uint32_t count;                 /* .. how many */
  uint32_t cap;                   /* mm_xcache_cap[c]; 0: take none (dying) */
  uint32_t diverted;              /* the class's fast slots point at the
                                     empty page (I8): set by the first
                                     push, cleared by the slow path when
                                     the cache is found empty */
  mm_block_t *home, *home_last;   /* blocks of one page, its owner's
                                     current page when they were freed, on
                                     their way to its cross-thread list
                                     (linked first to last, last's link
                                     written by the push) */
  uint32_t nhome;                 /* .. how many */
  uint64_t npushed;               /* cross-thread frees into the cache */
  uint64_t nflushed;              /* blocks flushed out of it unused */
  uint64_t nxlist;                /* cross-thread frees pushed directly on
                                     their page's cross-thread list */
  uint64_t ncollected;            /* cross-thread frees back in this heap's
                                     pages (page lists collected, flushed
                                     blocks of its own pages) */
} mm_xcache_t;

/* The blocks of x reused by mallocs (relaxed reads from another thread
 * may lag: never below 0). */
static inline uint64_t mm_xcache_reused(const mm_xcache_t *x) {
  /* count first, acquire: pairs with the flush's release store of count,
   * so that a count already 0 comes with its flushed blocks counted */
  uint32_t count = __atomic_load_n(&x->count, __ATOMIC_ACQUIRE);
  uint64_t pushed = __atomic_load_n(&x->npushed, __ATOMIC_RELAXED);
  uint64_t gone = __atomic_load_n(&x->nflushed, __ATOMIC_RELAXED) + count;
  return pushed > gone ? pushed - gone : 0;
}

typedef struct mm_fast_slot_s {
  mm_page_t *page;                /* the current page of the slot's class */
  uint64_t left;                  /* fast-path mallocs before the next
                                     profiling sample (counts down; the
                                     one that borrows is sampled): ~0 when
                                     profiling is off.  The requests the
                                     slot served are fast_done[i] +
                                     fast_start[i] - left (mm_fast_requests) */
} mm_fast_slot_t;

/* heap->upkeep */
#define MM_UPKEEP_CLASSES  (((uint64_t)1 << MM_NCLASSES) - 1)
#define MM_UPKEEP_TRIM     ((uint64_t)1 << 63)
_Static_assert(MM_NCLASSES < 63, "a bit of heap->upkeep per class");

typedef struct mm_page_queue_s {
  mm_page_t *first, *last;
} mm_page_queue_t;

struct __attribute__((aligned(64))) mm_heap_s {   /* no cache line shared by two heaps */
  /* the fast path: malloc(n <= 1 KiB) pops from fast[(n + 15) >> 4].page,
   * a copy of current[] spread over the 16-byte slots of each class (I8),
   * and counts the request beside it: the slot is at h + ((n + 15) & ~15) */
  mm_fast_slot_t fast[MM_NSLOTS];        /* first: the fast path's address */
  mm_page_t *current[MM_NCLASSES];        /* the page each class pops from */
  mm_page_queue_t queue[MM_NCLASSES];     /* pages with room */
  mm_page_queue_t full[MM_NCLASSES];      /* pages without room */
  mm_segment_t *segments[2];              /* small, medium with free slots */
  mm_segment_t *segments_full[2];         /* no free slot */
  _Atomic(uint64_t) upkeep;               /* what the next refill must do
                                             first: bit c (MM_UPKEEP_CLASSES),
                                             a cross-thread free hit a full
                                             page of class c; MM_UPKEEP_TRIM,
                                             malloc_trim was called */
  mm_heap_t *next_heap, *prev_heap;       /* all heaps (mm_heaps) */
  uint8_t live;                           /* 0: in the free heap pool */
  uint64_t purge_at_ns;                   /* free page slots to purge then */
  uint32_t purge_tick;                    /* refills until the purges are
                                             looked at (the clock read) */
  uint64_t last_block_purge_ns;           /* free blocks were purged then */
  mm_page_t *kept;                        /* empty pages kept for reuse (I9) */
  size_t kept_bytes;                      /* .. their blocks' bytes */
  mm_xcache_t xcache[MM_NCLASSES];        /* cross-thread caches */
  /* the two counters of the fast paths, one 8-byte slot per class */
  uint64_t nmalloc[MM_NCLASSES];          /* allocation requests (slow path) */
  uint64_t nfree[MM_NCLASSES];            /* frees by this thread of blocks
                                             of its own pages */
  uint64_t npages[MM_NCLASSES];           /* pages held */
  uint64_t nblocks[MM_NCLASSES];          /* their capacity */
  /* heap profiling (prof.c): the fast slots' countdowns started at
   * fast_start[i], after fast_done[i] requests; the slow paths count
   * bytes down in prof_left (INT64_MAX when off); the sampler's state */
  uint64_t fast_start[MM_NSLOTS];
  uint64_t fast_done[MM_NSLOTS];
  _Atomic(uint64_t) fast_seq;             /* odd while they are rewritten */
  int64_t prof_left;
  uint64_t prof_rng;
  uint8_t shared;                         /* no thread's (the profiler's):
                                             never adopts segments */
};

/* The requests the fast slots of h served, added to per_class[] (relaxed
 * reads from another thread may be off by the operations in flight; a
 * rewrite of the countdowns by the profiler, which would put them off by
 * a whole countdown, is read again: fast_seq; a bounded number of times,
 * since the report may interrupt that very rewrite in a signal handler). */
static inline void mm_fast_requests(const mm_heap_t *h, uint64_t *per_class, const uint8_t *class_of) {
  uint64_t v[MM_NSLOTS];
  for (int tries = 0; tries < 100000; tries++) {
    uint64_t s0 = atomic_load_explicit(&h->fast_seq, memory_order_acquire);
    for (size_t i = 0; i < MM_NSLOTS; i++)
      v[i] = mm_load_relaxed(&h->fast_done[i]) + mm_load_relaxed(&h->fast_start[i]) -
             mm_load_relaxed(&h->fast[i].left);
    atomic_thread_fence(memory_order_acquire);
    if (!(s0 & 1) && atomic_load_explicit(&h->fast_seq, memory_order_relaxed) == s0) break;
  }
  for (size_t i = 0; i < MM_NSLOTS; i++) per_class[class_of[i]] += v[i];
}

/* ---- small inline helpers on the structures ------------------------------- */
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

mm_inline mm_segment_t *mm_segment_of(const void *p) {
  return (mm_segment_t *)(((uintptr_t)p - 1) & ~(uintptr_t)MM_SEGMENT_MASK);
}

mm_inline mm_page_t *mm_page_of(mm_segment_t *s, const void *p) {
  return &s->pages[((uintptr_t)p - (uintptr_t)s) >> s->page_shift];
}

/* The bytes of pg's blocks (what a kept page counts for, I9). */
mm_inline size_t mm_page_bytes(const mm_page_t *pg) { return (size_t)pg->capacity * pg->block_size; }

/* The segment and page of p, given the page shift of its segment. */
mm_inline mm_page_t *mm_page_by_map(const void *p, unsigned shift, mm_segment_t **sp) {
  mm_segment_t *s = (mm_segment_t *)((uintptr_t)p & ~(uintptr_t)MM_SEGMENT_MASK);
  *sp = s;
  return &s->pages[((uintptr_t)p & MM_SEGMENT_MASK) >> shift];
}

/* Is p the start of a block pg has carved (below limit, pg->limit as
 * the caller read it)?  One multiply and one compare (the constants are
 * explained in sizeclass.c): off * magic (mod 2^64) is below limit =
 * reserved * step exactly at the blocks carved so far. */
mm_inline bool mm_is_block_start_below(const mm_page_t *pg, const void *p, uint64_t limit) {
  return (uint64_t)((uintptr_t)p - (uintptr_t)pg->start) * pg->magic < limit;
}
/* The same from any thread: limit is loaded relaxed, since the owner's
 * carving raises it meanwhile (page.c); the owner may read it plainly. */
mm_inline bool mm_is_block_start(const mm_page_t *pg, const void *p) {
  return mm_is_block_start_below(pg, p, mm_load_relaxed(&pg->limit));
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

/* page->xfree packs the list head (the low 48 bits: every block lies
 * below 2^MM_ADDRESS_BITS, top bit 47 included, e.g. 0x0000_ffff_xxxx_xxxx
 * on arm64; a kernel's 52- or 57-bit addresses never reach it, os.c
 * refuses them) and the number of blocks on it (at most a page's
 * capacity, 4096, in 16 bits), so that one CAS pushes and counts, and the
 * owner takes both with one exchange, without walking the list. */
#define MM_XFREE_SHIFT 48
_Static_assert(MM_XFREE_SHIFT >= MM_ADDRESS_BITS, "a block address fits in the list head");
#define MM_XFREE_PTR   (((uintptr_t)1 << MM_XFREE_SHIFT) - 1)
mm_inline mm_block_t *mm_xfree_list(uintptr_t x) { return (mm_block_t *)(x & MM_XFREE_PTR); }
mm_inline uint32_t mm_xfree_count(uintptr_t x) { return (uint32_t)(x >> MM_XFREE_SHIFT); }

static inline size_t mm_align_up(size_t n, size_t a) { return (n + a - 1) & ~(a - 1); }

extern size_t mm_os_page;                 /* the OS page size (os.c) */

/* Where the blocks of page slot i of s may lie: after the header, before
 * the guard page at the segment's end.  A slot is usable when it keeps at
 * least half of its page. */
mm_inline void mm_slot_area(const mm_segment_t *s, uint32_t i, uint8_t **start, uint8_t **end) {
  uint8_t *base = (uint8_t *)s;
  uint8_t *st = base + ((size_t)i << s->page_shift);
  uint8_t *en = st + ((size_t)1 << s->page_shift);
  if (st < base + MM_META) st = base + MM_META;
  if (en > base + MM_SEGMENT_SIZE - mm_os_page) en = base + MM_SEGMENT_SIZE - mm_os_page;
  *start = st;
  *end = en > st ? en : st;
}
mm_inline bool mm_slot_usable(const mm_segment_t *s, uint32_t i) {
  uint8_t *st, *en;
  mm_slot_area(s, i, &st, &en);
  return (size_t)(en - st) >= ((size_t)1 << s->page_shift) / 2;
}

#pragma GCC visibility pop

#endif /* MM_INTERNAL_H */
