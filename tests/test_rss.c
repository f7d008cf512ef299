/* test_rss -- memory goes back: 4 threads allocate 1 GiB in all (blocks of
 * mixed small sizes), then free it all, half of it from another thread.
 * Round 1: the threads exit; resident memory (/proc/self/statm) must come
 * down without any call (under 128 MiB), and under 64 MiB after
 * malloc_trim(0).  Round 2: the threads stay alive but idle after calling
 * malloc_trim(0) themselves (blocks freed by other threads wait on their
 * pages' lists until the owner comes back: an idle owner gives them back
 * when it trims, or when it exits); again under 64 MiB.
 * MYMALLOC_RSS_MB sets the total (default 1024). */
#define _GNU_SOURCE
#include "harness.h"
#include <malloc.h>
#include <pthread.h>
#include <unistd.h>

#define THREADS 4
static size_t per_thread;
static void **blocks[THREADS];
static size_t nblocks[THREADS];
static pthread_barrier_t bar;
static int stay_alive;


static void *worker(void *arg) {
  int id = (int)(intptr_t)arg;
  size_t cap = per_thread / 16, n = 0, bytes = 0;
  void **v = malloc(cap * sizeof(void *));
  unsigned seed = 12345u + (unsigned)id;
  while (bytes < per_thread && n < cap) {
    seed = seed * 1103515245u + 12345u;
    size_t sz = 16 + (seed >> 16) % 1009;          /* 16 .. 1024 bytes */
    char *p = malloc(sz);
    if (!p) break;
    p[0] = (char)id; p[sz - 1] = (char)n;
    v[n++] = p;
    bytes += sz;
  }
  blocks[id] = v;
  nblocks[id] = n;
  pthread_barrier_wait(&bar);          /* main measures the peak */
  pthread_barrier_wait(&bar);
  /* free: the odd blocks of our own, the even blocks of the next thread */
  int o = (id + 1) % THREADS;
  for (size_t i = 1; i < nblocks[id]; i += 2) free(blocks[id][i]);
  pthread_barrier_wait(&bar);
  for (size_t i = 0; i < nblocks[o]; i += 2) free(blocks[o][i]);
  pthread_barrier_wait(&bar);
  if (stay_alive) {
    malloc_trim(0);
    pthread_barrier_wait(&bar);        /* idle while main measures */
    pthread_barrier_wait(&bar);
  }
  return NULL;
}

static void round_(int alive, size_t total_mb, size_t *peak, size_t *after, size_t *after_trim) {
  stay_alive = alive;
  pthread_barrier_init(&bar, NULL, THREADS + 1);
  pthread_t t[THREADS];
  for (int i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i);
  pthread_barrier_wait(&bar);
  *peak = (th_rss_bytes() >> 20);
  pthread_barrier_wait(&bar);
  pthread_barrier_wait(&bar);
  pthread_barrier_wait(&bar);
  if (!alive) for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
  else pthread_barrier_wait(&bar);
  for (int i = 0; i < THREADS; i++) free(blocks[i]);
  /* the purge delay passes; one allocator slow path lets it act */
  usleep(400 * 1000);
  for (int i = 0; i < 100; i++) th_sink = malloc(70000), free(th_sink);
  *after = (th_rss_bytes() >> 20);
  malloc_trim(0);
  *after_trim = (th_rss_bytes() >> 20);
  if (alive) {
    pthread_barrier_wait(&bar);
    for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
  }
  pthread_barrier_destroy(&bar);
  (void)total_mb;
}

int main(void) {
  th_skip_under_valgrind("test_rss", "checks resident memory, which valgrind inflates; 1 GiB is too slow there");
  th_skip_under_qemu("test_rss", "checks resident memory, which counts qemu-user's own");
  const char *e = getenv("MYMALLOC_RSS_MB");
  size_t total_mb = e ? (size_t)atol(e) : 1024;
  per_thread = (total_mb << 20) / THREADS;
  size_t base = (th_rss_bytes() >> 20), peak, after, after_trim;
  round_(0, total_mb, &peak, &after, &after_trim);
  printf("round 1 (threads exit): base %zu MiB, peak %zu MiB for %zu MiB requested, "
         "after free %zu MiB, after malloc_trim %zu MiB\n", base, peak, total_mb, after, after_trim);
  CHECKF(peak >= total_mb / 2, "peak %zu MiB: the blocks were not touched?", peak);
  CHECKF(peak <= total_mb * 3 / 2 + base + 16, "peak %zu MiB for %zu MiB", peak, total_mb);
  CHECKF(after < 128, "after free, without trim: %zu MiB", after);
  CHECKF(after_trim < 64, "after malloc_trim: %zu MiB", after_trim);
  round_(1, total_mb, &peak, &after, &after_trim);
  printf("round 2 (idle threads that trimmed): peak %zu MiB, after free %zu MiB, after malloc_trim %zu MiB\n",
         peak, after, after_trim);
  CHECKF(after < 128, "round 2, after free: %zu MiB", after);
  CHECKF(after_trim < 64, "round 2, after malloc_trim: %zu MiB", after_trim);
  return test_done("test_rss");
}
