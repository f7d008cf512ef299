/*
 * large.c -- workload 8: large blocks, 256 KiB to 32 MiB (log-uniform),
 * allocated, touched (one write per 4 KiB page, the first-touch cost the
 * allocator may or may not spare the program) and freed, with a few
 * blocks live at a time.
 */
#include "bench.h"

static long iters = 1000, live = 4, minsz = 256 << 10, maxsz = 32 << 20;

int main(int argc, char **argv) {
  bench_param_t ps[] = {
    { "iters", &iters, "*blocks allocated" },
    { "live", &live, "blocks live at a time" },
    { "min", &minsz, "smallest block" },
    { "max", &maxsz, "largest block" },
    { NULL, NULL, NULL },
  };
  bench_args(argc, argv, "large blocks allocated, touched and freed", ps);
  if (live < 1 || minsz < 1 || maxsz < minsz) bench_usage(argv[0], "", ps);
  bench_rng_t r;
  bench_rng_seed(&r, 8);
  char **slot = calloc((size_t)live, sizeof(char *));
  if (!slot) return 1;
  uint64_t ops = 0, check = 0;
  double t0 = bench_now();
  for (long i = 0; i < iters; i++) {
    size_t k = (size_t)(bench_rand(&r) % (uint64_t)live);
    if (slot[k]) {
      check += (unsigned char)slot[k][0];
      free(slot[k]);
      ops++;
    }
    size_t n = bench_loguniform(&r, (size_t)minsz, (size_t)maxsz);
    char *p = bench_xmalloc(n);
    for (size_t off = 0; off < n; off += 4096) p[off] = (char)off;
    p[n - 1] = (char)i;
    slot[k] = p;
    ops++;
  }
  for (long i = 0; i < live; i++) {
    if (slot[i]) {
      free(slot[i]);
      ops++;
    }
  }
  double secs = bench_now() - t0;
  bench_report("large", ops, 1, secs, check);
  free(slot);
  return 0;
}
