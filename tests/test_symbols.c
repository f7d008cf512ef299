/* test_symbols -- every name of the API resolves into libmymalloc.
 *
 * dlsym(RTLD_DEFAULT, name) must find each of libc's allocation names
 * (malloc ... cfree, the __libc_* names, __posix_memalign) and every
 * mymalloc_* name, and dladdr on the address must name libmymalloc.so: a
 * name that resolved into libc would run glibc's allocator on our blocks.
 * The mymalloc_* names are read from include/mymalloc/malloc.h (through
 * $srcdir, which the test driver sets), so a function added to the header
 * is checked too; the list below is the fallback and a lower bound.
 * The address of each libc name must equal its mymalloc_ twin's where
 * there is one (aliases, not wrappers).
 */
#include "config.h"
#include "harness.h"

#include <ctype.h>
#include <dlfcn.h>
#include <mymalloc/malloc.h>

#ifdef MM_OVERRIDE
static const char *const libc_names[] __attribute__((unused)) = {
  "malloc", "free", "calloc", "realloc", "reallocarray", "posix_memalign", "aligned_alloc",
  "memalign", "valloc", "pvalloc", "malloc_usable_size", "malloc_trim", "mallinfo", "mallinfo2",
  "mallopt", "malloc_stats", "malloc_info", "free_sized", "free_aligned_sized", "cfree", "__libc_malloc",
  "__libc_free", "__libc_calloc", "__libc_realloc", "__libc_memalign", "__libc_valloc",
  "__libc_pvalloc", "__libc_mallinfo", "__libc_mallopt", "__posix_memalign",
};
#endif

static const char *const prefixed_names[] = {
  "mymalloc_malloc", "mymalloc_free", "mymalloc_calloc", "mymalloc_realloc",
  "mymalloc_reallocarray", "mymalloc_posix_memalign", "mymalloc_aligned_alloc",
  "mymalloc_memalign", "mymalloc_valloc", "mymalloc_pvalloc", "mymalloc_malloc_usable_size",
  "mymalloc_malloc_trim", "mymalloc_mallopt", "mymalloc_mallinfo2", "mymalloc_mallinfo",
  "mymalloc_malloc_stats", "mymalloc_malloc_info", "mymalloc_free_sized", "mymalloc_free_aligned_sized",
  "mymalloc_stats_print",
};

#ifdef MM_OVERRIDE
/* libc name -> its prefixed twin (same function) */
static const char *const twins[][2] __attribute__((unused)) = {
  { "malloc", "mymalloc_malloc" }, { "__libc_malloc", "mymalloc_malloc" },
  { "free", "mymalloc_free" }, { "cfree", "mymalloc_free" }, { "__libc_free", "mymalloc_free" },
  { "calloc", "mymalloc_calloc" }, { "__libc_calloc", "mymalloc_calloc" },
  { "realloc", "mymalloc_realloc" }, { "__libc_realloc", "mymalloc_realloc" },
  { "reallocarray", "mymalloc_reallocarray" },
  { "posix_memalign", "mymalloc_posix_memalign" }, { "__posix_memalign", "mymalloc_posix_memalign" },
  { "aligned_alloc", "mymalloc_aligned_alloc" },
  { "memalign", "mymalloc_memalign" }, { "__libc_memalign", "mymalloc_memalign" },
  { "valloc", "mymalloc_valloc" }, { "__libc_valloc", "mymalloc_valloc" },
  { "pvalloc", "mymalloc_pvalloc" }, { "__libc_pvalloc", "mymalloc_pvalloc" },
  { "malloc_usable_size", "mymalloc_malloc_usable_size" },
  { "malloc_trim", "mymalloc_malloc_trim" },
  { "mallopt", "mymalloc_mallopt" }, { "__libc_mallopt", "mymalloc_mallopt" },
  { "mallinfo", "mymalloc_mallinfo" }, { "__libc_mallinfo", "mymalloc_mallinfo" },
  { "mallinfo2", "mymalloc_mallinfo2" }, { "malloc_stats", "mymalloc_malloc_stats" },
  { "malloc_info", "mymalloc_malloc_info" },
  { "free_sized", "mymalloc_free_sized" }, { "free_aligned_sized", "mymalloc_free_aligned_sized" },
};
#endif

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void check_name(const char *name) {
  dlerror();
  void *sym = dlsym(RTLD_DEFAULT, name);
  CHECKF(sym != NULL, "dlsym(%s): %s", name, sym ? "" : dlerror());
  if (!sym) return;
  Dl_info info;
  memset(&info, 0, sizeof(info));
  int ok = dladdr(sym, &info);
  CHECKF(ok && info.dli_fname && strstr(info.dli_fname, "libmymalloc") != NULL,
         "%s resolves to %p in %s", name, sym, ok && info.dli_fname ? info.dli_fname : "(nothing)");
}

/* every mymalloc_NAME( in the header */
static int header_names(char names[][64], int max) {
  const char *srcdir = getenv("srcdir");
  char path[4096];
  snprintf(path, sizeof(path), "%s/include/mymalloc/malloc.h", srcdir ? srcdir : ".");
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  int n = 0;
  char line[1024];
  while (fgets(line, sizeof(line), f)) {
    for (char *s = line; (s = strstr(s, "mymalloc_")) != NULL;) {
      if (s > line && (isalnum((unsigned char)s[-1]) || s[-1] == '_')) { s += 9; continue; }
      char *e = s;
      while (isalnum((unsigned char)*e) || *e == '_') e++;
      char *q = e;
      while (*q == ' ') q++;
      if (*q == '(' && e - s < 64 && n < max) {
        int dup = 0;
        for (int i = 0; i < n; i++) if ((size_t)(e - s) == strlen(names[i]) && !strncmp(names[i], s, (size_t)(e - s))) dup = 1;
        if (!dup) { memcpy(names[n], s, (size_t)(e - s)); names[n][e - s] = 0; n++; }
      }
      s = e;
    }
  }
  fclose(f);
  return n;
}

int main(void) {
  th_skip_under_valgrind("test_symbols", "checks dladdr of every name, which valgrind's preload changes");
  th_skip_under_tsan("test_symbols", "checks which library defines each name; TSan's runtime defines malloc");
#ifdef MM_OVERRIDE
  for (size_t i = 0; i < N(libc_names); i++) check_name(libc_names[i]);
  for (size_t i = 0; i < N(twins); i++) {
    void *a = dlsym(RTLD_DEFAULT, twins[i][0]), *b = dlsym(RTLD_DEFAULT, twins[i][1]);
    CHECKF(a && a == b, "%s (%p) and %s (%p) differ", twins[i][0], a, twins[i][1], b);
  }
  /* what the program itself calls is the same */
  void *(*volatile m)(size_t) = malloc;
  void (*volatile f)(void *) = free;
  CHECK((void *)m == dlsym(RTLD_DEFAULT, "malloc"));
  CHECK((void *)f == dlsym(RTLD_DEFAULT, "free"));
#else
  /* --disable-override: libc's names stay libc's */
  printf("test_symbols: built with --disable-override: only the mymalloc_* names\n");
  static const char *const plain[] = { "malloc", "free", "calloc", "realloc", "posix_memalign",
                                       "memalign", "aligned_alloc", "malloc_usable_size" };
  for (size_t i = 0; i < N(plain); i++) {
    Dl_info info;
    memset(&info, 0, sizeof(info));
    void *sym = dlsym(RTLD_DEFAULT, plain[i]);
    int ok = sym && dladdr(sym, &info);
    CHECKF(ok && info.dli_fname && !strstr(info.dli_fname, "libmymalloc"),
           "%s resolves to %s in a --disable-override build", plain[i],
           ok && info.dli_fname ? info.dli_fname : "(nothing)");
  }
#endif
  /* the program's own reference to the prefixed API (which also makes
   * sure the library is loaded when nothing else of it is referenced) */
  void *(*volatile pm)(size_t) = mymalloc_malloc;
  CHECK((void *)pm == dlsym(RTLD_DEFAULT, "mymalloc_malloc"));
  for (size_t i = 0; i < N(prefixed_names); i++) check_name(prefixed_names[i]);
  static char names[128][64];
  int n = header_names(names, 128);
  if (n < 0) {
    printf("test_symbols: include/mymalloc/malloc.h not found ($srcdir unset?), list only\n");
  } else {
    CHECKF((size_t)n >= N(prefixed_names), "only %d mymalloc_ functions in the header", n);
    for (int i = 0; i < n; i++) check_name(names[i]);
    /* and the list above is in the header */
    for (size_t i = 0; i < N(prefixed_names); i++) {
      int found = 0;
      for (int k = 0; k < n; k++) found |= !strcmp(names[k], prefixed_names[i]);
      CHECKF(found, "%s is not declared in <mymalloc/malloc.h>", prefixed_names[i]);
    }
  }
  return test_done("test_symbols");
}
