/*
 * test_pagesize -- the allocator on kernels with 16 KiB and 64 KiB pages
 * (arm64, ppc64el), which emulation on this machine cannot show: the page
 * size is forced by the test seam (MYMALLOC_TEST_PAGE_SIZE, read when the
 * process starts), in a fresh process for each size (this program
 * re-executes itself).  The kernel keeps its own smaller pages, so every
 * mprotect, madvise and munmap of 16 or 64 KiB multiples still works.
 * Over all size classes and huge sizes: contents, alignment (16; the page
 * for valloc, pvalloc and memalign), malloc_usable_size, the page slots
 * (after the 64 KiB header, before the guard page, which is one forced
 * page and faults), huge blocks ending on a page boundary, purges with
 * the forced alignment, and the walker (mm_heap_check) after each step.
 */
#include "internal.h"
#include "check.h"
#include "segmap.h"
#include "sizeclass.h"
#include "state.h"
#include "harness.h"

#include <signal.h>
#include <sys/wait.h>

#define NB 96   /* blocks of each size at once: several pages of a class */

static size_t page;

/* The page slot geometry of the block p's segment. */
static void check_geometry(void *p) {
  unsigned shift = mm_segmap_shift(p);
  CHECK(shift == MM_SMALL_PAGE_SHIFT || shift == MM_MEDIUM_PAGE_SHIFT);
  if (shift != MM_SMALL_PAGE_SHIFT && shift != MM_MEDIUM_PAGE_SHIFT) return;
  mm_segment_t *s;
  mm_page_t *pg = mm_page_by_map(p, shift, &s);
  uint8_t *base = (uint8_t *)s;
  CHECK(pg->start >= base + MM_META);
  CHECK(((uintptr_t)pg->start & (((size_t)1 << MM_SMALL_PAGE_SHIFT) - 1)) == 0);
  CHECKF(pg->start + (size_t)pg->capacity * pg->block_size <= base + MM_SEGMENT_SIZE - page,
         "class %u: the page runs into the guard page", (unsigned)pg->class_idx);
  CHECK(mm_slot_usable(s, pg->index));
}

static void sizes(void) {
  static void *b[NB];
  for (unsigned c = 0; c < MM_NCLASSES; c++) {
    size_t n = mm_class_size[c] - (c % 3 ? 0 : 15);   /* exact, or just above the class below */
    unsigned nb = mm_class_size[c] > 8192 ? NB / 4 : NB;
    for (unsigned i = 0; i < nb; i++) {
      b[i] = mymalloc_malloc(n);
      CHECKF(b[i] && aligned16(b[i]), "class %u: %p", c, b[i]);
      if (!b[i]) return;
      CHECKF(mymalloc_malloc_usable_size(b[i]) == mm_class_size[c], "class %u: usable %zu", c,
             mymalloc_malloc_usable_size(b[i]));
      th_fill(b[i], n, c * 131 + i);
    }
    check_geometry(b[0]);
    check_geometry(b[nb - 1]);
    for (unsigned i = 0; i < nb; i += 2) mymalloc_free(b[i]);   /* half back, then again */
    for (unsigned i = 0; i < nb; i += 2) {
      b[i] = mymalloc_malloc(n);
      CHECK(b[i] != NULL);
      if (b[i]) th_fill(b[i], n, c * 131 + i);
    }
    int ok = 1;
    for (unsigned i = 0; i < nb; i++) ok &= b[i] && th_verify(b[i], n, c * 131 + i);
    CHECKF(ok, "class %u: contents", c);
    mm_heap_check(mm_heap_tls);
    for (unsigned i = 0; i < nb; i++) mymalloc_free(b[i]);
  }
  mm_heap_check(mm_heap_tls);
}

static void huge(void) {
  size_t ns[] = { 65537, 100000, MM_MEDIUM_MAX + 3 * page + 1, (size_t)1 << 20, ((size_t)4 << 20) - 100, (size_t)5 << 20 };
  void *b[6];
  for (int i = 0; i < 6; i++) {
    b[i] = mymalloc_malloc(ns[i]);
    CHECK(b[i] && aligned16(b[i]));
    if (!b[i]) return;
    size_t u = mymalloc_malloc_usable_size(b[i]);
    CHECKF(u >= ns[i] && u < ns[i] + page, "huge %zu: usable %zu", ns[i], u);
    CHECKF(((uintptr_t)b[i] + u) % page == 0, "huge %zu: the mapping ends off a page boundary", ns[i]);
    CHECKF((uintptr_t)b[i] % page == 0, "huge %zu: the block is not after a whole header page", ns[i]);
    th_fillw(b[i], ns[i], (uint64_t)i + 7);
  }
  for (int i = 0; i < 6; i++) {   /* grow and shrink, through the cache */
    CHECK(th_verifyw(b[i], ns[i], (uint64_t)i + 7));
    void *r = mymalloc_realloc(b[i], ns[i] * 2 + 3);
    CHECK(r && th_verifyw(r, ns[i], (uint64_t)i + 7));
    if (!r) return;
    b[i] = mymalloc_realloc(r, ns[i] / 2 + 70000);
    CHECK(b[i] && th_verifyw(b[i], ns[i] / 2 + 70000 < ns[i] ? ns[i] / 2 + 70000 : ns[i], (uint64_t)i + 7));
    if (!b[i]) return;
  }
  for (int i = 0; i < 6; i++) mymalloc_free(b[i]);
  mm_heap_check(mm_heap_tls);
}

static void aligned(void) {
  size_t ns[] = { 1, 100, 5000, page - 1, page, page + 1, 70000, 3 * page };
  for (size_t k = 0; k < sizeof(ns) / sizeof(ns[0]); k++) {
    size_t n = ns[k];
    void *v = mymalloc_valloc(n), *pv = mymalloc_pvalloc(n), *m = mymalloc_memalign(page, n);
    void *pm = NULL;
    CHECK(mymalloc_posix_memalign(&pm, page, n) == 0);
    void *all[4] = { v, pv, m, pm };
    for (int j = 0; j < 4; j++) {
      CHECKF(all[j] && aligned_to(all[j], page), "%zu bytes, %d: %p", n, j, all[j]);
      if (all[j]) {
        CHECK(mymalloc_malloc_usable_size(all[j]) >= n);
        th_fill(all[j], n, (unsigned)(n + (size_t)j));
      }
    }
    if (pv) CHECKF(mymalloc_malloc_usable_size(pv) >= mm_align_up(n, page), "pvalloc(%zu)", n);
    for (int j = 0; j < 4; j++) {
      if (all[j]) CHECK(th_verify(all[j], n, (unsigned)(n + (size_t)j)));
      mymalloc_free(all[j]);
    }
  }
  mm_heap_check(mm_heap_tls);
}

/* A child writes at the guard page of b's segment: it must fault (its
 * handler says so by its exit status, also where a sanitizer would take
 * the signal). */
static void on_segv(int sig) { (void)sig; _exit(99); }
static void guard(void *b, size_t at) {
  uint8_t *g = (uint8_t *)mm_segment_of(b) + MM_SEGMENT_SIZE - page + at;
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    signal(SIGSEGV, on_segv);
    *(volatile uint8_t *)g = 1;
    _exit(0);
  }
  int st = 0;
  CHECK(pid > 0 && waitpid(pid, &st, 0) == pid);
  CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 99, "guard page + %zu: status %#x", at, st);
}

static int child(const char *forced) {
  void *first = mymalloc_malloc(16);
  page = mm_os_page;
  CHECKF(page == strtoul(forced, NULL, 0), "the page size is %zu", page);
  CHECK(first != NULL);
  if (th_under_qemu()) {   /* (the rest runs) */
    printf("test_pagesize: the guard page's fault is not tested under qemu-user, "
           "whose forked child trips an assertion of its own on it\n");
  } else {
    guard(first, 0);
    guard(first, page - 1);
  }
  for (int round = 0; round < 2; round++) {
    sizes();
    huge();
    aligned();
    /* everything back, with purges of forced-page granularity */
    CHECK(mymalloc_malloc_trim(0) >= 0);
    mm_heap_check(mm_heap_tls);
  }
  mymalloc_free(first);
  printf("test_pagesize: page size %zu KiB\n", page >> 10);
  return test_done("test_pagesize");
}

int main(int argc, char **argv) {
  (void)argc;
  const char *forced = getenv("MYMALLOC_TEST_PAGE_SIZE");
  if (forced) return child(forced);
  long real = sysconf(_SC_PAGESIZE);
  const char *sizes_[] = { "16384", "65536" };
  for (int k = 0; k < 2; k++) {
    if (real > atol(sizes_[k])) {
      printf("test_pagesize: %s bytes is below this kernel's page size\n", sizes_[k]);
      continue;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
      setenv("MYMALLOC_TEST_PAGE_SIZE", sizes_[k], 1);
      setenv("MYMALLOC_PURGE_DELAY_MS", "0", 1);   /* purges on every slow path */
      /* Debian 12's qemu 7.2 dies on a lowered break (an assertion of its
       * own): mmap only there */
      if (th_under_qemu()) setenv("MYMALLOC_SBRK", "0", 1);
      char *args[] = { argv[0], NULL };
      th_execv(argv[0], args);
      _exit(127);
    }
    int st = 0;
    CHECK(pid > 0 && waitpid(pid, &st, 0) == pid);
    CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0, "page size %s: status %#x", sizes_[k], st);
  }
  return test_done("test_pagesize");
}
