/*
 * format.c -- formatting without allocating: text goes into a caller's
 * stack buffer and out through write(2).  Used by the heap report, the
 * option warnings and the corruption messages.
 */
#include "format.h"
#include "os.h"

#include <string.h>

void mm_buf_flush(mm_buf_t *b) {
  int err = b->len ? mm_os_write(b->fd, b->p, b->len) : 0;
  if (err && !b->failed) b->failed = err;
  b->len = 0;
}

static void buf_put(mm_buf_t *b, const char *s, size_t n) {
  while (n) {
    if (b->len == b->cap) mm_buf_flush(b);
    size_t k = b->cap - b->len;
    if (k > n) k = n;
    memcpy(b->p + b->len, s, k);
    b->len += k;
    s += k;
    n -= k;
  }
}

void mm_buf_str(mm_buf_t *b, const char *s) { buf_put(b, s, strlen(s)); }

static size_t fmt_u64(char *out, uint64_t v) {
  char tmp[24];
  size_t n = 0;
  do { tmp[n++] = (char)('0' + v % 10); v /= 10; } while (v);
  for (size_t i = 0; i < n; i++) out[i] = tmp[n - 1 - i];
  return n;
}

void mm_buf_u64(mm_buf_t *b, uint64_t v) {
  char tmp[24];
  buf_put(b, tmp, fmt_u64(tmp, v));
}

/* v right-aligned in `width` columns. */
void mm_buf_u64_col(mm_buf_t *b, uint64_t v, size_t width) {
  char tmp[24];
  size_t n = fmt_u64(tmp, v);
  mm_buf_pad(b, width, n);
  buf_put(b, tmp, n);
}

void mm_buf_mem(mm_buf_t *b, const char *s, size_t n) { buf_put(b, s, n); }

void mm_buf_hex(mm_buf_t *b, uintptr_t v) {
  char tmp[2 + 16];
  size_t n = 0;
  tmp[n++] = '0';
  tmp[n++] = 'x';
  int shift = 60;
  while (shift > 0 && ((v >> shift) & 15) == 0) shift -= 4;
  for (; shift >= 0; shift -= 4) tmp[n++] = "0123456789abcdef"[(v >> shift) & 15];
  buf_put(b, tmp, n);
}

/* Spaces up to `width` columns after `used` were written. */
void mm_buf_pad(mm_buf_t *b, size_t width, size_t used) {
  while (used++ < width) buf_put(b, " ", 1);
}

/* "512 B", "1.5 KiB", "12.0 MiB", "3.2 GiB" */
static size_t fmt_size(char *out, uint64_t bytes) {
  static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
  unsigned u = 0;
  while (u < 5 && (bytes >> (10 * (u + 1))) != 0) u++;
  size_t n = fmt_u64(out, bytes >> (10 * u));
  if (u > 0) {
    out[n++] = '.';
    out[n++] = (char)('0' + ((bytes >> (10 * (u - 1))) & 1023) * 10 / 1024);
  }
  out[n++] = ' ';
  size_t ul = strlen(unit[u]);
  memcpy(out + n, unit[u], ul);
  return n + ul;
}

void mm_buf_size(mm_buf_t *b, uint64_t bytes) {
  char tmp[40];
  buf_put(b, tmp, fmt_size(tmp, bytes));
}
