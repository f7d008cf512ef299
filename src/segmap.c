/*
 * segmap.c -- the segment map (segmap.h).  Written when a segment is made,
 * changes kind in the pool, or goes back to the kernel; read by every free.
 */
#include "segmap.h"

uint8_t mm_segmap[MM_SEGMAP_SIZE];

void mm_segmap_set(const mm_segment_t *s, bool on) {
  uintptr_t i = (uintptr_t)s >> MM_SEGMENT_SHIFT;
  if (i >= MM_SEGMAP_SIZE) return;
  __atomic_store_n(&mm_segmap[i], on ? s->page_shift : 0, __ATOMIC_RELEASE);
}
