/*
 * prof.h -- sampled heap profiling (prof.c), as the API floor's alloc.c,
 * free.c and stats.c use it.
 */
#ifndef MM_PROF_H
#define MM_PROF_H

#include "internal.h"

#pragma GCC visibility push(hidden)

#define MM_PROF_DEPTH 64                  /* frames kept per sample */

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
/* The stack of the program's call into the API: return addresses,
 * innermost first, our own frames and libstdc++'s operator new skipped. */
unsigned mm_prof_backtrace(uintptr_t *frames);

/* The lock of the sampled blocks, their heap and the tables: returns the
 * heap (made on first use), or NULL (and unlocked) when none can be made. */
mm_heap_t *mm_prof_lock(void);
void mm_prof_unlock(void);
/* Under the lock: p (size bytes), allocated by heap h, sampled with this
 * stack; p is freed: the heap that allocated it (NULL: not recorded). */
void mm_prof_record(void *p, size_t size, mm_heap_t *h, const uintptr_t *frames, unsigned depth);
mm_heap_t *mm_prof_forget(void *p);

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
