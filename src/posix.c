/*
 * posix.c -- the rest of the API, with glibc 2.36's semantics: aligned
 * allocation, reallocarray, C23 sized frees, malloc_trim, mallopt.
 */
#include "api.h"
#include "prof.h"
#include "heap.h"
#include "init.h"
#include "os.h"

#include <errno.h>

static bool is_pow2(size_t a) { return a && (a & (a - 1)) == 0; }

MM_API_TEXT void *mm_reallocarray(void *p, size_t nmemb, size_t size) {
  size_t n;
  if (__builtin_mul_overflow(nmemb, size, &n)) { errno = ENOMEM; return NULL; }
  return mm_realloc(p, n);
}

MM_API_TEXT int mm_posix_memalign(void **memptr, size_t align, size_t n) {
  if (align % sizeof(void *) != 0 || !is_pow2(align)) return EINVAL;
  int saved = errno;
  void *p = mm_malloc_aligned(n, align);
  errno = saved;
  if (!p) return ENOMEM;
  *memptr = p;
  return 0;
}

/* glibc's memalign: alignments below 16 become 16, a non power of two is
 * rounded up to the next one, an impossible one is EINVAL. */
MM_API_TEXT void *mm_memalign(size_t align, size_t n) {
  if (align <= MM_ALIGN) return mm_malloc(n);
  if (align > SIZE_MAX / 2 + 1) { errno = EINVAL; return NULL; }
  if (!is_pow2(align)) align = (size_t)1 << (64 - __builtin_clzl(align));
  return mm_malloc_aligned(n, align);
}

/* As in glibc 2.36 (before 2.38), aligned_alloc is memalign: no error for
 * a size that is not a multiple of the alignment (C17 DR 460), and a non
 * power of two alignment is rounded up rather than refused. */
MM_API_TEXT void *mm_aligned_alloc(size_t align, size_t n) { return mm_memalign(align, n); }

MM_API_TEXT void *mm_valloc(size_t n) { return mm_malloc_aligned(n, mm_os_page); }

MM_API_TEXT void *mm_pvalloc(size_t n) {
  size_t r;
  if (__builtin_add_overflow(n, mm_os_page - 1, &r)) { errno = ENOMEM; return NULL; }
  r &= ~(mm_os_page - 1);
  return mm_malloc_aligned(r ? r : mm_os_page, mm_os_page);
}

void mm_free_sized(void *p, size_t size) {
  (void)size;
  mm_free(p);
}

void mm_free_aligned_sized(void *p, size_t align, size_t size) {
  (void)align;
  (void)size;
  mm_free(p);
}

/* Give back what can be given back now (heap.c, mm_heap_trim).  Returns
 * 1 when memory was released. */
int mm_malloc_trim(size_t pad) {
  (void)pad;
  int r = mm_heap_trim(mm_thread_init());
  mm_heap_t *ph;
  if (mm_prof_on && (ph = mm_prof_lock()) != NULL) {   /* the heap of the samples too */
    r |= mm_heap_trim(ph);
    mm_prof_unlock();
  }
  return r;
}

int mm_mallopt(int param, int value) {
#ifdef M_MXFAST
  if (param == M_MXFAST) return value >= 0 && value <= 160;
#endif
  (void)value;
  return 1;   /* accepted; the tunables of ptmalloc have no meaning here */
}

MM_EXPORT_AS(mm_reallocarray, mymalloc_reallocarray)
MM_EXPORT_AS(mm_posix_memalign, mymalloc_posix_memalign)
MM_EXPORT_AS(mm_aligned_alloc, mymalloc_aligned_alloc)
MM_EXPORT_AS(mm_memalign, mymalloc_memalign)
MM_EXPORT_AS(mm_valloc, mymalloc_valloc)
MM_EXPORT_AS(mm_pvalloc, mymalloc_pvalloc)
MM_EXPORT_AS(mm_free_sized, mymalloc_free_sized)
MM_EXPORT_AS(mm_free_aligned_sized, mymalloc_free_aligned_sized)
MM_EXPORT_AS(mm_malloc_trim, mymalloc_malloc_trim)
MM_EXPORT_AS(mm_mallopt, mymalloc_mallopt)
MM_OVERRIDE_AS(mm_reallocarray, reallocarray)
MM_OVERRIDE_AS(mm_posix_memalign, posix_memalign)
MM_OVERRIDE_AS(mm_aligned_alloc, aligned_alloc)
MM_OVERRIDE_AS(mm_memalign, memalign)
MM_OVERRIDE_AS(mm_valloc, valloc)
MM_OVERRIDE_AS(mm_pvalloc, pvalloc)
MM_OVERRIDE_AS(mm_free_sized, free_sized)
MM_OVERRIDE_AS(mm_free_aligned_sized, free_aligned_sized)
MM_OVERRIDE_AS(mm_malloc_trim, malloc_trim)
MM_OVERRIDE_AS(mm_mallopt, mallopt)
MM_OVERRIDE_AS(mm_mallopt, __libc_mallopt)
MM_OVERRIDE_AS(mm_memalign, __libc_memalign)
MM_OVERRIDE_AS(mm_valloc, __libc_valloc)
MM_OVERRIDE_AS(mm_pvalloc, __libc_pvalloc)
MM_OVERRIDE_AS(mm_posix_memalign, __posix_memalign)
