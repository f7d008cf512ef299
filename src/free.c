/*
 * free.c -- free, and the checks that catch a bad pointer or a double free.
 *
 * Fast path: the segment map gives the page shift (0: not ours), the page
 * by masking and shifting, the owner compared with the thread's heap, the
 * block start checked (one multiply), the free key compared (double free),
 * then a push on page->free.  Everything else (another thread's page, a
 * page on the full list, a huge block, an abandoned segment, a bad
 * pointer, NULL) goes to mm_free_slow / mm_free_generic.
 */
#include "internal.h"

#include <errno.h>
#include <string.h>

/* Push b (valid, key written) on pg, a page of h's own. */
mm_inline void page_push(mm_heap_t *h, mm_page_t *pg, mm_block_t *b) {
  b->next = mm_encode(b, pg->free);
  pg->free = b;
  if (mm_unlikely(--pg->used == 0)) mm_page_emptied(h, pg);
}

/* One line on stderr, then abort.  Never allocates. */
mm_noreturn mm_cold void mm_corrupt(const char *fn, const void *p, const char *what) {
  char buf[256];
  mm_buf_t b = { buf, 0, sizeof(buf), 2, 0 };
  mm_buf_str(&b, "mymalloc: ");
  mm_buf_str(&b, fn);
  mm_buf_str(&b, "(): ");
  mm_buf_str(&b, what);
  mm_buf_str(&b, ": pointer ");
  mm_buf_hex(&b, (uintptr_t)p);
  mm_buf_str(&b, "\n");
  mm_buf_flush(&b);
  abort();
}

/* The fast path found p wrong: say what exactly, then abort.  (Not
 * declared noreturn, so that free() reaches it by a tail jump and needs
 * no stack frame of its own.) */
mm_cold void mm_free_invalid(const void *p) {
  mm_segment_t *s;
  mm_page_t *pg;
  const char *err = mm_check_pointer(p, &s, &pg);
  mm_corrupt("free", p, err ? err : "invalid pointer");
}

const char mm_msg_freed[] = "double free (block is already free)";

/* The segment and page of a pointer, if it is in one of ours: the map
 * entry of p's own 4 MiB, else (a huge block aligned to 4 MiB sits right
 * at the end of its header's 4 MiB) the huge segment of p - 1. */
static bool find_page(const void *p, mm_segment_t **sp, mm_page_t **pgp) {
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

/* Full validation of a pointer given back to us: ours, at a block start,
 * and live.  Returns NULL when valid, else what is wrong. */
const char *mm_check_pointer(const void *p, mm_segment_t **sp, mm_page_t **pgp) {
  if (!find_page(p, sp, pgp)) return "invalid pointer (not allocated by mymalloc)";
  return mm_check_block(*sp, *pgp, p);
}

/* The checks of mm_check_pointer once the segment (known to be ours) and
 * the page are found. */
const char *mm_check_block(mm_segment_t *s, mm_page_t *pg, const void *p) {
  if (((uintptr_t)p & (MM_ALIGN - 1)) != 0) return "invalid pointer (not allocated by mymalloc)";
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
  if (((const mm_block_t *)p)->key == mm_free_key) return mm_msg_freed;
#endif
  return NULL;
}

void mm_free(void *p) {
  unsigned shift = mm_segmap_shift(p);
  if (mm_likely(shift != 0)) {
    mm_segment_t *s;
    mm_page_t *pg = mm_page_by_map(p, shift, &s);
    __asm__("" : "+r"(pg));   /* computed once (gcc would redo it per field) */
    mm_heap_t *h = mm_heap_tls;
    mm_block_t *b = (mm_block_t *)p;
    if (mm_likely(atomic_load_explicit(&pg->owner, memory_order_relaxed) == (uintptr_t)h)) {
#if MM_HARDEN
      if (mm_unlikely(!mm_is_block_start(pg, p) || b->key == mm_free_key)) {
        mm_free_invalid(p);
        return;
      }
      b->key = mm_free_key;
#endif
      mm_count(h->nfree[pg->class_idx]);
      page_push(h, pg, b);
      return;
    }
    mm_free_remote(s, pg, b, h);
    return;
  }
  mm_free_slow(p);
}

/* free() of NULL, of a huge block aligned to 4 MiB (found through p - 1),
 * or of a pointer that is not ours. */
mm_noinline void mm_free_slow(void *p) {
  if (p == NULL) return;
  mm_segment_t *s;
  mm_page_t *pg;
  if (find_page(p, &s, &pg)) {
    mm_free_generic(s, pg, (mm_block_t *)p, "free");
    return;
  }
  mm_free_invalid(p);
}

/* Push b on the cross-thread list of its page (not ours). */
void mm_xfree_push(mm_page_t *pg, mm_block_t *b) {
  uintptr_t head = atomic_load_explicit(&pg->xfree, memory_order_relaxed);
  uintptr_t next;
  do {
    mm_block_t *old = mm_xfree_list(head);
    b->next = mm_encode(b, old ? old : mm_list_end(b));
    next = (uintptr_t)b | ((uintptr_t)(mm_xfree_count(head) + 1) << MM_XFREE_SHIFT);
  } while (!atomic_compare_exchange_weak_explicit(&pg->xfree, &head, next,
                                                  memory_order_seq_cst, memory_order_relaxed));
  /* If the page is (now) on its owner's full list, tell the owner. */
  uintptr_t owner = atomic_load_explicit(&pg->owner, memory_order_seq_cst);
  if (owner & MM_OWNER_FULL)
    atomic_fetch_or_explicit(&mm_owner_heap(owner)->full_xfree, (uint64_t)1 << pg->class_idx, memory_order_release);
}

/* Give every block of h's foreign cache back to its page: ours (adopted
 * since) by a local free, others' through their xfree lists. */
void mm_foreign_flush(mm_heap_t *h) {
  for (unsigned c = 0; c < MM_NCLASSES; c++) {
    mm_block_t *b = h->foreign[c].head;
    h->foreign[c].head = NULL;
    h->foreign[c].count = 0;
    mm_heap_set_fast(h, c, h->direct[c]);
    while (b) {
      mm_block_t *next = mm_decode(b);
      mm_segment_t *s = mm_segment_of(b);
      mm_page_t *pg = mm_page_of(s, b);
      uintptr_t owner = atomic_load_explicit(&pg->owner, memory_order_relaxed);
      if (mm_owner_heap(owner) == h) {
        if (owner & MM_OWNER_FULL) mm_page_unfull(h, pg);
        h->foreign[c].ncollected++;   /* it was counted as a remote free */
        page_push(h, pg, b);
      } else {
        mm_xfree_push(pg, b);
      }
      b = next;
    }
  }
}

/* A valid small or medium block leaves the program: a block of our own
 * page (on the full list, or in the slow mode) back on its
 * page; a block of another heap's page (or an abandoned one) to this
 * thread's cache of foreign blocks, where this thread's next malloc of
 * its class takes it while it is still hot in this core's cache (the
 * page's owner sees it as used meanwhile); when that cache is full, or
 * the thread has no heap, onto its page's xfree list for the owner.
 * free_block does the foreign cache, free_block_other the rest. */
static mm_noinline void free_block_other(mm_page_t *pg, mm_block_t *b, mm_heap_t *me, uintptr_t owner) {
  unsigned c = pg->class_idx;
  b->key = mm_free_key;
  if (mm_owner_heap(owner) == me) {
    if (owner & MM_OWNER_FULL) mm_page_unfull(me, pg);
    mm_count(me->nfree[c]);
    page_push(me, pg, b);
    return;
  }
  mm_xfree_push(pg, b);
#if MM_STATS
  if (me != &mm_heap_empty) me->foreign[c].nfree_remote++;
  else mm_stats_count_orphan_free(c);
#endif
}

/* me: the calling thread's heap (maybe mm_heap_empty).  The foreign cache
 * of me takes the block unless it is full (cap is 0 for mm_heap_empty and
 * a dying heap); anything else is free_block_other's. */
mm_inline void free_block(mm_page_t *pg, mm_block_t *b, mm_heap_t *me) {
  uintptr_t owner = atomic_load_explicit(&pg->owner, memory_order_relaxed);
  unsigned c = pg->class_idx;
  mm_foreign_t *f = &me->foreign[c];
  if (mm_unlikely(mm_owner_heap(owner) == me || f->count >= f->cap)) {
    free_block_other(pg, b, me, owner);
    return;
  }
  b->key = mm_free_key;
  mm_block_t *head = f->head;
  b->next = mm_encode(b, head);
  f->head = b;
  f->count++;
  mm_count(f->nfree_remote);
  /* send the next malloc of the class to the slow path, which takes
   * foreign blocks first */
  if (!head) mm_heap_set_fast(me, c, &mm_page_empty);
}

/* free() of a block whose page is not the calling thread's own (another
 * thread's page, an abandoned one, a full page of ours, a huge block), or
 * of anything at all in the slow mode (valgrind, MYMALLOC_CHECK=full).
 * The same two checks as the fast path, then free_block. */
mm_noinline void mm_free_remote(mm_segment_t *s, mm_page_t *pg, mm_block_t *b, mm_heap_t *h) {
  if (mm_unlikely(mm_slow_mode || pg->class_idx == MM_HUGE_CLASS)) {
    mm_free_generic(s, pg, b, "free");
    return;
  }
#if MM_HARDEN
  if (mm_unlikely(!mm_is_block_start(pg, b) || b->key == mm_free_key)) {
    mm_free_invalid(b);
    return;
  }
#endif
  free_block(pg, b, h);
}

/* Every free that the fast path does not finish, with the full checks. */
mm_noinline void mm_free_generic(mm_segment_t *s, mm_page_t *pg, mm_block_t *b, const char *fn) {
  const char *err = mm_check_block(s, pg, b);
  if (err) mm_corrupt(fn, b, err);
  mm_vg_free(b);
  if (pg->checked) mm_check_on_free(pg, b, fn);
  if (s->kind == MM_HUGE) mm_huge_free(s);
  else free_block(pg, b, mm_heap_tls);
}

MM_EXPORT_AS(mm_free, mymalloc_free)
MM_OVERRIDE_AS(mm_free, free)
MM_OVERRIDE_AS(mm_free, cfree)
MM_OVERRIDE_AS(mm_free, __libc_free)

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
