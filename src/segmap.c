/*
 * segmap.c -- the segment map (segmap.h).  Written when a segment is made,
 * changes kind in the pool, or goes back to the kernel; read by every free.
 */
#include "segmap.h"

uint8_t mm_segmap[MM_SEGMAP_SIZE];

void mm_segmap_put(uintptr_t addr, uint8_t shift) {
  uintptr_t i = addr >> MM_SEGMENT_SHIFT;
  if (i >= MM_SEGMAP_SIZE) return;
  __atomic_store_n(&mm_segmap[i], shift, __ATOMIC_RELEASE);
}
