/*
 * api.h -- the functions of the API floor that its files call from each
 * other (posix.c and compat.c on alloc.c, free.c and stats.c).  Every
 * function here is also exported under its public names (MM_EXPORT_AS,
 * MM_OVERRIDE_AS at the end of each file).
 */
#ifndef MM_API_H
#define MM_API_H

#include "internal.h"

#include <stdio.h>

#pragma GCC visibility push(hidden)

/* alloc.c */
void *mm_malloc(size_t n);
void *mm_calloc(size_t nmemb, size_t size);
void *mm_realloc(void *p, size_t n);
size_t mm_usable_size(void *p);
/* n bytes aligned to align (a power of two) */
void *mm_malloc_aligned(size_t n, size_t align);

/* free.c */
void mm_free(void *p);

/* posix.c */
void *mm_reallocarray(void *p, size_t nmemb, size_t size);
int mm_posix_memalign(void **memptr, size_t align, size_t n);
void *mm_memalign(size_t align, size_t n);
void *mm_aligned_alloc(size_t align, size_t n);
void *mm_valloc(size_t n);
void *mm_pvalloc(size_t n);
void mm_free_sized(void *p, size_t size);
void mm_free_aligned_sized(void *p, size_t align, size_t size);
int mm_malloc_trim(size_t pad);
int mm_mallopt(int param, int value);

/* compat.c */
int mm_malloc_info(int options, FILE *fp);

/* stats.c */
int mm_stats_print(int fd, const char *format);
void mm_malloc_stats(void);
struct mallinfo2 mm_mallinfo2(void);
struct mallinfo mm_mallinfo(void);

#pragma GCC visibility pop

#endif
