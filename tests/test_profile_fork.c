/* test_profile_fork -- a forked child writes its own profile, under its
 * own pid, and its in-use part follows its own frees.
 *
 * Run again as a child with MYMALLOC_PROFILE=DIR/p and
 * MYMALLOC_PROFILE_RATE=1 (every allocation a sample: exact counts), the
 * final dump at exit on.  The main thread keeps 1000 blocks of 1 KiB from
 * site_a while a worker thread allocates and frees (so the profiler's
 * table is busy at every fork), and forks 10 times.  Each child frees
 * all of site_a's blocks, keeps 100 blocks of 4 KiB from site_b and
 * calls exit(): its final dump is DIR/p.CHILDPID.N.heap, where a has
 * nothing in use and b 100 blocks.  The parent then dumps: a still has
 * its 1000 blocks, b none (it never called site_b), and no file bears
 * the parent's pid but that one.  A child that hangs is killed by its
 * alarm (a lock of the profiler held across fork).
 */
#include "config.h"
#include "harness.h"
#include "profile.h"

#include <mymalloc/malloc.h>
#include <pthread.h>
#include <stdatomic.h>

#define NAME "test_profile_fork"
#define A_N 1000
#define B_N 100
#define FORKS 10

void site_a(void);
void site_b(void);

static void *blocks_a[A_N], *blocks_b[B_N];
static atomic_int stop;

TP_SITE void site_a(void) {
  for (int i = 0; i < A_N; i++) blocks_a[i] = malloc(1024);
  TP_BARRIER();
}
TP_SITE void site_b(void) {
  for (int i = 0; i < B_N; i++) blocks_b[i] = malloc(4096);
  TP_BARRIER();
}

static void *worker(void *arg) {
  (void)arg;
  uint64_t r = 99;
  void *keep[32] = { 0 };
  while (!atomic_load(&stop)) {
    unsigned i = (unsigned)(th_rng(&r) % 32);
    free(keep[i]);
    keep[i] = malloc((size_t)(th_rng(&r) % 2000) + 1);
  }
  for (int i = 0; i < 32; i++) free(keep[i]);
  return NULL;
}

static void child(void) {
  alarm(60);
  for (int i = 0; i < A_N; i++) free(blocks_a[i]);
  site_b();
  exit(0);   /* exit, not _exit: the final dump */
}

/* in use in the file path: a's and b's blocks */
static int in_use(const char *path, unsigned long *a, unsigned long *b, unsigned long *b_alloc) {
  struct tp_prof p;
  if (tp_parse(path, &p) != 0) return 0;
  tp_check_file(&p, path);
  struct tp_sum sa = tp_site(&p, "site_a", NULL), sb = tp_site(&p, "site_b", NULL);
  *a = sa.ic;
  *b = sb.ic;
  *b_alloc = sb.ac;
  tp_free(&p);
  return 1;
}

static int stage(void) {
  const char *prefix = getenv("MYMALLOC_PROFILE");
  snprintf(tp_dir, sizeof(tp_dir), "%s", prefix);
  *strrchr(tp_dir, '/') = 0;
  site_a();
  pthread_t t;
  CHECK(pthread_create(&t, NULL, worker, NULL) == 0);
  int ok = 0;
  for (int k = 0; k < FORKS; k++) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) child();
    if (pid < 0) { CHECKF(0, "fork: %s", strerror(errno)); break; }
    int st = 0;
    waitpid(pid, &st, 0);
    CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %d: status %#x%s", k, (unsigned)st,
           WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM ? " (hung: killed by its alarm)" : "");
    char path[1024] = "";
    int n = tp_find(prefix, pid, path, sizeof(path));
    CHECKF(n == 1, "child %d (pid %ld): %d files PREFIX.%ld.N.heap, not 1", k, (long)pid, n, (long)pid);
    unsigned long a = 99, b = 99, b_alloc = 99;
    if (n >= 1 && in_use(path, &a, &b, &b_alloc)) {
      CHECKF(a == 0, "child %d: site_a has %lu blocks in use in the child's profile, the child freed them all", k, a);
      CHECKF(b == B_N && b_alloc == B_N, "child %d: site_b: %lu in use, %lu allocated, not %d", k, b, b_alloc, B_N);
      if (a == 0 && b == B_N) ok++;
    } else {
      CHECKF(0, "child %d: no readable profile %s", k, path);
    }
  }
  atomic_store(&stop, 1);
  pthread_join(t, NULL);
  char mine[1024] = "", path[1024];
  CHECKF(tp_find(prefix, getpid(), mine, sizeof(mine)) == 0, "a file with the parent's pid before it dumped: %s",
         mine);
  snprintf(path, sizeof(path), "%s.parent", prefix);
  CHECK(mymalloc_profile_dump(path) == 0);
  unsigned long a = 0, b = 0, b_alloc = 0;
  CHECKF(in_use(path, &a, &b, &b_alloc), "the parent's profile does not parse");
  CHECKF(a == A_N, "the parent: site_a has %lu blocks in use, not %d (its children's frees are theirs)", a, A_N);
  CHECKF(b == 0 && b_alloc == 0, "the parent: site_b (only its children called it) has %lu/%lu", b, b_alloc);
  printf("%s: %d children wrote their own profile right; the parent has %lu blocks of site_a in use\n", NAME, ok, a);
  for (int i = 0; i < A_N; i++) free(blocks_a[i]);
  return test_done(NAME " (stage)");
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IONBF, 0);
  if (argc == 3 && !strcmp(argv[1], "--stage")) return stage();
  const char *env[] = { "MYMALLOC_PROFILE_RATE=1", "MYMALLOC_PROFILE_SEED=3", NULL };
  return tp_main_one(NAME, argv[0], "fork", env);
}
