/*
 * segmap.h -- the segment map (segmap.c): one byte per 4 MiB of address
 * space, the page shift of our segment there or 0.  "Is this address
 * ours?" in one load, for free() and for the validation of check.c.
 */
#ifndef MM_SEGMAP_H
#define MM_SEGMAP_H

#include "internal.h"

#pragma GCC visibility push(hidden)

/* Address space covered: MM_ADDRESS_BITS (48) bits, below which os.c
 * keeps all our memory (internal.h): 64 MiB of .bss, zero pages never
 * touched but where segments are (one 4 KiB page of the map per 16 GiB
 * of address space in use).  A flat map keeps free() at one load and one
 * compare; a two-level map would add a dependent load to every free. */
#define MM_SEGMAP_SIZE       ((size_t)1 << (MM_ADDRESS_BITS - MM_SEGMENT_SHIFT))
extern uint8_t mm_segmap[MM_SEGMAP_SIZE];

/* The byte of the 4 MiB granule at addr becomes shift (0: not ours).  An
 * address beyond the map is a bug (os.c never returns one): abort. */
void mm_segmap_put(uintptr_t addr, uint8_t shift);

/* Enter s in the map with its page shift (on), or take it out. */
mm_inline void mm_segmap_set(const mm_segment_t *s, bool on) {
  mm_segmap_put((uintptr_t)s, on ? s->page_shift : 0);
}

/* The byte of the map for address p: the page_shift of the segment whose
 * first 4 MiB hold p, 0 when there is none of ours.  A relaxed load, also
 * on weakly ordered machines: a block given to free() was handed out by a
 * malloc that came after its segment's map store (release, after the
 * header), and the program's own hand-over of the pointer to this thread
 * (a lock, a join, a release/acquire pair: without one the program itself
 * races) orders that store and the header before this load. */
mm_inline unsigned mm_segmap_shift(const void *p) {
  uintptr_t i = (uintptr_t)p >> MM_SEGMENT_SHIFT;
  if (mm_unlikely(i >= MM_SEGMAP_SIZE)) return 0;
  return mm_load_relaxed(&mm_segmap[i]);
}

/* Is the segment at s one of ours?  (also false for NULL's (p-1)) */
mm_inline bool mm_segmap_has(const mm_segment_t *s) { return mm_segmap_shift(s) != 0; }

#pragma GCC visibility pop

#endif
