/*
 * os.h -- the kernel floor (os.c): the whole contact with the kernel.
 *
 * Contract (every function):
 *   - sizes are multiples of the OS page size (mm_os_page) and > 0, and
 *     addresses are page aligned;
 *   - the functions that give memory return NULL on failure with errno
 *     ENOMEM; the others return 0 / true on success;
 *   - none of them changes errno on success, and munmap/purge never change
 *     it at all (free() must leave errno alone);
 *   - the memory they give (sbrk segments, new mappings) lies below
 *     MM_ADDRESS_LIMIT (internal.h), where the segment map holds it: what
 *     the kernel gives above it is given back, asked for once more below
 *     it (mmap with a hint), else refused (NULL, ENOMEM); sbrk memory
 *     above it is refused (the caller maps instead);
 *   - sbrk is not thread safe: callers hold the segment lock (segment.c).
 *     Another user of brk in the process is tolerated: we never assume the
 *     memory above the break is ours, we check every sbrk result.
 * os.c calls nothing else of the library.
 */
#ifndef MM_OS_H
#define MM_OS_H

#include "internal.h"

#pragma GCC visibility push(hidden)

void mm_os_init(void);                    /* reads the page size (mm_os_page) */
uint64_t mm_clock_ns(void);               /* coarse monotonic clock */

/* What the kernel gave us, for the heap report (written here only, but
 * for purged_bytes, which the segment code reports through
 * mm_os_count_purged). */
typedef struct mm_os_counters_s {
  _Atomic(uint64_t) sbrk_bytes;           /* obtained with sbrk */
  _Atomic(uint64_t) mmap_bytes;           /* currently mapped with mmap */
  _Atomic(uint64_t) mmap_total;           /* ever mapped */
  _Atomic(uint64_t) purged_bytes;         /* currently given back (madvise) */
  _Atomic(uint64_t) peak_bytes;           /* peak of sbrk + mmap - purged */
} mm_os_counters_t;
extern mm_os_counters_t mm_os_counters;
void mm_os_count_purged(int64_t delta);   /* bytes given back (+) or reused (-) */

void *mm_os_sbrk_segment(size_t size);
bool mm_os_sbrk_trim(void *addr, size_t size);
bool mm_os_sbrk_is_top(void *addr, size_t size);
bool mm_os_sbrk_unmap(void *addr, size_t size);
void *mm_os_mmap(size_t size);
void *mm_os_mmap_aligned(size_t size, size_t align);
int mm_os_munmap(void *addr, size_t size);
int mm_os_purge(void *addr, size_t size);
int mm_os_guard(void *addr, size_t size);
void *mm_os_mremap(void *addr, size_t old_size, size_t new_size, void *fixed);
size_t mm_os_move(void *addr, size_t len, void *dst);
int mm_os_write(int fd, const char *s, size_t n);

#ifdef MM_TEST_SEAMS
/* unit tests: mm_os_move fails with EFAULT at the first levels (as on
 * kernels before 6.17 for ranges that span several mappings) */
extern int mm_os_test_split_moves;
/* unit tests: $MYMALLOC_TEST_PAGE_SIZE (read by mm_os_init) is the page
 * size, when it is a power of two from the real one to MM_META */
/* unit tests: a lower address limit than MM_ADDRESS_LIMIT (0: none), to
 * exercise the refusal of memory above it */
extern uintptr_t mm_os_test_address_limit;
#endif

#pragma GCC visibility pop

#endif
