/*
 * format.h -- allocation-free formatting into a caller's buffer
 * (format.c), flushed with write(2).  Used by the heap report, the option
 * warnings and the fatal-error line.
 */
#ifndef MM_FORMAT_H
#define MM_FORMAT_H

#include "internal.h"

#pragma GCC visibility push(hidden)

typedef struct mm_buf_s {
  char *p;
  size_t len, cap;
  int fd;
  int failed;                   /* a write failed: its errno */
} mm_buf_t;
void mm_buf_flush(mm_buf_t *b);
void mm_buf_str(mm_buf_t *b, const char *s);
void mm_buf_u64(mm_buf_t *b, uint64_t v);
void mm_buf_u64_col(mm_buf_t *b, uint64_t v, size_t width);
void mm_buf_mem(mm_buf_t *b, const char *s, size_t n);
void mm_buf_hex(mm_buf_t *b, uintptr_t v);
void mm_buf_pad(mm_buf_t *b, size_t width, size_t used);
void mm_buf_size(mm_buf_t *b, uint64_t bytes);

#pragma GCC visibility pop

#endif
