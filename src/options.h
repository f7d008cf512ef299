/*
 * options.h -- the one table of run-time options (options.c), read from
 * MYMALLOC_<NAME> by the library constructor.
 */
#ifndef MM_OPTIONS_H
#define MM_OPTIONS_H

#include "internal.h"

#pragma GCC visibility push(hidden)

typedef enum mm_option_e {
  MM_OPT_STATS,            /* 0 off, 1 text, 2 json at exit */
  MM_OPT_VERBOSE,
  MM_OPT_SBRK,             /* use sbrk for segments */
  MM_OPT_PURGE_DELAY_MS,   /* delay before free memory is given back */
  MM_OPT_HUGE_CACHE_MB,    /* bound of the huge block cache */
  MM_OPT_HUGE_DECAY_MS,    /* cached huge blocks live this long */
  MM_OPT_SEGMENT_POOL,     /* free segments kept resident */
  MM_OPT_CHECK,            /* 1: MYMALLOC_CHECK=full */
  MM_OPT_PROFILE_RATE,     /* mean bytes between heap profile samples */
  MM_OPT_PROFILE_AT_EXIT,  /* write the last heap profile at exit */
  MM_OPT_PROFILE_SEED,     /* the sampler's seed (0: random) */
  MM_OPT_PROFILE_MAX_MB,   /* bound of the profiler's own memory */
  MM_OPT_COUNT
} mm_option_t;
extern long mm_options[MM_OPT_COUNT];
void mm_options_init(void);       /* the defaults (before the environment) */
void mm_options_read_env(void);
/* For the options that are not numbers (prof.c's strings): the
 * environment as the table reads it (secure_getenv), and the one warning
 * line "mymalloc: warning: ignoring NAME=VALUE: WHY". */
const char *mm_options_getenv(const char *name);
void mm_options_warn(const char *name, const char *value, const char *why);
mm_inline long mm_option(mm_option_t o) { return mm_options[o]; }

#pragma GCC visibility pop

#endif
