/* test_aslimit -- freed memory serves any size again under an
 * address-space limit (setrlimit(RLIMIT_AS), what `ulimit -v` sets).
 *
 * Four threads are created first (64 KiB stacks); then the limit is set
 * to the address space in use (VmSize) + 512 MiB.  Each phase allocates
 * blocks of one size until malloc returns NULL, checks that every failure
 * is NULL with errno ENOMEM, then checks each block's pattern and frees
 * them all, before the next phase asks for another size:
 *     64 B, 16 KiB, 1 MiB, 16 MiB from the main thread,
 *     then the same four sizes from the four threads at once.
 * Each phase must obtain at least 90 % of the 512 MiB (the blocks'
 * requested bytes).  The blocks are chained through their first word
 * (no array to size); each also carries a pattern (words that depend on
 * its address: its second and last words and one word per 4 KiB, every
 * page is touched) that is checked before it is freed, so a block given
 * out twice or damaged by the allocator is caught.
 *
 * Skipped (exit 77): under valgrind and the sanitizers (their own
 * allocator and address-space use), and where RLIMIT_AS is not enforced
 * (qemu-user ignores it: a mapping above the limit is tried first).
 * The program also runs without mymalloc (glibc), for comparison: it
 * prints the same shares.
 */
#include "config.h"
#include "harness.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TH_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define TH_SANITIZER 1
#endif
#endif

#define NTHREADS 4
#define ABOVE ((size_t)512 << 20)
#define SHARE 0.90

static const size_t sizes[] = { 64, 16u << 10, 1u << 20, 16u << 20 };
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

static uint64_t tag(const uintptr_t *b, size_t i) {
  return ((uint64_t)(uintptr_t)b * 0x9e3779b97f4a7c15ULL) ^ (i * 0xbf58476d1ce4e5b9ULL) ^ 0x5555;
}

/* The words of a block of n bytes that carry its pattern: the second,
 * the first of every 4 KiB after the first, and the last. */
static void mark(uintptr_t *b, size_t i, int write, long *bad) {
  if (write) b[i] = tag(b, i);
  else if (b[i] != tag(b, i)) (*bad)++;
}
static void pattern(uintptr_t *b, size_t n, int write, long *bad) {
  size_t words = n / sizeof(uintptr_t);
  long before = *bad;
  for (size_t i = 1; i < words - 1; i = i < 512 ? 512 : i + 512) mark(b, i, write, bad);
  mark(b, words - 1, write, bad);
  if (*bad > before) *bad = before + 1;   /* count blocks, not words */
}

struct fill { size_t size; size_t count; long bad_errno; long damaged; };

/* Allocate blocks of f->size until NULL, then check and free them all.
 * 'between' runs while they are all held (the threads wait there for
 * each other). */
static void fill_and_free(struct fill *f, void (*between)(void)) {
  uintptr_t *head = NULL;
  f->count = 0;
  f->bad_errno = 0;
  f->damaged = 0;
  for (;;) {
    errno = 0;
    uintptr_t *b = malloc(f->size);
    if (!b) {
      if (errno != ENOMEM) f->bad_errno++;
      break;
    }
    b[0] = (uintptr_t)head;
    pattern(b, f->size, 1, &f->damaged);
    head = b;
    f->count++;
  }
  /* a second failure, of another size, is NULL and ENOMEM too */
  errno = 0;
  void *q = malloc(f->size);
  if (q) free(q);
  else if (errno != ENOMEM) f->bad_errno++;
  if (between) between();
  while (head) {
    uintptr_t *next = (uintptr_t *)head[0];
    pattern(head, f->size, 0, &f->damaged);
    free(head);
    head = next;
  }
}

static pthread_barrier_t barrier;
static struct fill tfill[NTHREADS];
static _Atomic(size_t) phase_size;

static void wait_all(void) { pthread_barrier_wait(&barrier); }

static void *thread_main(void *arg) {
  struct fill *f = arg;
  for (;;) {
    wait_all();                        /* a phase starts */
    size_t n = atomic_load(&phase_size);
    if (n == 0) return NULL;
    f->size = n;
    fill_and_free(f, wait_all);        /* all hold their blocks at once */
    wait_all();                        /* all freed */
  }
}

static int skip(const char *why) {
  printf("test_aslimit: SKIP: %s\n", why);
  return 77;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void report(const char *who, size_t size, size_t got, size_t avail, long bad_errno, long damaged,
                   double secs) {
  double share = (double)got / (double)avail;
  printf("test_aslimit: %-9s %8zu B blocks: %6.1f%% of the limit (%zu MiB of %zu) in %.2f s\n", who, size,
         100 * share, got >> 20, avail >> 20, secs);
  CHECKF(share >= SHARE, "%s, %zu B blocks: only %.1f%% of %zu MiB", who, size, 100 * share, avail >> 20);
  CHECKF(bad_errno == 0, "%s, %zu B blocks: %ld failures without ENOMEM", who, size, bad_errno);
  CHECKF(damaged == 0, "%s, %zu B blocks: %ld blocks damaged", who, size, damaged);
}

int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
  if (th_under_valgrind()) return skip("under valgrind (its own allocator and address space)");
#ifdef TH_SANITIZER
  return skip("under a sanitizer (its own allocator and shadow memory)");
#endif
  if (th_under_qemu()) return skip("under qemu (it ignores RLIMIT_AS)");

  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 64u << 10);
  pthread_barrier_init(&barrier, NULL, NTHREADS + 1);
  pthread_t tid[NTHREADS];
  for (int i = 0; i < NTHREADS; i++) {
    int e = pthread_create(&tid[i], &attr, thread_main, &tfill[i]);
    if (e) { fprintf(stderr, "pthread_create: %s\n", strerror(e)); return 1; }
  }

  struct rlimit old;
  CHECK(getrlimit(RLIMIT_AS, &old) == 0);
  size_t vm0 = th_vmsize_bytes();
  CHECK(vm0 > 0);
  struct rlimit lim = { (rlim_t)(vm0 + ABOVE), old.rlim_max };
  if (old.rlim_cur != RLIM_INFINITY && old.rlim_cur < lim.rlim_cur)
    return skip("RLIMIT_AS is already lower than needed");
  if (setrlimit(RLIMIT_AS, &lim) != 0) return skip("setrlimit(RLIMIT_AS) failed");
  /* is the limit enforced?  (qemu-user ignores it) */
  void *probe = mmap(NULL, ABOVE + (64u << 20), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (probe != MAP_FAILED) {
    munmap(probe, ABOVE + (64u << 20));
    return skip("RLIMIT_AS is not enforced here (qemu-user?)");
  }
  printf("test_aslimit: address space at start %zu MiB, limit %zu MiB\n", vm0 >> 20,
         (size_t)lim.rlim_cur >> 20);

  for (size_t k = 0; k < NSIZES; k++) {
    struct fill f = { sizes[k], 0, 0, 0 };
    double t0 = now();
    fill_and_free(&f, NULL);
    report("main", f.size, f.count * f.size, ABOVE, f.bad_errno, f.damaged, now() - t0);
  }
  for (size_t k = 0; k < NSIZES; k++) {
    atomic_store(&phase_size, sizes[k]);
    double t0 = now();
    wait_all();   /* start */
    wait_all();   /* all filled */
    size_t got = 0;
    long bad_errno = 0, damaged = 0;
    for (int i = 0; i < NTHREADS; i++) {
      got += tfill[i].count * sizes[k];
      bad_errno += tfill[i].bad_errno;
    }
    wait_all();   /* all freed */
    for (int i = 0; i < NTHREADS; i++) damaged += tfill[i].damaged;
    report("4 threads", sizes[k], got, ABOVE, bad_errno, damaged, now() - t0);
  }
  atomic_store(&phase_size, 0);
  wait_all();
  for (int i = 0; i < NTHREADS; i++) pthread_join(tid[i], NULL);
  CHECK(setrlimit(RLIMIT_AS, &old) == 0);
  return test_done("test_aslimit");
}
