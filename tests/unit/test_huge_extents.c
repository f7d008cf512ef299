/*
 * test_huge_extents -- the huge cache's extents, split and merged: a
 * freed mapping serves a smaller block in place (its rest stays cached as
 * a piece), a piece's pages are moved into a new block, and a freed block
 * merges with the piece that follows it, so that a larger block fits in
 * place again.  Counted through mm_huge_counters, placed by address.
 */
#include "internal.h"
#include "huge.h"
#include "options.h"
#include "os.h"
#include "harness.h"

#define MiB ((size_t)1 << 20)

static size_t cached(void) { return (size_t)atomic_load(&mm_huge_counters.cached_bytes); }

int main(void) {
  th_skip_under_valgrind("test_huge_extents", "under valgrind huge blocks are copied, never moved from the cache");
  mymalloc_malloc_trim(0);                      /* the cache is empty */
  mm_options[MM_OPT_HUGE_DECAY_MS] = 600000;    /* nothing decays during the test */
  mm_options[MM_OPT_HUGE_CACHE_MB] = 1024;
  CHECK(cached() == 0);
  size_t pg = mm_os_page, hdr = pg;             /* the block starts one page in */

  char *p = mymalloc_malloc(8 * MiB);
  CHECK(p != NULL && ((uintptr_t)p & (MM_SEGMENT_SIZE - 1)) == hdr);
  th_fillw(p, 8 * MiB, 1);
  mymalloc_free(p);
  size_t whole = 8 * MiB + hdr;                 /* the mapping */
  CHECKF(cached() == whole, "cached %zu, want %zu", cached(), whole);

  /* split: a smaller block in place, its rest a piece */
  char *q = mymalloc_malloc(2 * MiB);
  CHECK(q == p);
  size_t qmap = 2 * MiB + hdr;
  CHECKF(cached() == whole - qmap, "after the split: cached %zu, want %zu", cached(), whole - qmap);
  CHECK(th_verifyw(q, 2 * MiB, 1));             /* the same pages: the same bytes */

  /* a piece's pages moved into a new mapping; calloc clears them */
  char *r = mymalloc_calloc(1, MiB);
  size_t rmap = MiB + hdr;
  CHECK(r != NULL && r != q);
  CHECKF(cached() == whole - qmap - rmap, "after the move: cached %zu, want %zu", cached(), whole - qmap - rmap);
  size_t nonzero = 0;
  for (size_t i = 0; i < MiB; i += 8) nonzero += *(uint64_t *)(r + i) != 0;
  CHECK(nonzero == 0);

  /* merge: q's mapping and the piece after it are one extent again */
  mymalloc_free(q);
  CHECKF(cached() == whole - rmap, "after the merge: cached %zu, want %zu", cached(), whole - rmap);
  char *m = mymalloc_malloc(whole - rmap - hdr);
  CHECKF(m == p, "the merged extent serves %zu bytes in place (%p, want %p)", whole - rmap - hdr, (void *)m, (void *)p);
  CHECK(cached() == 0);
  th_fillw(m, whole - rmap - hdr, 2);
  CHECK(th_verifyw(m, whole - rmap - hdr, 2));
  mymalloc_free(m);
  mymalloc_free(r);

  /* trim empties the cache */
  CHECK(mymalloc_malloc_trim(0) == 1);
  CHECK(cached() == 0);
  (void)pg;
  return test_done("test_huge_extents");
}
