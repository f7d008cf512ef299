/* test1 -- single-thread behaviour: sizes 0 to a few MiB, contents,
 * alignment, reuse, calloc zeroing (also of reused memory), realloc. */
#include "harness.h"
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <unistd.h>

static const size_t sizes[] = {
  0, 1, 7, 8, 15, 16, 17, 24, 31, 32, 33, 48, 64, 100, 127, 128, 129, 160, 200,
  255, 256, 257, 500, 1000, 1023, 1024, 1025, 2000, 4095, 4096, 4097, 8191, 8192,
  8193, 10000, 16384, 30000, 65535, 65536, 65537, 100000, 131072, 200000,
  1 << 20, (1 << 20) + 1, 3 << 20, 5 << 20,
};
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

int main(void) {
  void *p[NSIZES];

  /* every size: aligned, usable >= size, contents survive other allocations */
  for (size_t i = 0; i < NSIZES; i++) {
    p[i] = malloc(sizes[i]);
    CHECKF(p[i] != NULL, "malloc(%zu)", sizes[i]);
    CHECKF(aligned16(p[i]), "malloc(%zu) = %p", sizes[i], p[i]);
    CHECK(malloc_usable_size(p[i]) >= sizes[i]);
    th_fill(p[i], sizes[i], (unsigned)i);
  }
  for (size_t i = 0; i < NSIZES; i++) CHECKF(th_verify(p[i], sizes[i], (unsigned)i), "contents of %zu", sizes[i]);
  /* the whole usable size may be written */
  for (size_t i = 0; i < NSIZES; i++) memset(p[i], 0xab, malloc_usable_size(p[i]));
  for (size_t i = 0; i < NSIZES; i++) free(p[i]);

  /* malloc(0) gives distinct, freeable pointers */
  void *z1 = malloc(th_zero), *z2 = malloc(th_zero);
  CHECK(z1 && z2 && z1 != z2);
  free(z1);
  free(z2);

  /* a freed block is reused (LIFO for the same class; a profiling sample
   * comes from the profiler's own heap: not with MYMALLOC_PROFILE) */
  void *a = malloc(40);
  free(a);
  void *b = malloc(40);
  CHECK(a == b || getenv("MYMALLOC_PROFILE"));
  free(b);

  /* many blocks of one class: distinct, reused after free */
  enum { N = 20000 };
  static void *v[N];
  for (int i = 0; i < N; i++) { v[i] = malloc(24); th_fill(v[i], 24, (unsigned)i); }
  int ok = 1;
  for (int i = 0; i < N; i++) ok &= th_verify(v[i], 24, (unsigned)i);
  CHECK(ok);
  for (int i = 0; i < N; i += 2) free(v[i]);
  for (int i = 0; i < N; i += 2) { v[i] = malloc(24); th_fill(v[i], 24, (unsigned)i); }
  ok = 1;
  for (int i = 0; i < N; i++) ok &= th_verify(v[i], 24, (unsigned)i);
  CHECK(ok);
  for (int i = 0; i < N; i++) free(v[i]);

  /* calloc zeroes, also reused dirty memory, small and large */
  for (size_t i = 0; i < NSIZES; i++) {
    void *d = malloc(sizes[i]);
    memset(d, 0x5a, sizes[i]);
    free(d);
    unsigned char *c = calloc(1, sizes[i]);
    CHECK(c != NULL && aligned16(c));
    size_t nz = 0;
    for (size_t k = 0; k < sizes[i]; k++) nz += c[k] != 0;
    CHECKF(nz == 0, "calloc(%zu) has %zu non-zero bytes", sizes[i], nz);
    free(c);
  }
  /* calloc overflow */
  errno = 0;
  volatile size_t big = SIZE_MAX / 2 + 2;
  CHECK(calloc(big, 2) == NULL && errno == ENOMEM);

  /* realloc grows and shrinks keeping contents */
  size_t cur = 1;
  unsigned char *r = malloc(cur);
  r[0] = 0;
  for (size_t n = 2; n < (8u << 20); n = n * 3 / 2 + 1) {
    unsigned char *q = realloc(r, n);
    CHECK(q != NULL && aligned16(q));
    if (!q) break;
    r = q;
    int good = 1;
    for (size_t k = 0; k < cur; k++) good &= r[k] == (unsigned char)(k * 13);
    CHECKF(good, "realloc to %zu lost contents", n);
    for (size_t k = cur; k < n; k++) r[k] = (unsigned char)(k * 13);
    cur = n;
  }
  while (cur > 1) {
    size_t n = cur / 3;
    if (n == 0) n = 1;
    unsigned char *q = realloc(r, n);
    CHECK(q != NULL);
    r = q;
    int good = 1;
    for (size_t k = 0; k < n; k++) good &= r[k] == (unsigned char)(k * 13);
    CHECKF(good, "shrink to %zu lost contents", n);
    cur = n;
  }
  free(r);
  /* realloc within the class stays in place */
  void *s = malloc(100);
  size_t us = malloc_usable_size(s);
  void *s2 = realloc(s, us);
  CHECK(s2 == s);
  free(s2);
  /* realloc(NULL, n) is malloc; realloc(p, 0) frees and returns NULL */
  void *m = realloc(NULL, 10);
  CHECK(m != NULL);
  CHECK(realloc(m, 0) == NULL);

  /* out of memory: NULL and ENOMEM, never a crash */
  errno = 0;
  volatile size_t huge = SIZE_MAX;
  CHECK(malloc(huge) == NULL && errno == ENOMEM);
  errno = 0;
  huge = (size_t)PTRDIFF_MAX + 1;
  CHECK(malloc(huge) == NULL && errno == ENOMEM);
  void *keep = malloc(10);
  errno = 0;
  CHECK(realloc(keep, huge) == NULL && errno == ENOMEM);
  free(keep);

  /* free(NULL) does nothing and never changes errno */
  errno = 1234;
  free(NULL);
  CHECK(errno == 1234);
  void *e = malloc(1 << 22);
  errno = 4321;
  free(e);
  CHECK(errno == 4321);

  return test_done("test1");
}
