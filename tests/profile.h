/*
 * profile.h -- what the tests of the heap profiler share (after harness.h):
 * running this program again with the profiler's variables set
 * (tp_run), a temporary directory for the files, the parser of the
 * written .heap file (gperftools' text heap profile, to the letter), the
 * attribution of a stack to the function its
 * first address returns into (dladdr: the test programs are linked with
 * -export-dynamic, so their global functions are in the dynamic symbol
 * table), and the unsampling of pprof.  Usable from C++.
 *
 * The unsampling (pprof's heap_v2, sampling_algorithm 2): a stack line
 * of count samples of bytes in all stands for count * scale blocks and
 * bytes * scale bytes, scale = 1 / (1 - exp(-(bytes / count) / RATE)).
 */
#ifndef MM_TEST_PROFILE_H
#define MM_TEST_PROFILE_H

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

/* a function a stack is attributed to: not inlined, not merged with
 * another, no clone (no arguments), in the dynamic symbol table */
#define TP_SITE __attribute__((noinline, used))
#define TP_BARRIER() __asm__ __volatile__("" ::: "memory")

#define TP_MAXFRAMES 64

struct tp_rec {
  unsigned long ic, ib, ac, ab;     /* in-use count, bytes; alloc count, bytes (raw) */
  int nf;
  uintptr_t f[TP_MAXFRAMES];
  const char *site;                 /* the function of f[0] (dladdr), or NULL */
  const char *object;               /* the file of f[0] (dladdr), or NULL */
};

struct tp_prof {
  unsigned long ic, ib, ac, ab;     /* the header's totals */
  unsigned long rate;
  int n;                            /* stack lines */
  struct tp_rec *r;
  int maps;                         /* lines after MAPPED_LIBRARIES: that look like maps */
  int bad;                          /* lines not in the format, to the letter */
  char first_bad[200];
};

static inline void tp_free(struct tp_prof *p) {
  free(p->r);
  memset(p, 0, sizeof(*p));
}

static inline int tp_is_maps_line(const char *s) {
  unsigned long a, b;
  char perm[8];
  return sscanf(s, "%lx-%lx %7s", &a, &b, perm) == 3 && b > a;
}

static inline void tp_bad(struct tp_prof *p, const char *line) {
  if (!p->bad++) snprintf(p->first_bad, sizeof(p->first_bad), "%s", line);
}

/* Parses the file; 0, or -1 (with a message on stderr) when it cannot be
 * read or has no header.  Lines that are not exactly in the format (the
 * numbers re-printed with gperftools' padding must give the line back)
 * are counted in p->bad. */
static inline int tp_parse(const char *path, struct tp_prof *p) {
  memset(p, 0, sizeof(*p));
  FILE *f = fopen(path, "r");
  if (!f) { fprintf(stderr, "profile: cannot open %s: %s\n", path, strerror(errno)); return -1; }
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  int state = 0, cap_r = 0;         /* 0 header, 1 stacks, 2 empty line seen, 3 maps */
  while ((len = getline(&line, &cap, f)) >= 0) {
    if (len > 0 && line[len - 1] == '\n') line[--len] = 0;
    else if (state != 3) tp_bad(p, "(a line without its newline)");
    if (state == 0) {
      int end = 0;
      if (sscanf(line, "heap profile: %lu: %lu [%lu: %lu] @ heap_v2/%lu%n",
                 &p->ic, &p->ib, &p->ac, &p->ab, &p->rate, &end) != 5 || line[end]) {
        fprintf(stderr, "profile: %s: not a heap_v2 header: %.200s\n", path, line);
        break;
      }
      state = 1;
    } else if (state == 1) {
      if (!*line) { state = 2; continue; }
      struct tp_rec r;
      memset(&r, 0, sizeof(r));
      int at = 0;
      if (sscanf(line, "%lu: %lu [%lu: %lu] @%n", &r.ic, &r.ib, &r.ac, &r.ab, &at) != 4 || !at) {
        tp_bad(p, line);
        continue;
      }
      char *s = line + at, *e;
      int too_many = 0;
      while (*s == ' ') {
        unsigned long long v = strtoull(s, &e, 16);
        if (e == s) break;
        if (r.nf == TP_MAXFRAMES) { too_many = 1; break; }
        r.f[r.nf++] = (uintptr_t)v;
        s = e;
      }
      /* to the letter: "%6lu: %8lu [%6lu: %8lu] @" and " 0x%016lx" a frame */
      char want[64 + 19 * TP_MAXFRAMES];
      int w = snprintf(want, sizeof(want), "%6lu: %8lu [%6lu: %8lu] @", r.ic, r.ib, r.ac, r.ab);
      for (int i = 0; i < r.nf; i++)
        w += snprintf(want + w, sizeof(want) - (size_t)w, " 0x%016lx", (unsigned long)r.f[i]);
      if (*s || too_many || r.nf == 0 || strcmp(want, line) != 0) tp_bad(p, line);
      Dl_info di;
      /* the return address is just past the call: look up the call */
      if (r.nf && dladdr((void *)(r.f[0] - 1), &di)) { r.site = di.dli_sname; r.object = di.dli_fname; }
      if (p->n == cap_r) {
        cap_r = cap_r ? cap_r * 2 : 64;
        p->r = (struct tp_rec *)realloc(p->r, (size_t)cap_r * sizeof(*p->r));
        if (!p->r) { fprintf(stderr, "profile: out of memory\n"); exit(99); }
      }
      p->r[p->n++] = r;
    } else if (state == 2) {
      if (strcmp(line, "MAPPED_LIBRARIES:") != 0) tp_bad(p, line);
      state = 3;
    } else if (tp_is_maps_line(line)) {
      p->maps++;
    } else {
      tp_bad(p, line);
    }
  }
  free(line);
  fclose(f);
  if (state == 0) return -1;
  if (state != 3) tp_bad(p, "(no MAPPED_LIBRARIES: section)");
  return 0;
}

/* -(expm1(-x)) = 1 - exp(-x), the chance that a block of avg bytes is sampled */
static inline double tp_pick(double avg, double rate) { return -expm1(-avg / rate); }

/* what pprof makes of one (count, bytes) pair */
static inline double tp_unsample(unsigned long count, unsigned long bytes, unsigned long rate) {
  if (!count || !bytes) return 0;
  return (double)bytes / tp_pick((double)bytes / (double)count, (double)rate);
}

/* the sums over the stacks whose first address is in function fn (NULL:
 * in none of the functions of names, a NULL-terminated list) */
struct tp_sum {
  unsigned long ic, ib, ac, ab;     /* raw */
  double uib, uab;                  /* unsampled bytes: in use, allocated */
  int lines;
};
static inline struct tp_sum tp_site(const struct tp_prof *p, const char *fn, const char *const *names) {
  struct tp_sum s;
  memset(&s, 0, sizeof(s));
  for (int i = 0; i < p->n; i++) {
    const struct tp_rec *r = &p->r[i];
    int match;
    if (fn) {
      match = r->site && strcmp(r->site, fn) == 0;
    } else {
      match = 1;
      for (int k = 0; names && names[k]; k++)
        if (r->site && strcmp(r->site, names[k]) == 0) match = 0;
    }
    if (!match) continue;
    s.lines++;
    s.ic += r->ic; s.ib += r->ib; s.ac += r->ac; s.ab += r->ab;
    s.uib += tp_unsample(r->ic, r->ib, p->rate);
    s.uab += tp_unsample(r->ac, r->ab, p->rate);
  }
  return s;
}

/* the checks every dump passes: the header is the sum of the lines, no
 * line breaks the format, in use <= allocated, the maps are there */
static inline void tp_check_file(const struct tp_prof *p, const char *what) {
  unsigned long ic = 0, ib = 0, ac = 0, ab = 0;
  int over = 0;
  for (int i = 0; i < p->n; i++) {
    ic += p->r[i].ic; ib += p->r[i].ib; ac += p->r[i].ac; ab += p->r[i].ab;
    if (p->r[i].ic > p->r[i].ac || p->r[i].ib > p->r[i].ab) over++;
  }
  CHECKF(p->bad == 0, "%s: %d lines not in the format, the first: \"%s\"", what, p->bad, p->first_bad);
  CHECKF(ic == p->ic && ib == p->ib && ac == p->ac && ab == p->ab,
         "%s: the header says %lu: %lu [%lu: %lu], the lines sum to %lu: %lu [%lu: %lu]",
         what, p->ic, p->ib, p->ac, p->ab, ic, ib, ac, ab);
  CHECKF(over == 0, "%s: %d lines with more in use than allocated", what, over);
  CHECKF(p->maps > 0, "%s: no lines of /proc/self/maps after MAPPED_LIBRARIES:", what);
}

/* ---- the temporary directory and the runs ------------------------------------------------ */
static char tp_dir[256];

static inline void tp_mkdir(const char *name) {
  const char *t = getenv("TMPDIR");
  snprintf(tp_dir, sizeof(tp_dir), "%s/%s.XXXXXX", t && *t ? t : "/tmp", name);
  if (!mkdtemp(tp_dir)) { perror("mkdtemp"); exit(99); }
}

static inline void tp_rmdir(void) {
  DIR *d = opendir(tp_dir);
  if (!d) return;
  struct dirent *e;
  char p[1024];
  while ((e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
      snprintf(p, sizeof(p), "%s/%s", tp_dir, e->d_name);
      unlink(p);
    }
  closedir(d);
  rmdir(tp_dir);
}

/* the files of this directory named PREFIX.PID.N.heap, for the pid: how
 * many, and the one with the highest N into path */
static inline int tp_find(const char *prefix, long pid, char *path, size_t size) {
  char head[512];
  const char *slash = strrchr(prefix, '/');
  snprintf(head, sizeof(head), "%s.%ld.", slash ? slash + 1 : prefix, pid);
  DIR *d = opendir(tp_dir);
  if (!d) return 0;
  struct dirent *e;
  int n = 0;
  long best = -1;
  while ((e = readdir(d))) {
    size_t h = strlen(head);
    char *end;
    if (strncmp(e->d_name, head, h) != 0) continue;
    long k = strtol(e->d_name + h, &end, 10);
    if (end == e->d_name + h || strcmp(end, ".heap") != 0) continue;
    n++;
    if (k > best) { best = k; snprintf(path, size, "%s/%s", tp_dir, e->d_name); }
  }
  closedir(d);
  return n;
}

static long tp_last_pid;   /* the child of the last tp_run */

/* Runs this program again (argv0, "--stage", stage) in a child with the
 * profiler's variables cleared and then set from env ("NAME=VALUE"
 * strings, NULL-terminated), a watchdog of `seconds` (alarm survives
 * exec: a hung child dies of SIGALRM).  Under valgrind (which does not
 * follow an exec unless told) the child is run under memcheck again, with
 * the options of .ci/stage-valgrind.  Returns 1 when it exited 0, else
 * says how it ended and returns 0. */
static inline int tp_run(const char *name, char *argv0, const char *stage, const char *const *env,
                         unsigned seconds) {
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid == 0) {
    static const char *const vars[] = { "MYMALLOC_PROFILE", "MYMALLOC_PROFILE_RATE", "MYMALLOC_PROFILE_SIGNAL",
                                        "MYMALLOC_PROFILE_SEED", "MYMALLOC_PROFILE_AT_EXIT", NULL };
    for (int i = 0; vars[i]; i++) unsetenv(vars[i]);
    for (int i = 0; env && env[i]; i++) putenv((char *)env[i]);
    alarm(seconds);
    char *args[] = { argv0, (char *)"--stage", (char *)stage, NULL };
    if (th_under_valgrind()) {   /* the stage under memcheck too, as .ci/stage-valgrind runs us */
      char *vg[] = { (char *)"valgrind", (char *)"-q", (char *)"--error-exitcode=99", (char *)"--leak-check=no",
                     (char *)"--soname-synonyms=somalloc=nouserintercepts", argv0, (char *)"--stage",
                     (char *)stage, NULL };
      execvp(vg[0], vg);
    } else {
      th_execv("/proc/self/exe", args);
    }
    fprintf(stderr, "%s: cannot run %s again: %s\n", name, argv0, strerror(errno));
    _exit(99);
  }
  int st = 0;
  tp_last_pid = (long)pid;
  if (pid < 0 || waitpid(pid, &st, 0) != pid) {
    fprintf(stderr, "FAIL %s: stage %s: fork/wait: %s\n", name, stage, strerror(errno));
    return 0;
  }
  if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return 1;
  if (WIFEXITED(st)) fprintf(stderr, "FAIL %s: stage %s exited with %d\n", name, stage, WEXITSTATUS(st));
  else fprintf(stderr, "FAIL %s: stage %s killed by signal %d%s\n", name, stage, WTERMSIG(st),
               WTERMSIG(st) == SIGALRM ? " (the watchdog: hung?)" : "");
  return 0;
}

/* The whole main of a test with one profiled run: runs argv0 --stage STAGE with MYMALLOC_PROFILE=DIR/p and the variables
 * of env (NULL-terminated, at most 8) in a fresh DIR, removes DIR. */
static inline int tp_main_one(const char *name, char *argv0, const char *stage, const char *const *env) {
  tp_mkdir(name);
  char prefix[300];
  const char *all[10] = { prefix };
  snprintf(prefix, sizeof(prefix), "MYMALLOC_PROFILE=%s/p", tp_dir);
  for (int i = 0; env[i] && i < 8; i++) all[i + 1] = env[i];
  CHECK(tp_run(name, argv0, stage, all, 300));
  tp_rmdir();
  return test_done(name);
}

#endif
