/*
 * segmap.h -- the segment map (segmap.c): one byte per 4 MiB of address
 * space, the page shift of our segment there or 0.  "Is this address
 * ours?" in one load, for free() and for the validation of check.c.
 */
#ifndef MM_SEGMAP_H
#define MM_SEGMAP_H

#include "internal.h"

#pragma GCC visibility push(hidden)

/* Address space covered: 47 bits (x86_64 user space), 32 MiB of .bss,
 * touched only where segments are. */
#define MM_ADDRESS_BITS      47
#define MM_SEGMAP_SIZE       ((size_t)1 << (MM_ADDRESS_BITS - MM_SEGMENT_SHIFT))
extern uint8_t mm_segmap[MM_SEGMAP_SIZE];

/* The byte of the 4 MiB granule at addr becomes shift (0: not ours);
 * addresses beyond the map are ignored. */
void mm_segmap_put(uintptr_t addr, uint8_t shift);

/* Enter s in the map with its page shift (on), or take it out. */
mm_inline void mm_segmap_set(const mm_segment_t *s, bool on) {
  mm_segmap_put((uintptr_t)s, on ? s->page_shift : 0);
}

/* The byte of the map for address p: the page_shift of the segment whose
 * first 4 MiB hold p, 0 when there is none of ours. */
mm_inline unsigned mm_segmap_shift(const void *p) {
  uintptr_t i = (uintptr_t)p >> MM_SEGMENT_SHIFT;
  if (mm_unlikely(i >= MM_SEGMAP_SIZE)) return 0;
  return mm_load_relaxed(&mm_segmap[i]);
}

/* Is the segment at s one of ours?  (also false for NULL's (p-1)) */
mm_inline bool mm_segmap_has(const mm_segment_t *s) { return mm_segmap_shift(s) != 0; }

#pragma GCC visibility pop

#endif
