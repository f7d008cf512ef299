/*
 * test_kept -- a thread keeps the pages it empties, up to MM_KEPT_MAX
 * bytes of them (internal.h, I9): its next mallocs of the class take
 * them as they are (no new page, no carving), and they go back to their
 * segment at the next purge and at malloc_trim.
 *
 * A program that frees a batch of blocks and allocates the next one (the
 * pattern of rpmalloc's benchmark) empties pages and needs them again at
 * once; given back at once, each came back as a new page, carved block
 * by block (one block per carve for blocks of 4 KiB and up).
 */
#include "internal.h"
#include "check.h"
#include "state.h"
#include "harness.h"

#include <stdlib.h>
#include <unistd.h>

#define SIZE 4096                /* 64 KiB pages of 16 blocks */
#define PAGES 24                 /* more than MM_KEPT_MAX / 64 KiB */

static mm_page_t *page_of(void *p) { return mm_page_of(mm_segment_of(p), p); }

static void *blk[PAGES][64];
static mm_page_t *pages[PAGES];
static unsigned cap;

int main(void) {
  mymalloc_free(mymalloc_malloc(1));   /* the process is set up */
  th_skip_under_valgrind("test_kept", "the checked mode keeps no current page");
  if (mm_checked_mode()) th_skip("test_kept", "the checked mode (MYMALLOC_CHECK=full) keeps no current page");
  if (getenv("MYMALLOC_PURGE_DELAY_MS"))
    th_skip("test_kept", "MYMALLOC_PURGE_DELAY_MS is set: the test needs the default 250 ms");
  mm_heap_t *h = mm_heap_tls;
  /* PAGES + 1 pages of the class, each filled: the last one is current */
  void *first = mymalloc_malloc(SIZE);
  CHECK(first != NULL);
  mm_page_t *pg0 = page_of(first);
  unsigned c = pg0->class_idx;
  cap = pg0->capacity;
  CHECKF(cap >= 8 && cap <= 64, "a page of %u blocks", cap);
  /* start on a fresh page: fill the first one */
  void *pad[64];
  unsigned npad = 0;
  pad[npad++] = first;
  while (page_of(pad[npad - 1]) == pg0 && npad < 64) pad[npad++] = mymalloc_malloc(SIZE);
  void *next = pad[--npad];   /* the first block of a new page */
  for (int k = 0; k < PAGES; k++) {
    for (unsigned i = 0; i < cap; i++) {
      blk[k][i] = i == 0 && k == 0 ? next : mymalloc_malloc(SIZE);
      CHECK(blk[k][i] != NULL);
      if (i == 0) pages[k] = page_of(blk[k][i]);
      CHECKF(page_of(blk[k][i]) == pages[k], "page %d block %u on its page", k, i);
      memset(blk[k][i], k, SIZE);
    }
  }
  void *cur_blk = mymalloc_malloc(SIZE);   /* a new current page */
  mm_page_t *cur = page_of(cur_blk);
  CHECK(h->current[c] == cur);
  uint64_t npages = h->npages[c];
  CHECKF(h->kept == NULL && h->kept_bytes == 0, "nothing kept yet (%zu bytes)", h->kept_bytes);

  /* empty the pages one by one: kept while they fit in MM_KEPT_MAX */
  size_t bytes = (size_t)cap * SIZE;
  size_t fit = MM_KEPT_MAX / bytes;
  CHECKF(fit >= 2 && fit < PAGES, "%zu pages fit", fit);
  for (int k = 0; k < PAGES; k++) {
    for (unsigned i = 0; i < cap; i++) {
      CHECK(((unsigned char *)blk[k][i])[SIZE - 1] == (unsigned char)k);
      mymalloc_free(blk[k][i]);
    }
    if ((size_t)k < fit) {
      CHECKF(pages[k]->kept && pages[k]->block_size == SIZE && h->kept == pages[k],
             "emptied page %d kept", k);
      CHECKF(h->kept_bytes == (size_t)(k + 1) * bytes, "%zu bytes kept after %d pages",
             h->kept_bytes, k + 1);
    } else {
      CHECKF(!pages[k]->kept, "page %d beyond MM_KEPT_MAX not kept", k);
      CHECKF(h->kept_bytes == fit * bytes, "still %zu bytes kept", h->kept_bytes);
    }
  }
  mm_heap_check(h);
  CHECKF(h->npages[c] == npages - (PAGES - fit), "%llu pages held, not %llu",
         (unsigned long long)h->npages[c], (unsigned long long)(npages - (PAGES - fit)));

  /* the class reuses a kept page once its current page runs dry */
  void *again[64];
  unsigned n = 0;
  void *p;
  while ((p = mymalloc_malloc(SIZE)) != NULL && page_of(p) == cur && n < 64) again[n++] = p;
  CHECK(p != NULL);
  mm_page_t *reused = page_of(p);
  CHECKF(reused != cur && h->npages[c] == npages - (PAGES - fit), "no new page: a kept one");
  int which = -1;
  for (size_t k = 0; k < fit; k++)
    if (pages[k] == reused) which = (int)k;
  CHECKF(which >= 0 && !reused->kept, "the page came from the kept ones (%d)", which);
  CHECKF(h->kept_bytes == (fit - 1) * bytes, "%zu bytes kept after the reuse", h->kept_bytes);
  CHECKF(reused->reserved == reused->capacity,
         "its blocks as they were (%u of %u carved), not carved again", reused->reserved, reused->capacity);
  mm_heap_check(h);
  mymalloc_free(p);
  for (unsigned i = 0; i < n; i++) mymalloc_free(again[i]);

  /* malloc_trim gives them all back */
  mymalloc_malloc_trim(0);
  mymalloc_free(mymalloc_malloc(SIZE));   /* (the trim is done by the next slow path) */
  CHECKF(h->kept == NULL && h->kept_bytes == 0, "%zu bytes kept after malloc_trim", h->kept_bytes);

  /* and so does the purge, after MYMALLOC_PURGE_DELAY_MS (250 ms): a
   * page emptied while a later page of its class is current is kept */
  void *pre[64];   /* the rest of the current page first */
  unsigned npre = 0;
  pre[npre++] = mymalloc_malloc(SIZE);
  mm_page_t *pre_page = page_of(pre[0]);
  while (npre < 64 && page_of(pre[npre - 1]) == pre_page) pre[npre++] = mymalloc_malloc(SIZE);
  blk[0][0] = pre[--npre];   /* the first block of a new page */
  for (int k = 0; k < 3; k++)
    for (unsigned i = k == 0; i < cap; i++) blk[k][i] = mymalloc_malloc(SIZE);
  void *last = mymalloc_malloc(SIZE);
  mm_page_t *a = page_of(blk[0][0]);
  CHECKF(page_of(blk[0][cap - 1]) == a && h->current[c] != a, "a full page, not current");
  for (unsigned i = 0; i < cap; i++) mymalloc_free(blk[0][i]);
  size_t kept_now = h->kept_bytes;
  CHECKF(a->kept && kept_now == bytes, "the emptied page kept (%zu bytes)", kept_now);
  uint64_t held = h->npages[c];
  mm_heap_check(h);
  usleep(300 * 1000);
  /* slow paths of another class: the clock is read every 8th refill */
  static void *small[20000];
  for (int i = 0; i < 20000; i++) small[i] = mymalloc_malloc(64);
  CHECKF(!a->kept && h->kept == NULL && h->kept_bytes == 0,
         "kept pages given back at the purge (%zu -> %zu bytes)", kept_now, h->kept_bytes);
  CHECKF(h->npages[c] == held - 1 && a->block_size != SIZE, "its slot back to the segment (%llu pages)",
         (unsigned long long)h->npages[c]);
  mm_heap_check(h);
  for (int i = 0; i < 20000; i++) mymalloc_free(small[i]);
  for (int k = 1; k < 3; k++)
    for (unsigned i = 0; i < cap; i++) mymalloc_free(blk[k][i]);
  mymalloc_free(last);
  for (unsigned i = 0; i < npre; i++) mymalloc_free(pre[i]);
  mymalloc_free(cur_blk);
  for (unsigned i = 0; i < npad; i++) mymalloc_free(pad[i]);
  return test_done("test_kept");
}
