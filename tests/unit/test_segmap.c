/*
 * test_segmap -- the segment map: put, get and clear, with synthetic
 * addresses across the whole covered range (nothing is dereferenced):
 * x86_64's, arm64's 48-bit ones near 0xaaaa_0000_0000 (PIE programs and
 * their break) and near 2^48; neighbours that do not disturb each other;
 * addresses beyond the map, never ours, and a put there that aborts
 * rather than being ignored.  Then the kernel floor's refusal of memory
 * the map cannot hold (the address limit lowered by the test seam): it
 * maps elsewhere, or fails with ENOMEM, and a block malloc returns is
 * always in the map.
 */
#include "internal.h"
#include "os.h"
#include "segmap.h"
#include "harness.h"

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>

static void one(uintptr_t a) {
  const uintptr_t top = MM_ADDRESS_LIMIT, seg = MM_SEGMENT_SIZE;
  CHECKF(mm_segmap_shift((void *)a) == 0, "%#lx", (unsigned long)a);
  mm_segmap_put(a, 16);
  /* every address of the granule answers, the neighbours do not */
  CHECKF(mm_segmap_shift((void *)a) == 16, "%#lx", (unsigned long)a);
  CHECK(mm_segmap_shift((void *)(a + seg / 2)) == 16);
  CHECK(mm_segmap_shift((void *)(a + seg - 1)) == 16);
  CHECK(mm_segmap_shift((void *)(a - 1)) == 0);
  if (a + seg < top) CHECK(mm_segmap_shift((void *)(a + seg)) == 0);
  /* a neighbour of another kind */
  mm_segmap_put(a - seg, 19);
  CHECK(mm_segmap_shift((void *)(a - 1)) == 19);
  CHECK(mm_segmap_shift((void *)a) == 16);
  /* the segment header test of huge blocks aligned to 4 MiB: p - 1 */
  CHECK(mm_segmap_has(mm_segment_of((void *)(a + seg))));
  /* huge (63) */
  mm_segmap_put(a, 63);
  CHECK(mm_segmap_shift((void *)(a + 12345)) == 63);
  /* clear */
  mm_segmap_put(a, 0);
  mm_segmap_put(a - seg, 0);
  CHECK(mm_segmap_shift((void *)a) == 0 && mm_segmap_shift((void *)(a - seg)) == 0);
}

/* A child puts an address beyond the map: it must die by SIGABRT. */
static void put_beyond(uintptr_t a) {
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    mm_segmap_put(a, 16);
    _exit(0);
  }
  int st = 0;
  CHECK(pid > 0 && waitpid(pid, &st, 0) == pid);
  CHECKF(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "put at %#lx: status %#x", (unsigned long)a, st);
}

int main(void) {
  const uintptr_t top = MM_ADDRESS_LIMIT, seg = MM_SEGMENT_SIZE;
  CHECK(MM_ADDRESS_BITS == 48 && MM_SEGMAP_SIZE == (size_t)64 << 20);
  uintptr_t addrs[] = {
    seg, 17 * seg, (uintptr_t)1 << 40,
    (uintptr_t)0x7ffff7c00000,          /* x86_64: the top of 47 bits */
    (uintptr_t)1 << 47,                 /* bit 47, the first of arm64's 48 */
    (uintptr_t)0xaaaa00000000, (uintptr_t)0xaaaaaac00000,   /* arm64 PIE and brk */
    (uintptr_t)0xffffb7c00000,          /* arm64 mmap, below the stack */
    (uintptr_t)0xffffffc00000,          /* the last granule: 2^48 - 4 MiB */
    top / 2, top - 2 * seg, top - seg,
  };
  for (size_t k = 0; k < sizeof(addrs) / sizeof(addrs[0]); k++) one(addrs[k]);
  /* arm64 addresses: the map byte of each is its own */
  mm_segmap_put((uintptr_t)0xaaaa00000000, 16);
  CHECK(mm_segmap_shift((void *)0x2aaa00000000) == 0);   /* 2^47 below: another byte */
  CHECK(mm_segmap_shift((void *)0xaaaa00000000) == 16);
  mm_segmap_put((uintptr_t)0xaaaa00000000, 0);
  /* beyond the map: never ours (52- and 57-bit addresses, kernel ones) */
  uintptr_t beyond[] = { top, top + 5 * seg, (uintptr_t)1 << 52, ((uintptr_t)1 << 56) + seg,
                         (uintptr_t)0xffff000000000000, UINTPTR_MAX };
  for (size_t k = 0; k < sizeof(beyond) / sizeof(beyond[0]); k++) {
    CHECKF(mm_segmap_shift((void *)beyond[k]) == 0, "%#lx", (unsigned long)beyond[k]);
    CHECK(!mm_segmap_has((const mm_segment_t *)beyond[k]));
  }
  CHECK(!mm_segmap_has(mm_segment_of(NULL)));   /* free(NULL)'s (p - 1) */
  put_beyond(top);
  put_beyond((uintptr_t)1 << 52);
  /* the real heap: a block we returned is in the map, with its shift */
  void *p = mymalloc_malloc(100), *q = mymalloc_malloc(20000);
  CHECK(mm_segmap_shift(p) == MM_SMALL_PAGE_SHIFT);
  CHECK(mm_segmap_shift(q) == MM_MEDIUM_PAGE_SHIFT);
  mymalloc_free(p);
  mymalloc_free(q);

  /* memory the map cannot hold: a lower limit than where the kernel maps
   * (x86_64 and arm64 map top-down from the top of 47 or 48 bits) */
  if (th_under_tsan() || th_under_valgrind()) {   /* (not th_skip: what ran above counts) */
    printf("test_segmap: the refusal is not tested under ThreadSanitizer or valgrind, which "
           "hold or place the address space below the lowered limit themselves\n");
    return test_done("test_segmap");
  }
  uint8_t *probe = mm_os_mmap(mm_os_page);
  CHECK(probe != NULL);
  uintptr_t limit = (uintptr_t)1 << (63 - __builtin_clzl((uintptr_t)probe));   /* below probe */
  mm_os_munmap(probe, mm_os_page);
  mm_os_test_address_limit = limit;
  uint8_t *m = mm_os_mmap_aligned(MM_SEGMENT_SIZE, MM_SEGMENT_SIZE);
  CHECKF(m && (uintptr_t)m + MM_SEGMENT_SIZE <= limit, "aligned mapping at %p, limit %#lx", (void *)m, (unsigned long)limit);
  if (m) mm_os_munmap(m, MM_SEGMENT_SIZE);
  m = mm_os_mmap(16 * mm_os_page);
  CHECKF(m && (uintptr_t)m + 16 * mm_os_page <= limit, "mapping at %p", (void *)m);
  if (m) mm_os_munmap(m, 16 * mm_os_page);
  /* the allocator over it: every block is in the map (those of the
   * segments made before the limit came are above it), frees work */
  void *blocks[256];
  int below = 0;
  for (int i = 0; i < 256; i++) {
    blocks[i] = mymalloc_malloc(i % 2 ? (size_t)200000 : (size_t)40000);
    CHECKF(blocks[i] && mm_segmap_shift(blocks[i]) != 0, "%d: %p", i, blocks[i]);
    below += (uintptr_t)blocks[i] < limit;
  }
  CHECKF(below >= 64, "%d blocks of new memory below the limit", below);
  for (int i = 0; i < 256; i++) mymalloc_free(blocks[i]);
  /* nothing fits: ENOMEM, never memory outside the map */
  mm_os_test_address_limit = (uintptr_t)MM_SEGMENT_SIZE;
  errno = 0;
  CHECK(mm_os_mmap_aligned(MM_SEGMENT_SIZE, MM_SEGMENT_SIZE) == NULL && errno == ENOMEM);
  errno = 0;
  m = mm_os_mmap(mm_os_page);   /* (the kernel may take a hint below 4 MiB) */
  CHECKF(m ? (uintptr_t)m < MM_SEGMENT_SIZE : errno == ENOMEM, "%p", (void *)m);
  if (m) mm_os_munmap(m, mm_os_page);
  errno = 0;
  CHECK(mm_os_sbrk_segment(MM_SEGMENT_SIZE) == NULL && errno == 0);
  errno = 0;
  void *h = mymalloc_malloc((size_t)8 << 20);   /* a huge block: a new mapping */
  CHECK(h == NULL && errno == ENOMEM);
  mm_os_test_address_limit = 0;
  return test_done("test_segmap");
}
