/* test_churn -- thread churn: thousands of short-lived threads.
 *
 * Part 1: 2000 threads (10000 with MYMALLOC_TEST_LONG=1) run in waves of
 * 50.  Each allocates 64 blocks of sizes from 16 B to 64 KiB (every 8th
 * thread also a 256 KiB huge block), fills them, checks and frees most of
 * them, and hands 16 to the thread of the same rank in the next wave,
 * which checks and frees them: so every thread exits holding live blocks
 * (its segments must be abandoned and adopted), and frees blocks of a
 * dead thread.
 *
 * Part 2: the pattern of bench/churn: rounds of 10 threads; each callocs
 * one 128-byte block, swaps it into a random slot of a table of 1000
 * (atomic exchange), frees what it got out, and exits.
 *
 * The bounds are per thread: resident memory (/proc/self/statm) must not
 * grow with the number of threads that have exited.
 *   - part 1: the mean RSS over the last 10 waves exceeds the mean over
 *     waves 5 to 14 by at most 4 MiB (a wave holds about 25 MiB of live
 *     blocks at its peak, and the RSS between waves moves by 2-3 MiB;
 *     1250 threads lie between the two means: 3 KiB per thread at most
 *     in the short mode, 0.5 KiB in the long mode.  Before the fix the
 *     RSS grew by 18 MiB there);
 *   - part 2: the peak RSS over rounds 1500-2000 exceeds the peak over
 *     rounds 400-500 by at most 1 MiB (15000 threads lie in between, 70
 *     bytes per thread; the live set is 1000 blocks of 128 B, 125 KiB,
 *     in at most 1000 pages; before the fix a thread left 3 KiB behind,
 *     45 MiB over the 15000).  The long mode checks rounds 19500-20000 too;
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

/* ---- part 2: the pattern of bench/churn ---------------------------------- */
#define SWAP_THREADS 10
#define SWAP_SLOTS 1000
#define SWAP_SIZE 128
static _Atomic(unsigned char *) swap_table[SWAP_SLOTS];

static void *swap_main(void *arg) {
  uint64_t seed = (uint64_t)(uintptr_t)arg * 0x9e3779b97f4a7c15ULL + 1;
  unsigned char *p = calloc(1, SWAP_SIZE);
  if (!p) { atomic_fetch_add(&errors, 1); return NULL; }
  for (size_t i = 0; i < SWAP_SIZE; i++)
    if (p[i]) { atomic_fetch_add(&errors, 1); break; }
  th_fillw(p, SWAP_SIZE - 8, seed);
  memcpy(p + SWAP_SIZE - 8, &seed, 8);
  unsigned char *old = atomic_exchange(&swap_table[th_rng(&seed) % SWAP_SLOTS], p);
  if (old) {
    uint64_t oseed;
    memcpy(&oseed, old + SWAP_SIZE - 8, 8);   /* the seed is kept at the end */
    if (!th_verifyw(old, SWAP_SIZE - 8, oseed)) atomic_fetch_add(&errors, 1);
    free(old);
  }
  return NULL;
}

/* Run rounds [from, to) of 10 threads; returns the peak RSS over the
 * last 500 of them. */
static size_t swap_rounds(long from, long to, pthread_attr_t *attr) {
  size_t peak = 0;
  for (long r = from; r < to; r++) {
    pthread_t tid[SWAP_THREADS];
    for (int j = 0; j < SWAP_THREADS; j++) {
      int e = pthread_create(&tid[j], attr, swap_main, (void *)(uintptr_t)(r * SWAP_THREADS + j + 1));
      if (e) { atomic_fetch_add(&errors, 1); tid[j] = 0; }
    }
    for (int j = 0; j < SWAP_THREADS; j++) if (tid[j]) pthread_join(tid[j], NULL);
    if (r >= to - 500) {
      size_t rss = th_rss_bytes();
      if (rss > peak) peak = rss;
    }
  }
  return peak;
}

static void test_swap(pthread_attr_t *attr) {
  size_t r500 = swap_rounds(0, 500, attr);
  size_t r2000 = swap_rounds(500, 2000, attr);
  size_t r20000 = th_long() ? swap_rounds(2000, 20000, attr) : 0;
  for (int i = 0; i < SWAP_SLOTS; i++) free(atomic_exchange(&swap_table[i], NULL));
  printf("test_churn: swap pattern, peak RSS over rounds 400-500 %zu KiB, 1500-2000 %zu KiB", r500 >> 10,
         r2000 >> 10);
  if (r20000) printf(", 19500-20000 %zu KiB", r20000 >> 10);
  printf("\n");
  CHECK(atomic_load(&errors) == 0);
  CHECK(r500 > 0);
  CHECKF(r2000 <= r500 + (1u << 20), "RSS grew from %zu KiB (500 rounds) to %zu KiB (2000 rounds)",
         r500 >> 10, r2000 >> 10);
  if (r20000)
    CHECKF(r20000 <= r500 + (1u << 20), "RSS grew from %zu KiB (500 rounds) to %zu KiB (20000 rounds)",
           r500 >> 10, r20000 >> 10);
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
  double early = 0, late = 0;   /* mean RSS of waves 5-14, of the last 10 */
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
    if (w >= 5 && w < 15) early += (double)rss / 10;
    if (w >= nwaves - 10) late += (double)rss / 10;
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
         "peak %zu KiB, mean of waves 5-14 %.0f KiB, of the last 10 %.0f KiB, after trim %zu KiB; "
         "uordblks %zu -> %zu\n",
         created, (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
         first >> 10, base >> 10, peak >> 10, early / 1024, late / 1024, after_trim >> 10,
         mi0.uordblks, mi1.uordblks);
  CHECK(created == nthreads);
  CHECK(atomic_load(&errors) == 0);
  CHECK(atomic_load(&handed_freed) == (long)nthreads * NHAND);
  CHECK(base > 0);
  CHECKF(late <= early + (4u << 20), "resident memory grew from %.0f KiB (mean of waves 5-14) to %.0f KiB "
         "(mean of the last 10 waves)", early / 1024, late / 1024);
  size_t du = mi1.uordblks > mi0.uordblks ? mi1.uordblks - mi0.uordblks : mi0.uordblks - mi1.uordblks;
  CHECKF(du <= (64u << 10), "uordblks %zu before, %zu after everything was freed", mi0.uordblks, mi1.uordblks);
  CHECKF(mi1.hblks == mi0.hblks, "hblks %zu -> %zu", mi0.hblks, mi1.hblks);

  test_swap(&attr);

  /* still works */
  void *p = malloc(1000);
  CHECK(p != NULL);
  th_sink = p;
  free(p);
  return test_done("test_churn");
}
