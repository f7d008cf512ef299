/*
 * os.c -- the only file that talks to the kernel: memory (sbrk, mmap,
 * madvise, mremap), the clock, write(2), the page size, and the counters
 * of what the kernel gave us.  The contract is in os.h.
 */
#include "os.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

size_t mm_os_page = 4096;
mm_os_counters_t mm_os_counters;

#ifdef MM_TEST_SEAMS
/* The value of a variable of the process's environment, read from
 * /proc/self/environ: a sanitizer's runtime may allocate (and so set us
 * up) before libc has set environ, when getenv finds nothing. */
static const char *test_env(const char *name_eq) {
  static char buf[1 << 16];
  int fd = open("/proc/self/environ", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NULL;
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0) return NULL;
  buf[n] = 0;
  size_t len = strlen(name_eq);
  for (char *e = buf; e < buf + n; e += strlen(e) + 1)
    if (strncmp(e, name_eq, len) == 0) return e + len;
  return NULL;
}
#endif

void mm_os_init(void) {
  long ps = sysconf(_SC_PAGESIZE);
  if (ps > 0) mm_os_page = (size_t)ps;
#ifdef MM_TEST_SEAMS
  /* unit tests: the page size of another kernel (16 or 64 KiB), larger
   * than this one's, so that every system call still gets aligned sizes */
  const char *forced = test_env("MYMALLOC_TEST_PAGE_SIZE=");
  if (forced) {
    size_t n = (size_t)strtoul(forced, NULL, 0);
    if (n >= mm_os_page && n <= MM_META && (n & (n - 1)) == 0) mm_os_page = n;
  }
#endif
}

/* ---- the address limit (os.h) -------------------------------------------- */
#ifdef MM_TEST_SEAMS
uintptr_t mm_os_test_address_limit;
static uintptr_t address_limit(void) {
  return mm_os_test_address_limit ? mm_os_test_address_limit : MM_ADDRESS_LIMIT;
}
#else
#define address_limit() MM_ADDRESS_LIMIT
#endif

/* Does [p, p + size) lie below the limit? */
static bool fits(const void *p, size_t size) {
  return (uintptr_t)p <= address_limit() && size <= address_limit() - (uintptr_t)p;
}

/* An mmap of size bytes; a mapping the kernel put above the limit is
 * given back and asked for again with hints below it (the kernel takes a
 * hint whose range is free): downwards from the last one taken, from the
 * middle of the allowed range at first; then refused. */
static _Atomic(uintptr_t) os_low_hint;   /* where the last hinted mapping went */

static void *os_map(size_t size, int flags) {
  const int prot = PROT_READ | PROT_WRITE, f = MAP_PRIVATE | MAP_ANONYMOUS | flags;
  void *p = mmap(NULL, size, prot, f, -1, 0);
  if (p == MAP_FAILED || fits(p, size)) return p;
  munmap(p, size);
  uintptr_t top = atomic_load_explicit(&os_low_hint, memory_order_relaxed);
  if (!top || top > address_limit()) top = address_limit() / 2;
  for (int tries = 0; tries < 8 && top > size; tries++) {
    uintptr_t hint = (top - size) & ~(uintptr_t)(mm_os_page - 1);
    p = mmap((void *)hint, size, prot, f, -1, 0);
    if (p == MAP_FAILED) return p;
    if (fits(p, size)) {
      atomic_store_explicit(&os_low_hint, (uintptr_t)p, memory_order_relaxed);   /* only a hint */
      return p;
    }
    munmap(p, size);
    top = hint;   /* taken there: lower */
  }
  return MAP_FAILED;
}

/* A coarse clock (a few ms) is all the purge delays need, and cheaper. */
uint64_t mm_clock_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The peak of what we hold follows every change. */
static void counters_changed(void) {
  uint64_t held = atomic_load(&mm_os_counters.sbrk_bytes) + atomic_load(&mm_os_counters.mmap_bytes) -
                  atomic_load(&mm_os_counters.purged_bytes);
  uint64_t peak = atomic_load(&mm_os_counters.peak_bytes);
  while (held > peak && !atomic_compare_exchange_weak(&mm_os_counters.peak_bytes, &peak, held)) {}
}

void mm_os_count_purged(int64_t delta) {
  if (delta >= 0) {
    atomic_fetch_add(&mm_os_counters.purged_bytes, (uint64_t)delta);
  } else {
    atomic_fetch_sub(&mm_os_counters.purged_bytes, (uint64_t)-delta);
    counters_changed();
  }
}

/* The lowest address the kernel gave us a mapping at (a hint: races
 * only make it less exact). */
static uintptr_t mm_os_low = UINTPTR_MAX;

static void note_low(const void *p) {
  if ((uintptr_t)p < mm_load_relaxed(&mm_os_low)) mm_store_relaxed(&mm_os_low, (uintptr_t)p);
}

/* After this many failed sbrk calls in a row we stop asking (mmap only). */
#define MM_SBRK_MAX_FAILURES 4
static unsigned mm_sbrk_failures;

/* A region of `size` bytes aligned to `size`, from the program break. */
void *mm_os_sbrk_segment(size_t size) {
  if (mm_sbrk_failures >= MM_SBRK_MAX_FAILURES) return NULL;
  int saved = errno;
  uintptr_t cur = (uintptr_t)sbrk(0);
  if (cur == (uintptr_t)-1) goto fail;
  size_t pad = mm_align_up(cur, size) - cur;
  if (pad + size < size) goto fail;
  void *r = sbrk((intptr_t)(pad + size));
  if (r == (void *)-1) goto fail;
  uintptr_t got = (uintptr_t)r, end = got + pad + size;
  uintptr_t aligned = mm_align_up(got, size);
  if (aligned + size > end || !fits((void *)aligned, size)) {
    /* Someone moved the break between our two calls, or the break is
     * above the address limit: give it back if we still can, and let
     * the caller fall back to mmap. */
    if ((uintptr_t)sbrk(0) == end) (void)sbrk(-(intptr_t)(pad + size));
    goto fail;
  }
  atomic_fetch_add(&mm_os_counters.sbrk_bytes, pad + size);
  counters_changed();
  mm_sbrk_failures = 0;
  errno = saved;
  return (void *)aligned;
fail:
  mm_sbrk_failures++;
  errno = saved;
  return NULL;
}

/* Is [addr, addr+size) the very top of the break? */
bool mm_os_sbrk_is_top(void *addr, size_t size) {
  int saved = errno;
  bool top = (uintptr_t)sbrk(0) == (uintptr_t)addr + size;
  errno = saved;
  return top;
}

/* Give back [addr, addr+size), which the caller no longer uses: lower the
 * break if it is still its end.  Returns false if another sbrk user moved
 * the break meanwhile: the range then stays unused, and is no longer
 * counted either way. */
bool mm_os_sbrk_trim(void *addr, size_t size) {
  int saved = errno;
  bool ok = (uintptr_t)sbrk(0) == (uintptr_t)addr + size && sbrk(-(intptr_t)size) != (void *)-1;
  atomic_fetch_sub(&mm_os_counters.sbrk_bytes, size);
  errno = saved;
  return ok;
}

/* Give back [addr, addr+size), a part of the break region that cannot be
 * lowered because it is not at the top: munmap frees its address space.
 * The caller forgets the range: the break is only ever lowered over
 * segments it holds, never over such a hole (the kernel may place a later
 * mapping there).  Returns false when the kernel refused (the range is
 * still ours). */
bool mm_os_sbrk_unmap(void *addr, size_t size) {
  int saved = errno;
  bool ok = munmap(addr, size) == 0;
  errno = saved;
  if (ok) atomic_fetch_sub(&mm_os_counters.sbrk_bytes, size);
  return ok;
}

void *mm_os_mmap(size_t size) {
  int saved = errno;
  void *p = os_map(size, 0);
  if (p == MAP_FAILED) { errno = ENOMEM; return NULL; }
  note_low(p);
  errno = saved;
  atomic_fetch_add(&mm_os_counters.mmap_bytes, size);
  atomic_fetch_add(&mm_os_counters.mmap_total, size);
  counters_changed();
  return p;
}

/* Exactly `size` bytes at a multiple of `align`, without mapping more:
 * for when the address space left is too short for size + align (an
 * RLIMIT_AS, commit accounting).  The kernel's choice, if it is aligned;
 * else the aligned address just below it, then aligned addresses below
 * everything we were given (the kernel hands out addresses from the top
 * down: the room is there, while the gaps between our aligned mappings
 * hold no aligned range).  MAP_FIXED_NOREPLACE never replaces a mapping
 * (a kernel before 4.17 takes the address as a hint: the result is
 * checked). */
static uint8_t *mmap_exact_aligned(size_t size, size_t align) {
  const int prot = PROT_READ | PROT_WRITE, flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
  uint8_t *p = mmap(NULL, size, prot, flags, -1, 0);
  if (p == MAP_FAILED) return NULL;
  if (((uintptr_t)p & (align - 1)) == 0 && fits(p, size)) return p;
  munmap(p, size);
  uintptr_t low = mm_load_relaxed(&mm_os_low);
  if ((uintptr_t)p < low) low = (uintptr_t)p;
  uintptr_t at[4] = { (uintptr_t)p & ~(uintptr_t)(align - 1) };
  for (int i = 1; i < 4; i++) {
    size_t below = size + (size_t)(i - 1) * align;
    at[i] = low > below + align ? (low - below) & ~(uintptr_t)(align - 1) : 0;
  }
  for (int i = 0; i < 4; i++) {
    if (!at[i]) continue;
    uint8_t *q = mmap((void *)at[i], size, prot, flags | MAP_FIXED_NOREPLACE, -1, 0);
    if (q == (uint8_t *)at[i] && fits(q, size)) return q;
    if (q != MAP_FAILED) munmap(q, size);
  }
  return NULL;
}

/* `size` bytes at an address that is a multiple of `align` (a power of two
 * >= the OS page): size + align mapped and the ends cut off, or when the
 * address space left is too short for that, mmap_exact_aligned. */
void *mm_os_mmap_aligned(size_t size, size_t align) {
  if (size + align < size) { errno = ENOMEM; return NULL; }
  int saved = errno;
  uint8_t *a;
  uint8_t *p = os_map(size + align, MAP_NORESERVE);
  if (p != (uint8_t *)MAP_FAILED) {
    a = (uint8_t *)mm_align_up((uintptr_t)p, align);
    size_t head = (size_t)(a - p), tail = align - head;
    if (head) munmap(p, head);
    if (tail) munmap(a + size, tail);
  } else if (!(a = mmap_exact_aligned(size, align))) {
    errno = ENOMEM;
    return NULL;
  }
  note_low(a);
  errno = saved;
  atomic_fetch_add(&mm_os_counters.mmap_bytes, size);
  atomic_fetch_add(&mm_os_counters.mmap_total, size);
  counters_changed();
  return a;
}

int mm_os_munmap(void *addr, size_t size) {
  int saved = errno;
  int r = munmap(addr, size);
  errno = saved;
  if (r == 0) atomic_fetch_sub(&mm_os_counters.mmap_bytes, size);
  return r;
}

/* Give the pages back; the range stays ours and reads as zero. */
int mm_os_purge(void *addr, size_t size) {
  int saved = errno;
  int r = madvise(addr, size, MADV_DONTNEED);
  errno = saved;
  return r;
}

/* Make [addr, addr+size) inaccessible (guard in front of a header). */
int mm_os_guard(void *addr, size_t size) {
  int saved = errno;
  int r = mprotect(addr, size, PROT_NONE);
  errno = saved;
  return r;
}

/* Resize a mapping.  fixed == NULL: in place only.  Otherwise move it to
 * `fixed` (an address we reserved), replacing the reservation there. */
void *mm_os_mremap(void *addr, size_t old_size, size_t new_size, void *fixed) {
  int saved = errno;
  void *r = fixed ? mremap(addr, old_size, new_size, MREMAP_MAYMOVE | MREMAP_FIXED, fixed)
                  : mremap(addr, old_size, new_size, 0);
  errno = saved;
  if (r == MAP_FAILED) return NULL;
  if (fixed) {
    /* the reservation at `fixed` was counted when it was mapped */
    atomic_fetch_sub(&mm_os_counters.mmap_bytes, old_size);
  } else if (new_size > old_size) {
    atomic_fetch_add(&mm_os_counters.mmap_bytes, new_size - old_size);
    atomic_fetch_add(&mm_os_counters.mmap_total, new_size - old_size);
  } else {
    atomic_fetch_sub(&mm_os_counters.mmap_bytes, old_size - new_size);
  }
  counters_changed();
  return r;
}

/* mremap-move [addr, addr+len) to dst; on EFAULT (the range spans
 * several kernel mappings, which Linux before 6.17 cannot move at once)
 * move it by halves.  What cannot be moved is unmapped; *lost counts it. */
#ifdef MM_TEST_SEAMS
int mm_os_test_split_moves;
#endif

static void os_move(uint8_t *addr, size_t len, uint8_t *dst, size_t *lost, unsigned depth) {
  void *r;
#ifdef MM_TEST_SEAMS   /* exercise the halving on kernels that need none */
  if ((int)depth < mm_os_test_split_moves && len > mm_os_page) { r = MAP_FAILED; errno = EFAULT; } else
#endif
  r = mremap(addr, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, dst);
  if (r != MAP_FAILED) return;
  if (errno == EFAULT && len > mm_os_page && depth < 32) {
    size_t half = (len / 2) & ~(mm_os_page - 1);
    if (!half) half = mm_os_page;
    os_move(addr, half, dst, lost, depth + 1);
    os_move(addr + half, len - half, dst + half, lost, depth + 1);
    return;
  }
  munmap(addr, len);
  *lost += len;
}

/* Move the pages of [addr, addr+len) over [dst, dst+len), a part of a
 * mapping we hold (which they replace), keeping them resident: the kernel
 * moves page tables, nothing is copied.  Pages that cannot be moved are
 * unmapped (dst keeps its own there).  Returns the bytes moved. */
size_t mm_os_move(void *addr, size_t len, void *dst) {
  int saved = errno;
  size_t lost = 0;
  os_move(addr, len, dst, &lost, 0);
  errno = saved;
  /* the range at dst was counted when it was mapped */
  atomic_fetch_sub(&mm_os_counters.mmap_bytes, len);
  counters_changed();
  return len - lost;
}

/* write(2) all of it, retrying on EINTR; never allocates.  Returns 0, or
 * the errno of the write that failed (errno itself is kept). */
int mm_os_write(int fd, const char *s, size_t n) {
  int saved = errno;
  int r = 0;
  while (n > 0) {
    ssize_t w = write(fd, s, n);
    if (w < 0) { if (errno == EINTR) continue; r = errno ? errno : EIO; break; }
    s += w; n -= (size_t)w;
  }
  errno = saved;
  return r;
}
