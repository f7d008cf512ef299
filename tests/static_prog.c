/* static_prog -- the program of test_static.sh, linked with -static against
 * libmymalloc.a (never built by make: the test compiles it).
 *
 * Four threads allocate 1000 blocks of 3000 bytes each (class 3072) and
 * free half of them themselves and half from the main thread; while they
 * run, the main thread forks: the child allocates 500 blocks of 7000 bytes
 * (class 7168) in a thread of its own, prints its heap report (JSON) on
 * stdout and exits; the parent waits for it, then prints its own report.
 * malloc_info is called too: a function of glibc's malloc.o that mymalloc
 * must define, or libc.a's malloc.o would be linked in and clash.
 * test_static.sh reads the counts from the two reports. */
#include "harness.h"

#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <mymalloc/malloc.h>

#define NTHREADS 4
#define NBLOCKS 1000

static void *blocks[NTHREADS][NBLOCKS];

static void *worker(void *arg) {
  void **mine = arg;
  for (int i = 0; i < NBLOCKS; i++) {
    mine[i] = malloc(3000);
    if (mine[i]) memset(mine[i], i & 0xff, 3000);
  }
  for (int i = 0; i < NBLOCKS; i += 2) { free(mine[i]); mine[i] = NULL; }
  return NULL;
}

static void *child_worker(void *arg) {
  (void)arg;
  void *p[500];
  int bad = 0;
  for (int i = 0; i < 500; i++) {
    p[i] = malloc(7000);
    if (!p[i]) bad = 1; else memset(p[i], 7, 7000);
  }
  for (int i = 0; i < 500; i++) free(p[i]);
  return bad ? (void *)1 : NULL;
}

int main(void) {
  pthread_t th[NTHREADS];
  for (int t = 0; t < NTHREADS; t++) CHECK(pthread_create(&th[t], NULL, worker, blocks[t]) == 0);
  fflush(stdout);
  pid_t pid = fork();   /* while the workers allocate */
  if (pid == 0) {
    alarm(20);           /* a deadlock at the child's first malloc fails the test */
    pthread_t c;
    void *r = (void *)1;
    if (pthread_create(&c, NULL, child_worker, NULL) == 0) pthread_join(c, &r);
    mymalloc_stats_print(1, "json");
    _exit(r == NULL ? 0 : 3);
  }
  CHECK(pid > 0);
  int status = -1;
  CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
  CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status 0x%x", status);
  for (int t = 0; t < NTHREADS; t++) CHECK(pthread_join(th[t], NULL) == 0);
  /* the odd blocks are freed by another thread than their owner */
  int intact = 1;
  for (int t = 0; t < NTHREADS; t++)
    for (int i = 1; i < NBLOCKS; i += 2) {
      unsigned char *b = blocks[t][i];
      if (!b || b[0] != (i & 0xff) || b[2999] != (i & 0xff)) intact = 0;
      free(b);
    }
  CHECK(intact);
  FILE *null = fopen("/dev/null", "w");
  CHECK(null && malloc_info(0, null) == 0);
  if (null) fclose(null);
  struct mallinfo2 mi = mallinfo2();
  CHECKF(mi.uordblks > 0, "mallinfo2: %zu bytes in use", mi.uordblks);
  fflush(stdout);
  mymalloc_stats_print(1, "json");
  fflush(stdout);
  return test_done("static_prog");
}
