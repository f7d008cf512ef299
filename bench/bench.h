/*
 * bench.h -- what every workload of bench/ shares: a fast random number
 * generator, a clock, argument parsing and the one-line report.
 *
 * The workloads are plain C with no link to mymalloc: the runner
 * (bench/run) chooses the allocator by LD_PRELOAD.  Each program takes its
 * size parameters as NAME=VALUE arguments (defaults are calibrated so that
 * a run takes about a second under glibc on the reference machine) and
 * ends with one line on stdout:
 *
 *     <name>: ops=<operations> threads=<n> seconds=<wall> check=<hash>
 *
 * where ops counts allocator calls (malloc, free, realloc: one each) and
 * check is a value computed from the memory written, so the compiler
 * cannot drop the work.
 */
#ifndef BENCH_H
#define BENCH_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- random numbers: xorshift64*, one state per thread ------------------ */
typedef struct { uint64_t s; } bench_rng_t;

static inline void bench_rng_seed(bench_rng_t *r, uint64_t seed) {
  /* splitmix64 of the seed, never 0 */
  uint64_t z = seed + 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  r->s = z ? z : 1;
}

static inline uint64_t bench_rand(bench_rng_t *r) {
  uint64_t x = r->s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  r->s = x;
  return x * 0x2545f4914f6cdd1dull;
}

/* Uniform in [lo, hi]. */
static inline size_t bench_uniform(bench_rng_t *r, size_t lo, size_t hi) {
  return lo + (size_t)((bench_rand(r) >> 11) % (uint64_t)(hi - lo + 1));
}

/* Log-uniform in [lo, hi]: as many blocks between 16 and 32 bytes as
 * between 16 KiB and 32 KiB, the shape real programs show. */
static inline size_t bench_loguniform(bench_rng_t *r, size_t lo, size_t hi) {
  unsigned elo = 63u - (unsigned)__builtin_clzll(lo);
  unsigned ehi = 63u - (unsigned)__builtin_clzll(hi);
  for (;;) {
    unsigned e = elo + (unsigned)(bench_rand(r) % (ehi - elo + 1));
    size_t base = (size_t)1 << e;
    size_t n = base + (size_t)((bench_rand(r) >> 11) % base);
    if (n >= lo && n <= hi) return n;
  }
}

/* ---- time ----------------------------------------------------------------- */
static inline double bench_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- arguments: NAME=VALUE ---------------------------------------------------- */
typedef struct {
  const char *name;
  long *value;
  const char *help;
} bench_param_t;

static void bench_usage(const char *prog, const char *what, const bench_param_t *ps) {
  fprintf(stderr, "usage: %s [NAME=VALUE]...\n%s\nparameters (default):\n", prog, what);
  for (const bench_param_t *p = ps; p->name; p++)
    fprintf(stderr, "  %-10s %-12ld %s\n", p->name, *p->value, p->help);
  exit(2);
}

/* Parse argv against ps (NULL-terminated); exits with a usage on error.
 * "scale=F" (a float) multiplies every parameter marked with a leading
 * '*' in its help text (the amounts of work), for --quick runs. */
static void bench_args(int argc, char **argv, const char *what, bench_param_t *ps) {
  double scale = 1.0;
  for (int i = 1; i < argc; i++) {
    const char *eq = strchr(argv[i], '=');
    if (!eq) bench_usage(argv[0], what, ps);
    size_t len = (size_t)(eq - argv[i]);
    if (len == 5 && strncmp(argv[i], "scale", 5) == 0) {
      scale = strtod(eq + 1, NULL);
      if (scale <= 0) bench_usage(argv[0], what, ps);
      continue;
    }
    bench_param_t *p = ps;
    for (; p->name; p++)
      if (strlen(p->name) == len && strncmp(p->name, argv[i], len) == 0) break;
    if (!p->name) bench_usage(argv[0], what, ps);
    char *end;
    *p->value = strtol(eq + 1, &end, 0);
    if (*end == 'k' || *end == 'K') *p->value <<= 10;
    else if (*end == 'm' || *end == 'M') *p->value <<= 20;
  }
  for (bench_param_t *p = ps; p->name; p++) {
    if (p->help[0] == '*' && scale != 1.0) {
      long v = (long)((double)*p->value * scale);
      *p->value = v < 1 ? 1 : v;
    }
  }
}

static inline void bench_report(const char *name, uint64_t ops, long threads, double secs,
                                 uint64_t check) {
  printf("%s: ops=%llu threads=%ld seconds=%.4f mops_per_s=%.2f check=%llx\n", name,
         (unsigned long long)ops, threads, secs, secs > 0 ? (double)ops / secs / 1e6 : 0.0,
         (unsigned long long)check);
  fflush(stdout);
}

static inline void *bench_xmalloc(size_t n) {
  void *p = malloc(n);
  if (!p) {
    fprintf(stderr, "out of memory (%zu bytes)\n", n);
    exit(1);
  }
  return p;
}

#define BENCH_CACHE_LINE 64

/* Run fn on each of the n items (each `size` bytes, from `items`) in its
 * own thread and wait for them all; with n == 1, in the calling thread. */
#include <pthread.h>
static inline void bench_parallel(long n, void *(*fn)(void *), void *items, size_t size) {
  if (n == 1) {
    fn(items);
    return;
  }
  pthread_t *t = bench_xmalloc(sizeof(pthread_t) * (size_t)n);
  for (long i = 0; i < n; i++) {
    if (pthread_create(&t[i], NULL, fn, (char *)items + (size_t)i * size) != 0) {
      fprintf(stderr, "pthread_create failed\n");
      exit(1);
    }
  }
  for (long i = 0; i < n; i++) pthread_join(t[i], NULL);
  free(t);
}

#endif /* BENCH_H */
