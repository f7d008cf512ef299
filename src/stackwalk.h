/*
 * stackwalk.h -- the call stack, as return addresses (stackwalk.c), for the
 * heap profiler.
 */
#ifndef MM_STACKWALK_H
#define MM_STACKWALK_H

#include "internal.h"

#pragma GCC visibility push(hidden)

/* Prepare the unwinder while allocating is still allowed (its first
 * use may allocate, in a static program): the bytes of its own cache,
 * mapped from the OS layer (0 where there is none). */
size_t mm_unwind_init(void);

/* The return addresses of the caller's stack, innermost first: ips[0]
 * is in the caller of mm_unwind.  At most max; returns how many. */
unsigned mm_unwind(uintptr_t *ips, unsigned max);

/* The same from the registers that MM_UNWIND_REGS took in the calling
 * function (one frame less to walk): ips[0] is that function's return
 * address (or, when libgcc walks, in mm_unwind_from itself). */
unsigned mm_unwind_from(uintptr_t pc, uintptr_t sp, uintptr_t bp, uintptr_t *ips, unsigned max);
#if defined(__x86_64__)
/* (rbp first: the compiler may give an output rbp, which it saved) */
#define MM_UNWIND_REGS(pc, sp, bp) \
  __asm__ volatile("movq %%rbp, %2\n\tmovq %%rsp, %1\n\tleaq 0(%%rip), %0" : "=&r"(pc), "=&r"(sp), "=&r"(bp))
#else
#define MM_UNWIND_REGS(pc, sp, bp) ((pc) = (sp) = (bp) = 0)
#endif

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
  uint64_t checks;                        /* glibc asked about unloads */
} mm_unwind_info_t;
void mm_unwind_info(mm_unwind_info_t *info);

#ifdef MM_TEST_SEAMS
/* From now on no object is taken as never unloaded (the cache empties). */
void mm_unwind_test_nothing_lasts(void);
#endif

#pragma GCC visibility pop

#endif
