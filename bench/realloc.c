/*
 * realloc.c -- workload 7: buffers grown by realloc.
 *
 *  small steps: `bufs` buffers grown side by side (round robin, so no
 *  buffer is alone at the top of the heap) by 1 to 64 bytes at a time, up
 *  to `target` bytes each, like strings or vectors being appended to; the
 *  new bytes are written.  Repeated `reps` times.
 *
 *  doubling: `dbufs` buffers grown side by side from 16 bytes to `dmax`
 *  by doubling, like a growing array; the new half is written.  Repeated
 *  `dreps` times.
 */
#include "bench.h"

static long bufs = 64, target = 65536, reps = 12, dbufs = 4, dmax = 8 << 20, dreps = 10;

int main(int argc, char **argv) {
  bench_param_t ps[] = {
    { "bufs", &bufs, "buffers grown by small steps" },
    { "target", &target, "their final size" },
    { "reps", &reps, "*repetitions of the small steps" },
    { "dbufs", &dbufs, "buffers grown by doubling" },
    { "dmax", &dmax, "their final size" },
    { "dreps", &dreps, "*repetitions of the doubling" },
    { NULL, NULL, NULL },
  };
  bench_args(argc, argv, "realloc growth by small steps and by doubling", ps);
  if (bufs < 1 || target < 1 || dbufs < 1 || dmax < 16) bench_usage(argv[0], "", ps);
  bench_rng_t r;
  bench_rng_seed(&r, 77);
  char **p = bench_xmalloc(sizeof(char *) * (size_t)(bufs > dbufs ? bufs : dbufs));
  size_t *len = bench_xmalloc(sizeof(size_t) * (size_t)(bufs > dbufs ? bufs : dbufs));
  uint64_t ops = 0, check = 0;
  double t0 = bench_now();

  for (long rep = 0; rep < reps; rep++) {
    for (long i = 0; i < bufs; i++) {
      p[i] = NULL;
      len[i] = 0;
    }
    for (long done = 0; done < bufs;) {
      done = 0;
      for (long i = 0; i < bufs; i++) {
        if (len[i] >= (size_t)target) { done++; continue; }
        size_t step = bench_uniform(&r, 1, 64);
        char *q = realloc(p[i], len[i] + step);
        if (!q) { fprintf(stderr, "out of memory\n"); return 1; }
        memset(q + len[i], (int)step, step);
        p[i] = q;
        len[i] += step;
        ops++;
      }
    }
    for (long i = 0; i < bufs; i++) {
      check += (unsigned char)p[i][len[i] / 2];
      free(p[i]);
      ops++;
    }
  }

  for (long rep = 0; rep < dreps; rep++) {
    for (long i = 0; i < dbufs; i++) {
      p[i] = NULL;
      len[i] = 0;
    }
    for (size_t n = 16; n <= (size_t)dmax; n *= 2) {
      for (long i = 0; i < dbufs; i++) {
        char *q = realloc(p[i], n);
        if (!q) { fprintf(stderr, "out of memory\n"); return 1; }
        memset(q + len[i], (int)n, n - len[i]);
        p[i] = q;
        len[i] = n;
        ops++;
      }
    }
    for (long i = 0; i < dbufs; i++) {
      check += (unsigned char)p[i][len[i] - 1];
      free(p[i]);
      ops++;
    }
  }
  double secs = bench_now() - t0;
  bench_report("realloc", ops, 1, secs, check);
  free(len);
  free(p);
  return 0;
}
