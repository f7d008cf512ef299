/*
 * measure.c -- run one command under one allocator and measure it: the
 * wall time, the user and system CPU time, the peak RSS and the minor page
 * faults of the child (getrusage through wait4), written as one line to a file:
 *
 *     wall=<s> user=<s> sys=<s> maxrss_kb=<kB> minflt=<n> status=<exit code or 128+signal>
 *
 *   measure [-p PRELOAD] [-t TIMEOUT_S] -o OUTFILE -- COMMAND [ARG]...
 *
 * The allocator is set with LD_PRELOAD in the child only (-p ""
 * or no -p: the environment's LD_PRELOAD is removed, glibc's malloc runs),
 * so this small launcher itself never runs under the allocator measured.
 * It exists because a child forked straight from the Python runner starts
 * with the runner's RSS as its high-water mark, which would add ~10 MB to
 * every peak-RSS figure; forked from this process it adds about 1 MB.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t timed_out;
static pid_t child;

static void on_alarm(int sig) {
  (void)sig;
  timed_out = 1;
  if (child > 0) kill(child, SIGKILL);
}

static double tv_s(struct timeval tv) { return (double)tv.tv_sec + (double)tv.tv_usec * 1e-6; }

int main(int argc, char **argv) {
  const char *preload = NULL, *out = NULL;
  long timeout = 0;
  int c;
  while ((c = getopt(argc, argv, "+p:t:o:")) != -1) {
    switch (c) {
    case 'p': preload = optarg; break;
    case 't': timeout = strtol(optarg, NULL, 10); break;
    case 'o': out = optarg; break;
    default: goto usage;
    }
  }
  if (!out || optind >= argc) {
  usage:
    fprintf(stderr, "usage: %s [-p PRELOAD] [-t TIMEOUT_S] -o OUTFILE -- COMMAND [ARG]...\n", argv[0]);
    return 2;
  }
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  child = fork();
  if (child < 0) { perror("fork"); return 2; }
  if (child == 0) {
    if (preload && *preload) setenv("LD_PRELOAD", preload, 1);
    else unsetenv("LD_PRELOAD");
    execvp(argv[optind], argv + optind);
    fprintf(stderr, "measure: cannot run %s: %s\n", argv[optind], strerror(errno));
    _exit(127);
  }
  if (timeout > 0) {
    signal(SIGALRM, on_alarm);
    alarm((unsigned)timeout);
  }
  int status;
  struct rusage ru;
  pid_t r;
  while ((r = wait4(child, &status, 0, &ru)) < 0 && errno == EINTR) {}
  clock_gettime(CLOCK_MONOTONIC, &t1);
  if (r < 0) { perror("wait4"); return 2; }
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  FILE *f = fopen(out, "w");
  if (!f) { perror(out); return 2; }
  fprintf(f, "wall=%.6f user=%.6f sys=%.6f maxrss_kb=%ld minflt=%ld status=%d%s\n",
          (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9,
          tv_s(ru.ru_utime), tv_s(ru.ru_stime), ru.ru_maxrss, ru.ru_minflt, code,
          timed_out ? " timeout=1" : "");
  fclose(f);
  return code;
}
