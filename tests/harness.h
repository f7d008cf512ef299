/*
 * harness.h -- the tests' tiny harness: CHECK(expr) counts and reports,
 * test_done() prints "N passed, N failed" and gives the exit status that
 * automake expects (0 pass, 1 fail, 77 skip).
 */
#ifndef MM_TEST_HARNESS_H
#define MM_TEST_HARNESS_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static inline void th_fill(void *p, size_t n, unsigned seed) {
  unsigned char *c = p;
  for (size_t i = 0; i < n; i++) c[i] = (unsigned char)(seed + i * 7);
}
static inline int th_verify(const void *p, size_t n, unsigned seed) {
  const unsigned char *c = p;
  for (size_t i = 0; i < n; i++)
    if (c[i] != (unsigned char)(seed + i * 7)) return 0;
  return 1;
}

/* Time scale: MYMALLOC_TEST_LONG=1 runs the long (stress) modes. */
static inline int th_long(void) {
  const char *v = getenv("MYMALLOC_TEST_LONG");
  return v && *v && *v != '0';
}

static inline int test_done(const char *name) {
  printf("%s: %d passed, %d failed\n", name, th_pass, th_fail);
  return th_fail ? 1 : 0;
}

#endif
