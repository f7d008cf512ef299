/*
 * sizeclass.h -- the size classes (sizeclass.c): the tables, all
 * generated from the one list of block sizes, and the class of a size.
 */
#ifndef MM_SIZECLASS_H
#define MM_SIZECLASS_H

#include "internal.h"

#pragma GCC visibility push(hidden)

extern const uint32_t mm_class_size[MM_NCLASSES];
extern const uint64_t mm_class_magic[MM_NCLASSES];   /* floor(2^64 / size) + 1 */
extern const uint64_t mm_class_step[MM_NCLASSES];    /* size * magic - 2^64 */
extern const uint16_t mm_xcache_cap[MM_NCLASSES];    /* cross-thread cache bound */
extern const uint8_t mm_class_lookup[MM_NSLOTS];     /* class of slot (n + 15) >> 4 */
extern const uint16_t mm_class_slot_end[MM_NCLASSES]; /* its slots end here */

/* The smallest class whose blocks hold n bytes (n <= MM_MEDIUM_MAX): the
 * table up to 1 KiB, above it four classes per doubling. */
mm_inline unsigned mm_size_class(size_t n) {
  if (mm_likely(n <= MM_LOOKUP_MAX)) return mm_class_lookup[(n + 15) >> 4];
  size_t m = n - 1;
  unsigned bit = 63u - (unsigned)__builtin_clzl(m);
  return 8u + (bit - 7u) * 4u + (unsigned)((m >> (bit - 2u)) & 3u);
}

#pragma GCC visibility pop

#endif
