/*
 * segmap.c -- the segment map (segmap.h).  Written when a segment is made,
 * changes kind in the pool, or goes back to the kernel; read by every free.
 */
#include "segmap.h"

#include <stdlib.h>

uint8_t mm_segmap[MM_SEGMAP_SIZE];

void mm_segmap_put(uintptr_t addr, uint8_t shift) {
  uintptr_t i = addr >> MM_SEGMENT_SHIFT;
  /* never silently: a segment left out would make every free of its
   * blocks abort, far from here */
  if (i >= MM_SEGMAP_SIZE) abort();
  /* release: the header written before is complete for a reader that
   * loads the byte with acquire (mm_segmap_shift's readers are ordered
   * after it by the program's own hand-over of the pointer, see there) */
  __atomic_store_n(&mm_segmap[i], shift, __ATOMIC_RELEASE);
}
