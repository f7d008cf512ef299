/* test_fork -- fork() in a multi-threaded process must not deadlock the
 * child, and the child's heap must work.
 *
 * Three threads allocate and free in a loop (small, medium and huge blocks,
 * blocks freed by another thread, malloc_trim and mallinfo2, so that every
 * allocator lock is taken often) while the main thread forks N times
 * (100; 500 with MYMALLOC_TEST_LONG=1).  Each child: checks a block the
 * parent filled before the fork, frees it and blocks of the other threads
 * (whose threads do not exist in the child), allocates and frees blocks of
 * all kinds checking their contents, prints the heap report
 * (mymalloc_stats_print, text and json, and malloc_stats) into /dev/null,
 * creates and joins a thread, and _exit(0) -- any failure is a distinct
 * exit code (the step that failed).  The parent waits for
 * each child with a 10 s timeout (then SIGKILL and a failure: deadlock);
 * a watchdog (alarm, 30 s) catches a deadlock of the parent itself.
 */
#include "config.h"
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <mymalloc/malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NWORKERS 3
#define SHARED 256

static atomic_int stop;
static _Atomic(unsigned char *) shared[SHARED];   /* blocks handed between threads */
static atomic_long worker_ops;
static atomic_long worker_errors;


static size_t rsize(uint64_t *r) {
  unsigned k = (unsigned)(th_rng(r) % 100);
  if (k < 80) return (size_t)(th_rng(r) % 512) + 8;
  if (k < 97) return (size_t)(th_rng(r) % 60000) + 8;
  return (size_t)(th_rng(r) % (3u << 20)) + 70000;
}

/* a block carries its size and a seed in its first 16 bytes */
static unsigned char *new_block(size_t n, uint64_t seed) {
  if (n < 16) n = 16;
  unsigned char *p = malloc(n);
  if (!p) return NULL;
  memcpy(p, &n, 8);
  memcpy(p + 8, &seed, 8);
  th_fillw(p + 16, n - 16 < 256 ? n - 16 : 256, seed);
  return p;
}
static int check_block(const unsigned char *p) {
  size_t n;
  uint64_t seed;
  memcpy(&n, p, 8);
  memcpy(&seed, p + 8, 8);
  return th_verifyw(p + 16, n - 16 < 256 ? n - 16 : 256, seed);
}

static void *worker(void *arg) {
  uint64_t r = 0x9876543ULL + (uint64_t)(intptr_t)arg * 7919;
  unsigned char *mine[64] = { 0 };
  long ops = 0;
  while (!atomic_load(&stop)) {
    unsigned i = (unsigned)(th_rng(&r) % 64);
    if (mine[i]) {
      if (!check_block(mine[i])) atomic_fetch_add(&worker_errors, 1);
      free(mine[i]);
      mine[i] = NULL;
    } else {
      mine[i] = new_block(rsize(&r), th_rng(&r));
      if (!mine[i]) atomic_fetch_add(&worker_errors, 1);
    }
    /* hand a block to whoever comes next, take one back */
    unsigned s = (unsigned)(th_rng(&r) % SHARED);
    unsigned char *give = new_block((size_t)(th_rng(&r) % 300) + 16, th_rng(&r));
    unsigned char *old = atomic_exchange(&shared[s], give);
    if (old) {
      if (!check_block(old)) atomic_fetch_add(&worker_errors, 1);
      free(old);
    }
    if ((ops & 4095) == 0) malloc_trim(0);
    if ((ops & 1023) == 0) th_sink = (void *)(uintptr_t)mallinfo2().uordblks;
    ops++;
  }
  for (int i = 0; i < 64; i++) {
    if (mine[i] && !check_block(mine[i])) atomic_fetch_add(&worker_errors, 1);
    free(mine[i]);
  }
  atomic_fetch_add(&worker_ops, ops);
  return NULL;
}

static void *child_thread(void *arg) {
  (void)arg;
  unsigned char *p = new_block(1000, 5);
  if (!p || !check_block(p)) return (void *)1;
  free(p);
  return NULL;
}

/* The child's work.  Returns 0 or the number of the step that failed. */
static int child_main(unsigned char *before) {
  if (!check_block(before)) return 2;
  free(before);
  /* blocks that other (now absent) threads allocated and handed over */
  for (int i = 0; i < SHARED; i += 7) {
    unsigned char *b = atomic_exchange(&shared[i], NULL);
    if (b) {
      if (!check_block(b)) return 3;
      free(b);
    }
  }
  static const size_t sizes[] = { 1, 16, 100, 1000, 5000, 20000, 65536, 100000, 1 << 20, 5 << 20 };
  unsigned char *v[10];
  for (int i = 0; i < 10; i++) {
    size_t n = sizes[i] < 16 ? 16 : sizes[i];
    v[i] = new_block(n, (uint64_t)i * 31);
    if (!v[i] || !aligned16(v[i])) return 4;
  }
  for (int i = 0; i < 10; i++) if (!check_block(v[i])) return 5;
  unsigned char *c = calloc(1000, 10);
  if (!c) return 6;
  for (int i = 0; i < 10000; i++) if (c[i]) return 6;
  unsigned char *r = realloc(v[3], 300000);
  if (!r || !check_block(r)) return 7;
  v[3] = r;
  void *a = NULL;
  if (posix_memalign(&a, 4096, 10000) != 0 || ((uintptr_t)a & 4095)) return 8;
  free(a);
  for (int i = 0; i < 10; i++) free(v[i]);
  free(c);
  int fd = open("/dev/null", O_WRONLY);
  if (fd < 0) return 9;
  if (mymalloc_stats_print(fd, "text") != 0) return 10;
  if (mymalloc_stats_print(fd, "json") != 0) return 11;
  int saved = dup(2);
  dup2(fd, 2);
  malloc_stats();
  dup2(saved, 2);
  close(saved);
  close(fd);
  struct mallinfo2 mi = mallinfo2();
  if (mi.arena == 0 && mi.hblkhd == 0 && mi.uordblks == 0) return 12;
  pthread_t t;
  void *ret = (void *)1;
  if (pthread_create(&t, NULL, child_thread, NULL) != 0) return 13;
  pthread_join(t, &ret);
  if (ret != NULL) return 14;
  malloc_trim(0);
  return 0;
}

/* The parent itself can deadlock (in fork's atfork handlers, or in
 * malloc): a watchdog ends the test with a message. */
static volatile sig_atomic_t forks_done;
static void on_alarm(int sig) {
  (void)sig;
  char msg[160] = "FAIL test_fork: timed out: the parent is stuck (deadlock?) after ";
  size_t n = strlen(msg);
  char num[16];
  int k = 0, v = forks_done;
  do { num[k++] = (char)('0' + v % 10); v /= 10; } while (v);
  while (k) msg[n++] = num[--k];
  memcpy(msg + n, " forks\n", 7);
  n += 7;
  ssize_t w = write(2, msg, n);
  (void)w;
  _exit(1);
}

int main(void) {
  th_skip_under_valgrind("test_fork", "500 forks under valgrind take too long; run natively");
  int nforks = th_long() ? 500 : 100;
  setvbuf(stdout, NULL, _IONBF, 0);
  signal(SIGALRM, on_alarm);
  alarm(th_long() ? 300 : 30);   /* the whole test takes about a second */

  pthread_t tid[NWORKERS];
  for (int i = 0; i < NWORKERS; i++)
    CHECK(pthread_create(&tid[i], NULL, worker, (void *)(intptr_t)i) == 0);

  int ok = 0, failed = 0, hung = 0;
  for (int k = 0; k < nforks; k++) {
    unsigned char *before = new_block(777 + (size_t)k, (uint64_t)k);
    CHECK(before != NULL);
    pid_t pid = fork();
    if (pid == 0) _exit(child_main(before));
    CHECKF(pid > 0, "fork: %s", strerror(errno));
    if (pid < 0) { free(before); break; }
    free(before);
    forks_done = k + 1;
    /* wait with a timeout */
    int st = 0, done = 0;
    for (int ms = 0; ms < 10000; ms += 5) {
      pid_t w = waitpid(pid, &st, WNOHANG);
      if (w == pid) { done = 1; break; }
      struct timespec ts = { 0, 5000000 };
      nanosleep(&ts, NULL);
    }
    if (!done) {
      kill(pid, SIGKILL);
      waitpid(pid, &st, 0);
      hung++;
      fprintf(stderr, "FAIL: child %d did not finish within 10 s (deadlock?)\n", k);
      continue;
    }
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) ok++;
    else {
      failed++;
      if (WIFEXITED(st)) {
        fprintf(stderr, "FAIL: child %d exited with %d\n", k, WEXITSTATUS(st));
      } else if (WIFSIGNALED(st)) {
        fprintf(stderr, "FAIL: child %d killed by signal %d\n", k, WTERMSIG(st));
      }
    }
  }
  atomic_store(&stop, 1);
  for (int i = 0; i < NWORKERS; i++) pthread_join(tid[i], NULL);
  for (int i = 0; i < SHARED; i++) {
    unsigned char *b = atomic_exchange(&shared[i], NULL);
    if (b) {
      if (!check_block(b)) atomic_fetch_add(&worker_errors, 1);
      free(b);
    }
  }
  printf("test_fork: %d forks: %d children ok, %d failed, %d hung; workers did %ld ops\n",
         nforks, ok, failed, hung, atomic_load(&worker_ops));
  CHECK(hung == 0);
  CHECK(failed == 0);
  CHECK(ok == nforks);
  CHECK(atomic_load(&worker_errors) == 0);
  CHECK(atomic_load(&worker_ops) > 0);
  return test_done("test_fork");
}
