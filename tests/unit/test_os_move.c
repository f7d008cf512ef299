/*
 * test_os_move -- mm_os_move, the mremap move of cached pages into a
 * block: whole, across two kernel mappings, and by halves (the path that
 * kernels before 6.17 need for ranges spanning several mappings, forced
 * here by the test seam on any kernel).  Contents, the source gone, and
 * the accounting.
 */
#include "internal.h"
#include "os.h"
#include "harness.h"

#include <sys/mman.h>

static int mapped(void *a, size_t len) {
  unsigned char v[64];
  return mincore(a, len < 64 * mm_os_page ? len : 64 * mm_os_page, v) == 0;
}

static void one(const char *what, size_t len, int split, int two_mappings) {
  uint8_t *src = mm_os_mmap(len), *dst = mm_os_mmap(len);
  CHECK(src && dst);
  if (!src || !dst) return;
  th_fillw(src, len, len + (size_t)split);
  if (two_mappings) CHECK(madvise(src + len / 2, len / 2, MADV_DONTFORK) == 0);   /* a second VMA */
  uint64_t before = atomic_load(&mm_os_counters.mmap_bytes);
  mm_os_test_split_moves = split;
  size_t moved = mm_os_move(src, len, dst);
  mm_os_test_split_moves = 0;
  CHECKF(moved == len, "%s: moved %zu of %zu", what, moved, len);
  CHECKF(th_verifyw(dst, len, len + (size_t)split), "%s: contents", what);
  CHECKF(!mapped(src, len), "%s: the source is still mapped", what);
  CHECKF(atomic_load(&mm_os_counters.mmap_bytes) == before - len, "%s: mmap_bytes", what);
  mm_os_munmap(dst, len);
}

int main(void) {
  mymalloc_free(mymalloc_malloc(1));   /* the process is set up (page size) */
  size_t pg = mm_os_page;
  one("whole", 256 * pg, 0, 0);
  one("two mappings", 256 * pg, 0, 1);
  one("by halves", 256 * pg, 3, 0);
  one("by halves, two mappings", 256 * pg, 3, 1);
  one("odd length by halves", 37 * pg, 5, 0);
  one("one page", pg, 4, 0);
  return test_done("test_os_move");
}
