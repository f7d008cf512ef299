/* test_misuse -- deliberate misuse is caught, reported and stopped.
 *
 * Each case runs in a forked child whose stderr goes into a pipe.  The
 * child must die of SIGABRT, and must have written exactly one line, which
 * begins with "mymalloc: ", names the function called ("free()",
 * "realloc()" ...) and holds the bad pointer in hex (0x...).  Cases:
 *   double free of a small block, immediately and after other frees (the
 *   block deeper in the free list); of a medium block; of a huge (2 MiB)
 *   block; free of p+16 inside a 64-byte block (by its owner thread, and by
 *   another thread), of a pointer inside a huge block; free of a stack
 *   address and of a pointer into a static array; realloc of a stack
 *   address, of a pointer inside a block, and of a freed block; a block
 *   freed by another thread then freed again (both directions); a huge
 *   block freed by another thread then freed again; a freed block's link
 *   overwritten (the next malloc stops); and with MYMALLOC_CHECK=full (in
 *   a fresh process, which reads the option at start) a write into a
 *   freed block (malloc stops) and a write past a block (free stops).
 * Skipped under valgrind.
 */
#include "config.h"
#include "harness.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static void *launder(void *p) {
  void *volatile v = p;
  return v;
}

static void (*volatile free_fn)(void *) = free;
static void *(*volatile realloc_fn)(void *, size_t) = realloc;

static void *thread_free(void *p) {
  free_fn(p);
  return NULL;
}
static void *thread_malloc(void *arg) {
  return malloc((size_t)(uintptr_t)arg);
}
static void free_in_thread(void *p) {
  pthread_t t;
  if (pthread_create(&t, NULL, thread_free, p) == 0) pthread_join(t, NULL);
}
static void *malloc_in_thread(size_t n) {
  pthread_t t;
  void *r = NULL;
  if (pthread_create(&t, NULL, thread_malloc, (void *)(uintptr_t)n) == 0) pthread_join(t, &r);
  return r;
}

/* each case returns the pointer it expects in the message, after the
 * misuse itself (which must not return) */
static void *bad_ptr;

static void double_free_small(void) {
  char *p = malloc(64);
  bad_ptr = p;
  free_fn(p);
  free_fn(p);
}

static void double_free_deep(void) {
  char *v[16];
  for (int i = 0; i < 16; i++) v[i] = malloc(64);
  bad_ptr = v[3];
  free_fn(v[3]);
  for (int i = 0; i < 16; i++) if (i != 3) free_fn(v[i]);
  char *w[8];
  for (int i = 0; i < 8; i++) w[i] = malloc(48);   /* another class in between */
  for (int i = 0; i < 8; i++) free_fn(w[i]);
  free_fn(v[3]);
}

static void double_free_medium(void) {
  char *p = malloc(20000);
  char *q = malloc(20000);
  bad_ptr = p;
  free_fn(p);
  free_fn(q);
  free_fn(p);
}

static void double_free_huge(void) {
  char *p = malloc(2u << 20);
  memset(p, 1, 2u << 20);
  bad_ptr = p;
  free_fn(p);
  free_fn(p);
}

static void free_inside_small(void) {
  char *p = malloc(64);
  char *keep = malloc(64);   /* the page is not emptied by anything */
  th_sink = keep;
  bad_ptr = p + 16;
  free_fn(p + 16);
}

/* 8 bytes in: not 16-aligned, still inside our memory */
static void free_inside_small_8(void) {
  char *p = malloc(64);
  char *keep = malloc(64);
  th_sink = keep;
  bad_ptr = p + 8;
  free_fn(p + 8);
}

static void free_inside_small_other_thread(void) {
  char *p = malloc(64);
  bad_ptr = p + 16;
  free_in_thread(p + 16);
}

static void free_inside_huge(void) {
  char *p = malloc(1u << 20);
  bad_ptr = p + 4096;
  free_fn(p + 4096);
}

static void free_stack(void) {
  char buf[64];
  memset(buf, 0, sizeof(buf));
  bad_ptr = launder(buf + 16);
  free_fn(bad_ptr);
}

static char static_array[4096] __attribute__((aligned(64)));
static void free_static(void) {
  bad_ptr = launder(static_array + 64);
  free_fn(bad_ptr);
}

static void realloc_stack(void) {
  char buf[64];
  memset(buf, 0, sizeof(buf));
  bad_ptr = launder(buf);
  th_sink = realloc_fn(bad_ptr, 100);
}

static void realloc_inside(void) {
  char *p = malloc(256);
  bad_ptr = p + 32;
  th_sink = realloc_fn(p + 32, 1000);
}

static void realloc_freed(void) {
  char *p = malloc(100);
  char *q = malloc(100);
  th_sink = q;
  bad_ptr = p;
  free_fn(p);
  th_sink = realloc_fn(p, 1000);
}

static void cross_thread_double_free(void) {
  /* main allocates, another thread frees, main frees again */
  char *p = malloc(64);
  char *keep = malloc(64);
  th_sink = keep;
  bad_ptr = p;
  free_in_thread(p);
  free_fn(p);
}

static void cross_thread_double_free2(void) {
  /* a thread allocates and exits, main frees twice */
  char *p = malloc_in_thread(64);
  bad_ptr = p;
  free_fn(p);
  free_fn(p);
}

static void cross_thread_double_free3(void) {
  /* main allocates and frees, another thread frees again */
  char *p = malloc(128);
  char *keep = malloc(128);
  th_sink = keep;
  bad_ptr = p;
  free_fn(p);
  free_in_thread(p);
}

static void cross_thread_double_free_huge(void) {
  char *p = malloc(3u << 20);
  bad_ptr = p;
  free_in_thread(p);
  free_fn(p);
}

/* A freed block's link overwritten (a use after free): the malloc that
 * follows the link must stop. */
static void corrupt_link(void) {
  char *a = malloc(64), *b = malloc(64);
  free_fn(b);
  free_fn(a);                          /* a is first, its link leads to b */
  memset(launder(a), 0x41, 8);         /* the link */
  bad_ptr = a;
  char *volatile c = malloc(64);       /* pops a: the link is checked */
  (void)c;
}

/* MYMALLOC_CHECK=full cases run in a fresh process (the option is read at
 * start): argv[0] --full NAME FD, with the variable set. */
static char *self_path;
static int ptr_fd_for_exec(void);
static void exec_full(const char *name) {
  char fd[16];
  snprintf(fd, sizeof(fd), "%d", ptr_fd_for_exec());
  char *argv[] = { self_path, (char *)"--full", (char *)name, fd, NULL };
  setenv("MYMALLOC_CHECK", "full", 1);
  th_execv("/proc/self/exe", argv);
  _exit(3);
}
static void full_uaf(void) { exec_full("uaf"); }
static void full_overflow(void) { exec_full("overflow"); }

/* run in the exec'd process */
static void full_case(const char *name) {
  if (strcmp(name, "uaf") == 0) {
    char *p = malloc(64);
    free_fn(p);
    ((volatile char *)p)[40] = 1;       /* written after free */
    bad_ptr = p;
    char *volatile q = malloc(64);      /* takes p back: the fill is checked */
    (void)q;
  } else {
    char *p = malloc(64);
    size_t u = malloc_usable_size(p);
    /* one byte past the usable size, changed (a fixed value would match
     * the random canary's byte once in 256 runs) */
    ((volatile char *)p)[u] = (char)~((volatile char *)p)[u];
    bad_ptr = p;
    free_fn(p);                          /* the canary is checked */
  }
}

struct misuse {
  const char *name;
  void (*fn)(void);
  const char *func;    /* the function the message must name */
  const char *what;    /* and what it must say, if given */
};

static const struct misuse cases[] = {
  { "double free of a small block", double_free_small, "free()" , NULL },
  { "double free, block deeper in the free list", double_free_deep, "free()" , NULL },
  { "double free of a medium block", double_free_medium, "free()" , NULL },
  { "double free of a huge block", double_free_huge, "free()" , NULL },
  { "free(p + 16) of a 64-byte block", free_inside_small, "free()", "not at the start of a block" },
  { "free(p + 8) of a 64-byte block", free_inside_small_8, "free()", "not at the start of a block" },
  { "free(p + 16) of a 64-byte block, by another thread", free_inside_small_other_thread, "free()" , NULL },
  { "free of a pointer inside a huge block", free_inside_huge, "free()" , NULL },
  { "free of a stack address", free_stack, "free()" , NULL },
  { "free of a pointer into a static array", free_static, "free()" , NULL },
  { "realloc of a stack address", realloc_stack, "realloc()" , NULL },
  { "realloc of a pointer inside a block", realloc_inside, "realloc()" , NULL },
  { "realloc of a freed block", realloc_freed, "realloc()" , NULL },
  { "cross-thread double free (other thread first)", cross_thread_double_free, "free()" , NULL },
  { "double free of a dead thread's block", cross_thread_double_free2, "free()" , NULL },
  { "cross-thread double free (other thread second)", cross_thread_double_free3, "free()" , NULL },
  { "cross-thread double free of a huge block", cross_thread_double_free_huge, "free()" , NULL },
  { "corrupted free-list link (write after free)", corrupt_link, "malloc()" , NULL },
  { "MYMALLOC_CHECK=full: write after free", full_uaf, "malloc()" , NULL },
  { "MYMALLOC_CHECK=full: write past the block", full_overflow, "free()" , NULL },
};

/* In the child, SIGABRT first sends the pointer the case misused (bad_ptr,
 * set just before the misuse) on a pipe, then kills it as usual.  Only
 * write(2) and raise(3): async-signal-safe, and no allocation. */
static int ptr_fd = -1;
static int ptr_fd_for_exec(void) { return ptr_fd; }
static void on_abort(int sig) {
  (void)sig;
  char buf[32], tmp[20];
  uintptr_t v = (uintptr_t)bad_ptr;
  int n = 0, k = 0;
  do { tmp[n++] = "0123456789abcdef"[v & 15]; v >>= 4; } while (v);
  buf[k++] = '0';
  buf[k++] = 'x';
  while (n) buf[k++] = tmp[--n];
  buf[k++] = '\n';
  ssize_t w = write(ptr_fd, buf, (size_t)k);
  (void)w;
  signal(SIGABRT, SIG_DFL);
  raise(SIGABRT);
}

static size_t read_all(int fd, char *out, size_t cap) {
  size_t len = 0;
  for (;;) {
    ssize_t n = read(fd, out + len, cap - 1 - len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    len += (size_t)n;
    if (len == cap - 1) break;
  }
  out[len] = 0;
  return len;
}

static void run_case(const struct misuse *c) {
  int errp[2], ptrp[2];
  if (pipe(errp) != 0 || pipe(ptrp) != 0) { CHECK(!"pipe"); return; }
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid == 0) {
    struct rlimit no_core = { 0, 0 };
    setrlimit(RLIMIT_CORE, &no_core);
    close(errp[0]);
    close(ptrp[0]);
    dup2(errp[1], 2);
    close(errp[1]);
    ptr_fd = ptrp[1];
    signal(SIGABRT, on_abort);
    c->fn();
    /* the misuse went unnoticed */
    static const char msg[] = "RETURNED\n";
    ssize_t w = write(ptr_fd, msg, sizeof(msg) - 1);
    (void)w;
    _exit(0);
  }
  close(errp[1]);
  close(ptrp[1]);
  CHECK(pid > 0);
  if (pid < 0) { close(errp[0]); close(ptrp[0]); return; }
  char out[4096], ptr[64];
  size_t len = read_all(errp[0], out, sizeof(out));
  read_all(ptrp[0], ptr, sizeof(ptr));
  close(errp[0]);
  close(ptrp[0]);
  int st = 0;
  waitpid(pid, &st, 0);

  int aborted = WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT;
  CHECKF(aborted, "%s: %s %d (not SIGABRT)%s; stderr: \"%s\"", c->name,
         WIFSIGNALED(st) ? "killed by signal" : "exited with",
         WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st),
         strncmp(ptr, "RETURNED", 8) == 0 ? ", the misuse returned normally" : "", out);
  len = th_drop_qemu_lines(out, len);
  int nlines = 0;
  for (size_t i = 0; i < len; i++) nlines += out[i] == '\n';
  CHECKF(nlines == 1 && out[len - 1] == '\n', "%s: %d lines on stderr: \"%s\"", c->name, nlines, out);
  CHECKF(strncmp(out, "mymalloc: ", 10) == 0, "%s: message \"%s\"", c->name, out);
  CHECKF(strstr(out, c->func) != NULL, "%s: message does not name %s: \"%s\"", c->name, c->func, out);
  CHECKF(!c->what || strstr(out, c->what) != NULL, "%s: message does not say %s: \"%s\"", c->name, c->what, out);
  const char *hex = strstr(out, "0x");
  unsigned long long got = hex ? strtoull(hex + 2, NULL, 16) : 0;
  unsigned long long want = strncmp(ptr, "0x", 2) == 0 ? strtoull(ptr + 2, NULL, 16) : 1;
  CHECKF(hex && got == want, "%s: message names pointer %#llx, the bad pointer was %#llx: \"%s\"",
         c->name, got, want, out);
  if (aborted && nlines == 1) printf("test_misuse: %-52s %s", c->name, out);
}

int main(int argc, char **argv) {
  if (argc == 4 && strcmp(argv[1], "--full") == 0) {
    ptr_fd = atoi(argv[3]);
    signal(SIGABRT, on_abort);
    full_case(argv[2]);
    static const char msg[] = "RETURNED\n";
    ssize_t w = write(ptr_fd, msg, sizeof(msg) - 1);
    (void)w;
    _exit(0);
  }
  self_path = argv[0];
  th_skip_under_valgrind("test_misuse", "checks our abort messages; memcheck reports the misuse first");
#if !MM_HARDEN
  th_skip("test_misuse", "built with --disable-hardening (no checks on the fast paths)");
#endif
  setvbuf(stdout, NULL, _IOLBF, 0);
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) run_case(&cases[i]);
  return test_done("test_misuse");
}
