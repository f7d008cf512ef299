/*
 * pairs.c -- the instruction count of a malloc+free pair in steady state,
 * for bench/run to measure under valgrind --tool=callgrind (which, unlike
 * memcheck, does not replace the allocator: the one given by LD_PRELOAD
 * runs).  The runner runs it with two values of n and divides the
 * difference of the instruction counts by the difference of n, which
 * cancels the start-up and the warm-up.
 *
 *   mode=1  n times: p = malloc(32); free(p)
 *   mode=2  n/64 times: 64 blocks of sizes 16..256 (a fixed cycle)
 *           allocated, then freed in the same order (FIFO); counted per
 *           pair (n pairs)
 */
#include "bench.h"

static long n = 1000000, mode = 1;

/* Keep the compiler from pairing malloc with free and dropping both. */
#define KEEP(p) __asm__ volatile("" : : "r"(p) : "memory")

int main(int argc, char **argv) {
  bench_param_t ps[] = {
    { "n", &n, "malloc+free pairs" },
    { "mode", &mode, "1: malloc(32); free; 2: batches of 64 sizes 16..256" },
    { NULL, NULL, NULL },
  };
  bench_args(argc, argv, "malloc+free pairs, for an instruction count", ps);
  void *tmp[64];
  /* warm-up: the same pattern, so the steady state is reached */
  for (int w = 0; w < 1000; w++) {
    for (int j = 0; j < 64; j++) { tmp[j] = malloc(16 + (size_t)(j * 16) % 256); KEEP(tmp[j]); }
    for (int j = 0; j < 64; j++) free(tmp[j]);
  }
  if (mode == 1) {
    for (long i = 0; i < n; i++) {
      void *p = malloc(32);
      KEEP(p);
      free(p);
    }
  } else {
    for (long i = 0; i < n / 64; i++) {
      for (int j = 0; j < 64; j++) { tmp[j] = malloc(16 + (size_t)(j * 16) % 256); KEEP(tmp[j]); }
      for (int j = 0; j < 64; j++) free(tmp[j]);
    }
  }
  printf("pairs: n=%ld mode=%ld\n", n, mode);
  return 0;
}
