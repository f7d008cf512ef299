/* test_profile_signal -- MYMALLOC_PROFILE_SIGNAL: a dump on the signal,
 * written by the handler while the interrupted thread was in malloc or
 * free; and a handler the program installs itself wins.
 *
 * Run again as a child with MYMALLOC_PROFILE_SIGNAL=USR2 (and once with
 * SIGUSR2's number), MYMALLOC_PROFILE_RATE=4k (a sample every few calls:
 * the profiler's table is in use when the signal comes).  The main thread
 * blocks SIGUSR2, so that kill(getpid(), SIGUSR2) is delivered to the
 * worker thread, which does nothing but malloc and free.  For each
 * signal: the file PREFIX.PID.N.heap appears (N = 0, 1, ...), and once
 * the worker runs again (the handler has returned) it parses and is
 * complete, with site_live's blocks in use.  Then the program installs
 * its own SIGUSR2 handler: the next signal calls it, and no file is
 * written.  The waits have no deadline but 120 s each, so a slow machine
 * (qemu) does not fail them.
 */
#include "config.h"
#include "harness.h"
#include "profile.h"

#include <mymalloc/malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#define NAME "test_profile_signal"

static atomic_int stop;
static atomic_long iterations;
static volatile sig_atomic_t own_called;

static void *worker(void *arg) {
  (void)arg;
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGUSR2);
  pthread_sigmask(SIG_UNBLOCK, &s, NULL);
  uint64_t r = 42;
  void *keep[64] = { 0 };
  while (!atomic_load(&stop)) {
    unsigned i = (unsigned)(th_rng(&r) % 64);
    free(keep[i]);
    size_t n = (size_t)(th_rng(&r) % 8192) + 1;
    keep[i] = malloc(n);
    if (keep[i]) *(volatile char *)keep[i] = 1;
    atomic_fetch_add(&iterations, 1);
  }
  for (int i = 0; i < 64; i++) free(keep[i]);
  return NULL;
}

static void nap(void) {
  struct timespec ts = { 0, 1000000 };
  nanosleep(&ts, NULL);
}

/* the waits: 1 ms naps, 120 s at most (a dump takes milliseconds, under
 * qemu too); a wait that ends so is a failure */
#define WAIT_FOR(cond) do { for (long ms_ = 0; !(cond) && ms_ < 120000; ms_++) nap(); } while (0)

/* the worker has run on since now: any handler it was in has returned */
static void worker_ran_on(void) {
  long c0 = atomic_load(&iterations);
  WAIT_FOR(atomic_load(&iterations) >= c0 + 2);
  CHECKF(atomic_load(&iterations) >= c0 + 2, "the worker thread is stuck (in the signal handler?)");
}

static void own_handler(int sig) {
  (void)sig;
  own_called = 1;
}

/* 16 blocks of 64 KiB live all along: at 4 KiB each is a sample but for
 * a chance of e^-16, so every dump has a stack in use, however few
 * calls the worker made before the signal (qemu) */
void site_live(void);
static void *live[16];
TP_SITE void site_live(void) {
  for (int i = 0; i < 16; i++) live[i] = malloc(65536);
  TP_BARRIER();
}

static int stage(const char *arg) {
  int signals = atoi(arg);
  site_live();
  const char *prefix = getenv("MYMALLOC_PROFILE");
  snprintf(tp_dir, sizeof(tp_dir), "%s", prefix);
  *strrchr(tp_dir, '/') = 0;
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGUSR2);
  pthread_sigmask(SIG_BLOCK, &s, NULL);
  pthread_t t;
  CHECK(pthread_create(&t, NULL, worker, NULL) == 0);
  worker_ran_on();
  char path[1024];
  int complete = 0;
  for (int k = 0; k < signals; k++) {
    CHECK(kill(getpid(), SIGUSR2) == 0);
    WAIT_FOR(tp_find(prefix, getpid(), path, sizeof(path)) >= k + 1);
    if (tp_find(prefix, getpid(), path, sizeof(path)) < k + 1) {
      CHECKF(0, "signal %d: no file PREFIX.PID.%d.heap after 120 s", k, k);
      break;
    }
    worker_ran_on();
    char want[32];
    snprintf(want, sizeof(want), ".%d.heap", k);
    CHECKF(strstr(path, want) != NULL, "signal %d: the newest file is %s", k, path);
    struct tp_prof p;
    if (tp_parse(path, &p) == 0) {
      tp_check_file(&p, path);
      CHECKF(p.rate == 4096, "%s: rate %lu", path, p.rate);
      struct tp_sum l = tp_site(&p, "site_live", NULL);
      CHECKF(l.ic > 0, "%s: none of site_live's 16 blocks of 64 KiB in use", path);
      complete += p.bad == 0 && p.maps > 0 && p.n > 0;
      tp_free(&p);
    } else {
      CHECKF(0, "%s does not parse", path);
    }
  }
  printf("%s: %d signals, %d complete profiles, the worker did %ld malloc+free\n", NAME, signals, complete,
         atomic_load(&iterations));
  /* the program's own handler wins */
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = own_handler;
  sigemptyset(&sa.sa_mask);
  CHECK(sigaction(SIGUSR2, &sa, NULL) == 0);
  CHECK(kill(getpid(), SIGUSR2) == 0);
  WAIT_FOR(own_called);
  CHECKF(own_called, "the program's own SIGUSR2 handler was not called");
  worker_ran_on();
  for (int i = 0; i < 50; i++) nap();
  int n = tp_find(prefix, getpid(), path, sizeof(path));
  CHECKF(n == signals, "the program's own handler was installed, yet a dump: %d files after %d dumps", n, signals);
  atomic_store(&stop, 1);
  pthread_join(t, NULL);
  for (int i = 0; i < 16; i++) free(live[i]);
  return test_done(NAME " (stage)");
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IONBF, 0);
  if (argc == 3 && !strcmp(argv[1], "--stage")) return stage(argv[2]);
  tp_mkdir(NAME);
  char prefix[1024], number[64];
  snprintf(prefix, sizeof(prefix), "MYMALLOC_PROFILE=%s/p", tp_dir);
  snprintf(number, sizeof(number), "MYMALLOC_PROFILE_SIGNAL=%d", SIGUSR2);
  const char *env_name[] = { prefix, "MYMALLOC_PROFILE_SIGNAL=USR2", "MYMALLOC_PROFILE_RATE=4k",
                             "MYMALLOC_PROFILE_AT_EXIT=0", NULL };
  const char *env_number[] = { prefix, number, "MYMALLOC_PROFILE_RATE=4k", "MYMALLOC_PROFILE_AT_EXIT=0", NULL };
  CHECK(tp_run(NAME, argv[0], "20", env_name, 300));
  CHECK(tp_run(NAME, argv[0], "3", env_number, 300));
  tp_rmdir();
  return test_done(NAME);
}
