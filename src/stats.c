/*
 * stats.c -- the heap report: malloc_stats(), mymalloc_stats_print() as
 * text or JSON, mallinfo2().
 *
 * Counting: each heap counts, per size class, its allocation requests,
 * its free requests (and of those, cross-thread frees: of blocks on
 * another heap's page) and the cross-thread frees it collected into its
 * own pages or reused from its cache.  Only the owning thread writes these
 * counters (plain increments, no atomic read-modify-write); the report
 * reads them with relaxed loads.  A heap's counters are folded into the
 * process totals (mm_heaps_dead, heap.c) when its thread exits, under
 * mm_heaps_lock, so nothing is counted twice or lost.
 *
 * Per bin:  used  = allocation requests - free requests   (blocks the
 *                   program holds)
 *           free  = total - used  (includes the "pending" blocks: freed
 *                   by another thread and not yet collected by the owner,
 *                   or kept in that thread's foreign cache for reuse)
 *           total = capacity of the pages held (live and abandoned heaps)
 * Exact once the threads that did the work are quiescent; while they run,
 * a figure may lag by the operations in flight on those threads.
 */
#include "api.h"
#include "format.h"
#include "heap.h"
#include "huge.h"
#include "init.h"
#include "options.h"
#include "os.h"
#include "prof.h"
#include "segmap.h"
#include "segment.h"
#include "sizeclass.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

/* ---- snapshot ------------------------------------------------------------- */
typedef struct {
  uint64_t nmalloc, nfree, nfree_xthread, pending, pages, blocks, used, freeb;
} bin_t;

typedef struct {
  bin_t bin[MM_NCLASSES];
  uint64_t sbrk, mmap, purged, peak, held;
  uint64_t huge_count, huge_bytes, huge_requests, huge_frees, huge_cached;
  uint64_t heaps_live, segments, segments_abandoned;
  uint64_t in_use, free_bytes, meta, bins_used;
} snap_t;

static void snapshot(snap_t *s) {
  memset(s, 0, sizeof(*s));
  uint64_t collected[MM_NCLASSES] = { 0 };
  pthread_mutex_lock(&mm_heaps_lock);
  for (unsigned c = 0; c < MM_NCLASSES; c++) {
    bin_t *b = &s->bin[c];
    b->nmalloc = mm_heaps_dead[c].nmalloc;
    b->nfree = mm_heaps_dead[c].nfree;
    b->nfree_xthread = mm_heaps_dead[c].nfree_xthread;
    collected[c] = mm_heaps_dead[c].ncollected;
    b->pages = mm_heaps_dead[c].pages;
    b->blocks = mm_heaps_dead[c].blocks;
  }
  for (mm_heap_t *h = mm_heaps; h; h = h->next_heap) {
    s->heaps_live += !h->shared;   /* (the profiler's is not a thread's) */
    uint64_t fast[MM_NCLASSES] = { 0 };
    mm_fast_requests(h, fast, mm_class_lookup);
    for (unsigned c = 0; c < MM_NCLASSES; c++) s->bin[c].nmalloc += fast[c];
    for (unsigned c = 0; c < MM_NCLASSES; c++) {
      bin_t *b = &s->bin[c];
      b->nmalloc += mm_load_relaxed(&h->nmalloc[c]);
      const mm_xcache_t *x = &h->xcache[c];
      uint64_t reused = mm_xcache_reused(x);
      b->nmalloc += reused;
      uint64_t xthread = mm_load_relaxed(&x->npushed) + mm_load_relaxed(&x->nxlist);
      b->nfree += mm_load_relaxed(&h->nfree[c]) + xthread;
      b->nfree_xthread += xthread;
      collected[c] += mm_load_relaxed(&x->ncollected) + reused;
      b->pages += mm_load_relaxed(&h->npages[c]);
      b->blocks += mm_load_relaxed(&h->nblocks[c]);
    }
  }
  pthread_mutex_unlock(&mm_heaps_lock);
  for (unsigned c = 0; c < MM_NCLASSES; c++) {
    bin_t *b = &s->bin[c];
    uint64_t heapless = atomic_load(&mm_heapless_frees[c]);
    b->nfree += heapless;
    b->nfree_xthread += heapless;
    b->pages += atomic_load(&mm_abandoned_pages[c]);
    b->blocks += atomic_load(&mm_abandoned_blocks[c]);
    b->pending = b->nfree_xthread > collected[c] ? b->nfree_xthread - collected[c] : 0;
    b->used = b->nmalloc > b->nfree ? b->nmalloc - b->nfree : 0;
    if (b->used > b->blocks) b->used = b->blocks;   /* only while threads run */
    b->freeb = b->blocks - b->used;
    if (b->nmalloc || b->pages) s->bins_used++;
    s->in_use += b->used * mm_class_size[c];
    s->free_bytes += b->freeb * mm_class_size[c];
  }
  s->sbrk = atomic_load(&mm_os_counters.sbrk_bytes);
  s->mmap = atomic_load(&mm_os_counters.mmap_bytes);
  s->purged = atomic_load(&mm_os_counters.purged_bytes);
  s->peak = atomic_load(&mm_os_counters.peak_bytes);
  s->held = s->sbrk + s->mmap - s->purged;
  s->huge_count = atomic_load(&mm_huge_counters.count);
  s->huge_bytes = atomic_load(&mm_huge_counters.bytes);
  s->huge_requests = atomic_load(&mm_huge_counters.requests);
  s->huge_frees = atomic_load(&mm_huge_counters.frees);
  s->huge_cached = atomic_load(&mm_huge_counters.cached_bytes);
  s->segments_abandoned = atomic_load(&mm_segments_abandoned);
  s->segments = atomic_load(&mm_segments_held);
  s->in_use += s->huge_bytes;
  s->free_bytes += s->huge_cached;
  s->meta = s->segments * mm_align_up(sizeof(mm_segment_t), mm_os_page) +
            s->heaps_live * sizeof(mm_heap_t) + sizeof(mm_os_counters) + sizeof(mm_huge_counters) + MM_SEGMAP_SIZE / 8192;
}

/* The snapshot is 20 KiB: kept off the stack, under this lock. */
static snap_t snap_static;
static pthread_mutex_t mm_stats_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- text ------------------------------------------------------------------- */
static const char *program_name(char *buf, size_t cap) {
  /* /proc/self/comm: a read(2), no allocation */
  int fd = open("/proc/self/comm", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "?";
  ssize_t n = read(fd, buf, cap - 1);
  close(fd);
  if (n <= 0) return "?";
  if (buf[n - 1] == '\n') n--;
  buf[n] = 0;
  return buf;
}

static void print_text(mm_buf_t *b, const snap_t *s) {
  char name[64];
  mm_buf_str(b, "mymalloc " PACKAGE_VERSION " heap report, pid ");
  mm_buf_u64(b, (uint64_t)getpid());
  mm_buf_str(b, " (");
  mm_buf_str(b, program_name(name, sizeof(name)));
  mm_buf_str(b, ")\narena:    ");
  mm_buf_size(b, s->sbrk + s->mmap);
  mm_buf_str(b, " from the kernel (sbrk ");
  mm_buf_size(b, s->sbrk);
  mm_buf_str(b, ", mmap ");
  mm_buf_size(b, s->mmap);
  mm_buf_str(b, "), ");
  mm_buf_size(b, s->purged);
  mm_buf_str(b, " returned, ");
  mm_buf_size(b, s->held);
  mm_buf_str(b, " held, peak ");
  mm_buf_size(b, s->peak);
  mm_buf_str(b, "\nbins:     ");
  mm_buf_u64(b, MM_NCLASSES);
  mm_buf_str(b, " size classes, ");
  mm_buf_u64(b, s->bins_used);
  mm_buf_str(b, " used; heaps: ");
  mm_buf_u64(b, s->heaps_live);
  mm_buf_str(b, " live, ");
  mm_buf_u64(b, s->segments_abandoned);
  mm_buf_str(b, " abandoned segments\n");
  mm_buf_str(b, "  bin  block   pages    total     used     free  pending   allocs    frees   remote\n");
  for (unsigned c = 0; c < MM_NCLASSES; c++) {
    const bin_t *x = &s->bin[c];
    if (!x->nmalloc && !x->pages) continue;
    mm_buf_u64_col(b, c, 5);
    mm_buf_u64_col(b, mm_class_size[c], 7);
    mm_buf_u64_col(b, x->pages, 8);
    mm_buf_u64_col(b, x->blocks, 9);
    mm_buf_u64_col(b, x->used, 9);
    mm_buf_u64_col(b, x->freeb, 9);
    mm_buf_u64_col(b, x->pending, 9);
    mm_buf_u64_col(b, x->nmalloc, 9);
    mm_buf_u64_col(b, x->nfree, 9);
    mm_buf_u64_col(b, x->nfree_xthread, 9);
    mm_buf_str(b, "\n");
  }
  mm_buf_str(b, "large:    ");
  mm_buf_u64(b, s->huge_count);
  mm_buf_str(b, " blocks in ");
  mm_buf_size(b, s->huge_bytes);
  mm_buf_str(b, " (mmap), ");
  mm_buf_u64(b, s->huge_requests);
  mm_buf_str(b, " requests, ");
  mm_buf_u64(b, s->huge_frees);
  mm_buf_str(b, " frees, ");
  mm_buf_size(b, s->huge_cached);
  mm_buf_str(b, " cached\ntotals:   in use ");
  mm_buf_size(b, s->in_use);
  mm_buf_str(b, ", free in bins ");
  mm_buf_size(b, s->free_bytes);
  mm_buf_str(b, ", metadata ");
  mm_buf_size(b, s->meta);
  mm_buf_str(b, ", held/in-use ");
  uint64_t r100 = s->in_use ? s->held * 100 / s->in_use : 0;
  mm_buf_u64(b, r100 / 100);
  mm_buf_str(b, ".");
  mm_buf_u64(b, (r100 % 100) / 10);
  mm_buf_u64(b, r100 % 10);
  mm_buf_str(b, "\n");
  mm_prof_info_t pi;
  mm_prof_info(&pi);
  if (!pi.rate) {
    mm_buf_str(b, "profile:  off\n");
    return;
  }
  mm_buf_str(b, "profile:  one sample per ");
  mm_buf_size(b, pi.rate);
  mm_buf_str(b, ", ");
  mm_buf_u64(b, pi.live);
  mm_buf_str(b, " samples in use (");
  mm_buf_size(b, pi.live_bytes);
  mm_buf_str(b, "), ");
  mm_buf_u64(b, pi.stacks);
  mm_buf_str(b, " stacks, ");
  mm_buf_u64(b, pi.dropped);
  mm_buf_str(b, " dropped; its own tables ");
  mm_buf_size(b, pi.table_bytes);
  mm_buf_str(b, " (at most ");
  mm_buf_size(b, pi.limit_bytes);
  mm_buf_str(b, ")\n");
}

/* ---- JSON ------------------------------------------------------------------------- */
static void kv(mm_buf_t *b, const char *k, uint64_t v, bool comma) {
  mm_buf_str(b, "\"");
  mm_buf_str(b, k);
  mm_buf_str(b, "\": ");
  mm_buf_u64(b, v);
  if (comma) mm_buf_str(b, ", ");
}

static void print_json(mm_buf_t *b, const snap_t *s) {
  char name[64];
  const char *pn = program_name(name, sizeof(name));
  mm_buf_str(b, "{\"schema\": \"mymalloc-stats/1\", \"version\": \"" PACKAGE_VERSION "\", ");
  kv(b, "request_counters", MM_STATS, true);   /* 0: --disable-stats build */
  kv(b, "pid", (uint64_t)getpid(), true);
  mm_buf_str(b, "\"program\": \"");
  for (const char *p = pn; *p; p++) {   /* comm: printable, but be safe */
    char ch[2] = { (*p == '"' || *p == '\\' || (unsigned char)*p < 32) ? '_' : *p, 0 };
    mm_buf_str(b, ch);
  }
  mm_buf_str(b, "\",\n \"arena\": {");
  kv(b, "sbrk_bytes", s->sbrk, true);
  kv(b, "mmap_bytes", s->mmap, true);
  kv(b, "returned_bytes", s->purged, true);
  kv(b, "held_bytes", s->held, true);
  kv(b, "peak_bytes", s->peak, false);
  mm_buf_str(b, "},\n \"heaps\": {");
  kv(b, "live", s->heaps_live, true);
  kv(b, "abandoned_segments", s->segments_abandoned, false);
  mm_buf_str(b, "},\n ");
  kv(b, "nbins", MM_NCLASSES, true);
  mm_buf_str(b, "\"bins\": [");
  bool first = true;
  for (unsigned c = 0; c < MM_NCLASSES; c++) {
    const bin_t *x = &s->bin[c];
    if (!x->nmalloc && !x->pages) continue;
    mm_buf_str(b, first ? "\n  {" : ",\n  {");
    first = false;
    kv(b, "bin", c, true);
    kv(b, "block_size", mm_class_size[c], true);
    kv(b, "pages", x->pages, true);
    kv(b, "total_blocks", x->blocks, true);
    kv(b, "used_blocks", x->used, true);
    kv(b, "free_blocks", x->freeb, true);
    kv(b, "pending_blocks", x->pending, true);
    kv(b, "alloc_requests", x->nmalloc, true);
    kv(b, "free_requests", x->nfree, true);
    kv(b, "remote_free_requests", x->nfree_xthread, false);
    mm_buf_str(b, "}");
  }
  mm_buf_str(b, "],\n \"large\": {");
  kv(b, "blocks", s->huge_count, true);
  kv(b, "bytes", s->huge_bytes, true);
  kv(b, "requests", s->huge_requests, true);
  kv(b, "frees", s->huge_frees, true);
  kv(b, "cached_bytes", s->huge_cached, false);
  mm_buf_str(b, "},\n \"totals\": {");
  kv(b, "in_use_bytes", s->in_use, true);
  kv(b, "free_bytes", s->free_bytes, true);
  kv(b, "metadata_bytes", s->meta, false);
  mm_prof_info_t pi;
  mm_prof_info(&pi);
  mm_buf_str(b, "},\n \"profile\": {");
  kv(b, "rate", pi.rate, true);   /* 0: off */
  kv(b, "samples_in_use", pi.live, true);
  kv(b, "sampled_bytes_in_use", pi.live_bytes, true);
  kv(b, "stacks", pi.stacks, true);
  kv(b, "dropped", pi.dropped, true);
  kv(b, "table_bytes", pi.table_bytes, true);
  kv(b, "table_limit_bytes", pi.limit_bytes, false);
  mm_buf_str(b, "}}\n");
}

int mm_stats_print(int fd, const char *format) {
  bool json;
  if (!format || !strcmp(format, "text")) json = false;
  else if (!strcmp(format, "json")) json = true;
  else { errno = EINVAL; return -1; }
  pthread_mutex_lock(&mm_stats_lock);
  char buf[4096];
  mm_buf_t b = { buf, 0, sizeof(buf), fd, 0 };
  snapshot(&snap_static);
  if (json) print_json(&b, &snap_static); else print_text(&b, &snap_static);
  mm_buf_flush(&b);
  pthread_mutex_unlock(&mm_stats_lock);
  if (b.failed) { errno = EIO; return -1; }
  return 0;
}

void mm_malloc_stats(void) { mm_stats_print(2, "text"); }

/* The exit report (MYMALLOC_STATS) goes to a duplicate of stderr made at
 * start: programs such as coreutils close stderr before the library's
 * destructor runs. */
static int mm_stats_fd = 2;

static void stats_fork_prepare(void) { pthread_mutex_lock(&mm_stats_lock); }
static void stats_fork_parent(void) { pthread_mutex_unlock(&mm_stats_lock); }
static void stats_fork_child(void) { pthread_mutex_init(&mm_stats_lock, NULL); }

/* Registered after init.c's handlers, so this prepare runs before theirs
 * (the lock order: stats -> heaps -> segment -> huge). */
__attribute__((constructor)) static void stats_constructor(void) {
  mm_process_start();
  pthread_atfork(stats_fork_prepare, stats_fork_parent, stats_fork_child);
  if (mm_option(MM_OPT_STATS)) {
    int fd = fcntl(2, F_DUPFD_CLOEXEC, 3);
    if (fd >= 0) mm_stats_fd = fd;
  }
}

__attribute__((destructor)) static void stats_destructor(void) {
  if (mm_option(MM_OPT_STATS)) mm_stats_print(mm_stats_fd, mm_option(MM_OPT_STATS) == 2 ? "json" : "text");
}

struct mallinfo2 mm_mallinfo2(void) {
  snap_t *sp = &snap_static;
  struct mallinfo2 mi;
  memset(&mi, 0, sizeof(mi));
  pthread_mutex_lock(&mm_stats_lock);
  snapshot(sp);
  mi.arena = sp->sbrk;
  mi.ordblks = 0;
  for (unsigned c = 0; c < MM_NCLASSES; c++) mi.ordblks += sp->bin[c].freeb;
  mi.hblks = sp->huge_count;
  mi.hblkhd = sp->huge_bytes;
  mi.usmblks = sp->peak;
  mi.uordblks = sp->in_use;
  mi.fordblks = sp->free_bytes;
  mi.keepcost = sp->huge_cached;
  pthread_mutex_unlock(&mm_stats_lock);
  return mi;
}

static int sat(size_t v) { return v > (size_t)0x7fffffff ? 0x7fffffff : (int)v; }

struct mallinfo mm_mallinfo(void) {
  struct mallinfo2 m = mm_mallinfo2();
  struct mallinfo r;
  r.arena = sat(m.arena); r.ordblks = sat(m.ordblks); r.smblks = sat(m.smblks);
  r.hblks = sat(m.hblks); r.hblkhd = sat(m.hblkhd); r.usmblks = sat(m.usmblks);
  r.fsmblks = sat(m.fsmblks); r.uordblks = sat(m.uordblks); r.fordblks = sat(m.fordblks);
  r.keepcost = sat(m.keepcost);
  return r;
}

MM_EXPORT_AS(mm_stats_print, mymalloc_stats_print)
MM_EXPORT_AS(mm_malloc_stats, mymalloc_malloc_stats)
MM_EXPORT_AS(mm_mallinfo2, mymalloc_mallinfo2)
MM_EXPORT_AS(mm_mallinfo, mymalloc_mallinfo)
MM_OVERRIDE_AS(mm_malloc_stats, malloc_stats)
MM_OVERRIDE_AS(mm_mallinfo2, mallinfo2)
MM_OVERRIDE_AS(mm_mallinfo, mallinfo)
MM_OVERRIDE_AS(mm_mallinfo, __libc_mallinfo)
