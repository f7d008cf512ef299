/* smoke.c -- a program linked with the installed libmymalloc through
 * pkg-config: its malloc must be mymalloc's, and the API must work.
 * Used by the autopkgtest (debian/tests/link) and by .ci/package. */
#define _GNU_SOURCE
#include <mymalloc/malloc.h>

#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int failed;

static void check(int ok, const char *what) {
  printf("%s - %s\n", ok ? "ok" : "not ok", what);
  if (!ok) failed++;
}

int main(void) {
  Dl_info info;
  void *(*volatile malloc_fn)(size_t) = malloc;
  int found = dladdr((void *)malloc_fn, &info) && info.dli_fname &&
              strstr(info.dli_fname, "libmymalloc.so") != NULL;
  check(found, "malloc resolves into libmymalloc.so");
  if (found) printf("# malloc is in %s\n", info.dli_fname);

  char *volatile p = malloc(100);
  check(p != NULL && ((uintptr_t)p & 15) == 0, "malloc(100) is 16-byte aligned");
  memset(p, 'x', 100);
  check(malloc_usable_size(p) == 112, "malloc_usable_size(malloc(100)) == 112");
  p = realloc(p, 1 << 20);
  check(p != NULL && p[99] == 'x', "realloc to a huge block keeps the contents");
  mymalloc_free(p);   /* the prefixed twin frees what malloc gave */

  void *a = NULL;
  check(posix_memalign(&a, 1 << 16, 10) == 0 && ((uintptr_t)a & 0xffff) == 0,
        "posix_memalign(64 KiB)");
  free_aligned_sized(a, 1 << 16, 10);

  errno = 0;
  check(mymalloc_stats_print(1, "xml") == -1 && errno == EINVAL,
        "mymalloc_stats_print rejects an unknown format");
  check(mymalloc_stats_print(1, "text") == 0, "mymalloc_stats_print(text)");
  struct mallinfo2 mi = mallinfo2();
  check(mi.uordblks > 0, "mallinfo2 counts bytes in use");

  printf("%s\n", failed ? "FAIL" : "PASS");
  return failed != 0;
}
