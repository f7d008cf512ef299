/*
 * prof.h -- sampled heap profiling (prof.c), as the API floor's alloc.c,
 * free.c and stats.c use it.
 */
#ifndef MM_PROF_H
#define MM_PROF_H

#include "internal.h"
#include "stackwalk.h"

#pragma GCC visibility push(hidden)

#define MM_PROF_DEPTH 64                  /* frames kept per sample */
#define MM_PROF_RAW (MM_PROF_DEPTH + 16)  /* .. and walked, with ours */

extern bool mm_prof_on;                   /* MYMALLOC_PROFILE is set */
/* The heap whose pages hold the sampled blocks (under the profiler's
 * lock): free() recognises a sample by its page's owner.  Never NULL (a
 * dummy that owns nothing while no sample was taken). */
extern mm_heap_t *mm_prof_heap;

/* Set the countdowns of a new heap (profiling on). */
void mm_prof_arm(mm_heap_t *h);
/* Fast slot i of h borrowed: count what it served, draw its next count. */
void mm_prof_rearm_slot(mm_heap_t *h, size_t i);
/* The slow paths' byte countdown ran out: draw the next. */
void mm_prof_rearm_bytes(mm_heap_t *h);

/* Is this thread inside the profiler (its mallocs are not sampled)? */
bool mm_prof_busy(void);
/* The stack of the program's call into the API, walked from the calling
 * function (one of ours, MM_API_TEXT): return addresses, innermost
 * first, into frames[MM_PROF_RAW]; the program's start at frames[first]
 * (our own frames and operator new's skipped); depth: how many of those
 * (at most MM_PROF_DEPTH). */
#define MM_PROF_BACKTRACE(frames, first, depth) \
  do { \
    uintptr_t pc_, sp_, bp_; \
    MM_UNWIND_REGS(pc_, sp_, bp_); \
    (depth) = mm_prof_walk(pc_, sp_, bp_, (frames), &(first)); \
  } while (0)
unsigned mm_prof_walk(uintptr_t pc, uintptr_t sp, uintptr_t bp, uintptr_t *frames, unsigned *first);

/* The lock of the sampled blocks, their heap and the tables: returns the
 * heap (made on first use), or NULL (and unlocked) when none can be made. */
mm_heap_t *mm_prof_lock(void);
void mm_prof_unlock(void);
/* Under the lock: p (size bytes), allocated by heap h, sampled with this
 * stack; p is freed: the heap that allocated it (NULL: not recorded). */
void mm_prof_record(void *p, size_t size, mm_heap_t *h, const uintptr_t *frames, unsigned depth);
mm_heap_t *mm_prof_forget(void *p);
/* A huge sample resized by a realloc that keeps its pages: its record
 * held out of the table meanwhile, then placed at the block's address. */
typedef struct mm_prof_held_s {
  void *stack;
  uint64_t size;
  mm_heap_t *heap;
} mm_prof_held_t;
bool mm_prof_hold(void *p, mm_prof_held_t *held);
bool mm_prof_place(void *q, size_t size, const mm_prof_held_t *held);

/* For the heap report. */
typedef struct mm_prof_info_s {
  uint64_t rate;                          /* mean bytes between samples */
  uint64_t live, live_bytes;              /* samples in use */
  uint64_t stacks;                        /* distinct stacks */
  uint64_t table_bytes, limit_bytes;      /* the profiler's own memory */
  uint64_t dropped;                       /* samples not taken (limit) */
} mm_prof_info_t;
void mm_prof_info(mm_prof_info_t *info);

/* mymalloc_profile_dump() */
int mm_profile_dump(const char *path);

#pragma GCC visibility pop

#endif
