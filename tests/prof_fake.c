/*
 * prof_fake.c -- the helper of test_prof_tool.sh: writes heap profiles in
 * mymalloc's format (gperftools' text heap profile, heap_v2) with known
 * counts and bytes, whose stacks are real return addresses of this program
 * and of libc, and its own /proc/self/maps after MAPPED_LIBRARIES:.
 *
 *   prof_fake DIR    writes DIR/fake.heap (rate 524288), DIR/base.heap (the
 *                    same but site_a with half as much in use) and
 *                    DIR/rate1.heap (rate 1)
 *
 * The stacks (innermost first), raw in-use count: bytes [alloc count: bytes]:
 *   site_a, main, libc        10: 10240 [ 20: 20480]   (base: 5: 5120)
 *   site_b, main, libc         8: 8388608 [8: 8388608]
 *   site_c, main, libc         0: 0 [100: 6553600]
 *   demo::leak(), main, libc   1: 48 [1: 48]
 *   printf, libc (libc only)   2: 64 [2: 64]
 * rate1.heap: site_a 3: 300 [3: 300], site_b 2: 2000 [2: 2000].
 *
 *   prof_fake --leak leaks 100 blocks of 1000 bytes from leak_here() (for
 *                    mymalloc-run --leaks with the library's profiler)
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NSTACK 5
#define DEPTH 3

static void *frames[NSTACK][DEPTH];
static int nframes[NSTACK];

/* an address inside the function that calls it: its return address */
static __attribute__((noinline)) void *here(void) {
  __asm__ volatile("");
  return __builtin_return_address(0);
}

/* each site: an address inside itself, then its return address into main */
void site_a(void), site_b(void), site_c(void);
#define SITE(fn, k) \
  __attribute__((noinline)) void fn(void) { \
    void *p = here(); \
    __asm__ volatile("" : : "r"(p) : "memory"); \
    frames[k][0] = p; \
    frames[k][1] = __builtin_return_address(0); \
    nframes[k] = 2; \
  }
SITE(site_a, 0)
SITE(site_b, 1)
SITE(site_c, 2)
/* a C++ name, for c++filt: demo::leak() */
void site_cxx(void) __asm__("_ZN4demo4leakEv");
SITE(site_cxx, 3)

void leak_here(void);
void *volatile leak_sink;
__attribute__((noinline)) void leak_here(void) {
  for (int k = 0; k < 100; k++)
    leak_sink = malloc(1000);   /* forgotten: leak_sink holds the last one */
}

struct counts { unsigned long ic, ib, ac, ab; };

static int write_profile(const char *path, unsigned long rate, const struct counts *c) {
  FILE *f = fopen(path, "w");
  if (!f) { perror(path); return 1; }
  struct counts t = {0, 0, 0, 0};
  for (int k = 0; k < NSTACK; k++) {
    t.ic += c[k].ic; t.ib += c[k].ib; t.ac += c[k].ac; t.ab += c[k].ab;
  }
  fprintf(f, "heap profile: %6lu: %8lu [%6lu: %8lu] @ heap_v2/%lu\n", t.ic, t.ib, t.ac, t.ab, rate);
  for (int k = 0; k < NSTACK; k++) {
    if (!c[k].ic && !c[k].ac) continue;
    fprintf(f, "%6lu: %8lu [%6lu: %8lu] @", c[k].ic, c[k].ib, c[k].ac, c[k].ab);
    for (int d = 0; d < nframes[k]; d++) fprintf(f, " 0x%016lx", (unsigned long)(uintptr_t)frames[k][d]);
    fputc('\n', f);
  }
  fputs("\nMAPPED_LIBRARIES:\n", f);
  FILE *m = fopen("/proc/self/maps", "r");
  if (!m) { perror("/proc/self/maps"); fclose(f); return 1; }
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, m)) > 0) fwrite(buf, 1, n, f);
  fclose(m);
  return fclose(f) != 0;
}

int main(int argc, char **argv) {
  if (argc != 2) {   /* run alone (the valgrind stage runs every program): a skip */
    printf("prof_fake: SKIP: a helper of test_prof_tool.sh, which runs it (usage: prof_fake DIR | --leak)\n");
    return 77;
  }
  if (strcmp(argv[1], "--leak") == 0) {
    leak_here();
    return 0;
  }
  site_a();
  site_b();
  site_c();
  site_cxx();
  /* main's own return address is in libc (__libc_start_call_main) */
  void *libc_ret = __builtin_return_address(0);
  for (int k = 0; k < 4; k++) frames[k][nframes[k]++] = libc_ret;
  /* a stack of libc alone: inside printf, then libc's call of main */
  /* (libc's own, not a sanitizer's interceptor that RTLD_NEXT may find) */
  void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
  char *pf = libc ? dlsym(libc, "printf") : NULL;
  if (!pf) pf = dlsym(RTLD_NEXT, "printf");
  if (!pf) { fprintf(stderr, "prof_fake: dlsym(printf): %s\n", dlerror()); return 1; }
  frames[4][0] = pf + 8;
  frames[4][1] = libc_ret;
  nframes[4] = 2;

  static const struct counts fake[NSTACK] = {
    {10, 10240, 20, 20480}, {8, 8388608, 8, 8388608}, {0, 0, 100, 6553600},
    {1, 48, 1, 48}, {2, 64, 2, 64},
  };
  struct counts base[NSTACK];
  for (int k = 0; k < NSTACK; k++) base[k] = fake[k];
  base[0].ic = 5; base[0].ib = 5120;
  static const struct counts rate1[NSTACK] = {{3, 300, 3, 300}, {2, 2000, 2, 2000}};

  char path[4096];
  snprintf(path, sizeof path, "%s/fake.heap", argv[1]);
  if (write_profile(path, 524288, fake)) return 1;
  snprintf(path, sizeof path, "%s/base.heap", argv[1]);
  if (write_profile(path, 524288, base)) return 1;
  snprintf(path, sizeof path, "%s/rate1.heap", argv[1]);
  if (write_profile(path, 1, rate1)) return 1;
  return 0;
}
