/*
 * test_unwind -- the profiler's unwinder (src/stackwalk.c) gives the stacks
 * that libgcc's _Unwind_Backtrace gives, frame for frame: through
 * functions without a frame pointer, with one (alloca), with frames of
 * 100 KB and of 600 KB (too large for the cache: read every time), in a thread (the stack ends at clone's first frame), from a
 * signal handler (a signal frame: it hands the walk to libgcc), and
 * again from its cache (no rule read twice, no question to glibc for the
 * program's and the C library's frames); a rule of an object that may be
 * unloaded is used after one question per walk; a library unloaded
 * empties the cache.
 */
#include "internal.h"
#include "stackwalk.h"
#include "harness.h"

#include <alloca.h>
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>

#define MAX 128

typedef struct {
  uintptr_t fast[MAX], lg[MAX];
  unsigned nfast, nlg;
} pair_t;

/* Both walks from here (two call sites: their first frames differ). */
static mm_noinline unsigned capture(pair_t *p) {
  p->nfast = mm_unwind(p->fast, MAX);
  p->nlg = mm_unwind_libgcc(p->lg, MAX);
  __asm__ volatile("" ::: "memory");
  return p->nfast + p->nlg;
}

/* Past the frames of the unwinders and of capture() itself: the index
 * of the first frame of capture's caller. */
static unsigned past_capture(const uintptr_t *ips, unsigned n) {
  uintptr_t lo = (uintptr_t)capture, hi = lo + 256;
  unsigned i = 0;
  while (i < n && !(ips[i] >= lo && ips[i] < hi)) i++;
  return i < n ? i + 1 : n;
}

static int same(const pair_t *p, const char *what) {
  unsigned i = past_capture(p->fast, p->nfast), j = past_capture(p->lg, p->nlg);
  int ok = p->nfast > i && p->nlg > j && p->nfast - i == p->nlg - j;
  for (unsigned k = 0; ok && i + k < p->nfast; k++) ok = p->fast[i + k] == p->lg[j + k];
  CHECKF(ok, "%s: %u frames (%u after capture) by the cache, %u (%u) by libgcc", what, p->nfast, p->nfast - i,
         p->nlg, p->nlg - j);
  if (!ok) {
    for (unsigned k = 0; k < p->nfast || k < p->nlg; k++)
      fprintf(stderr, "  %2u  %#18lx  %#18lx\n", k, k < p->nfast ? (unsigned long)p->fast[k] : 0ul,
              k < p->nlg ? (unsigned long)p->lg[k] : 0ul);
  }
  return ok;
}

static volatile int sink, twice = 2, three = 3;

static mm_noinline unsigned plain(pair_t *p, int d);
static mm_noinline unsigned with_alloca(pair_t *p, int d);
static mm_noinline unsigned big_frame(pair_t *p, int d);

/* d levels of the three kinds, in turn (no tail calls: the result is used) */
static unsigned next(pair_t *p, int d) {
  if (d <= 0) return capture(p);
  switch (d % 3) {
  case 0: return plain(p, d - 1);
  case 1: return with_alloca(p, d - 1);
  default: return big_frame(p, d - 1);
  }
}

static mm_noinline unsigned plain(pair_t *p, int d) {
  volatile int local[4] = { d, d, d, d };
  unsigned r = next(p, d);
  return r + (unsigned)(local[d & 3] != d);
}

static mm_noinline unsigned with_alloca(pair_t *p, int d) {
  volatile char *a = alloca(16 + (size_t)(d & 7) * 64);   /* rbp is the CFA's base */
  a[0] = (char)d;
  unsigned r = next(p, d);
  return r + (unsigned)(a[0] != (char)d);
}

/* a frame of `bytes`, touched at both ends */
#define FRAME_OF(name, bytes) \
  static mm_noinline unsigned name(pair_t *p, int d) { \
    volatile char big[bytes]; \
    big[0] = (char)d; \
    big[sizeof(big) - 1] = (char)d; \
    unsigned r = next(p, d); \
    return r + (unsigned)(big[0] != big[sizeof(big) - 1]); \
  }
FRAME_OF(big_frame, 100000)
FRAME_OF(huge_frame, 600000)


static void *in_thread(void *arg) {
  sink = (int)next(arg, 9);
  return NULL;
}

static pair_t sig_pair;
static void on_signal(int sig) {
  (void)sig;
  sink = (int)next(&sig_pair, 4);
}

int main(void) {
  mymalloc_free(mymalloc_malloc(1));
  mm_unwind_init();
  static pair_t p;
  mm_unwind_info_t a, b;

  next(&p, 0);
  same(&p, "capture's caller");
  /* twice from one call site: the second time every rule comes from the cache */
  mm_unwind_info_t before[2], after[2];
  for (int i = 0; i < twice; i++) {   /* (twice is volatile: one call site) */
    mm_unwind_info(&before[i]);
    next(&p, 12);
    mm_unwind_info(&after[i]);
  }
  same(&p, "12 frames of three kinds, twice");
  a = before[1];
  b = after[1];
#if defined(__x86_64__)
  CHECKF(b.misses == a.misses, "%lu rules read again", (unsigned long)(b.misses - a.misses));
  CHECKF(b.fast == a.fast + 1 && b.fallback == a.fallback, "cache %lu, libgcc %lu",
         (unsigned long)(b.fast - a.fast), (unsigned long)(b.fallback - a.fallback));
  /* (the program and the C library are never unloaded: no need to ask) */
  CHECKF(b.checks == a.checks, "asked glibc about unloads %lu times", (unsigned long)(b.checks - a.checks));
#endif

  huge_frame(&p, 5);
  same(&p, "a frame of 600 KB");

  pthread_t t;
  CHECK(pthread_create(&t, NULL, in_thread, &p) == 0);
  pthread_join(t, NULL);
  same(&p, "in a thread");

  /* a signal frame: the walk is libgcc's */
  mm_unwind_info(&a);
  signal(SIGUSR1, on_signal);
  raise(SIGUSR1);
  mm_unwind_info(&b);
  same(&sig_pair, "from a signal handler");
  CHECKF(b.fallback == a.fallback + 1, "libgcc walked %lu stacks", (unsigned long)(b.fallback - a.fallback));

#if defined(__x86_64__)
  /* Rules of objects that may be unloaded: each walk that uses one asks
   * glibc first, once; after an unload the cache starts again. */
  mm_unwind_test_nothing_lasts();
  void *m = dlopen("libm.so.6", RTLD_NOW | RTLD_NOLOAD) ? NULL : dlopen("libm.so.6", RTLD_NOW);
  mm_unwind_info_t in[3], out[3];
  for (int i = 0; i < three; i++) {   /* (one call site) */
    if (i == 2 && m) dlclose(m);
    mm_unwind_info(&in[i]);
    next(&p, 3);
    mm_unwind_info(&out[i]);
  }
  same(&p, "after dlclose");
  CHECKF(out[1].checks == in[1].checks + 1 && out[1].misses == in[1].misses && out[1].flushes == in[1].flushes,
         "again: checks %lu, rules read %lu, flushes %lu", (unsigned long)(out[1].checks - in[1].checks),
         (unsigned long)(out[1].misses - in[1].misses), (unsigned long)(out[1].flushes - in[1].flushes));
  if (m)
    CHECKF(out[2].flushes == in[2].flushes + 1 && out[2].misses > in[2].misses, "unloaded: flushes %lu, rules read %lu",
           (unsigned long)(out[2].flushes - in[2].flushes), (unsigned long)(out[2].misses - in[2].misses));
#endif
  return test_done("test_unwind");
}
