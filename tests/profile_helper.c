/* profile_helper -- the program test_profile_bad.sh and
 * test_profile_pprof.sh run with the profiler's variables set (alone it
 * only says so and exits 77: the valgrind stage runs every program of
 * tests/).
 *
 *   profile_helper dump           allocates, calls mymalloc_profile_dump(NULL)
 *                                 twice, prints "dump RC ERRNO" for each and
 *                                 "done", exits 0
 *   profile_helper symlink TARGET makes PREFIX.PID.N.heap (N 0 to 3) symbolic
 *                                 links to TARGET, then dumps once
 */
#include "config.h"
#include "harness.h"

#include <errno.h>
#include <mymalloc/malloc.h>

static void dump(void) {
  errno = 0;
  int rc = mymalloc_profile_dump(NULL);
  printf("dump %d %d (%s)\n", rc, rc ? errno : 0, rc ? strerror(errno) : "ok");
}

int main(int argc, char **argv) {
  if (argc < 2) th_skip("profile_helper", "a helper of test_profile_bad.sh, which runs it");
  void *keep[1000];
  for (int i = 0; i < 1000; i++) keep[i] = malloc((size_t)(i % 300) + 16);
  if (!strcmp(argv[1], "dump")) {
    dump();
    dump();
  } else if (!strcmp(argv[1], "symlink") && argc == 3) {
    const char *prefix = getenv("MYMALLOC_PROFILE");
    char path[1024];
    for (int n = 0; prefix && n < 4; n++) {
      snprintf(path, sizeof(path), "%s.%ld.%d.heap", prefix, (long)getpid(), n);
      if (symlink(argv[2], path) != 0) { perror(path); return 2; }
    }
    dump();
  } else {
    fprintf(stderr, "usage: profile_helper dump | symlink TARGET\n");
    return 2;
  }
  for (int i = 0; i < 1000; i++) free(keep[i]);
  printf("done\n");
  return 0;
}
