/*
 * test_pool -- the pool of free segments: a purge gives back pooled
 * segments only, never one taken back into use.
 *
 * The pool keeps its segments newest first and purges from its tail
 * (the oldest).  With two resident segments allowed and no purge by age:
 * three segments freed (the third makes the pool give back the oldest),
 * one taken again, one freed, one taken again, two freed (a purge).  An
 * old bug read the tail's neighbour after unlinking it: the tail became
 * NULL, then a segment that was taken again, and that purge unmapped it
 * under its live pages (or purged them, from sbrk).  Each segment here
 * holds one page of a heap that no thread uses.
 */
#include "internal.h"
#include "heap.h"
#include "options.h"
#include "segment.h"
#include "state.h"
#include "harness.h"

#include <sys/mman.h>

static int mapped(const void *a) {
  unsigned char v;
  return mincore((void *)((uintptr_t)a & ~(mm_os_page - 1)), 1, &v) == 0;
}

static mm_heap_t *h;

static mm_page_t *take(void) {
  mm_segment_t *s = mm_segment_alloc(h, MM_MEDIUM);
  CHECK(s != NULL);
  if (!s) return NULL;
  mm_page_t *pg = mm_segment_page_alloc(h, MM_MEDIUM);
  CHECK(pg != NULL && mm_segment_of(pg) == s);
  return pg;
}

/* The segment of pg is still ours: mapped, its header intact, mapped
 * in the segment map. */
static int intact(const mm_page_t *pg) {
  mm_segment_t *s = mm_segment_of(pg);
  return mapped(s) && s->cookie == (mm_secret ^ (uintptr_t)s) && s->used_pages == 1;
}

static void run(int sbrk) {
  mm_options[MM_OPT_SBRK] = sbrk;
  mm_page_t *p[8];
  for (int i = 0; i < 6; i++) p[i] = take();
  mm_segment_page_free(h, p[0]);   /* pool: 0 */
  mm_segment_page_free(h, p[1]);   /* pool: 1 0 */
  mm_segment_page_free(h, p[2]);   /* pool: 2 1 (0 given back) */
  p[6] = take();                   /* takes 2; pool: 1 */
  mm_segment_page_free(h, p[3]);   /* pool: 3 1 */
  p[7] = take();                   /* takes 3; pool: 1 */
  mm_segment_page_free(h, p[4]);   /* pool: 4 1 */
  mm_segment_page_free(h, p[5]);   /* pool: 5 4 (1 given back) */
  CHECKF(p[6] && intact(p[6]), "sbrk %d: a segment taken from the pool was given back", sbrk);
  CHECKF(p[7] && intact(p[7]), "sbrk %d: the segment taken last from the pool was given back", sbrk);
  if (p[6] && intact(p[6])) mm_segment_page_free(h, p[6]);
  if (p[7] && intact(p[7])) mm_segment_page_free(h, p[7]);
  mm_segment_pool_purge(true);
}

int main(void) {
  mymalloc_free(mymalloc_malloc(1));   /* the process is set up */
  th_skip_under_valgrind("test_pool", "memcheck holds the break's memory undefined");
  h = mm_heap_create_shared();
  CHECK(h != NULL);
  if (!h) return test_done("test_pool");
  mm_options[MM_OPT_SEGMENT_POOL] = 2;
  mm_options[MM_OPT_PURGE_DELAY_MS] = 3600000;
  run(0);
  if (!th_sbrk_disabled()) run(1);
  return test_done("test_pool");
}
