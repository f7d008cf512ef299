/*
 * test_sizeclass -- the size-class tables against their definitions:
 * the class of every size up to the largest class, the lookup table
 * against the formula of mm_size_class, each class's block-start constants
 * against division for every offset in a segment, the cross-thread cache
 * bounds.
 */
#include "internal.h"
#include "sizeclass.h"
#include "harness.h"

/* mm_size_class's formula, extended below 1 KiB: 16-byte steps to 128,
 * then four classes per doubling */
static unsigned formula(size_t n) {
  if (n <= 128) return n ? (unsigned)((n + 15) / 16 - 1) : 0;
  size_t m = n - 1;
  unsigned bit = 63u - (unsigned)__builtin_clzl(m);
  return 8u + (bit - 7u) * 4u + (unsigned)((m >> (bit - 2u)) & 3u);
}

int main(void) {
  /* the list: ascending multiples of 16, the last one MM_MEDIUM_MAX */
  int asc = 1;
  for (unsigned c = 0; c < MM_NCLASSES; c++) {
    if (mm_class_size[c] % MM_ALIGN) asc = 0;
    if (c && mm_class_size[c] <= mm_class_size[c - 1]) asc = 0;
  }
  CHECK(asc);
  CHECK(mm_class_size[MM_NCLASSES - 1] == MM_MEDIUM_MAX);
  CHECK(mm_class_size[MM_LOOKUP_CLASSES - 1] == MM_LOOKUP_MAX);
  /* the fast slots of each class are those whose sizes fall in it */
  for (unsigned c = 0; c < MM_LOOKUP_CLASSES; c++)
    for (unsigned i = c ? mm_class_slot_end[c - 1] : 0; i < mm_class_slot_end[c]; i++) CHECK(mm_class_lookup[i] == c);
  CHECK(mm_class_slot_end[MM_LOOKUP_CLASSES - 1] == MM_NSLOTS);

  /* every size: the smallest class that holds it */
  size_t bad = 0;
  for (size_t n = 0; n <= MM_MEDIUM_MAX; n++) {
    unsigned c = mm_size_class(n);
    if (c >= MM_NCLASSES || mm_class_size[c] < n || (c && mm_class_size[c - 1] >= n)) {
      if (bad++ < 5) fprintf(stderr, "size %zu: class %u\n", n, c);
    }
  }
  CHECKF(bad == 0, "%zu sizes in the wrong class", bad);

  /* the lookup table against the formula */
  bad = 0;
  for (size_t i = 0; i < MM_NSLOTS; i++)
    if (mm_class_lookup[i] != formula(i * 16)) bad++;
  CHECKF(bad == 0, "%zu lookup entries differ from the formula", bad);
  for (size_t n = MM_LOOKUP_MAX + 1; n <= MM_MEDIUM_MAX; n++)
    if (mm_size_class(n) != formula(n)) bad++;
  CHECK(bad == 0);

  /* the block-start test: exactly the starts of the blocks carved so far,
   * for every offset of a pointer inside a segment (|off| < 4 MiB from
   * the page start), with none, some and all blocks carved */
  const long seg = (long)MM_SEGMENT_SIZE;
  for (unsigned c = 0; c < MM_NCLASSES; c++) {
    long size = mm_class_size[c];
    long page = size <= MM_SMALL_MAX ? 1L << MM_SMALL_PAGE_SHIFT : 1L << MM_MEDIUM_PAGE_SHIFT;
    long cap = page / size;
    long reserved[] = { 0, 1, cap / 2, cap };
    mm_page_t pg;
    memset(&pg, 0, sizeof(pg));
    pg.start = (uint8_t *)(uintptr_t)0x40000000u;
    pg.magic = mm_class_magic[c];
    CHECK((uint64_t)size * pg.magic == mm_class_step[c] && mm_class_step[c] >= 1 && mm_class_step[c] <= (uint64_t)size);
    for (size_t k = 0; k < 4; k++) {
      long r = reserved[k];
      pg.limit = (uint64_t)r * mm_class_step[c];
      /* every offset near the page for each carving, all of the segment
       * for the full one */
      long lo = k == 3 ? -seg : -2 * size, hi = k == 3 ? seg : page + 2 * size;
      size_t wrong = 0;
      for (long off = lo; off < hi; off++) {
        bool want = off >= 0 && off % size == 0 && off / size < r;
        if (mm_is_block_start(&pg, pg.start + off) != want) wrong++;
      }
      CHECKF(wrong == 0, "class %u (%ld bytes), %ld carved: %zu offsets wrong", c, size, r, wrong);
    }
  }

  /* the cross-thread cache: none under 64 bytes, else 32 KiB of the
   * class but 8 to 512 blocks */
  for (unsigned c = 0; c < MM_NCLASSES; c++) {
    size_t size = mm_class_size[c], cap = mm_xcache_cap[c];
    if (size < 64) CHECK(cap == 0);
    else CHECKF(cap >= 8 && cap <= 512 &&
                (cap == 8 || cap * size <= 32768) &&                 /* 32 KiB ... */
                (cap == 512 || (cap + 1) * size > 32768),             /* ... as many as fit */
                "class %u: cap %zu", c, cap);
  }
  return test_done("test_sizeclass");
}
