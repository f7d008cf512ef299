/* test_api -- the edge cases of every function of the API (REFERENCE.md's
 * table), with glibc 2.36's semantics:
 *
 *   malloc, free, calloc, realloc, reallocarray: zero sizes, NULL,
 *     overflowing sizes (NULL + ENOMEM, the block untouched), errno left
 *     alone by free and by successful calls;
 *   posix_memalign: EINVAL for bad alignments with *memptr untouched,
 *     ENOMEM for impossible sizes; aligned_alloc (our documented choice:
 *     glibc 2.36's, i.e. memalign) and memalign: alignments below 16 raised,
 *     non powers of two rounded up, impossible ones EINVAL; every power of
 *     two from 16 to 8 MiB with several sizes: aligned, writable up to
 *     malloc_usable_size, freed by free, no overlap;
 *   valloc / pvalloc: page alignment, pvalloc rounding, overflow;
 *   malloc_usable_size, malloc_trim (returns 1 when it gave memory back,
 *     and resident memory goes down), mallopt, mallinfo2 / mallinfo
 *     (arena, hblks, hblkhd, uordblks), malloc_stats and
 *     mymalloc_stats_print, free_sized, free_aligned_sized, cfree, the
 *     __libc_* names, __posix_memalign, and the mymalloc_* twins.
 */
#include "config.h"
#include "harness.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <malloc.h>
#include <mymalloc/malloc.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

/* mallinfo() is deprecated in glibc's header; it is part of the API */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

static size_t page;

/* sizes and pointers through volatile, so gcc cannot see the misuse */
static volatile size_t v_size_max = SIZE_MAX;
static volatile size_t v_ptrdiff_max1 = (size_t)PTRDIFF_MAX + 1;
static volatile size_t v_half = SIZE_MAX / 2 + 2;      /* * 2 overflows */

static void *launder(void *p) {
  void *volatile v = p;
  return v;
}

static struct mallinfo2 mi(void) { return mallinfo2(); }


/* ---- malloc / free ------------------------------------------------------------ */
static void test_malloc_free(void) {
  void *a = malloc(th_zero), *b = malloc(th_zero);
  CHECK(a && b && a != b && aligned16(a) && aligned16(b));
  free(a);
  free(b);

  errno = 0;
  CHECK(malloc(v_size_max) == NULL && errno == ENOMEM);
  errno = 0;
  CHECK(malloc(v_ptrdiff_max1) == NULL && errno == ENOMEM);
  errno = 0;
  volatile size_t pm = PTRDIFF_MAX;
  CHECK(malloc(pm) == NULL && errno == ENOMEM);
  errno = 0;
  volatile size_t almost = SIZE_MAX - 4096;
  CHECK(malloc(almost) == NULL && errno == ENOMEM);
  errno = 0;
  volatile size_t t1 = (size_t)1 << 47;   /* more than the address space, no overflow */
  CHECK(malloc(t1) == NULL && errno == ENOMEM);

  /* errno untouched by successful calls and by free, on every path */
  static const size_t sizes[] = { 1, 100, 1024, 5000, 60000, 70000, 3 << 20 };
  for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
    errno = 4242;
    void *p = malloc(sizes[i]);
    CHECKF(p && errno == 4242, "malloc(%zu) changed errno to %d", sizes[i], errno);
    errno = 4343;
    free(p);
    CHECKF(errno == 4343, "free of a %zu block changed errno to %d", sizes[i], errno);
  }
  /* a block too big for the huge cache: free unmaps it */
  errno = 4444;
  void *big = malloc((size_t)200 << 20);
  CHECK(big != NULL && errno == 4444);
  errno = 4545;
  free(big);
  CHECK(errno == 4545);
  errno = 4646;
  free(NULL);
  CHECK(errno == 4646);
  /* free(NULL) through every free-like name */
  free_sized(NULL, 0);
  free_aligned_sized(NULL, 64, 0);
  mymalloc_free(NULL);
  CHECK(errno == 4646);
}

/* ---- calloc ---------------------------------------------------------------------- */
static void test_calloc(void) {
  errno = 0;
  CHECK(calloc(v_half, 2) == NULL && errno == ENOMEM);
  errno = 0;
  CHECK(calloc(2, v_half) == NULL && errno == ENOMEM);
  errno = 0;
  CHECK(calloc(v_size_max, v_size_max) == NULL && errno == ENOMEM);
  errno = 0;
  volatile size_t quarter = (size_t)PTRDIFF_MAX / 2 + 1;   /* no overflow, > PTRDIFF_MAX */
  CHECK(calloc(quarter, 2) == NULL && errno == ENOMEM);
  errno = 0;
  volatile size_t n2 = 65536 * 4;   /* 2^58 bytes: no overflow, no memory */
  CHECK(calloc(n2, (size_t)1 << 40) == NULL && errno == ENOMEM);

  void *z[3] = { calloc(0, 0), calloc(0, 16), calloc(16, th_zero) };
  for (int i = 0; i < 3; i++) CHECK(z[i] != NULL && aligned16(z[i]));
  CHECK(z[0] != z[1] && z[1] != z[2] && z[0] != z[2]);
  for (int i = 0; i < 3; i++) free(z[i]);

  /* reused dirty memory reads as zero: small, medium, huge (cache) */
  static const size_t sizes[] = { 16, 200, 4000, 20000, 65536, 100000, 1 << 20, 9 << 20 };
  for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
    for (int round = 0; round < 3; round++) {
      unsigned char *d = malloc(sizes[i]);
      CHECK(d != NULL);
      if (!d) continue;
      memset(d, 0xa5, malloc_usable_size(d));
      free(d);
      errno = 777;
      unsigned char *c = calloc(sizes[i], 1);
      CHECK(c != NULL && errno == 777);
      if (!c) continue;
      size_t nz = 0;
      for (size_t k = 0; k < sizes[i]; k++) nz += c[k] != 0;
      CHECKF(nz == 0, "calloc(%zu) reused memory has %zu non-zero bytes", sizes[i], nz);
      free(c);
    }
  }
}

/* ---- realloc / reallocarray ----------------------------------------------------- */
/* calloc of a size other than the dirty block just freed: a cached huge
 * mapping may be reused and grown (or cut), all of it must read as zero */
static void test_calloc_cross_sizes(void) {
  static const size_t pairs[][2] = {
    { 6u << 20, 9u << 20 }, { 9u << 20, 6u << 20 }, { 300000, 500000 }, { 500000, 300000 },
    { 100000, 65537 }, { 70000, 130000 }, { 2u << 20, (3u << 20) + 12345 },
  };
  for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
    size_t d = pairs[i][0], n = pairs[i][1];
    unsigned char *x = malloc(d);
    CHECK(x != NULL);
    if (!x) continue;
    memset(x, 0xee, malloc_usable_size(x));
    free(x);
    unsigned char *c = calloc(1, n);
    CHECK(c != NULL);
    if (!c) continue;
    size_t nz = 0;
    for (size_t k = 0; k < n; k++) nz += c[k] != 0;
    CHECKF(nz == 0, "calloc(%zu) after freeing a dirty %zu block: %zu non-zero bytes", n, d, nz);
    CHECK(malloc_usable_size(c) >= n);
    memset(c, 0xdd, malloc_usable_size(c));
    free(c);
  }
}

static void test_realloc(void) {
  /* realloc(NULL, n) is malloc(n), also for 0 */
  void *p = realloc(NULL, 0);
  CHECK(p != NULL && aligned16(p));
  free(p);
  p = realloc(NULL, 100);
  CHECK(p != NULL && malloc_usable_size(p) >= 100);

  /* overflowing sizes: NULL, ENOMEM, the block intact */
  th_fill(p, 100, 3);
  errno = 0;
  CHECK(realloc(launder(p), v_size_max) == NULL && errno == ENOMEM);
  errno = 0;
  CHECK(realloc(launder(p), v_ptrdiff_max1) == NULL && errno == ENOMEM);
  errno = 0;
  CHECK(reallocarray(launder(p), v_half, 2) == NULL && errno == ENOMEM);
  errno = 0;
  CHECK(reallocarray(launder(p), 2, v_half) == NULL && errno == ENOMEM);
  CHECK(th_verify(p, 100, 3));
  CHECK(malloc_usable_size(p) >= 100);

  /* realloc(p, 0) frees p and returns NULL: observed on a huge block */
  size_t h0 = mi().hblks;
  void *hp = malloc(1 << 20);
  CHECK(mi().hblks == h0 + 1);
  CHECK(realloc(hp, th_zero) == NULL);
  CHECK(mi().hblks == h0);
  /* reallocarray(p, 0, n) likewise */
  hp = malloc(1 << 20);
  CHECK(mi().hblks == h0 + 1);
  CHECK(reallocarray(hp, 0, 100) == NULL);
  CHECK(mi().hblks == h0);
  hp = reallocarray(NULL, 1000, 1000);
  CHECK(hp != NULL && malloc_usable_size(hp) >= 1000000);
  free(hp);

  /* contents kept across every kind of move: small, medium, huge, back */
  static const size_t steps[] = { 100, 10, 1000, 9000, 30000, 65536, 65537, 300000,
                                  5 << 20, 40 << 20, 200000, 70000, 60000, 2000, 16, 1 };
  size_t cur = 100;
  for (size_t i = 1; i < sizeof(steps) / sizeof(steps[0]); i++) {
    size_t n = steps[i];
    th_fillw(p, cur, 55);
    unsigned char *q = realloc(p, n);
    CHECKF(q != NULL && aligned16(q), "realloc %zu -> %zu", cur, n);
    if (!q) break;
    p = q;
    CHECKF(th_verifyw(p, n < cur ? n : cur, 55), "realloc %zu -> %zu lost contents", cur, n);
    CHECK(malloc_usable_size(p) >= n);
    memset(p, 0x11, malloc_usable_size(p));
    cur = n;
  }
  free(p);

  /* realloc of an aligned block keeps the contents (alignment is not kept:
   * glibc does not either) */
  void *al = memalign(4096, 5000);
  CHECK(al && aligned_to(al, 4096));
  th_fill(al, 5000, 9);
  unsigned char *al2 = realloc(al, 50000);
  CHECK(al2 && aligned16(al2) && th_verify(al2, 5000, 9));
  free(al2);
  al = memalign((size_t)8 << 20, 100000);
  CHECK(al && aligned_to(al, (size_t)8 << 20));
  th_fillw(al, 100000, 10);
  al2 = realloc(al, (size_t)3 << 20);
  CHECK(al2 && th_verifyw(al2, 100000, 10));
  al = realloc(al2, 1000);
  CHECK(al && th_verifyw(al, 1000, 10));
  free(al);

  /* errno untouched by successful reallocs */
  errno = 999;
  p = realloc(NULL, 10);
  p = realloc(p, 100000);
  p = realloc(p, 10);
  CHECK(p && errno == 999);
  free(p);
}

/* ---- aligned allocation --------------------------------------------------------- */
static void use_block(const char *fn, void *p, size_t align, size_t n) {
  CHECKF(p != NULL, "%s(%zu, %zu) = NULL", fn, align, n);
  if (!p) return;
  CHECKF(aligned_to(p, align < 16 ? 16 : align), "%s(%zu, %zu) = %p", fn, align, n, p);
  size_t u = malloc_usable_size(p);
  CHECKF(u >= n, "%s(%zu, %zu): usable %zu", fn, align, n, u);
  memset(p, 0x5c, u);
}

static void test_posix_memalign(void) {
  void *sentinel = (void *)&page;
  /* bad alignments: EINVAL, *memptr untouched */
  static const size_t bad[] = { 0, 1, 2, 3, 4, 12, 24, 48, 100, 4095, 4097, SIZE_MAX,
                                SIZE_MAX / 2 + 2, ((size_t)1 << 40) + 8 };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    void *r = sentinel;
    int e = posix_memalign(&r, bad[i], 100);
    CHECKF(e == EINVAL && r == sentinel, "posix_memalign(%zu) = %d", bad[i], e);
  }
  /* alignment 8 = sizeof(void *) is valid; so is 2^63 (but no memory) */
  void *r = sentinel;
  CHECK(posix_memalign(&r, 8, 100) == 0 && r != sentinel && aligned16(r));
  free(r);
  r = sentinel;
  CHECK(posix_memalign(&r, SIZE_MAX / 2 + 1, 100) == ENOMEM && r == sentinel);
  /* impossible sizes: ENOMEM, untouched */
  r = sentinel;
  CHECK(posix_memalign(&r, 16, v_size_max) == ENOMEM && r == sentinel);
  r = sentinel;
  CHECK(posix_memalign(&r, 4096, v_ptrdiff_max1) == ENOMEM && r == sentinel);
  r = sentinel;
  CHECK(posix_memalign(&r, (size_t)1 << 20, v_size_max - 4096) == ENOMEM && r == sentinel);
  /* size 0: unique pointers */
  void *a = NULL, *b = NULL;
  CHECK(posix_memalign(&a, 64, 0) == 0 && posix_memalign(&b, 64, 0) == 0);
  CHECK(a && b && a != b && aligned_to(a, 64) && aligned_to(b, 64));
  free(a);
  free(b);
  /* errno untouched on success */
  errno = 31337;
  CHECK(posix_memalign(&a, 4096, 100) == 0);
  CHECK(errno == 31337);
  free(a);
}

static void test_memalign_family(void) {
  /* memalign: small alignments raised to 16, others rounded up */
  static const size_t odd[] = { 0, 1, 2, 3, 8, 17, 24, 33, 100, 1000, 3000, 5000, 40000, 100000 };
  /* through pointers: <malloc.h> declares an alloc_align attribute, which
   * makes these (valid for glibc) alignments undefined for UBSan */
  void *(*volatile memalign_)(size_t, size_t) = memalign;
  void *(*volatile aligned_alloc_)(size_t, size_t) = aligned_alloc;
  for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
    size_t want = 16;
    while (want < odd[i]) want <<= 1;
    void *p = memalign_(odd[i], 100);
    CHECKF(p && aligned_to(p, want), "memalign(%zu) = %p, want %zu-aligned", odd[i], p, want);
    free(p);
    p = aligned_alloc_(odd[i], 100);
    CHECKF(p && aligned_to(p, want), "aligned_alloc(%zu) = %p, want %zu-aligned", odd[i], p, want);
    free(p);
  }
  /* impossible alignments: EINVAL */
  static const size_t imp[] = { SIZE_MAX / 2 + 2, SIZE_MAX - 1, SIZE_MAX };
  for (size_t i = 0; i < 3; i++) {
    errno = 0;
    volatile size_t al = imp[i];
    void *p = memalign(al, 10);
    CHECKF(p == NULL && errno == EINVAL, "memalign(%#zx) = %p, errno %d", imp[i], p, errno);
    errno = 0;
    p = aligned_alloc(al, 10);
    CHECKF(p == NULL && errno == EINVAL, "aligned_alloc(%#zx) = %p, errno %d", imp[i], p, errno);
  }
  /* the largest power of two is a valid alignment: out of memory */
  errno = 0;
  volatile size_t top = SIZE_MAX / 2 + 1;
  CHECK(memalign(top, 10) == NULL && errno == ENOMEM);
  errno = 0;
  CHECK(memalign(4096, v_size_max) == NULL && errno == ENOMEM);
  errno = 0;
  CHECK(aligned_alloc(64, v_ptrdiff_max1) == NULL && errno == ENOMEM);
  errno = 0;
  volatile size_t almost = SIZE_MAX - 100;
  CHECK(memalign((size_t)1 << 23, almost) == NULL && errno == ENOMEM);
  /* aligned_alloc: size not a multiple of the alignment is accepted */
  void *p = aligned_alloc(64, 100);
  CHECK(p && aligned_to(p, 64) && malloc_usable_size(p) >= 100);
  free(p);
  p = aligned_alloc(4096, 1);
  CHECK(p && aligned_to(p, 4096));
  free(p);
  /* zero size */
  void *a = memalign(256, 0), *b = aligned_alloc(256, 0);
  CHECK(a && b && a != b && aligned_to(a, 256) && aligned_to(b, 256));
  free(a);
  free(b);
  errno = 2121;
  a = memalign(1 << 16, 5);
  b = aligned_alloc(1 << 12, 5);
  CHECK(a && b && errno == 2121);
  free(a);
  free(b);
}

/* every power of two alignment, several sizes, all live at once */
static void test_all_alignments(void) {
  enum { MAXLIVE = 256 };
  static void *live[MAXLIVE];
  static size_t live_n[MAXLIVE];
  int nlive = 0;
  for (size_t al = 16; al <= ((size_t)8 << 20); al <<= 1) {
    size_t sizes[] = { 0, 1, 16, al - 1, al, al + 1, 3 * al / 2, 100000 };
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
      size_t n = sizes[k];
      if (n > ((size_t)12 << 20)) continue;
      void *p = NULL;
      int e = posix_memalign(&p, al, n);
      CHECKF(e == 0, "posix_memalign(%zu, %zu) = %d", al, n, e);
      use_block("posix_memalign", e ? NULL : p, al, n);
      void *q = aligned_alloc(al, n);
      use_block("aligned_alloc", q, al, n);
      void *m = memalign(al, n);
      use_block("memalign", m, al, n);
      /* keep the small ones alive to catch overlaps */
      void *keep[3] = { e ? NULL : p, q, m };
      for (int j = 0; j < 3; j++) {
        if (keep[j] && n <= 100000 && nlive < MAXLIVE) {
          live[nlive] = keep[j];
          live_n[nlive] = n;
          th_fillw(keep[j], n, (uint64_t)nlive);
          nlive++;
        } else {
          free(keep[j]);
        }
      }
    }
  }
  int bad = 0;
  for (int i = 0; i < nlive; i++) if (!th_verifyw(live[i], live_n[i], (uint64_t)i)) bad++;
  CHECKF(bad == 0, "%d of %d aligned blocks overwritten by others", bad, nlive);
  for (int i = 0; i < nlive; i++) free(live[i]);
}

static void test_valloc_pvalloc(void) {
  static const size_t sizes[] = { 0, 1, 100, 4095, 4096, 4097, 10000, 65536, 100000, 1 << 20 };
  for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
    size_t n = sizes[i];
    void *v = valloc(n);
    CHECKF(v && aligned_to(v, page), "valloc(%zu) = %p", n, v);
    if (v) {
      CHECK(malloc_usable_size(v) >= n);
      memset(v, 1, malloc_usable_size(v));
    }
    free(v);
    void *p = pvalloc(n);
    size_t want = n ? (n + page - 1) / page * page : page;
    CHECKF(p && aligned_to(p, page), "pvalloc(%zu) = %p", n, p);
    if (p) {
      CHECKF(malloc_usable_size(p) >= want, "pvalloc(%zu): usable %zu < %zu", n, malloc_usable_size(p), want);
      memset(p, 2, want);
    }
    free(p);
  }
  errno = 0;
  CHECK(pvalloc(v_size_max) == NULL && errno == ENOMEM);
  errno = 0;
  volatile size_t wrap = SIZE_MAX - page + 2;   /* rounding up wraps to 0 */
  CHECK(pvalloc(wrap) == NULL && errno == ENOMEM);
  errno = 0;
  CHECK(pvalloc(v_ptrdiff_max1) == NULL && errno == ENOMEM);
  errno = 0;
  CHECK(valloc(v_size_max) == NULL && errno == ENOMEM);
  errno = 0;
  CHECK(valloc(v_ptrdiff_max1) == NULL && errno == ENOMEM);
  errno = 8080;
  void *a = valloc(10), *b = pvalloc(10);
  CHECK(a && b && errno == 8080);
  free(a);
  free(b);
}

/* ---- introspection ------------------------------------------------------------------ */
static void test_usable_size(void) {
  CHECK(malloc_usable_size(NULL) == 0);
  CHECK(mymalloc_malloc_usable_size(NULL) == 0);
  for (size_t n = 0; n < 70000; n = n < 64 ? n + 1 : n * 5 / 4) {
    unsigned char *p = malloc(n);
    CHECK(p != NULL);
    if (!p) continue;
    size_t u = malloc_usable_size(p);
    CHECKF(u >= n, "malloc_usable_size(malloc(%zu)) = %zu", n, u);
    CHECKF(u <= n + n / 4 + 16, "malloc_usable_size(malloc(%zu)) = %zu: more than 25%% waste", n, u);
    memset(p, 0x77, u);
    free(p);
  }
  errno = 5;
  void *p = malloc(100);
  CHECK(malloc_usable_size(p) >= 100 && errno == 5);
  free(p);
}

static void test_trim(void) {
  /* 48 MiB of small blocks, touched, freed: trim gives it back */
  enum { N = 48 * 1024 };
  static void *v[N];
  for (int i = 0; i < N; i++) {
    v[i] = malloc(1000);
    if (v[i]) memset(v[i], 1, 1000);
  }
  size_t rss_full = th_rss_bytes();
  for (int i = 0; i < N; i++) free(v[i]);
  int r = malloc_trim(0);
  /* nothing left to give back (nothing may allocate in between: even
   * fopen's FILE would make a page that the next trim gives back) */
  int r2 = malloc_trim(0);
  int r3 = malloc_trim((size_t)1 << 20);
  size_t rss_after = th_rss_bytes();
  CHECKF(r == 1, "malloc_trim(0) after freeing 48 MiB = %d", r);
  CHECKF(r2 == 0 && r3 == 0, "malloc_trim again = %d, %d", r2, r3);
  CHECKF(rss_after + (24u << 20) <= rss_full, "resident %zu KiB before trim, %zu KiB after",
         rss_full >> 10, rss_after >> 10);
  /* huge blocks in the cache come back too */
  void *h = malloc(8u << 20);
  CHECK(h != NULL);
  if (h) memset(h, 1, 8u << 20);
  free(h);
  CHECK(malloc_trim(0) == 1);
  errno = 66;
  malloc_trim(0);
  CHECK(errno == 66);
  /* the heap is usable after trimming */
  for (int i = 0; i < 1000; i++) {
    v[i] = malloc(1000);
    CHECK(v[i] != NULL);
    th_fill(v[i], 1000, (unsigned)i);
  }
  int bad = 0;
  for (int i = 0; i < 1000; i++) { bad += !th_verify(v[i], 1000, (unsigned)i); free(v[i]); }
  CHECK(bad == 0);
}

static void test_mallopt(void) {
  CHECK(mallopt(M_MXFAST, 64) == 1);
  CHECK(mallopt(M_MXFAST, 0) == 1);
  CHECK(mallopt(M_MXFAST, 1000) == 0);    /* glibc: above 80 * sizeof(size_t) / 4 */
  CHECK(mallopt(M_TRIM_THRESHOLD, 128 * 1024) == 1);
  CHECK(mallopt(M_TOP_PAD, 0) == 1);
  CHECK(mallopt(M_MMAP_THRESHOLD, 1 << 20) == 1);
  CHECK(mallopt(M_MMAP_MAX, 0) == 1);
  CHECK(mallopt(M_CHECK_ACTION, 3) == 1);
  CHECK(mallopt(M_PERTURB, 0) == 1);
  CHECK(mallopt(M_ARENA_TEST, 8) == 1);
  CHECK(mallopt(M_ARENA_MAX, 1) == 1);
  CHECK(mymalloc_mallopt(M_ARENA_MAX, 2) == 1);
  /* allocation unaffected */
  void *p = malloc(200000), *q = malloc(100);
  CHECK(p && q);
  free(p);
  free(q);
}

static void test_mallinfo(void) {
  struct mallinfo2 m0 = mi();
  /* arena: bytes from sbrk, inside the [heap] mapping */
  if (!th_sbrk_disabled()) CHECK(m0.arena > 0);
  uintptr_t heap_lo = 0, heap_hi = 0;
  FILE *f = fopen("/proc/self/maps", "r");
  char line[512];
  while (f && fgets(line, sizeof(line), f)) {
    unsigned long lo, hi;
    /* the guard pages split the heap into several mappings */
    if (strstr(line, "[heap]") && sscanf(line, "%lx-%lx", &lo, &hi) == 2) {
      if (!heap_lo || lo < heap_lo) heap_lo = lo;
      if (hi > heap_hi) heap_hi = hi;
    }
  }
  if (f) fclose(f);
  if (!th_under_valgrind() && !th_under_qemu()) {   /* valgrind and qemu emulate brk: no [heap] mapping */
    CHECK(heap_hi > heap_lo);
    CHECKF(m0.arena <= heap_hi - heap_lo, "arena %zu > [heap] %lu", m0.arena, (unsigned long)(heap_hi - heap_lo));
  }

  /* hblks / hblkhd: live huge blocks */
  void *h[5];
  for (int i = 0; i < 5; i++) h[i] = malloc((size_t)(i + 1) << 20);
  struct mallinfo2 m1 = mi();
  CHECKF(m1.hblks == m0.hblks + 5, "hblks %zu -> %zu", m0.hblks, m1.hblks);
  CHECKF(m1.hblkhd >= m0.hblkhd + ((size_t)15 << 20), "hblkhd %zu -> %zu", m0.hblkhd, m1.hblkhd);
  /* a cached mapping somewhat bigger than asked may be reused */
  CHECK(m1.hblkhd <= m0.hblkhd + ((size_t)15 << 20) * 5 / 4 + 5 * 2 * page);
  CHECK(m1.uordblks >= m0.uordblks + ((size_t)15 << 20));
  for (int i = 0; i < 5; i++) free(h[i]);
  struct mallinfo2 m2 = mi();
  CHECK(m2.hblks == m0.hblks);
  CHECK(m2.hblkhd == m0.hblkhd);
  /* a block of 64 KiB is not huge, one of 64 KiB + 1 is */
  void *x = malloc(65536);
  CHECK(mi().hblks == m0.hblks);
  void *y = malloc(65537);
  CHECK(mi().hblks == m0.hblks + 1);
  free(x);
  free(y);

  /* uordblks grows by at least N * size and comes back (the per-class
   * counters behind it are compiled out by --disable-stats) */
#if MM_STATS
  enum { N = 1000 };
  static void *v[N];
  struct mallinfo2 a = mi();
  for (int i = 0; i < N; i++) v[i] = malloc(100);
  struct mallinfo2 b = mi();
  CHECKF(b.uordblks >= a.uordblks + N * 100, "uordblks %zu -> %zu after %d x 100", a.uordblks, b.uordblks, N);
  CHECK(b.uordblks <= a.uordblks + N * 128);
  for (int i = 0; i < N; i++) free(v[i]);
  struct mallinfo2 c = mi();
  CHECKF(c.uordblks == a.uordblks, "uordblks %zu before, %zu after freeing", a.uordblks, c.uordblks);
  for (int i = 0; i < N; i++) v[i] = malloc(20000);
  b = mi();
  CHECK(b.uordblks >= a.uordblks + (size_t)N * 20000);
  for (int i = 0; i < N; i++) free(v[i]);
  c = mi();
  CHECKF(c.uordblks == a.uordblks, "uordblks %zu before, %zu after freeing medium", a.uordblks, c.uordblks);
#endif

  /* mallinfo: the same figures in int, saturated */
  struct mallinfo2 d = mi();
  struct mallinfo e = mallinfo();
  CHECK((size_t)e.arena == (d.arena > INT_MAX ? (size_t)INT_MAX : d.arena));
  CHECK((size_t)e.hblks == d.hblks);
  CHECK((size_t)e.hblkhd == d.hblkhd);
  CHECK((size_t)e.uordblks == d.uordblks);
  void *big = malloc((size_t)3 << 30);   /* 3 GiB, not touched */
  if (big) {
    struct mallinfo s = mallinfo();
    CHECKF(s.hblkhd == INT_MAX, "mallinfo().hblkhd with 3 GiB = %d (saturate)", s.hblkhd);
    CHECK(s.uordblks == INT_MAX);
    CHECK(mallinfo2().hblkhd >= ((size_t)3 << 30));
    free(big);
  }
  struct mallinfo2 t = mymalloc_mallinfo2();
  CHECK(t.arena == mi().arena);
}

/* run f with fd 2 (or fd) redirected into a temporary file; return what was written */
static size_t capture(int fd, void (*f)(void), char *out, size_t cap) {
  char tmpl[] = "/tmp/mymalloc-test-XXXXXX";
  int t = mkstemp(tmpl);
  if (t < 0) return 0;
  unlink(tmpl);
  fflush(stdout);
  fflush(stderr);
  int saved = dup(fd);
  dup2(t, fd);
  f();
  dup2(saved, fd);
  close(saved);
  lseek(t, 0, SEEK_SET);
  ssize_t n = read(t, out, cap - 1);
  close(t);
  if (n < 0) n = 0;
  out[n] = 0;
  return (size_t)n;
}

static void call_malloc_stats(void) { malloc_stats(); }
static void call_malloc_stats_quiet(void) {
  int saved = dup(2), null = open("/dev/null", O_WRONLY);
  dup2(null, 2);
  malloc_stats();
  dup2(saved, 2);
  close(saved);
  close(null);
}
static void call_stats_text(void) { CHECK(mymalloc_stats_print(1, "text") == 0); }
static void call_stats_json(void) { CHECK(mymalloc_stats_print(1, "json") == 0); }

static void test_stats(void) {
  static char buf[1 << 16];
  void *p = malloc(100);
  th_sink = p;
  size_t n = capture(2, call_malloc_stats, buf, sizeof(buf));
  CHECKF(n > 100, "malloc_stats wrote %zu bytes on stderr", n);
  CHECK(strstr(buf, "mymalloc") != NULL);
  n = capture(1, call_malloc_stats_quiet, buf, sizeof(buf));
  CHECKF(n == 0, "malloc_stats wrote %zu bytes on stdout", n);
  n = capture(1, call_stats_text, buf, sizeof(buf));
  CHECK(n > 100 && strstr(buf, "mymalloc") != NULL);
  n = capture(1, call_stats_json, buf, sizeof(buf));
  CHECK(n > 100 && buf[0] == '{' && strstr(buf, "\"schema\"") != NULL);
  CHECK(n > 2 && buf[n - 1] == '\n' && buf[n - 2] == '}');
  errno = 0;
  CHECK(mymalloc_stats_print(1, "xml") == -1 && errno == EINVAL);
  /* a write that fails: -1 and EIO (documented in <mymalloc/malloc.h>) */
  int fds[2];
  if (pipe(fds) == 0) {
    close(fds[0]);
    signal(SIGPIPE, SIG_IGN);
    errno = 0;
    int r = mymalloc_stats_print(fds[1], "text");
    CHECKF(r == -1 && errno == EIO, "mymalloc_stats_print to a broken pipe = %d, errno %d", r, errno);
    close(fds[1]);
  }
  errno = 0;
  volatile int badfd = 12345;
  int r = mymalloc_stats_print(badfd, "text");
  CHECKF(r == -1 && errno == EIO, "mymalloc_stats_print(bad fd) = %d, errno %d", r, errno);
  free(p);
}

/* ---- sized frees, cfree, __libc_* --------------------------------------------------- */
static void test_sized_and_aliases(void) {
  size_t h0 = mi().hblks;
  void *p = malloc(1 << 20);
  CHECK(mi().hblks == h0 + 1);
  errno = 12;
  free_sized(p, 1 << 20);
  CHECK(mi().hblks == h0 && errno == 12);
  p = aligned_alloc(1 << 16, 1 << 20);
  CHECK(mi().hblks == h0 + 1);
  free_aligned_sized(p, 1 << 16, 1 << 20);
  CHECK(mi().hblks == h0);
  struct mallinfo2 a = mi();
  p = malloc(48);
  free_sized(p, 48);
  p = aligned_alloc(64, 64);
  free_aligned_sized(p, 64, 64);
  CHECK(mi().uordblks == a.uordblks);
  mymalloc_free_sized(malloc(10), 10);
  mymalloc_free_aligned_sized(mymalloc_aligned_alloc(128, 128), 128, 128);
  CHECK(mi().uordblks == a.uordblks);

  void (*cfree_fn)(void *) = (void (*)(void *))dlsym(RTLD_DEFAULT, "cfree");
  CHECK(cfree_fn != NULL);
  if (cfree_fn) {
    p = malloc(1 << 20);
    CHECK(mi().hblks == h0 + 1);
    cfree_fn(p);
    CHECK(mi().hblks == h0);
    cfree_fn(NULL);
  }

  void *(*l_malloc)(size_t) = (void *(*)(size_t))dlsym(RTLD_DEFAULT, "__libc_malloc");
  void (*l_free)(void *) = (void (*)(void *))dlsym(RTLD_DEFAULT, "__libc_free");
  void *(*l_calloc)(size_t, size_t) = (void *(*)(size_t, size_t))dlsym(RTLD_DEFAULT, "__libc_calloc");
  void *(*l_realloc)(void *, size_t) = (void *(*)(void *, size_t))dlsym(RTLD_DEFAULT, "__libc_realloc");
  void *(*l_memalign)(size_t, size_t) = (void *(*)(size_t, size_t))dlsym(RTLD_DEFAULT, "__libc_memalign");
  void *(*l_valloc)(size_t) = (void *(*)(size_t))dlsym(RTLD_DEFAULT, "__libc_valloc");
  void *(*l_pvalloc)(size_t) = (void *(*)(size_t))dlsym(RTLD_DEFAULT, "__libc_pvalloc");
  struct mallinfo (*l_mallinfo)(void) = (struct mallinfo (*)(void))dlsym(RTLD_DEFAULT, "__libc_mallinfo");
  int (*l_mallopt)(int, int) = (int (*)(int, int))dlsym(RTLD_DEFAULT, "__libc_mallopt");
  int (*p_memalign)(void **, size_t, size_t) =
      (int (*)(void **, size_t, size_t))dlsym(RTLD_DEFAULT, "__posix_memalign");
  CHECK(l_malloc && l_free && l_calloc && l_realloc && l_memalign && l_valloc && l_pvalloc &&
        l_mallinfo && l_mallopt && p_memalign);
  if (!(l_malloc && l_free && l_calloc && l_realloc && l_memalign && l_valloc && l_pvalloc &&
        l_mallinfo && l_mallopt && p_memalign))
    return;
  /* blocks cross freely between the two sets of names */
  a = mi();
  unsigned char *m = l_malloc(1000);
  CHECK(m && malloc_usable_size(m) >= 1000);
  th_fill(m, 1000, 1);
  m = l_realloc(m, 100000);
  CHECK(m && th_verify(m, 1000, 1) && mi().hblks == a.hblks + 1);
  m = realloc(m, 500);
  CHECK(m && th_verify(m, 500, 1));
  free(m);
  unsigned char *c = l_calloc(100, 10);
  int nz = 0;
  for (int i = 0; c && i < 1000; i++) nz += c[i] != 0;
  CHECK(c && nz == 0);
  l_free(c);
  void *al = l_memalign(1024, 10);
  CHECK(al && aligned_to(al, 1024));
  l_free(al);
  al = l_valloc(10);
  CHECK(al && aligned_to(al, page));
  free(al);
  al = l_pvalloc(10);
  CHECK(al && aligned_to(al, page) && malloc_usable_size(al) >= page);
  l_free(al);
  errno = 0;
  CHECK(l_malloc(v_size_max) == NULL && errno == ENOMEM);
  errno = 0;
  CHECK(l_calloc(v_half, 2) == NULL && errno == ENOMEM);
  errno = 0;
  CHECK(l_pvalloc(v_size_max) == NULL && errno == ENOMEM);
  CHECK(l_realloc(NULL, 10) != NULL);   /* leaks 10 bytes: fine */
  void *s = (void *)&page, *r = s;
  CHECK(p_memalign(&r, 3, 10) == EINVAL && r == s);
  CHECK(p_memalign(&r, 64, 10) == 0 && r != s && aligned_to(r, 64));
  free(r);
  CHECK(l_mallopt(M_ARENA_MAX, 1) == 1);
  CHECK(l_mallopt(M_MXFAST, 1000) == 0);
  struct mallinfo li = l_mallinfo();
  struct mallinfo lo = mallinfo();
  CHECK(li.arena == lo.arena && li.hblks == lo.hblks);
  CHECK(mi().uordblks >= a.uordblks);
}

/* ---- the prefixed twins ----------------------------------------------------------------- */
static void test_prefixed(void) {
  unsigned char *p = mymalloc_malloc(100);
  CHECK(p && malloc_usable_size(p) >= 100);
  th_fill(p, 100, 4);
  p = mymalloc_realloc(p, 5000);
  CHECK(p && th_verify(p, 100, 4));
  p = mymalloc_reallocarray(p, 10, 10);
  CHECK(p && th_verify(p, 100, 4));
  errno = 0;
  CHECK(mymalloc_reallocarray(launder(p), v_half, 2) == NULL && errno == ENOMEM);
  free(p);   /* prefixed and plain names share one heap */
  unsigned char *c = mymalloc_calloc(10, 10);
  CHECK(c && c[0] == 0 && c[99] == 0);
  mymalloc_free(c);
  void *a = NULL;
  CHECK(mymalloc_posix_memalign(&a, 512, 10) == 0 && aligned_to(a, 512));
  mymalloc_free(a);
  a = mymalloc_aligned_alloc(2048, 10);
  CHECK(a && aligned_to(a, 2048));
  mymalloc_free(a);
  a = mymalloc_memalign(100, 10);
  CHECK(a && aligned_to(a, 128));
  mymalloc_free(a);
  a = mymalloc_valloc(10);
  CHECK(a && aligned_to(a, page));
  mymalloc_free(a);
  a = mymalloc_pvalloc(10);
  CHECK(a && aligned_to(a, page) && mymalloc_malloc_usable_size(a) >= page);
  mymalloc_free(a);
  errno = 0;
  CHECK(mymalloc_malloc(v_size_max) == NULL && errno == ENOMEM);
  CHECK(mymalloc_malloc_trim(0) >= 0);
  struct mallinfo x = mymalloc_mallinfo();
  /* arena: bytes from sbrk; with MYMALLOC_SBRK=0 the trim may have given
   * back the one segment taken from sbrk before the options were read */
  CHECK(x.arena > 0 || th_sbrk_disabled());
  CHECK(x.uordblks > 0);
}

int main(void) {
  page = (size_t)sysconf(_SC_PAGESIZE);
  /* something from sbrk before the mallinfo checks */
  void *warm = malloc(100);
  test_malloc_free();
  test_calloc();
  test_calloc_cross_sizes();
  test_realloc();
  test_posix_memalign();
  test_memalign_family();
  test_all_alignments();
  test_valloc_pvalloc();
  test_usable_size();
  test_mallopt();
  test_mallinfo();
  test_stats();
  test_sized_and_aliases();
  test_prefixed();
  if (th_under_qemu())   /* (the rest ran) */
    printf("test_api: malloc_trim is not tested under qemu-user: Debian 12's qemu 7.2 dies on the "
           "lowered break (an assertion of its own)\n");
  else
    test_trim();
  free(launder(warm));
  return test_done("test_api");
}
