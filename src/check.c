/*
 * check.c -- validation in one place: the full check of a pointer given
 * back to us, the fatal-error line, the MYMALLOC_CHECK=full fills and
 * canaries, assertions, and the heap walker (check.h).
 */
#include "check.h"
#include "format.h"
#include "segmap.h"
#include "sizeclass.h"

#include <stdlib.h>
#include <string.h>

/* The one fatal-error line: "mymalloc: ", five strings and a number
 * (hex: a pointer), on stderr, then abort.  Never allocates. */
static mm_noreturn mm_cold void fatal(const char *s1, const char *s2, const char *s3, const char *s4,
                                      const char *s5, uint64_t v, bool hex) {
  char buf[512];
  mm_buf_t b = { buf, 0, sizeof(buf), 2, 0 };
  const char *s[] = { "mymalloc: ", s1, s2, s3, s4, s5 };
  for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++) mm_buf_str(&b, s[i]);
  if (hex) mm_buf_hex(&b, (uintptr_t)v); else mm_buf_u64(&b, v);
  mm_buf_str(&b, "\n");
  mm_buf_flush(&b);
  abort();
}

mm_noreturn mm_cold void mm_corrupt(const char *fn, const void *p, const char *what) {
  fatal(fn, "(): ", what, ": pointer ", "", (uintptr_t)p, true);
}

mm_noreturn mm_cold void mm_fatal_assert(const char *cond, const char *file, int line) {
  fatal("assertion failed: ", cond, " at ", file, ":", (uint64_t)line, false);
}

/* ---- pointers given back to us ------------------------------------------ */
const char mm_msg_freed[] = "double free (block is already free)";

/* (Not declared noreturn, so that free() reaches it by a tail jump and
 * needs no stack frame of its own.) */
mm_cold void mm_free_invalid(const void *p) {
  mm_segment_t *s;
  mm_page_t *pg;
  const char *err = mm_check_pointer(p, &s, &pg);
  mm_corrupt("free", p, err ? err : "invalid pointer");
}

/* The map entry of p's own 4 MiB, else (a huge block aligned to 4 MiB
 * sits right at the end of its header's 4 MiB) the huge segment of p - 1. */
bool mm_find_page(const void *p, mm_segment_t **sp, mm_page_t **pgp) {
  unsigned shift = mm_segmap_shift(p);
  if (shift) {
    *pgp = mm_page_by_map(p, shift, sp);
    return true;
  }
  mm_segment_t *s = mm_segment_of(p);
  if (!mm_segmap_has(s) || s->kind != MM_HUGE) return false;
  *sp = s;
  *pgp = &s->pages[0];
  return true;
}

const char *mm_check_pointer(const void *p, mm_segment_t **sp, mm_page_t **pgp) {
  if (!mm_find_page(p, sp, pgp)) return "invalid pointer (not allocated by mymalloc)";
  return mm_check_block(*sp, *pgp, p);
}

/* The checks of mm_check_pointer once the segment (known to be ours) and
 * the page are found.  Any address inside our memory that is not a block
 * start is reported as such, whatever its alignment. */
const char *mm_check_block(mm_segment_t *s, mm_page_t *pg, const void *p) {
  if (s->cookie != (mm_secret ^ (uintptr_t)s)) return "corrupted segment header";
  if (s->kind == MM_HUGE) {
    if ((uintptr_t)p != (uintptr_t)s + s->huge_align_off) return "invalid pointer (inside a block)";
    if (pg->block_size == 0) return mm_msg_freed;
    return NULL;
  }
  if (pg->block_size == 0) return "invalid pointer (in an unused page)";
  if (!mm_is_block_start(pg, p)) return "invalid pointer (not at the start of a block)";
  mm_vg_defined(p, sizeof(mm_block_t));   /* the key word may be uninitialised user data */
#if MM_HARDEN   /* without it, malloc does not clear the key */
  if (((const mm_block_t *)p)->key == mm_free_key((const mm_block_t *)p)) return mm_msg_freed;
#endif
  return NULL;
}

/* ---- MYMALLOC_CHECK=full ------------------------------------------------- */
static uint64_t canary_of(const void *p) { return (uint64_t)(mm_secret ^ ((uintptr_t)p * 0x9e3779b97f4a7c15ULL)); }

void mm_check_fill(mm_page_t *pg, void *p) {
  if (pg->block_size > sizeof(mm_block_t))
    memset((uint8_t *)p + sizeof(mm_block_t), MM_FILL, pg->block_size - sizeof(mm_block_t));
}

void mm_check_on_alloc(mm_page_t *pg, void *p) {
  const uint8_t *c = (const uint8_t *)p + sizeof(mm_block_t);
  const uint8_t *end = (const uint8_t *)p + pg->block_size;
  for (; c < end; c++)
    if (*c != MM_FILL) mm_corrupt("malloc", p, "use after free (a freed block was written)");
  uint64_t canary = canary_of(p);
  memcpy((uint8_t *)p + pg->block_size - MM_CANARY, &canary, MM_CANARY);
}

void mm_check_on_free(mm_page_t *pg, void *p, const char *fn) {
  uint64_t canary;
  memcpy(&canary, (uint8_t *)p + pg->block_size - MM_CANARY, MM_CANARY);
  if (canary != canary_of(p)) mm_corrupt(fn, p, "heap overflow (the bytes after the block were written)");
  mm_check_fill(pg, p);
}

/* ---- the walker: every invariant of internal.h ----------------------------- */
static mm_noreturn mm_cold void broken(const char *inv, const char *cond, const void *where) {
  fatal("heap invariant ", inv, " broken: ", cond, " at ", (uintptr_t)where, true);
}
#define WALK(inv, cond, where) do { if (!(cond)) broken(inv, #cond, (where)); } while (0)

static void walk_page(mm_heap_t *h, mm_page_t *pg, unsigned c, bool full) {
  mm_segment_t *s = mm_segment_of(pg);
  WALK("I3", s->cookie == (mm_secret ^ (uintptr_t)s) && s->heap == h, pg);
  WALK("I3", pg->block_size == mm_class_size[c] && pg->class_idx == c, pg);
  WALK("I3", atomic_load_explicit(&pg->owner, memory_order_relaxed) == mm_owner_tag(h, full), pg);
  WALK("I1", pg->reserved <= pg->capacity && pg->used <= pg->reserved, pg);
  WALK("I7", pg->limit == (uint64_t)pg->reserved * mm_class_step[c], pg);
  WALK("I7", pg->magic == mm_class_magic[c], pg);
  WALK("I6", ((uintptr_t)pg->start & (MM_ALIGN - 1)) == 0 && pg->block_size % MM_ALIGN == 0, pg);
  uint32_t nfree = 0;
  mm_block_t *b = pg->free;
  for (; !mm_list_empty(b); b = mm_decode(b)) {
    WALK("I2", mm_segment_of(b) == s, b);
    uintptr_t off = (uintptr_t)b - (uintptr_t)pg->start;
    WALK("I2", off % pg->block_size == 0 && off / pg->block_size < pg->reserved, b);
#if MM_HARDEN   /* without it, free does not write the key */
    WALK("I2", b->key == mm_free_key(b), b);
#endif
    nfree++;
    WALK("I1", nfree <= pg->reserved, pg);
  }
  WALK("I7", b == mm_list_end(pg), pg);
  /* the cross-thread list grows concurrently: count what is there (it
   * only adds, and its blocks are inside used) */
  uint32_t nx = 0;
  for (mm_block_t *x = mm_xfree_list(atomic_load(&pg->xfree)); x && !mm_list_empty(x) && nx <= pg->capacity; x = mm_decode(x)) nx++;
  WALK("I1", pg->used >= nx, pg);
  WALK("I1", nfree + pg->used == pg->reserved, pg);
}

static void walk_segment(mm_heap_t *h, mm_segment_t *s, bool full) {
  WALK("I5", mm_segmap_shift(s) == s->page_shift, s);
  WALK("I4", s->heap == h && (s->free_slots == 0) == full, s);
  uint32_t used = 0;
  for (uint32_t i = 0; i < s->npages; i++) {
    mm_page_t *pg = &s->pages[i];
    bool is_free = (s->free_slots >> i) & 1;
    if (pg->block_size) {
      used++;
      WALK("I4", !is_free, pg);
    } else {
      WALK("I4", is_free == mm_slot_usable(s, i), pg);
      WALK("I3", atomic_load_explicit(&pg->owner, memory_order_relaxed) == 0, pg);
    }
  }
  WALK("I4", used == s->used_pages, s);
}

void mm_heap_check(mm_heap_t *h) {
  if (h == &mm_heap_empty) return;
  size_t kept_bytes = 0, nkept = 0;
  for (unsigned c = 0; c < MM_NCLASSES; c++) {
    for (mm_page_t *pg = h->queue[c].first; pg; pg = pg->next) {
      walk_page(h, pg, c, false);
      if (pg->kept) {
        WALK("I9", pg->used == 0 && h->current[c] != pg, pg);
        kept_bytes += mm_page_bytes(pg);
        nkept++;
      }
    }
    for (mm_page_t *pg = h->full[c].first; pg; pg = pg->next) {
      walk_page(h, pg, c, true);
      WALK("I9", !pg->kept, pg);
    }
    mm_page_t *cur = h->current[c];
    WALK("I8", cur == &mm_page_empty || cur->class_idx == c, h);
    const mm_xcache_t *x = &h->xcache[c];
    WALK("I8", !x->head || x->diverted, x);
    mm_page_t *want = mm_checked_mode() || x->diverted ? &mm_page_empty : cur;
    for (size_t i = 0; i < MM_NSLOTS; i++)
      if (mm_class_lookup[i] == c) WALK("I8", h->fast[i].page == want, &h->fast[i]);
  }
  WALK("I9", kept_bytes == h->kept_bytes && kept_bytes <= MM_KEPT_MAX, h);
  WALK("I9", h->kept == NULL || h->kept->kept_prev == NULL, h);
  size_t listed_bytes = 0;
  for (mm_page_t *pg = h->kept; pg; pg = pg->kept_next) {
    WALK("I9", pg->kept && (pg->kept_next == NULL || pg->kept_next->kept_prev == pg), pg);
    WALK("I9", pg->block_size != 0 && mm_segment_of(pg)->heap == h, pg);
    WALK("I9", atomic_load_explicit(&pg->owner, memory_order_relaxed) == mm_owner_tag(h, false), pg);
    WALK("I9", nkept > 0, pg);
    nkept--;
    listed_bytes += mm_page_bytes(pg);
  }
  WALK("I9", nkept == 0 && listed_bytes == h->kept_bytes, h);
  for (int k = 0; k < 2; k++) {
    for (mm_segment_t *s = h->segments[k]; s; s = s->next) walk_segment(h, s, false);
    for (mm_segment_t *s = h->segments_full[k]; s; s = s->next) walk_segment(h, s, true);
  }
}
