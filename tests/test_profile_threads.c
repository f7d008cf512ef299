/* test_profile_threads -- blocks freed by another thread leave the
 * profile's in-use part.
 *
 * Run again as a child with MYMALLOC_PROFILE_RATE=1 (every allocation is
 * a sample, so the counts are exact).  Thread 1 allocates in site_a 10240
 * blocks of 1 KiB, in site_b 480 of 64 KiB and in site_d 5000 of 16 bytes
 * (under 64 bytes: freed by another thread they go to their page's
 * list, not to the freeing thread's cache); thread 2 frees all of a and d
 * and every other block of b while thread 1 waits, alive; the main
 * thread dumps (both threads alive), then again after both have exited.
 * Each dump: a and d have nothing in use and all their blocks allocated,
 * b has 240 blocks in use of 480 allocated.
 */
#include "config.h"
#include "harness.h"
#include "profile.h"

#include <mymalloc/malloc.h>
#include <pthread.h>

#define NAME "test_profile_threads"
#define A_N 10240
#define B_N 480
#define D_N 5000

void site_a(void);
void site_b(void);
void site_d(void);

static void *blocks_a[A_N], *blocks_b[B_N], *blocks_d[D_N];
static int alloc_failed;
static pthread_barrier_t allocated, freed, dumped;

TP_SITE void site_a(void) {
  for (int i = 0; i < A_N; i++) if (!(blocks_a[i] = malloc(1024))) alloc_failed++;
  TP_BARRIER();
}
TP_SITE void site_b(void) {
  for (int i = 0; i < B_N; i++) if (!(blocks_b[i] = malloc(65536))) alloc_failed++;
  TP_BARRIER();
}
TP_SITE void site_d(void) {
  for (int i = 0; i < D_N; i++) if (!(blocks_d[i] = malloc(16))) alloc_failed++;
  TP_BARRIER();
}

static void *allocator(void *arg) {
  (void)arg;
  site_a();
  site_b();
  site_d();
  pthread_barrier_wait(&allocated);
  pthread_barrier_wait(&freed);
  pthread_barrier_wait(&dumped);   /* alive until the first dump is written */
  return NULL;
}

static void *freer(void *arg) {
  (void)arg;
  pthread_barrier_wait(&allocated);
  for (int i = 0; i < A_N; i++) free(blocks_a[i]);
  for (int i = 0; i < D_N; i++) free(blocks_d[i]);
  for (int i = 0; i < B_N; i += 2) free(blocks_b[i]);
  pthread_barrier_wait(&freed);
  pthread_barrier_wait(&dumped);
  return NULL;
}

static void check_dump(const char *when) {
  char path[1024];
  snprintf(path, sizeof(path), "%s.%s", getenv("MYMALLOC_PROFILE"), when);
  errno = 0;
  int rc = mymalloc_profile_dump(path);
  CHECKF(rc == 0, "%s: mymalloc_profile_dump: %d, %s", when, rc, strerror(errno));
  struct tp_prof p;
  if (tp_parse(path, &p) != 0) { CHECKF(0, "%s: the file does not parse", when); return; }
  tp_check_file(&p, when);
  CHECKF(p.rate == 1, "%s: rate %lu, not 1", when, p.rate);
  struct tp_sum a = tp_site(&p, "site_a", NULL), b = tp_site(&p, "site_b", NULL), d = tp_site(&p, "site_d", NULL);
  printf("%s: %s: in use/allocated: a %lu/%lu, b %lu/%lu, d %lu/%lu\n", NAME, when, a.ic, a.ac, b.ic, b.ac, d.ic,
         d.ac);
  CHECKF(a.ic == 0 && a.ib == 0, "%s: a: %lu blocks still in use, all were freed by another thread", when, a.ic);
  CHECKF(d.ic == 0 && d.ib == 0, "%s: d: %lu blocks still in use, all were freed by another thread", when, d.ic);
  CHECKF(b.ic == B_N / 2 && b.ib == (B_N / 2) * 65536ul, "%s: b: %lu blocks, %lu bytes in use, not %d", when,
         b.ic, b.ib, B_N / 2);
  CHECKF(a.ac == A_N && a.ab == A_N * 1024ul, "%s: a: %lu allocated, not %d", when, a.ac, A_N);
  CHECKF(b.ac == B_N && d.ac == D_N && d.ab == D_N * 16ul, "%s: b, d: %lu, %lu allocated", when, b.ac, d.ac);
  tp_free(&p);
}

static int stage(void) {
  pthread_t t1, t2;
  pthread_barrier_init(&allocated, NULL, 2);
  pthread_barrier_init(&freed, NULL, 3);
  pthread_barrier_init(&dumped, NULL, 3);
  CHECK(pthread_create(&t1, NULL, allocator, NULL) == 0);
  CHECK(pthread_create(&t2, NULL, freer, NULL) == 0);
  pthread_barrier_wait(&freed);
  CHECK(alloc_failed == 0);
  check_dump("alive");
  pthread_barrier_wait(&dumped);
  pthread_join(t1, NULL);
  pthread_join(t2, NULL);
  check_dump("exited");
  for (int i = 1; i < B_N; i += 2) free(blocks_b[i]);
  return test_done(NAME " (stage)");
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IONBF, 0);
  if (argc == 3 && !strcmp(argv[1], "--stage")) return stage();
  const char *env[] = { "MYMALLOC_PROFILE_RATE=1", "MYMALLOC_PROFILE_SEED=7", "MYMALLOC_PROFILE_AT_EXIT=0", NULL };
  return tp_main_one(NAME, argv[0], "rate1", env);
}
