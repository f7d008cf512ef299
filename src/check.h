/*
 * check.h -- validation in one place (check.c): the hardening check of
 * both free paths, the full validation of a pointer given back to us, the
 * one fatal-error function, the MYMALLOC_CHECK=full fills and canaries,
 * assertions, and the heap walker of --enable-debug.
 */
#ifndef MM_CHECK_H
#define MM_CHECK_H

#include "internal.h"
#include "segmap.h"
#include "state.h"

#pragma GCC visibility push(hidden)

/* One line on stderr ("mymalloc: fn(): what: pointer 0x..."), then abort.
 * Never allocates. */
mm_noreturn void mm_corrupt(const char *fn, const void *p, const char *what);

#ifdef MM_DEBUG
#define mm_assert(c) ((c) ? (void)0 : mm_fatal_assert(#c, __FILE__, __LINE__))
#else
#define mm_assert(c) ((void)0)
#endif
mm_noreturn void mm_fatal_assert(const char *cond, const char *file, int line);

/* The hardening check of free, fast path and cross-thread path alike:
 * b is a block start of a carved block of pg, and not already free (its
 * free key).  O(1): one multiply, three compares.  own: pg is the calling
 * thread's page, whose limit only this thread writes (a plain load, which
 * the compiler folds into the compare); else a relaxed one. */
mm_inline bool mm_free_check(const mm_page_t *pg, const mm_block_t *b, bool own) {
#if MM_HARDEN
  uint64_t limit = own ? pg->limit : mm_load_relaxed(&pg->limit);
  return mm_is_block_start_below(pg, b, limit) && b->key != mm_free_key(b);
#else
  (void)pg; (void)b; (void)own;
  return true;
#endif
}

/* The next block of a cross-thread cache's list (which crosses segments,
 * so the one-compare check of page lists does not apply): NULL, or a
 * 16-aligned address in one of our segments; else fn() aborts. */
mm_inline mm_block_t *mm_xcache_next(const mm_block_t *b, const char *fn) {
  mm_block_t *next = mm_decode(b);
  if (mm_unlikely(next && (((uintptr_t)next & (MM_ALIGN - 1)) || !mm_segmap_shift(next))))
    mm_corrupt(fn, b, "corrupted free-list link");
  return next;
}

/* The fast path found p wrong: say what exactly, then abort. */
void mm_free_invalid(const void *p);

/* The segment and page of a pointer if it lies in one of our segments
 * (or is a huge block aligned to 4 MiB, found through p - 1). */
bool mm_find_page(const void *p, mm_segment_t **sp, mm_page_t **pgp);
/* Full validation: ours, at a block start, live.  NULL when valid, else
 * what is wrong (mm_msg_freed for a free block). */
const char *mm_check_pointer(const void *p, mm_segment_t **sp, mm_page_t **pgp);
const char *mm_check_block(mm_segment_t *s, mm_page_t *pg, const void *p);
extern const char mm_msg_freed[];

/* MYMALLOC_CHECK=full: a freed block is filled with MM_FILL (after its
 * link words), checked when it is handed out again (a write after free
 * shows); the last MM_CANARY bytes of each block hold a canary, checked
 * by free (an overflow past the usable size shows). */
#define MM_FILL   0xdf
#define MM_CANARY 8
void mm_check_on_alloc(mm_page_t *pg, void *p);
void mm_check_on_free(mm_page_t *pg, void *p, const char *fn);
void mm_check_fill(mm_page_t *pg, void *p);

/* Bytes the program may use in a block of pg. */
mm_inline size_t mm_page_usable(const mm_page_t *pg) {
  return pg->block_size - (pg->checked ? MM_CANARY : 0u);
}

/* The walker: every invariant of internal.h over the heap h (and its
 * segments); the first one broken stops the program with a line naming
 * it.  --enable-debug runs it on every malloc slow path. */
void mm_heap_check(mm_heap_t *h);

#pragma GCC visibility pop

#endif
