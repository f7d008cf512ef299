/* test_ctor -- allocation before main.
 *
 *  - from a .preinit_array function, which the loader runs before the
 *    constructors of every shared library (libmymalloc's included): the
 *    allocator must initialise itself lazily on that first call;
 *  - from a constructor of the program: malloc, calloc, realloc, free,
 *    posix_memalign, and a thread created and joined there, which
 *    allocates a block that main frees after the thread is gone.
 * main checks that every block is intact, that the blocks are ours
 * (malloc_usable_size, the mymalloc_ prefixed twin agrees) and that the
 * malloc the program calls is libmymalloc's (dlsym(RTLD_DEFAULT) + dladdr).
 */
#include "config.h"
#include "harness.h"

#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <mymalloc/malloc.h>
#include <pthread.h>

struct early {
  unsigned char *m, *c, *r, *pm;
  int c_zero, pm_ret, ran;
  size_t r_size;
};

static struct early pre, ctor;
static unsigned char *thread_block;
static int thread_ok, thread_created;

static void early_allocs(struct early *e, unsigned seed) {
  e->ran = 1;
  /* a freed block first, so later ones may reuse it */
  void *volatile x = malloc(40);
  free(x);
  e->m = malloc(100);
  if (e->m) th_fill(e->m, 100, seed);
  e->c = calloc(50, 20);
  e->c_zero = 1;
  if (e->c) {
    for (int i = 0; i < 1000; i++) if (e->c[i]) e->c_zero = 0;
    th_fill(e->c, 1000, seed + 1);
  }
  unsigned char *r = malloc(10);
  if (r) {
    th_fill(r, 10, seed + 2);
    unsigned char *r2 = realloc(r, 100000);   /* small -> huge */
    if (r2) {
      r = r2;
      for (int i = 10; i < 100000; i++) r[i] = (unsigned char)(seed + 2 + i * 7);
      e->r_size = 100000;
    } else {
      e->r_size = 10;
    }
  }
  e->r = r;
  void *pm = NULL;
  e->pm_ret = posix_memalign(&pm, 256, 3000);
  e->pm = pm;
  if (pm) th_fill(pm, 3000, seed + 3);
}

static void *ctor_thread(void *arg) {
  (void)arg;
  unsigned char *p = malloc(5000);
  if (p) {
    th_fill(p, 5000, 99);
    thread_ok = th_verify(p, 5000, 99);
  }
  void *q = malloc(70000);
  free(q);
  return p;
}

static void preinit_fn(int argc, char **argv, char **envp) {
  (void)argc; (void)argv; (void)envp;
  early_allocs(&pre, 10);
}
__attribute__((section(".preinit_array"), used))
static void (*const preinit_ptr)(int, char **, char **) = preinit_fn;

__attribute__((constructor)) static void ctor_fn(void) {
  early_allocs(&ctor, 20);
  pthread_t t;
  if (pthread_create(&t, NULL, ctor_thread, NULL) == 0) {
    void *ret = NULL;
    pthread_join(t, &ret);
    thread_block = ret;
    thread_created = 1;
  }
}

static void check_early(const char *what, struct early *e, unsigned seed) {
  CHECKF(e->ran, "%s did not run", what);
  CHECKF(e->m && aligned16(e->m) && th_verify(e->m, 100, seed), "%s: malloc block", what);
  CHECKF(e->c && e->c_zero, "%s: calloc block not zeroed", what);
  CHECKF(e->c && th_verify(e->c, 1000, seed + 1), "%s: calloc block damaged", what);
  CHECKF(e->r && e->r_size == 100000 && th_verify(e->r, e->r_size, seed + 2), "%s: realloc block", what);
  CHECKF(e->pm_ret == 0 && e->pm && aligned_to(e->pm, 256) && th_verify(e->pm, 3000, seed + 3),
         "%s: posix_memalign block", what);
  /* the blocks are ours */
  if (e->m) {
    CHECK(malloc_usable_size(e->m) >= 100);
    CHECK(mymalloc_malloc_usable_size(e->m) == malloc_usable_size(e->m));
  }
  if (e->r) CHECK(malloc_usable_size(e->r) >= e->r_size);
  if (e->pm) CHECK(malloc_usable_size(e->pm) >= 3000);
  free(e->m);
  free(e->c);
  free(e->r);
  free(e->pm);
}

int main(void) {
  th_skip_under_valgrind("test_ctor", "checks dladdr of malloc, which valgrind's preload changes");
  check_early("preinit_array function", &pre, 10);
  check_early("constructor", &ctor, 20);
  CHECK(thread_created);
  CHECK(thread_ok);
  CHECK(thread_block != NULL && th_verify(thread_block, 5000, 99));
  free(thread_block);   /* a block of a thread that exited before main */

  /* the malloc this program calls is libmymalloc's */
  void *sym = dlsym(RTLD_DEFAULT, "malloc");
  CHECK(sym != NULL);
  Dl_info info;
  memset(&info, 0, sizeof(info));
  CHECK(sym && dladdr(sym, &info) != 0);
  CHECKF(info.dli_fname && strstr(info.dli_fname, "libmymalloc") != NULL,
         "malloc resolves to %s", info.dli_fname ? info.dli_fname : "(null)");
  void *(*volatile direct)(size_t) = malloc;
  CHECK((void *)direct == sym);
  CHECK(sym == (void *)mymalloc_malloc);

  /* and still works */
  void *p = malloc(123);
  CHECK(p != NULL);
  th_sink = p;
  free(p);
  return test_done("test_ctor");
}
