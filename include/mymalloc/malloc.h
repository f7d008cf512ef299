/*
 * <mymalloc/malloc.h> -- public interface of mymalloc.
 *
 * mymalloc replaces the C library's allocator: link with -lmymalloc (or
 * preload libmymalloc.so.0) and the standard names declared by the system
 * <malloc.h> and <stdlib.h> (malloc, free, calloc, realloc, ...) land in
 * mymalloc.  This header includes the system <malloc.h> for those, and
 * declares what mymalloc adds:
 *
 *   - a prefixed twin of the whole API (mymalloc_malloc, mymalloc_free, ...)
 *     that never overrides libc and is the only API exported by a library
 *     configured with --disable-override;
 *   - the C23 free_sized / free_aligned_sized where the C library does not
 *     declare them;
 *   - mymalloc_stats_print(), the heap report as text or JSON.
 *
 * Copyright (c) 2026 The mymalloc developers.  MIT licence, see COPYING.
 */
#ifndef MYMALLOC_MALLOC_H
#define MYMALLOC_MALLOC_H

#include <stddef.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define MYMALLOC_ALLOC_SIZE(...) __attribute__((alloc_size(__VA_ARGS__)))
#define MYMALLOC_MALLOC_ATTR __attribute__((malloc))
#else
#define MYMALLOC_ALLOC_SIZE(...)
#define MYMALLOC_MALLOC_ATTR
#endif

/* Version of this interface. */
#define MYMALLOC_VERSION_MAJOR 0
#define MYMALLOC_VERSION_MINOR 1
#define MYMALLOC_VERSION_PATCH 0

/* The prefixed API: same semantics as the unprefixed libc names. */
void *mymalloc_malloc(size_t size) MYMALLOC_MALLOC_ATTR MYMALLOC_ALLOC_SIZE(1);
void  mymalloc_free(void *ptr);
void *mymalloc_calloc(size_t nmemb, size_t size) MYMALLOC_MALLOC_ATTR MYMALLOC_ALLOC_SIZE(1, 2);
void *mymalloc_realloc(void *ptr, size_t size) MYMALLOC_ALLOC_SIZE(2);
void *mymalloc_reallocarray(void *ptr, size_t nmemb, size_t size) MYMALLOC_ALLOC_SIZE(2, 3);
int   mymalloc_posix_memalign(void **memptr, size_t alignment, size_t size);
void *mymalloc_aligned_alloc(size_t alignment, size_t size) MYMALLOC_MALLOC_ATTR MYMALLOC_ALLOC_SIZE(2);
void *mymalloc_memalign(size_t alignment, size_t size) MYMALLOC_MALLOC_ATTR MYMALLOC_ALLOC_SIZE(2);
void *mymalloc_valloc(size_t size) MYMALLOC_MALLOC_ATTR MYMALLOC_ALLOC_SIZE(1);
void *mymalloc_pvalloc(size_t size) MYMALLOC_MALLOC_ATTR;
size_t mymalloc_malloc_usable_size(void *ptr);
int   mymalloc_malloc_trim(size_t pad);
int   mymalloc_mallopt(int param, int value);
struct mallinfo2 mymalloc_mallinfo2(void);
struct mallinfo  mymalloc_mallinfo(void);
void  mymalloc_malloc_stats(void);
int   mymalloc_malloc_info(int options, FILE *fp);
void  mymalloc_free_sized(void *ptr, size_t size);
void  mymalloc_free_aligned_sized(void *ptr, size_t alignment, size_t size);

/*
 * Print the heap report on file descriptor fd.  format is "text" (the table
 * malloc_stats() prints) or "json" (one JSON object with a "schema" field).
 * Returns 0, or -1 with errno EINVAL for an unknown format or EIO when the
 * write failed.  Never allocates; safe from any thread and in a fork child.
 */
int mymalloc_stats_print(int fd, const char *format);

/*
 * Write a heap profile (MYMALLOC_PROFILE=PREFIX, see mymalloc_profile_dump(3))
 * to path, or to the next PREFIX.PID.N.heap when path is NULL.  Returns 0,
 * or -1 with errno: ENOENT when profiling is off, or what open(2) or
 * write(2) gave.  Never allocates, takes no lock; safe from a signal
 * handler.
 */
int mymalloc_profile_dump(const char *path);

/* C23 names, declared here while glibc 2.36's <stdlib.h> does not. */
void free_sized(void *ptr, size_t size);
void free_aligned_sized(void *ptr, size_t alignment, size_t size);

#ifdef __cplusplus
}
#endif

#endif /* MYMALLOC_MALLOC_H */
