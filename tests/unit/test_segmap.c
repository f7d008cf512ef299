/*
 * test_segmap -- the segment map: put, get and clear, with synthetic
 * addresses across the whole covered range (nothing is dereferenced),
 * neighbours that do not disturb each other, and addresses beyond the map.
 */
#include "internal.h"
#include "segmap.h"
#include "harness.h"

int main(void) {
  const uintptr_t top = (uintptr_t)1 << MM_ADDRESS_BITS;
  const uintptr_t seg = MM_SEGMENT_SIZE;
  uintptr_t addrs[] = { seg, 17 * seg, (uintptr_t)1 << 40, top / 2, top - 2 * seg, top - seg };
  for (size_t k = 0; k < sizeof(addrs) / sizeof(addrs[0]); k++) {
    uintptr_t a = addrs[k];
    CHECK(mm_segmap_shift((void *)a) == 0);
    mm_segmap_put(a, 16);
    /* every address of the granule answers, the neighbours do not */
    CHECK(mm_segmap_shift((void *)a) == 16);
    CHECK(mm_segmap_shift((void *)(a + seg / 2)) == 16);
    CHECK(mm_segmap_shift((void *)(a + seg - 1)) == 16);
    CHECK(mm_segmap_shift((void *)(a - 1)) == 0);
    if (a + seg < top) CHECK(mm_segmap_shift((void *)(a + seg)) == 0);
    /* a neighbour of another kind */
    mm_segmap_put(a - seg, 19);
    CHECK(mm_segmap_shift((void *)(a - 1)) == 19);
    CHECK(mm_segmap_shift((void *)a) == 16);
    /* the segment header test of huge blocks aligned to 4 MiB: p - 1 */
    CHECK(mm_segmap_has(mm_segment_of((void *)(a + seg))));
    /* clear */
    mm_segmap_put(a, 0);
    mm_segmap_put(a - seg, 0);
    CHECK(mm_segmap_shift((void *)a) == 0 && mm_segmap_shift((void *)(a - seg)) == 0);
  }
  /* beyond the map: ignored, and never ours */
  mm_segmap_put(top, 16);
  CHECK(mm_segmap_shift((void *)top) == 0);
  CHECK(mm_segmap_shift((void *)(top + 5 * seg)) == 0);
  CHECK(mm_segmap_shift((void *)UINTPTR_MAX) == 0);
  CHECK(!mm_segmap_has(mm_segment_of(NULL)));   /* free(NULL)'s (p - 1) */
  /* the real heap: a block we returned is in the map, with its shift */
  void *p = mymalloc_malloc(100), *q = mymalloc_malloc(20000);
  CHECK(mm_segmap_shift(p) == MM_SMALL_PAGE_SHIFT);
  CHECK(mm_segmap_shift(q) == MM_MEDIUM_PAGE_SHIFT);
  mymalloc_free(p);
  mymalloc_free(q);
  return test_done("test_segmap");
}
