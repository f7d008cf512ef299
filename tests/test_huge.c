/* test_huge -- the huge block cache (huge.c): random huge mallocs,
 * callocs, aligned allocations, reallocs (growing and shrinking) and frees
 * on two threads, so that blocks are made of cached extents, split, grown
 * into their neighbours and moved.  Every page of every block carries a
 * pattern checked at each realloc and free; calloc and fresh memory must
 * read as zero; at the end no huge block is live, and malloc_trim(0)
 * leaves nothing cached.  Runs once with the default cache and once (a
 * re-exec) with MYMALLOC_HUGE_CACHE_MB=1, where extents are cut. */
#define _GNU_SOURCE
#include "harness.h"
#include <malloc.h>
#include <pthread.h>

#define THREADS 2
#define LIVE 12

static long ops_per_thread = 1000;

typedef struct { unsigned char *p; size_t n; uint64_t seed; int aligned; } blk_t;
static __thread size_t first_bad;   /* offset of the last mismatch */

/* one word at the start of every 4 KiB (at most) and the last byte */
static void fill(unsigned char *p, size_t n, uint64_t seed) {
  for (size_t i = 0; i + 8 < n; i += 4096) { uint64_t v = th_word(seed, i); memcpy(p + i, &v, 8); }
  p[n - 1] = (unsigned char)seed;
}
static int verify(const unsigned char *p, size_t n, size_t filled, uint64_t seed) {
  for (size_t i = 0; i + 8 <= n && i + 8 < filled; i += 4096) {
    uint64_t v;
    memcpy(&v, p + i, 8);
    if (v != th_word(seed, i)) { first_bad = i; return 0; }
  }
  if (n >= filled && p[filled - 1] != (unsigned char)seed) { first_bad = filled - 1; return 0; }
  return 1;
}
static int zero_sampled(const unsigned char *p, size_t n) {
  for (size_t i = 0; i < n; i += 4096 - 8) if (p[i]) return 0;
  return p[n - 1] == 0;
}

static size_t rand_size(uint64_t *s) {
  /* log-uniform from 64 KiB + 1 to 8 MiB */
  unsigned bits = 16 + (unsigned)(th_rng(s) % 7);
  size_t n = ((size_t)1 << bits) + th_rng(s) % ((size_t)1 << bits);
  return n < 65537 ? 65537 : n;
}

static void *worker(void *arg) {
  uint64_t rs = 0x1234567ULL + (uint64_t)(uintptr_t)arg * 977;
  blk_t b[LIVE];
  memset(b, 0, sizeof(b));
  int bad = 0;
  for (long op = 0; op < ops_per_thread; op++) {
    blk_t *x = &b[th_rng(&rs) % LIVE];
    unsigned kind = (unsigned)(th_rng(&rs) % 10);
    if (x->p && kind < 5) {                       /* realloc */
      size_t n = kind < 3 && x->n < (32u << 20) ? x->n + th_rng(&rs) % (x->n + 1) + 1   /* grow */
                          : rand_size(&rs);
      unsigned char *q = realloc(x->p, n);
      if (!q) { bad++; continue; }
      if (!verify(q, n, x->n, x->seed)) { bad++; fprintf(stderr, "realloc %zu -> %zu (aligned %d): wrong at %zu\n", x->n, n, x->aligned, first_bad); }
      x->p = q;
      x->n = n;
      x->seed = th_rng(&rs);
      fill(q, n, x->seed);
      if (malloc_usable_size(q) < n) bad++;
      continue;
    }
    if (x->p) {
      if (!verify(x->p, x->n, x->n, x->seed)) { bad++; fprintf(stderr, "free of %zu (aligned %d): wrong at %zu\n", x->n, x->aligned, first_bad); }
      free(x->p);
      x->p = NULL;
    }
    size_t n = rand_size(&rs);
    unsigned char *p;
    if (kind == 5) {
      p = calloc(1, n);
      if (p && !zero_sampled(p, n)) { bad++; fprintf(stderr, "calloc %zu\n", n); }
    } else if (kind == 6) {
      size_t a = (size_t)4096 << (th_rng(&rs) % 12);   /* 4 KiB .. 8 MiB */
      p = memalign(a, n);
      if (p && ((uintptr_t)p & (a - 1))) { bad++; fprintf(stderr, "memalign %zu\n", a); }
    } else {
      p = malloc(n);
    }
    if (!p) { bad++; continue; }
    x->p = p;
    x->aligned = kind == 6;
    x->n = n;
    x->seed = th_rng(&rs);
    fill(p, n, x->seed);
  }
  for (int i = 0; i < LIVE; i++) {
    if (!b[i].p) continue;
    if (!verify(b[i].p, b[i].n, b[i].n, b[i].seed)) bad++;
    free(b[i].p);
  }
  return (void *)(intptr_t)bad;
}

int main(int argc, char **argv) {
  if (th_long()) ops_per_thread *= 10;
  pthread_t t[THREADS];
  for (int i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i);
  for (int i = 0; i < THREADS; i++) {
    void *r;
    pthread_join(t[i], &r);
    CHECKF(r == NULL, "thread %d: %ld blocks with wrong contents", i, (long)(intptr_t)r);
  }
  struct mallinfo2 mi = mallinfo2();
  CHECKF(mi.hblks == 0, "%zu huge blocks live", mi.hblks);
  CHECKF(mi.hblkhd == 0, "%zu huge bytes live", mi.hblkhd);
  malloc_trim(0);
  mi = mallinfo2();
  CHECKF(mi.keepcost == 0, "%zu bytes cached after malloc_trim", mi.keepcost);
  /* a block made from the cache and used again after a trim */
  void *p = malloc(3u << 20);
  CHECK(p != NULL);
  free(p);

  if (argc < 2 && !th_under_valgrind()) {   /* again with a tiny cache */
    test_done("test_huge");
    if (th_fail) return 1;
    fflush(stdout);
    setenv("MYMALLOC_HUGE_CACHE_MB", "1", 1);
    char *args[] = { argv[0], (char *)"small-cache", NULL };
    th_execv(argv[0], args);
    CHECK(!"execv");
  }
  return test_done(argc < 2 ? "test_huge" : "test_huge (MYMALLOC_HUGE_CACHE_MB=1)");
}
