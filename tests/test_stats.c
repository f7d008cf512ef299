#define _GNU_SOURCE
/* test_stats -- malloc_stats exactness: a known pattern in several threads
 * (some blocks freed by another thread), then the text and the JSON
 * reports are parsed and every counter of the bins used is checked
 * against the expected figures, as the difference between a report taken
 * before and one taken after the pattern.  malloc_info's XML gives the
 * large blocks that mallinfo2 counts. */
#include "harness.h"
#include <mymalloc/malloc.h>
#include <errno.h>
#include <pthread.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/mman.h>

#define NTHREADS 4
#define NCLS 4
/* sizes no library call of this test uses: classes 3072, 7168, 14336, 40960 */
static const size_t size_of[NCLS] = { 3000, 7000, 13000, 40000 };
static const size_t block_of[NCLS] = { 3072, 7168, 14336, 40960 };
static const int count_of[NCLS] = { 600, 300, 150, 40 };
#define HUGE_SIZE (300 * 1024)
#define HUGE_COUNT 5

typedef struct {
  unsigned long long pages, total, used, freeb, pending, allocs, frees, remote;
} bin_t;
typedef struct {
  bin_t bin[NCLS];
  unsigned long long large_blocks, large_requests, large_frees;
} report_t;

static void *handoff[NTHREADS][NCLS][1000];
static pthread_barrier_t barrier;

/* each thread: allocate count_of[c] blocks of each class; free a half
 * itself; hand a quarter to the next thread, which frees them; keep the
 * last quarter until the end (freed by main after the "after" report? no:
 * kept live so that used blocks are checked too). */
static void *worker(void *arg) {
  int id = (int)(intptr_t)arg;
  static void *mine[NTHREADS][NCLS][1000];
  for (int c = 0; c < NCLS; c++)
    for (int i = 0; i < count_of[c]; i++) {
      mine[id][c][i] = mymalloc_malloc(size_of[c]);
      th_fill(mine[id][c][i], size_of[c], (unsigned)(id * 7 + c + i));
    }
  void *hb[HUGE_COUNT];
  for (int i = 0; i < HUGE_COUNT; i++) hb[i] = mymalloc_malloc(HUGE_SIZE);
  for (int i = 0; i < HUGE_COUNT - 1; i++) mymalloc_free(hb[i]);     /* one huge stays live */
  for (int c = 0; c < NCLS; c++) {
    for (int i = 0; i < count_of[c] / 2; i++) mymalloc_free(mine[id][c][i]);
    for (int i = count_of[c] / 2; i < count_of[c] * 3 / 4; i++) handoff[id][c][i] = mine[id][c][i];
  }
  pthread_barrier_wait(&barrier);
  int from = (id + NTHREADS - 1) % NTHREADS;   /* free the previous thread's quarter */
  for (int c = 0; c < NCLS; c++)
    for (int i = count_of[c] / 2; i < count_of[c] * 3 / 4; i++) {
      if (!th_verify(handoff[from][c][i], size_of[c], (unsigned)(from * 7 + c + i))) th_fail++;
      mymalloc_free(handoff[from][c][i]);
    }
  pthread_barrier_wait(&barrier);
  return hb[HUGE_COUNT - 1];
}

static char out[256 * 1024];

static size_t capture(const char *fmt) {
  int fd = memfd_create("stats", 0);
  if (fd < 0) return 0;
  CHECK(mymalloc_stats_print(fd, fmt) == 0);
  off_t n = lseek(fd, 0, SEEK_CUR);
  lseek(fd, 0, SEEK_SET);
  ssize_t r = read(fd, out, sizeof(out) - 1);
  close(fd);
  out[r > 0 ? r : 0] = 0;
  return (size_t)n;
}

static int class_index(unsigned long long block) {
  for (int c = 0; c < NCLS; c++) if (block_of[c] == block) return c;
  return -1;
}

static void parse_text(report_t *r) {
  memset(r, 0, sizeof(*r));
  capture("text");
  for (char *line = out; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
    unsigned bin;
    unsigned long long blk;
    bin_t b;
    if (sscanf(line, " %u %llu %llu %llu %llu %llu %llu %llu %llu %llu", &bin, &blk, &b.pages,
               &b.total, &b.used, &b.freeb, &b.pending, &b.allocs, &b.frees, &b.remote) == 10) {
      int c = class_index(blk);
      if (c >= 0) r->bin[c] = b;
    }
    if (!strncmp(line, "large:", 6))
      sscanf(line, "large: %llu blocks in %*s %*s (mmap), %llu requests, %llu frees",
             &r->large_blocks, &r->large_requests, &r->large_frees);
  }
}

static unsigned long long jnum(const char *s, const char *key) {
  char k[64];
  snprintf(k, sizeof(k), "\"%s\": ", key);
  const char *p = strstr(s, k);
  return p ? strtoull(p + strlen(k), NULL, 10) : ~0ULL;
}

static void parse_json(report_t *r) {
  memset(r, 0, sizeof(*r));
  capture("json");
  CHECK(strstr(out, "\"schema\": \"mymalloc-stats/1\"") != NULL);
  for (char *p = strstr(out, "{\"bin\": "); p; p = strstr(p + 1, "{\"bin\": ")) {
    char *end = strchr(p, '}');
    char save = end[1];
    end[1] = 0;
    int c = class_index(jnum(p, "block_size"));
    if (c >= 0) {
      bin_t *b = &r->bin[c];
      b->pages = jnum(p, "pages"); b->total = jnum(p, "total_blocks");
      b->used = jnum(p, "used_blocks"); b->freeb = jnum(p, "free_blocks");
      b->pending = jnum(p, "pending_blocks"); b->allocs = jnum(p, "alloc_requests");
      b->frees = jnum(p, "free_requests"); b->remote = jnum(p, "remote_free_requests");
    }
    end[1] = save;
  }
  char *l = strstr(out, "\"large\": {");
  CHECK(l != NULL);
  if (l) {
    r->large_blocks = jnum(l, "blocks");
    r->large_requests = jnum(l, "requests");
    r->large_frees = jnum(l, "frees");
  }
}

static void check_delta(const char *what, const report_t *a, const report_t *b) {
  for (int c = 0; c < NCLS; c++) {
    const bin_t *x = &a->bin[c], *y = &b->bin[c];
    unsigned long long n = (unsigned long long)count_of[c] * NTHREADS;
    unsigned long long q = (unsigned long long)(count_of[c] * 3 / 4 - count_of[c] / 2) * NTHREADS;
    CHECKF(y->allocs - x->allocs == n, "%s class %zu: allocs +%llu, expected %llu", what, block_of[c], y->allocs - x->allocs, n);
    unsigned long long f = (unsigned long long)(count_of[c] * 3 / 4) * NTHREADS;
    CHECKF(y->frees - x->frees == f, "%s class %zu: frees +%llu, expected %llu", what, block_of[c], y->frees - x->frees, f);
    CHECKF(y->remote - x->remote == q, "%s class %zu: remote +%llu, expected %llu", what, block_of[c], y->remote - x->remote, q);
    CHECKF(y->used - x->used == n - f, "%s class %zu: used +%llu, expected %llu", what, block_of[c], y->used - x->used, n - f);
    CHECKF(y->used + y->freeb == y->total, "%s class %zu: used+free != total", what, block_of[c]);
    CHECKF(y->allocs - y->frees == y->used, "%s class %zu: allocs-frees != used", what, block_of[c]);
    CHECKF(y->pending <= y->remote, "%s class %zu: pending > remote", what, block_of[c]);
    CHECKF(y->pages > 0 && y->total >= y->used, "%s class %zu: pages/total", what, block_of[c]);
  }
  CHECKF(b->large_requests - a->large_requests == NTHREADS * HUGE_COUNT, "%s large requests +%llu", what, b->large_requests - a->large_requests);
  CHECKF(b->large_frees - a->large_frees == NTHREADS * (HUGE_COUNT - 1), "%s large frees +%llu", what, b->large_frees - a->large_frees);
  CHECKF(b->large_blocks - a->large_blocks == NTHREADS, "%s large blocks +%llu", what, b->large_blocks - a->large_blocks);
}

/* malloc_info: glibc's XML, whose figures are mallinfo2's */
static void check_malloc_info(void) {
  char *xml = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&xml, &len);
  CHECK(f != NULL);
  if (!f) return;
  struct mallinfo2 before = mymalloc_mallinfo2();
  CHECK(mymalloc_malloc_info(0, f) == 0);
  struct mallinfo2 after = mymalloc_mallinfo2();
  fclose(f);
  CHECKF(len > 40 && !strncmp(xml, "<malloc version=\"1\">\n", 20) &&
         !strcmp(xml + len - 10, "</malloc>\n"), "malloc_info wrote: %s", xml);
  unsigned long long count = 0, size = 0;
  const char *m = strstr(xml, "<total type=\"mmap\" count=\"");
  CHECKF(m && sscanf(m, "<total type=\"mmap\" count=\"%llu\" size=\"%llu\"/>", &count, &size) == 2,
         "no mmap total in: %s", xml);
  /* the large blocks kept by the workers, as mallinfo2 counts them */
  CHECKF(count >= NTHREADS && count == before.hblks && count == after.hblks &&
         size == before.hblkhd, "malloc_info: %llu large blocks in %llu bytes, mallinfo2: %zu in %zu",
         count, size, before.hblks, before.hblkhd);
  CHECK(strstr(xml, "<system type=\"current\" size=\"") != NULL);
  free(xml);
  /* options must be 0 */
  errno = 0;
  CHECK(mymalloc_malloc_info(1, stdout) == -1 && errno == EINVAL);
}

int main(void) {
  static report_t t0, j0, t1, j1;
  capture("json");
  if (strstr(out, "\"request_counters\": 0")) {
    th_skip("test_stats", "a --disable-stats build counts no requests");
  }
  parse_text(&t0);
  parse_json(&j0);
  pthread_barrier_init(&barrier, NULL, NTHREADS);
  pthread_t th[NTHREADS];
  void *keep[NTHREADS];
  for (int i = 0; i < NTHREADS; i++) pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i);
  for (int i = 0; i < NTHREADS; i++) pthread_join(th[i], &keep[i]);
  parse_text(&t1);
  parse_json(&j1);
  check_delta("text", &t0, &t1);
  check_delta("json", &j0, &j1);
  for (int c = 0; c < NCLS; c++) {
    CHECKF(memcmp(&t1.bin[c], &j1.bin[c], sizeof(bin_t)) == 0, "text and json differ for class %zu", block_of[c]);
  }
  /* unknown format: -1, EINVAL */
  errno = 0;
  CHECK(mymalloc_stats_print(1, "xml") == -1 && errno == EINVAL);
  check_malloc_info();
  for (int i = 0; i < NTHREADS; i++) mymalloc_free(keep[i]);
  return test_done("test_stats");
}
