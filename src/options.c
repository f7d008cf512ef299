/*
 * options.c -- the one table of run-time options.
 *
 * Each option is read once, from MYMALLOC_<NAME> in the environment, by
 * the library constructor (calls before it use the defaults).  secure_getenv
 * is used, so a setuid program ignores them.  A malformed or out-of-range
 * value gets one warning line on stderr, naming what the option does and
 * the values it accepts, and the default.
 */
#include "options.h"
#include "format.h"
#include "os.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

typedef enum { OPT_BOOL, OPT_NUM, OPT_SIZE, OPT_STATS, OPT_CHECK } opt_kind_t;

typedef struct {
  const char *name;       /* environment variable */
  opt_kind_t kind;
  long def, min, max;
  const char *help;
} opt_desc_t;

static const opt_desc_t mm_option_desc[MM_OPT_COUNT] = {
  [MM_OPT_STATS]          = { "MYMALLOC_STATS", OPT_STATS, 0, 0, 2,
                              "print the heap report at exit" },
  [MM_OPT_VERBOSE]        = { "MYMALLOC_VERBOSE", OPT_BOOL, 0, 0, 1,
                              "say on stderr which options were chosen" },
  [MM_OPT_SBRK]           = { "MYMALLOC_SBRK", OPT_BOOL, 1, 0, 1,
                              "take segments from sbrk, else from mmap only" },
  [MM_OPT_PURGE_DELAY_MS] = { "MYMALLOC_PURGE_DELAY_MS", OPT_NUM, 250, 0, 3600000,
                              "free segments are given back after this many ms" },
  [MM_OPT_HUGE_CACHE_MB]  = { "MYMALLOC_HUGE_CACHE_MB", OPT_NUM, 128, 0, 1 << 20,
                              "MiB of freed huge blocks kept for reuse, at most" },
  [MM_OPT_HUGE_DECAY_MS]  = { "MYMALLOC_HUGE_DECAY_MS", OPT_NUM, 1000, 0, 3600000,
                              "freed huge blocks are unmapped after this many ms" },
  [MM_OPT_SEGMENT_POOL]   = { "MYMALLOC_SEGMENT_POOL", OPT_NUM, 4, 0, 4096,
                              "free 4 MiB segments kept resident, at most" },
  [MM_OPT_CHECK]          = { "MYMALLOC_CHECK", OPT_CHECK, 0, 0, 1,
                              "fill freed blocks and check them, canaries after blocks" },
  [MM_OPT_PROFILE_RATE]   = { "MYMALLOC_PROFILE_RATE", OPT_SIZE, 524288, 1, 1L << 40,
                              "mean bytes allocated between heap profile samples" },
  [MM_OPT_PROFILE_AT_EXIT] = { "MYMALLOC_PROFILE_AT_EXIT", OPT_BOOL, 1, 0, 1,
                              "write a heap profile at exit" },
  [MM_OPT_PROFILE_SEED]   = { "MYMALLOC_PROFILE_SEED", OPT_NUM, 0, 0, LONG_MAX,
                              "seed of the heap profile sampler, 0 for a random one" },
  [MM_OPT_PROFILE_MAX_MB] = { "MYMALLOC_PROFILE_MAX_MB", OPT_NUM, 256, 2, 1 << 20,
                              "MiB the heap profiler may use for its tables, at most" },
};

long mm_options[MM_OPT_COUNT];

static bool parse_long(const char *v, long *out) {
  if (!*v) return false;
  long r = 0;
  for (; *v; v++) {
    if (*v < '0' || *v > '9' || r > (LONG_MAX - 9) / 10) return false;
    r = r * 10 + (*v - '0');
  }
  *out = r;
  return true;
}

/* A number of bytes, with an optional k, m or g (powers of 1024). */
static bool parse_size(const char *v, long *out) {
  char num[32];
  size_t n = strlen(v);
  if (n == 0 || n >= sizeof(num)) return false;
  int shift = 0;
  switch (v[n - 1]) {
  case 'k': case 'K': shift = 10; break;
  case 'm': case 'M': shift = 20; break;
  case 'g': case 'G': shift = 30; break;
  default: break;
  }
  if (shift) n--;
  memcpy(num, v, n);
  num[n] = 0;
  if (!parse_long(num, out) || *out > (LONG_MAX >> shift)) return false;
  *out <<= shift;
  return true;
}

static bool parse(const opt_desc_t *d, const char *v, long *out) {
  if (d->kind == OPT_STATS) {
    if (!strcmp(v, "json")) { *out = 2; return true; }
    if (!strcmp(v, "text")) { *out = 1; return true; }
  }
  if (d->kind == OPT_CHECK && !strcmp(v, "full")) { *out = 1; return true; }
  if (d->kind == OPT_BOOL || d->kind == OPT_STATS || d->kind == OPT_CHECK) {
    static const char *const on[] = { "1", "yes", "on", "true", "YES", "ON", "TRUE" };
    static const char *const off[] = { "0", "no", "off", "false", "NO", "OFF", "FALSE" };
    for (size_t i = 0; i < sizeof(on) / sizeof(on[0]); i++) {
      if (!strcmp(v, on[i])) { *out = 1; return true; }
      if (!strcmp(v, off[i])) { *out = 0; return true; }
    }
    return false;
  }
  if (d->kind == OPT_SIZE) return parse_size(v, out) && *out >= d->min && *out <= d->max;
  return parse_long(v, out) && *out >= d->min && *out <= d->max;
}

/* The values an option accepts, for the warning. */
static void expected(mm_buf_t *b, const opt_desc_t *d) {
  switch (d->kind) {
  case OPT_STATS: mm_buf_str(b, "0, 1, text or json"); return;
  case OPT_CHECK: mm_buf_str(b, "0, 1 or full"); return;
  case OPT_BOOL: mm_buf_str(b, "0 or 1"); return;
  case OPT_SIZE: mm_buf_str(b, "bytes (k, m, g: KiB, MiB, GiB) from "); break;
  case OPT_NUM: mm_buf_str(b, "a decimal number from "); break;
  }
  mm_buf_u64(b, (uint64_t)d->min);
  mm_buf_str(b, " to ");
  mm_buf_u64(b, (uint64_t)d->max);
}

void mm_options_init(void) {
  static bool done;
  if (!done) {
    for (int i = 0; i < MM_OPT_COUNT; i++) mm_options[i] = mm_option_desc[i].def;
    done = true;
  }
}

const char *mm_options_getenv(const char *name) {
#ifdef HAVE_SECURE_GETENV
  return secure_getenv(name);
#else
  return getenv(name);
#endif
}

void mm_options_warn(const char *name, const char *value, const char *why) {
  char buf[1400];
  mm_buf_t b = { buf, 0, sizeof(buf), 2, 0 };
  mm_buf_str(&b, "mymalloc: warning: ignoring ");
  mm_buf_str(&b, name);
  mm_buf_str(&b, "=");
  mm_buf_str(&b, value);
  mm_buf_str(&b, ": ");
  mm_buf_str(&b, why);
  mm_buf_str(&b, "\n");
  mm_buf_flush(&b);
}

/* Read the environment (constructor time). */
void mm_options_read_env(void) {
  mm_options_init();
  for (int i = 0; i < MM_OPT_COUNT; i++) {
    const opt_desc_t *d = &mm_option_desc[i];
    const char *v = mm_options_getenv(d->name);
    if (!v) continue;
    long val;
    if (parse(d, v, &val)) {
      mm_options[i] = val;
    } else {
      char buf[256];
      mm_buf_t b = { buf, 0, sizeof(buf), 2, 0 };
      mm_buf_str(&b, "mymalloc: warning: ignoring ");
      mm_buf_str(&b, d->name);
      mm_buf_str(&b, "=");
      mm_buf_str(&b, v);
      mm_buf_str(&b, " (");
      mm_buf_str(&b, d->help);
      mm_buf_str(&b, "): expected ");
      expected(&b, d);
      mm_buf_str(&b, "; using the default ");
      mm_buf_u64(&b, (uint64_t)d->def);
      mm_buf_str(&b, "\n");
      mm_buf_flush(&b);
    }
  }
  if (mm_options[MM_OPT_VERBOSE]) {
    char buf[1024];
    mm_buf_t b = { buf, 0, sizeof(buf), 2, 0 };
    mm_buf_str(&b, "mymalloc: " PACKAGE_VERSION " options:");
    for (int i = 0; i < MM_OPT_COUNT; i++) {
      mm_buf_str(&b, " ");
      mm_buf_str(&b, mm_option_desc[i].name + 9);
      mm_buf_str(&b, "=");
      mm_buf_u64(&b, (uint64_t)mm_options[i]);
    }
    mm_buf_str(&b, "; page size ");
    mm_buf_u64(&b, mm_os_page);
    mm_buf_str(&b, "\n");
    mm_buf_flush(&b);
  }
}
