/*
 * fragment.c -- workload 6: random sizes from 8 bytes to 64 KiB (log-
 * uniform: as many small blocks as large ones per doubling), a large live
 * set and random lifetimes; it measures fragmentation and peak memory as
 * much as speed.  Every block is written in full, as a program would, so
 * the peak RSS is the memory the allocator really kept.
 *
 *  1. fill `live` slots;
 *  2. `iters` times, free a random slot and allocate a new random size;
 *  3. free 9 blocks in 10 (the survivors pin the pages they sit on), then
 *     allocate small blocks (16..256 bytes) for as many bytes as were
 *     freed: an allocator that can reuse the freed memory for other sizes
 *     stays near the peak of step 2, one that cannot grows;
 *  4. free everything.
 */
#include "bench.h"

#include <sys/resource.h>

static long peak_kb(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

static long live = 20000, iters = 400000, minsz = 8, maxsz = 65536;

int main(int argc, char **argv) {
  bench_param_t ps[] = {
    { "live", &live, "live blocks" },
    { "iters", &iters, "*random replacements" },
    { "min", &minsz, "smallest block" },
    { "max", &maxsz, "largest block" },
    { NULL, NULL, NULL },
  };
  bench_args(argc, argv, "random sizes, large live set, random lifetimes", ps);
  if (live < 10 || minsz < 1 || maxsz < minsz) bench_usage(argv[0], "", ps);
  bench_rng_t r;
  bench_rng_seed(&r, 6);
  char **slot = bench_xmalloc(sizeof(char *) * (size_t)live);
  size_t *len = bench_xmalloc(sizeof(size_t) * (size_t)live);
  uint64_t ops = 0, check = 0;
  double t0 = bench_now();

  for (long i = 0; i < live; i++) {
    len[i] = bench_loguniform(&r, (size_t)minsz, (size_t)maxsz);
    slot[i] = bench_xmalloc(len[i]);
    memset(slot[i], (int)i, len[i]);
    ops++;
  }
  for (long i = 0; i < iters; i++) {
    size_t k = (size_t)(bench_rand(&r) % (uint64_t)live);
    check += (unsigned char)slot[k][len[k] - 1];
    free(slot[k]);
    len[k] = bench_loguniform(&r, (size_t)minsz, (size_t)maxsz);
    slot[k] = bench_xmalloc(len[k]);
    memset(slot[k], (int)i, len[k]);
    ops += 2;
  }
  long peak2 = peak_kb();
  /* 3: keep one block in ten, refill the freed bytes with small blocks */
  size_t freed = 0;
  for (long i = 0; i < live; i++) {
    if (i % 10 == 0) continue;
    freed += len[i];
    free(slot[i]);
    slot[i] = NULL;
    ops++;
  }
  size_t nsmall_max = freed / 16 + 1, nsmall = 0;
  char **small = bench_xmalloc(sizeof(char *) * nsmall_max);
  for (size_t got = 0; got < freed && nsmall < nsmall_max;) {
    size_t n = bench_uniform(&r, 16, 256);
    small[nsmall] = bench_xmalloc(n);
    memset(small[nsmall], (int)n, n);
    nsmall++;
    got += n;
    ops++;
  }
  long peak3 = peak_kb();
  for (size_t i = 0; i < nsmall; i++) {
    check += (unsigned char)small[i][0];
    free(small[i]);
  }
  ops += nsmall;
  free(small);
  for (long i = 0; i < live; i++) {
    if (slot[i]) {
      free(slot[i]);
      ops++;
    }
  }
  double secs = bench_now() - t0;
  printf("peak RSS: %.1f MiB after steps 1-2, %.1f MiB after step 3, %.1f MiB at the end\n",
         peak2 / 1024.0, peak3 / 1024.0, peak_kb() / 1024.0);
  bench_report("fragment", ops, 1, secs, check);
  free(len);
  free(slot);
  return 0;
}
