/*
 * huge.h -- blocks above 64 KiB (huge.c), each in its own mapping, and
 * the cache of the mappings of freed ones.
 */
#ifndef MM_HUGE_H
#define MM_HUGE_H

#include "internal.h"

#pragma GCC visibility push(hidden)

/* A huge block of n bytes (zero: reads as zero), aligned to align (0:
 * the default).  NULL with errno ENOMEM when the kernel refuses; the
 * caller may give memory back and try again. */
void *mm_huge_alloc(size_t n, size_t align, bool zero);
/* s, a live huge block checked by the caller, goes to the cache. */
void mm_huge_free(mm_segment_t *s);
/* Resize in place or by moving pages, never copying.  NULL: could not
 * (the block is intact; the caller copies or fails). */
void *mm_huge_realloc(mm_segment_t *s, size_t n);
/* Unmap cached mappings past their decay (all: force).  Returns bytes. */
size_t mm_huge_cache_purge(bool force);
uint64_t mm_huge_cache_due(void);         /* the oldest is due then; 0: empty */

/* The heap report's figures (written under the huge lock or atomically). */
typedef struct mm_huge_counters_s {
  _Atomic(uint64_t) count;                /* live huge blocks */
  _Atomic(uint64_t) bytes;                /* their usable bytes */
  _Atomic(uint64_t) requests;
  _Atomic(uint64_t) frees;
  _Atomic(uint64_t) cached_bytes;         /* in the cache */
} mm_huge_counters_t;
extern mm_huge_counters_t mm_huge_counters;

void mm_huge_fork_prepare(void);
void mm_huge_fork_parent(void);
void mm_huge_fork_child(void);

#pragma GCC visibility pop

#endif
