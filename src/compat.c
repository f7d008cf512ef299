/*
 * compat.c -- the allocation functions of glibc's malloc.o that the rest
 * of mymalloc does not define: malloc_info.
 *
 * In a static link (cc -static ... -lmymalloc) a program's reference to a
 * function of libc.a's malloc.o that we do not define pulls malloc.o in,
 * and its malloc, free, ... then clash with ours.  glibc 2.36's malloc.o
 * defines, besides the names of posix.c, alloc.c, free.c and stats.c,
 * only malloc_info among the public ones; the rest are internal aliases
 * (__malloc, __libc_mallinfo2, ...) that libc.so does not export, and the
 * fork and thread-exit hooks, which libc.a references weakly (they do not
 * pull malloc.o in; fork is handled by our pthread_atfork handlers).
 */
#include "api.h"
#include "format.h"
#include "os.h"

#include <errno.h>
#include <stdio.h>

static void xml_total(mm_buf_t *b, const char *type, uint64_t count, uint64_t size) {
  mm_buf_str(b, "<total type=\"");
  mm_buf_str(b, type);
  mm_buf_str(b, "\" count=\"");
  mm_buf_u64(b, count);
  mm_buf_str(b, "\" size=\"");
  mm_buf_u64(b, size);
  mm_buf_str(b, "\"/>\n");
}

static void xml_size(mm_buf_t *b, const char *elem, const char *type, uint64_t size) {
  mm_buf_str(b, "<");
  mm_buf_str(b, elem);
  mm_buf_str(b, " type=\"");
  mm_buf_str(b, type);
  mm_buf_str(b, "\" size=\"");
  mm_buf_u64(b, size);
  mm_buf_str(b, "\"/>\n");
}

/* glibc's malloc_info(3): an XML description of the heap on fp, in
 * glibc's "version 1" format, built from the totals of mallinfo2: free
 * blocks in the bins ("rest"), large blocks ("mmap"), memory held from
 * the kernel ("current", "total") and its peak ("max").  mymalloc has no
 * per-arena figures: the <heap> list is empty.  The text is formatted in
 * a stack buffer first, and written with no lock of ours held (stdio may
 * call malloc for the stream's buffer). */
int mm_malloc_info(int options, FILE *fp) {
  if (options != 0) { errno = EINVAL; return -1; }
  struct mallinfo2 mi = mm_mallinfo2();
  uint64_t held = atomic_load(&mm_os_counters.sbrk_bytes) + atomic_load(&mm_os_counters.mmap_bytes) -
                  atomic_load(&mm_os_counters.purged_bytes);
  char buf[1024];
  mm_buf_t b = { buf, 0, sizeof(buf) - 1, -1, 0 };
  mm_buf_str(&b, "<malloc version=\"1\">\n");
  xml_total(&b, "fast", 0, 0);
  xml_total(&b, "rest", mi.ordblks, mi.fordblks);
  xml_total(&b, "mmap", mi.hblks, mi.hblkhd);
  xml_size(&b, "system", "current", held);
  xml_size(&b, "system", "max", mi.usmblks);
  xml_size(&b, "aspace", "total", held);
  xml_size(&b, "aspace", "mprotect", held);
  mm_buf_str(&b, "</malloc>\n");
  buf[b.len] = 0;
  return fputs(buf, fp) < 0 ? -1 : 0;
}

MM_EXPORT_AS(mm_malloc_info, mymalloc_malloc_info)
MM_OVERRIDE_AS(mm_malloc_info, malloc_info)
