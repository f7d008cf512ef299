/* test_whoami -- helper of test_preload.sh, built WITHOUT libmymalloc.
 *
 * Prints, for each allocation function, the object that the program's own
 * call resolves to (the address the program takes, and dlsym(RTLD_DEFAULT))
 * as "name: /path/of/object".  Under LD_PRELOAD=libmymalloc.so.0 every
 * line must name libmymalloc; without it, libc.  Also allocates and frees
 * (in two threads, blocks crossing between them) so the preloaded
 * allocator really serves it, and prints "work: ok" when the contents
 * survived.
 */
#include "config.h"

#include <dlfcn.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void show(const char *name, void *addr) {
  Dl_info info;
  memset(&info, 0, sizeof(info));
  if (!addr || !dladdr(addr, &info) || !info.dli_fname) {
    printf("%s: (unresolved)\n", name);
    return;
  }
  printf("%s: %s\n", name, info.dli_fname);
}

static void *volatile handed[1000];

static void *producer(void *arg) {
  (void)arg;
  for (int i = 0; i < 1000; i++) {
    unsigned char *p = malloc((size_t)(i % 300) + 1);
    if (p) memset(p, i & 255, (size_t)(i % 300) + 1);
    handed[i] = p;
  }
  return NULL;
}

int main(void) {
  const char *pre = getenv("LD_PRELOAD");
  if (getenv("MYMALLOC_UNDER_VALGRIND") || (pre && strstr(pre, "vgpreload"))) {
    puts("test_whoami: SKIP: checks which library provides malloc, which valgrind replaces");
    return 77;
  }
  /* what the program calls (its own relocations) */
  void *(*volatile m)(size_t) = malloc;
  void (*volatile f)(void *) = free;
  void *(*volatile c)(size_t, size_t) = calloc;
  void *(*volatile r)(void *, size_t) = realloc;
  int (*volatile pm)(void **, size_t, size_t) = posix_memalign;
  void *(*volatile ma)(size_t, size_t) = memalign;
  void *(*volatile aa)(size_t, size_t) = aligned_alloc;
  size_t (*volatile us)(void *) = malloc_usable_size;
  show("malloc", (void *)m);
  show("free", (void *)f);
  show("calloc", (void *)c);
  show("realloc", (void *)r);
  show("posix_memalign", (void *)pm);
  show("memalign", (void *)ma);
  show("aligned_alloc", (void *)aa);
  show("malloc_usable_size", (void *)us);
  /* what dlsym finds first */
  static const char *const names[] = { "malloc", "free", "calloc", "realloc", "valloc", "pvalloc",
                                       "__libc_malloc", "__libc_free", "mallinfo2", "malloc_trim" };
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
    char label[64];
    snprintf(label, sizeof(label), "dlsym %s", names[i]);
    show(label, dlsym(RTLD_DEFAULT, names[i]));
  }
  printf("mymalloc_stats_print: %s\n", dlsym(RTLD_DEFAULT, "mymalloc_stats_print") ? "present" : "absent");

  pthread_t t;
  int ok = pthread_create(&t, NULL, producer, NULL) == 0;
  if (ok) pthread_join(t, NULL);
  for (int i = 0; ok && i < 1000; i++) {
    unsigned char *p = handed[i];
    if (!p) { ok = 0; break; }
    for (size_t k = 0; k < (size_t)(i % 300) + 1; k++)
      if (p[k] != (unsigned char)(i & 255)) ok = 0;
    free(p);
  }
  printf("work: %s\n", ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}
