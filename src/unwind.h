/*
 * unwind.h -- the call stack, as return addresses (unwind.c), for the
 * heap profiler.
 */
#ifndef MM_UNWIND_H
#define MM_UNWIND_H

#include "internal.h"

#pragma GCC visibility push(hidden)

/* Prepare the unwinder while allocating is still allowed (its first
 * use may allocate, in a static program): the bytes of its own cache,
 * mapped from the OS layer (0 where there is none). */
size_t mm_unwind_init(void);

/* The return addresses of the caller's stack, innermost first: ips[0]
 * is in the caller of mm_unwind.  At most max; returns how many. */
unsigned mm_unwind(uintptr_t *ips, unsigned max);

/* The same through libgcc's _Unwind_Backtrace only (what mm_unwind falls
 * back to on a frame its cache does not describe; for the tests). */
unsigned mm_unwind_libgcc(uintptr_t *ips, unsigned max);

/* fork(): the unwinder's locks (and libgcc's, behind them) stay free in
 * the child.  Called by prof.c's handlers, in the lock order there. */
void mm_unwind_fork_prepare(void);
void mm_unwind_fork_parent(void);
void mm_unwind_fork_child(void);

/* Its counters, for the tests and the heap report. */
typedef struct mm_unwind_info_s {
  uint64_t fast, fallback;                /* stacks by the cache, by libgcc */
  uint64_t misses;                        /* rules read from the CFI */
  uint64_t flushes;                       /* cache emptied: a library was unloaded */
} mm_unwind_info_t;
void mm_unwind_info(mm_unwind_info_t *info);

#pragma GCC visibility pop

#endif
