/* test_enomem -- out of memory is a state to survive.
 *
 * Under setrlimit(RLIMIT_AS) = current VmSize + 64 MiB, allocate huge
 * (256 KiB), medium (16 KiB) and small (64 B) blocks in turn until each
 * kind fails.  Then, with the address space exhausted:
 *   - malloc, calloc, realloc, reallocarray, aligned_alloc, memalign,
 *     valloc, pvalloc return NULL with errno ENOMEM; posix_memalign returns
 *     ENOMEM and leaves *memptr alone; a failed realloc leaves its block
 *     untouched and valid;
 *   - no live block was damaged.
 * Then memory is freed step by step and allocation must work again, also
 * of sizes and classes other than those freed:
 *   1. half of the huge blocks freed: a 1 MiB block, a 16 KiB block of a
 *      new medium class and a 64 B block can be allocated;
 *   2. every small block freed: blocks of other small classes;
 *   3. everything freed, limit lifted: 64 MiB more.
 * Skipped under valgrind (which has its own allocator and limits).
 */
#include "config.h"
#include "harness.h"

#include <errno.h>
#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

#define HUGE_SZ (256u << 10)
#define MED_SZ (16u << 10)
#define SMALL_SZ 64u

#define MAXH 2000
#define MAXM 20000
#define MAXS 400000

static unsigned char *hb[MAXH], *mb[MAXM], *sb[MAXS];
static int nh, nm, ns;

static uint64_t hseed(int i) { return 0x1000000u + (uint64_t)i; }
static uint64_t mseed(int i) { return 0x2000000u + (uint64_t)i; }
static uint64_t sseed(int i) { return 0x3000000u + (uint64_t)i; }

static long verify_all(void) {
  long bad = 0;
  for (int i = 0; i < nh; i++) if (hb[i] && !th_verifyw(hb[i], HUGE_SZ, hseed(i))) bad++;
  for (int i = 0; i < nm; i++) if (mb[i] && !th_verifyw(mb[i], MED_SZ, mseed(i))) bad++;
  for (int i = 0; i < ns; i++) if (sb[i] && !th_verifyw(sb[i], SMALL_SZ, sseed(i))) bad++;
  return bad;
}

/* NULL and errno ENOMEM */
#define CHECK_ENOMEM(call) \
  do { \
    errno = 0; \
    void *r_ = (call); \
    CHECKF(r_ == NULL && errno == ENOMEM, "%s = %p, errno %d", #call, r_, errno); \
    if (r_) free(r_); \
  } while (0)

int main(void) {
  th_skip_under_valgrind("test_enomem", "address-space limits: valgrind needs its own address space");
  th_skip_under_qemu("test_enomem", "address-space limits: qemu-user ignores RLIMIT_AS for the guest");
  setvbuf(stdout, NULL, _IONBF, 0);
  struct rlimit old;
  CHECK(getrlimit(RLIMIT_AS, &old) == 0);
  size_t vm = th_vmsize_bytes();
  CHECK(vm > 0);
  struct rlimit lim = { (rlim_t)(vm + (64u << 20)), old.rlim_max };
  if (old.rlim_cur != RLIM_INFINITY && old.rlim_cur < lim.rlim_cur) {
    th_skip("test_enomem", "RLIMIT_AS is already lower than needed");
  }
  CHECK(setrlimit(RLIMIT_AS, &lim) == 0);

  /* ---- fill until every kind fails ---- */
  int h_done = 0, m_done = 0, s_done = 0;
  int h_errno = 0, m_errno = 0, s_errno = 0;
  while (!(h_done && m_done && s_done)) {
    if (!h_done) {
      errno = 0;
      unsigned char *p = nh < MAXH ? malloc(HUGE_SZ) : NULL;
      if (!p) { h_done = 1; h_errno = errno; }
      else { th_fillw(p, HUGE_SZ, hseed(nh)); hb[nh++] = p; }
    }
    for (int k = 0; k < 16 && !m_done; k++) {
      errno = 0;
      unsigned char *p = nm < MAXM ? malloc(MED_SZ) : NULL;
      if (!p) { m_done = 1; m_errno = errno; }
      else { th_fillw(p, MED_SZ, mseed(nm)); mb[nm++] = p; }
    }
    for (int k = 0; k < 256 && !s_done; k++) {
      errno = 0;
      unsigned char *p = ns < MAXS ? malloc(SMALL_SZ) : NULL;
      if (!p) { s_done = 1; s_errno = errno; }
      else { th_fillw(p, SMALL_SZ, sseed(ns)); sb[ns++] = p; }
    }
  }
  printf("test_enomem: limit %zu MiB; got %d huge, %d medium, %d small blocks before ENOMEM\n",
         (size_t)lim.rlim_cur >> 20, nh, nm, ns);
  CHECK(nh < MAXH && nm < MAXM && ns < MAXS);   /* the limit was reached */
  CHECK(nh >= 4);
  CHECK(nm >= 64);
  CHECK(ns >= 256);
  CHECKF(h_errno == ENOMEM, "huge: errno %d", h_errno);
  CHECKF(m_errno == ENOMEM, "medium: errno %d", m_errno);
  CHECKF(s_errno == ENOMEM, "small: errno %d", s_errno);

  /* ---- every function fails cleanly ---- */
  volatile size_t n1m = 1u << 20, n16 = 16, n1k = 1024, n64 = 64;
  CHECK_ENOMEM(malloc(HUGE_SZ));
  CHECK_ENOMEM(malloc(n1m));
  CHECK_ENOMEM(malloc(MED_SZ));
  CHECK_ENOMEM(malloc(SMALL_SZ));
  CHECK_ENOMEM(calloc(1, n1m));
  CHECK_ENOMEM(calloc(n1k, n16));          /* 16 KiB: the exhausted medium class */
  CHECK_ENOMEM(calloc(4, n16));            /* 64 B: the exhausted small class */
  CHECK_ENOMEM(aligned_alloc(4096, n1m));
  CHECK_ENOMEM(memalign(256, n1m));
  CHECK_ENOMEM(memalign(64, n64));         /* the 64 B class */
  CHECK_ENOMEM(valloc(n1m));
  CHECK_ENOMEM(pvalloc(n1m));
  void *sentinel = (void *)&old;
  void *mp = sentinel;
  CHECK(posix_memalign(&mp, 64, n1m) == ENOMEM);
  CHECK(mp == sentinel);
  CHECK(posix_memalign(&mp, 4096, HUGE_SZ) == ENOMEM);
  CHECK(mp == sentinel);

  /* realloc failures leave the block as it was */
  errno = 0;
  void *r = realloc(sb[0], n1m);
  CHECKF(r == NULL && errno == ENOMEM, "realloc(small, 1 MiB) = %p, errno %d", r, errno);
  if (r) sb[0] = r;
  CHECK(th_verifyw(sb[0], SMALL_SZ, sseed(0)));
  errno = 0;
  r = realloc(hb[0], 64u << 20);
  CHECKF(r == NULL && errno == ENOMEM, "realloc(huge, 64 MiB) = %p, errno %d", r, errno);
  if (r) hb[0] = r;
  CHECK(th_verifyw(hb[0], HUGE_SZ, hseed(0)));
  errno = 0;
  r = realloc(mb[0], 40000);               /* another medium class */
  if (r) {
    /* a page of that class may still have had room: fine, but intact */
    CHECK(th_verifyw(r, MED_SZ, mseed(0)));
    mb[0] = r;
  } else {
    CHECK(errno == ENOMEM);
    CHECK(th_verifyw(mb[0], MED_SZ, mseed(0)));
  }
  errno = 0;
  r = reallocarray(sb[1], n1k, n1k);
  CHECKF(r == NULL && errno == ENOMEM, "reallocarray(small, 1024, 1024) = %p, errno %d", r, errno);
  if (r) sb[1] = r;
  CHECK(th_verifyw(sb[1], SMALL_SZ, sseed(1)));
  CHECKF(verify_all() == 0, "%ld blocks damaged", verify_all());

  /* ---- 1. free half of the huge blocks: other sizes work again ---- */
  for (int i = 0; i < nh; i += 2) { free(hb[i]); hb[i] = NULL; }
  errno = 0;
  unsigned char *a = malloc(n1m);
  CHECKF(a != NULL, "malloc(1 MiB) after freeing %d huge blocks: errno %d", (nh + 1) / 2, errno);
  if (a) { th_fillw(a, n1m, 77); CHECK(th_verifyw(a, n1m, 77)); free(a); }
  errno = 0;
  unsigned char *b = malloc(20000);        /* a medium class not used yet */
  CHECKF(b != NULL, "malloc(20000) after freeing %d huge blocks: errno %d", (nh + 1) / 2, errno);
  errno = 0;
  unsigned char *c = malloc(SMALL_SZ);     /* the exhausted small class */
  CHECKF(c != NULL, "malloc(64) after freeing %d huge blocks: errno %d", (nh + 1) / 2, errno);
  errno = 0;
  unsigned char *z = calloc(1, 512u << 10);
  CHECKF(z != NULL, "calloc(512 KiB) after freeing %d huge blocks: errno %d", (nh + 1) / 2, errno);
  if (z) {
    size_t nz = 0;
    for (size_t i = 0; i < (512u << 10); i++) nz += z[i] != 0;
    CHECK(nz == 0);
  }
  void *al = NULL;
  int e = posix_memalign(&al, 65536, 100000);
  CHECKF(e == 0 && al && aligned_to(al, 65536), "posix_memalign(65536, 100000) = %d", e);
  free(al);
  free(b); free(c); free(z);
  CHECK(verify_all() == 0);

  /* ---- 2. free every small block: other small classes ---- */
  for (int i = 0; i < ns; i++) { free(sb[i]); sb[i] = NULL; }
  int ok = 0;
  unsigned char *v[200];
  for (int i = 0; i < 200; i++) {
    v[i] = malloc(100 + (size_t)i * 10);   /* classes from 112 to 2048 */
    if (v[i]) { ok++; th_fill(v[i], 100 + (size_t)i * 10, (unsigned)i); }
  }
  CHECKF(ok == 200, "%d of 200 small blocks of other classes after freeing the 64 B ones", ok);
  for (int i = 0; i < 200; i++) {
    if (v[i]) CHECK(th_verify(v[i], 100 + (size_t)i * 10, (unsigned)i));
    free(v[i]);
  }
  CHECK(verify_all() == 0);

  /* ---- 3. free everything, lift the limit ---- */
  for (int i = 0; i < nh; i++) free(hb[i]);
  for (int i = 0; i < nm; i++) free(mb[i]);
  nh = nm = ns = 0;
  CHECK(setrlimit(RLIMIT_AS, &old) == 0);
  int got = 0;
  for (int i = 0; i < 64; i++) {
    unsigned char *p = malloc(1u << 20);
    if (p) { got++; th_fillw(p, 1u << 20, (uint64_t)i); CHECK(th_verifyw(p, 1u << 20, (uint64_t)i)); }
    free(p);
    p = malloc(1000);
    if (p) got++;
    free(p);
  }
  CHECK(got == 128);
  return test_done("test_enomem");
}
