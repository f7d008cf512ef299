/* test_churn -- thread churn: thousands of short-lived threads.
 *
 * 2000 threads (10000 with MYMALLOC_TEST_LONG=1) run in waves of 50.  Each
 * allocates 64 blocks of sizes from 16 B to 64 KiB (every 8th thread also a
 * 256 KiB huge block), fills them, checks and frees most of them, and hands
 * 16 to the thread of the same rank in the next wave, which checks and frees
 * them: so every thread exits holding live blocks (its segments must be
 * abandoned and adopted), and frees blocks of a dead thread.
 *
 * Bounds checked (pages are 4 KiB):
 *   - resident memory (/proc/self/statm) never exceeds its value after the
 *     first 5 waves by more than 64 MiB (a wave holds about 25 MiB of live
 *     blocks at its peak; without reclaiming dead threads' memory it would
 *     grow by megabytes per wave);
 *   - after everything is freed, mallinfo2().uordblks is back within
 *     64 KiB of its value before the first thread, and hblks is back;
 *   - contents of every block are intact when checked.
 */
#include "config.h"
#include "harness.h"

#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#define WAVE 50
#define NBLK 64
#define NHAND 16

struct hand { unsigned char *p[NHAND]; size_t n[NHAND]; uint64_t seed[NHAND]; };

static struct hand handoff[2][WAVE];
static atomic_long errors, handed_freed;

struct targ { int id; struct hand *in, *out; };

static size_t block_size(int id, int k) {
  static const size_t sz[] = { 16, 24, 40, 64, 100, 128, 200, 256, 500, 1000,
                               2000, 4096, 6000, 10000, 30000, 65536 };
  return sz[(id * 7 + k) % 16];
}

static void *thread_main(void *arg) {
  struct targ *a = arg;
  unsigned char *p[NBLK];
  size_t n[NBLK];
  uint64_t seed[NBLK];
  for (int k = 0; k < NBLK; k++) {
    n[k] = block_size(a->id, k);
    seed[k] = (uint64_t)a->id * 1000 + (uint64_t)k;
    p[k] = malloc(n[k]);
    if (!p[k] || !aligned16(p[k])) { atomic_fetch_add(&errors, 1); n[k] = 0; continue; }
    th_fillw(p[k], n[k], seed[k]);
  }
  unsigned char *huge = NULL;
  if (a->id % 8 == 0) {
    huge = malloc(256 << 10);
    if (!huge) atomic_fetch_add(&errors, 1);
    else th_fillw(huge, 256 << 10, (uint64_t)a->id);
  }
  /* the previous wave's blocks */
  if (a->in) {
    for (int k = 0; k < NHAND; k++) {
      if (!a->in->p[k]) continue;
      if (!th_verifyw(a->in->p[k], a->in->n[k], a->in->seed[k])) atomic_fetch_add(&errors, 1);
      free(a->in->p[k]);
      a->in->p[k] = NULL;
      atomic_fetch_add(&handed_freed, 1);
    }
  }
  /* keep NHAND for the next wave, free the rest */
  for (int k = 0; k < NBLK; k++) {
    if (p[k] && !th_verifyw(p[k], n[k], seed[k])) atomic_fetch_add(&errors, 1);
    if (k % (NBLK / NHAND) == 0) {
      a->out->p[k / (NBLK / NHAND)] = p[k];
      a->out->n[k / (NBLK / NHAND)] = n[k];
      a->out->seed[k / (NBLK / NHAND)] = seed[k];
    } else {
      free(p[k]);
    }
  }
  if (huge) {
    if (!th_verifyw(huge, 256 << 10, (uint64_t)a->id)) atomic_fetch_add(&errors, 1);
    free(huge);
  }
  return NULL;
}


int main(void) {
  th_skip_under_valgrind("test_churn", "checks resident memory, which valgrind inflates");
  th_skip_under_qemu("test_churn", "checks resident memory, which counts qemu-user's own (and its threads' code caches)");
  int nthreads = th_long() ? 10000 : 2000;
  int nwaves = nthreads / WAVE;
  setvbuf(stdout, NULL, _IONBF, 0);
  struct mallinfo2 mi0 = mallinfo2();

  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 256 << 10);

  size_t base = 0, peak = 0, first = th_rss_bytes();
  int created = 0;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int w = 0; w < nwaves; w++) {
    pthread_t tid[WAVE];
    struct targ args[WAVE];
    for (int j = 0; j < WAVE; j++) {
      args[j].id = w * WAVE + j;
      args[j].in = w > 0 ? &handoff[(w + 1) & 1][j] : NULL;
      args[j].out = &handoff[w & 1][j];
      int e = pthread_create(&tid[j], &attr, thread_main, &args[j]);
      CHECKF(e == 0, "pthread_create: %s", strerror(e));
      if (e) { tid[j] = 0; continue; }
      created++;
    }
    for (int j = 0; j < WAVE; j++) if (tid[j]) pthread_join(tid[j], NULL);
    size_t rss = th_rss_bytes();
    if (w == 4) base = rss;
    if (w >= 4 && rss > peak) peak = rss;
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  /* the last wave's hand-over */
  int last = (nwaves - 1) & 1;
  for (int j = 0; j < WAVE; j++)
    for (int k = 0; k < NHAND; k++) {
      struct hand *h = &handoff[last][j];
      if (!h->p[k]) continue;
      if (!th_verifyw(h->p[k], h->n[k], h->seed[k])) atomic_fetch_add(&errors, 1);
      free(h->p[k]);
      h->p[k] = NULL;
      atomic_fetch_add(&handed_freed, 1);
    }
  struct mallinfo2 mi1 = mallinfo2();
  malloc_trim(0);
  size_t after_trim = th_rss_bytes();

  printf("test_churn: %d threads in %.2f s; RSS at start %zu KiB, after 5 waves %zu KiB, "
         "peak %zu KiB, after trim %zu KiB; uordblks %zu -> %zu\n",
         created, (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
         first >> 10, base >> 10, peak >> 10, after_trim >> 10, mi0.uordblks, mi1.uordblks);
  CHECK(created == nthreads);
  CHECK(atomic_load(&errors) == 0);
  CHECK(atomic_load(&handed_freed) == (long)nthreads * NHAND);
  CHECK(base > 0);
  CHECKF(peak <= base + (64u << 20), "resident memory grew from %zu KiB to %zu KiB", base >> 10, peak >> 10);
  size_t du = mi1.uordblks > mi0.uordblks ? mi1.uordblks - mi0.uordblks : mi0.uordblks - mi1.uordblks;
  CHECKF(du <= (64u << 10), "uordblks %zu before, %zu after everything was freed", mi0.uordblks, mi1.uordblks);
  CHECKF(mi1.hblks == mi0.hblks, "hblks %zu -> %zu", mi0.hblks, mi1.hblks);

  /* still works */
  void *p = malloc(1000);
  CHECK(p != NULL);
  th_sink = p;
  free(p);
  return test_done("test_churn");
}
