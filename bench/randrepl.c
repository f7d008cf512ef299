/*
 * randrepl.c -- random replacement in a large live set: `slots` blocks
 * (256 Ki) are allocated, then each step frees a random slot and puts a
 * new block there.  The sizes are drawn so that each doubling from 16
 * bytes to 1 KiB (16-31, 32-63, ..., 512-1023) is equally likely, uniform
 * within the doubling, and every byte of each new block is written.
 *
 * With threads=T the slots are split: each thread works on its own
 * slots/T of them and does `steps` steps, so T threads on T idle cores
 * should take the time of one.
 */
#include "bench.h"

static long threads = 1, slots = 256 << 10, steps = 4000000, minsz = 16, maxsz = 1023;

typedef struct {
  long id;
  uint64_t check;
  char pad[BENCH_CACHE_LINE];
} worker_t;

static void *work(void *arg) {
  worker_t *w = arg;
  bench_rng_t r;
  bench_rng_seed(&r, 77 + (uint64_t)w->id);
  size_t live = (size_t)(slots / threads);
  char **slot = bench_xmalloc(sizeof(char *) * live);
  for (size_t i = 0; i < live; i++) {
    size_t n = bench_loguniform(&r, (size_t)minsz, (size_t)maxsz);
    slot[i] = bench_xmalloc(n);
    memset(slot[i], (int)n, n);
  }
  uint64_t check = 0;
  for (long i = 0; i < steps; i++) {
    size_t k = (size_t)((bench_rand(&r) >> 11) % live);
    check += (unsigned char)slot[k][0];
    free(slot[k]);
    size_t n = bench_loguniform(&r, (size_t)minsz, (size_t)maxsz);
    char *p = bench_xmalloc(n);
    memset(p, (int)i, n);
    slot[k] = p;
  }
  for (size_t i = 0; i < live; i++) free(slot[i]);
  free(slot);
  w->check = check;
  return NULL;
}

int main(int argc, char **argv) {
  bench_param_t ps[] = {
    { "threads", &threads, "threads, each on its own slots/threads slots" },
    { "slots", &slots, "live blocks in all" },
    { "steps", &steps, "*replacements per thread" },
    { "min", &minsz, "smallest block" },
    { "max", &maxsz, "largest block" },
    { NULL, NULL, NULL },
  };
  bench_args(argc, argv, "random replacement in a large live set, sizes log-uniform", ps);
  if (threads < 1 || slots < threads || minsz < 1 || maxsz < minsz) bench_usage(argv[0], "", ps);
  worker_t *w = bench_xmalloc(sizeof(worker_t) * (size_t)threads);
  for (long i = 0; i < threads; i++) w[i].id = i;
  double t0 = bench_now();
  bench_parallel(threads, work, w, sizeof(*w));
  uint64_t check = 0;
  for (long i = 0; i < threads; i++) check += w[i].check;
  double secs = bench_now() - t0;
  uint64_t ops = 2 * (uint64_t)slots + 2 * (uint64_t)threads * (uint64_t)steps;
  bench_report("randrepl", ops, threads, secs, check);
  free(w);
  return 0;
}
