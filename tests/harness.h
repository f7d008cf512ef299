/*
 * harness.h -- the tests' tiny harness: CHECK(expr) counts and reports,
 * test_done() prints "N passed, N failed" and gives the exit status that
 * automake expects (0 pass, 1 fail); th_skip*() say why a test cannot run
 * here and exit 77 (skip).  Also usable from C++.
 */
#ifndef MM_TEST_HARNESS_H
#define MM_TEST_HARNESS_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* xorshift64*: the tests' random numbers (seeded, repeatable) */
static inline uint64_t th_rng(uint64_t *s) {
  uint64_t x = *s;
  x ^= x >> 12; x ^= x << 25; x ^= x >> 27;
  *s = x;
  return x * 0x2545f4914f6cdd1dULL;
}

/* resident memory of this process, from /proc/self/statm */
static inline size_t th_rss_bytes(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  if (!f) return 0;
  unsigned long size = 0, res = 0;
  if (fscanf(f, "%lu %lu", &size, &res) != 2) res = 0;
  fclose(f);
  return (size_t)res * (size_t)sysconf(_SC_PAGESIZE);
}

/* address space of this process (VmSize of /proc/self/status) */
static inline size_t th_vmsize_bytes(void) {
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) return 0;
  char line[256];
  size_t kb = 0;
  while (fgets(line, sizeof(line), f))
    if (sscanf(line, "VmSize: %zu kB", &kb) == 1) break;
  fclose(f);
  return kb << 10;
}

static int th_pass, th_fail;

#define CHECK(expr) \
  do { \
    if (expr) th_pass++; \
    else { th_fail++; fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #expr); } \
  } while (0)

#define CHECKF(expr, ...) \
  do { \
    if (expr) th_pass++; \
    else { th_fail++; fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #expr); \
           fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } \
  } while (0)

/* keep the compiler from removing malloc/free pairs */
static void *volatile th_sink;
static volatile size_t th_zero = 0;

static inline int aligned16(const void *p) { return ((uintptr_t)p & 15) == 0; }
static inline int aligned_to(const void *p, size_t a) { return ((uintptr_t)p & (a - 1)) == 0; }

static inline void th_fill(void *p, size_t n, unsigned seed) {
  unsigned char *c = (unsigned char *)p;
  for (size_t i = 0; i < n; i++) c[i] = (unsigned char)(seed + i * 7);
}
static inline int th_verify(const void *p, size_t n, unsigned seed) {
  const unsigned char *c = (const unsigned char *)p;
  for (size_t i = 0; i < n; i++)
    if (c[i] != (unsigned char)(seed + i * 7)) return 0;
  return 1;
}

/* Fast fill/verify for big blocks: a stream of 64-bit words (the last
 * one cut short).  The pattern depends on the seed and on the offset, so a
 * block moved, shifted or overwritten by another block is caught; any
 * prefix of a filled block verifies (realloc keeps a prefix). */
static inline uint64_t th_word(uint64_t seed, size_t i) {
  uint64_t x = seed * 0x9e3779b97f4a7c15ULL + i * 0xbf58476d1ce4e5b9ULL + 1;
  return x ^ (x >> 29);
}
static inline void th_fillw(void *p, size_t n, uint64_t seed) {
  unsigned char *c = (unsigned char *)p;
  size_t w = n / 8;
  for (size_t i = 0; i < w; i++) {
    uint64_t v = th_word(seed, i);
    memcpy(c + i * 8, &v, 8);
  }
  if (n % 8) {
    uint64_t v = th_word(seed, w);
    memcpy(c + w * 8, &v, n % 8);
  }
}
static inline int th_verifyw(const void *p, size_t n, uint64_t seed) {
  const unsigned char *c = (const unsigned char *)p;
  size_t w = n / 8;
  for (size_t i = 0; i < w; i++) {
    uint64_t v;
    memcpy(&v, c + i * 8, 8);
    if (v != th_word(seed, i)) return 0;
  }
  if (n % 8) {
    uint64_t v = th_word(seed, w);
    if (memcmp(c + w * 8, &v, n % 8) != 0) return 0;
  }
  return 1;
}

/* Time scale: MYMALLOC_TEST_LONG=1 runs the long (stress) modes. */
static inline int th_long(void) {
  const char *v = getenv("MYMALLOC_TEST_LONG");
  return v && *v && *v != '0';
}

/* Running under valgrind (which replaces malloc, so misuse and
 * resource-limit tests mean nothing there). */
static inline int th_under_valgrind(void) {
  const char *v = getenv("MYMALLOC_UNDER_VALGRIND");
  if (v && *v && *v != '0') return 1;
  const char *pre = getenv("LD_PRELOAD");
  return pre && strstr(pre, "vgpreload") != NULL;
}

/* Running under qemu-user (a cross-built test, .ci/stage-arm64): told by
 * $MYMALLOC_TEST_RUNNER, which names the emulator for th_execv.  qemu
 * maps the guest low, ignores RLIMIT_AS, emulates brk in a small region
 * of its own (no [heap] mapping), counts its own memory in the guest's
 * resident size, and runs host programs natively. */
/* The allocator was told to take no memory from sbrk (MYMALLOC_SBRK=0). */
static inline int th_sbrk_disabled(void) {
  const char *v = getenv("MYMALLOC_SBRK");
  return v && !strcmp(v, "0");
}

static inline int th_under_qemu(void) {
  const char *v = getenv("MYMALLOC_TEST_RUNNER");
  return v && strstr(v, "qemu") != NULL;
}

/* qemu-user adds a line of its own on stderr when the guest dies by a
 * signal ("qemu: uncaught target signal 6 ..."): not the test's; this drops
 * those lines from a child's captured stderr (out, len bytes, with room for
 * a NUL) and returns the new length. */
static inline size_t th_drop_qemu_lines(char *out, size_t len) {
  if (!th_under_qemu()) return len;
  size_t w = 0;
  for (size_t i = 0; i < len;) {
    size_t e = i;
    while (e < len && out[e] != '\n') e++;
    if (e < len) e++;
    if (strncmp(out + i, "qemu:", 5) != 0) { memmove(out + w, out + i, e - i); w += e - i; }
    i = e;
  }
  out[w] = 0;
  return w;
}

/* Built with ThreadSanitizer or AddressSanitizer (which bring their own
 * malloc: only the prefixed API is ours there). */
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TH_TSAN 1
#endif
#if __has_feature(address_sanitizer)
#define TH_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__) && !defined(TH_TSAN)
#define TH_TSAN 1
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(TH_ASAN)
#define TH_ASAN 1
#endif
static inline int th_under_tsan(void) {
#ifdef TH_TSAN
  return 1;
#else
  return 0;
#endif
}
static inline int th_under_asan(void) {
#ifdef TH_ASAN
  return 1;
#else
  return 0;
#endif
}

/* Run a program in place of this process: path, with argv (argv[0] the
 * program's name as it was run: a test re-executing itself passes
 * "/proc/self/exe" or argv[0] as path, its own argv[0] as argv[0]).
 * Through $MYMALLOC_TEST_RUNNER when it is set (an emulator and its
 * arguments, split on spaces, e.g. "qemu-aarch64-static -L
 * /usr/aarch64-linux-gnu": a cross-built test under qemu-user, which the
 * kernel cannot start without binfmt), which runs argv[0].  Returns only
 * if the exec failed. */
static inline void th_execv(const char *path, char *const argv[]) {
  const char *runner = getenv("MYMALLOC_TEST_RUNNER");
  if (!runner || !*runner) { execv(path, argv); return; }
  char buf[512], *args[64];
  int n = 0;
  snprintf(buf, sizeof(buf), "%s", runner);
  for (char *w = strtok(buf, " "); w && n < 48; w = strtok(NULL, " ")) args[n++] = w;
  args[n++] = argv[0];
  for (int i = 1; argv[i] && n < 63; i++) args[n++] = argv[i];
  args[n] = NULL;
  execvp(args[0], args);
}

/* A test that cannot run here says why and exits 77 (automake: SKIP). */
static inline void th_skip(const char *name, const char *why) {
  printf("%s: SKIP: %s\n%s: 0 passed, 0 failed\n", name, why, name);
  fflush(stdout);
  exit(77);
}
static inline void th_skip_under_valgrind(const char *name, const char *why) {
  if (th_under_valgrind()) th_skip(name, why);
}
static inline void th_skip_under_tsan(const char *name, const char *why) {
  if (th_under_tsan()) th_skip(name, why);
}
static inline void th_skip_under_qemu(const char *name, const char *why) {
  if (th_under_qemu()) th_skip(name, why);
}

static inline int test_done(const char *name) {
  printf("%s: %d passed, %d failed\n", name, th_pass, th_fail);
  return th_fail ? 1 : 0;
}

#endif
