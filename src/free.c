/*
 * free.c -- free, in its four cases (internal.h, "The paths"):
 *
 *   local            mm_free: the segment map gives the page shift (0: not
 *                    ours), the page by masking and shifting, the owner
 *                    compared with the thread's heap, mm_free_check, a push
 *                    on page->free (37 instructions);
 *   local full page  free_local_full: our page on the full list;
 *   cross-thread     free_cross_thread: the cross-thread cache of the
 *                    freeing thread, or the page's cross-thread list;
 *   huge             free_huge.
 * free_not_local sorts the cases the fast path does not finish;
 * free_checked is the checked mode's path (full validation); free_unmapped
 * takes NULL, huge blocks aligned to 4 MiB and pointers that are not ours.
 */
#include "api.h"
#include "check.h"
#include "heap.h"
#include "huge.h"
#include "page.h"
#include "prof.h"
#include "segmap.h"
#include "state.h"

static void free_not_local(mm_segment_t *s, mm_page_t *pg, mm_block_t *b, mm_heap_t *h);
static void free_unmapped(void *p);

/* pg->owner == h, a relaxed load (the comment in mm_free says why that is
 * enough).  On x86_64 the compare takes the owner from memory, one
 * instruction less (compilers keep an atomic load apart from its use);
 * an aligned 8-byte load is single-copy atomic there. */
mm_inline bool owner_is(mm_page_t *pg, mm_heap_t *h) {
#if defined(__x86_64__) && defined(__GCC_ASM_FLAG_OUTPUTS__) && !defined(MM_TSAN)
  bool eq;
  __asm__("cmpq %2, %1" : "=@cce"(eq) : "r"((uintptr_t)h), "m"(pg->owner));
  return eq;
#else
  return atomic_load_explicit(&pg->owner, memory_order_relaxed) == (uintptr_t)h;
#endif
}

void mm_free(void *p) {
  unsigned shift = mm_segmap_shift(p);
  if (mm_likely(shift != 0)) {
    mm_segment_t *s = (mm_segment_t *)((uintptr_t)p & ~(uintptr_t)MM_SEGMENT_MASK);
    /* the page's descriptor, computed once into a register (gcc would
     * redo it per field, or keep the segment base and add per field) */
    uintptr_t d = (uintptr_t)s + offsetof(mm_segment_t, pages) + ((((uintptr_t)p & MM_SEGMENT_MASK) >> shift) << 7);
    __asm__("" : "+r"(d));
    mm_page_t *pg = (mm_page_t *)d;
    mm_heap_t *h = mm_heap_tls;
    mm_block_t *b = (mm_block_t *)p;
    /* relaxed, on weakly ordered machines too: owner equals our heap only
     * by a store of this thread, or one ordered before us by the hand-over
     * of the block (write-read coherence); any other value sends us to
     * the cross-thread path, whose push orders what it needs */
    if (mm_likely(owner_is(pg, h))) {
      if (mm_unlikely(!mm_free_check(pg, b, true))) {
        mm_free_invalid(p);
        return;
      }
#if MM_HARDEN
      b->key = mm_free_key(b);
#endif
      mm_count(h->nfree[pg->class_idx]);
      mm_page_push_local(h, pg, b);
      return;
    }
    free_not_local(s, pg, b, h);
    return;
  }
  free_unmapped(p);
}

/* b (valid) of our own page on the full list (or of any page of ours in
 * the checked mode): back on its page, which goes back to the queue
 * (mm_page_free_full). */
static mm_noinline void free_local_full(mm_page_t *pg, mm_block_t *b, mm_heap_t *me, uintptr_t owner) {
  unsigned c = pg->class_idx;
  b->key = mm_free_key(b);
  mm_count(me->nfree[c]);
  if (!(owner & MM_OWNER_FULL)) {   /* the checked mode */
    mm_page_push_local(me, pg, b);
    return;
  }
  mm_page_free_full(me, pg, b, owner);
}

/* b (valid) of another heap's page (or of an abandoned one) that the
 * cross-thread cache of me cannot take (full, or taking none: blocks
 * under 64 bytes, the empty heap, a dying heap: cap 0): onto the page's
 * cross-thread list. */
static mm_noinline void free_to_xlist(mm_page_t *pg, mm_block_t *b, mm_heap_t *me) {
  unsigned c = pg->class_idx;   /* (before b is published: pg may go then) */
  mm_page_push_xfree(pg, b);
#if MM_STATS
  if (me != &mm_heap_empty) me->xcache[c].nxlist++;
  else atomic_fetch_add_explicit(&mm_heapless_frees[c], 1, memory_order_relaxed);
#else
  (void)me; (void)c;
#endif
}

/* b (valid, key written) of pg, its owner's current page of the class:
 * held with the blocks of the same page freed before it, and pushed with
 * them on the page's list by one atomic operation when a block of
 * another page comes, when they are 16 or 32 KiB, or when the cache is
 * flushed (one push per block cost a cache-line transfer of the owner's
 * page each). */
#define MM_HOME_BLOCKS 16
#define MM_HOME_BYTES  32768
static mm_noinline void free_home(mm_page_t *pg, mm_block_t *b, mm_xcache_t *x) {
  mm_block_t *h = x->home;
  if (h && mm_page_of(mm_segment_of(h), h) != pg) {
    mm_page_flush_home(x);
    h = NULL;
  }
  b->next = mm_encode(b, h ? h : mm_list_end(b));
  if (!h) x->home_last = b;
  x->home = b;
  mm_count(x->nxlist);   /* (on its page's list, in a moment) */
  x->nhome++;
  if (x->nhome >= MM_HOME_BLOCKS || (size_t)x->nhome * pg->block_size >= MM_HOME_BYTES)
    mm_page_flush_home(x);
}

/* b (valid, key written) of another heap's page, or of an abandoned one,
 * freed by the thread of me (maybe mm_heap_empty): into me's cross-thread
 * cache of its class, where me's next malloc of the class takes it while
 * it is still hot in this core's cache (the owner sees it as used
 * meanwhile); onto the page's list when the cache is full; back to its
 * page, a few at a time (free_home), when the page is its owner's current
 * page of the class (internal.h).  A leaf but for tail calls. */
mm_inline void free_cross_thread(mm_page_t *pg, mm_block_t *b, mm_heap_t *me, uintptr_t owner) {
  unsigned c = pg->class_idx;
  mm_xcache_t *x = &me->xcache[c];
  mm_heap_t *oh = mm_owner_heap(owner);
  if (mm_unlikely(x->count >= x->cap)) {
    free_to_xlist(pg, b, me);
    return;
  }
  if (oh && __atomic_load_n(&oh->current[c], __ATOMIC_RELAXED) == pg) {
    free_home(pg, b, x);
    return;
  }
  b->next = mm_encode(b, x->head);
  x->head = b;
  x->count++;
  mm_count(x->npushed);
  /* send the next mallocs of the class to the slow path, which takes the
   * cache's blocks first (and undoes this when it finds the cache empty) */
  if (mm_unlikely(!x->diverted)) {
    x->diverted = 1;
    mm_page_set_fast(me, c, &mm_page_empty);
  }
}

/* A valid small or medium block that is not the fast path's; owner: its
 * page's. */
mm_inline void free_block(mm_page_t *pg, mm_block_t *b, mm_heap_t *me, uintptr_t owner) {
  if (mm_unlikely(mm_owner_heap(owner) == me)) {
    free_local_full(pg, b, me, owner);
    return;
  }
  b->key = mm_free_key(b);
  free_cross_thread(pg, b, me, owner);
}

/* b (valid) is a profiling sample (prof.c): its record goes, and it goes
 * back on its page of the profiler's heap, under the profiler's lock.
 * It is counted as a free by the profiler's heap: a cross-thread one,
 * collected at once, when the thread that allocated it is not this one
 * (the report counts it as the same free as it would without the
 * profiler). */
static mm_noinline void free_sampled(mm_page_t *pg, mm_block_t *b) {
  mm_heap_t *ph = mm_prof_lock();
  bool remote = mm_prof_forget(b) != mm_heap_tls;
  unsigned c = pg->class_idx;
  b->key = mm_free_key(b);
  if (remote) {
    mm_count(ph->xcache[c].nxlist);
    mm_count(ph->xcache[c].ncollected);
  } else {
    mm_count(ph->nfree[c]);
  }
  uintptr_t owner = atomic_load_explicit(&pg->owner, memory_order_relaxed);
  if (owner & MM_OWNER_FULL) mm_page_free_full(ph, pg, b, owner);
  else mm_page_push_local(ph, pg, b);
  if (mm_heap_upkeep_due(ph)) mm_heap_upkeep(ph);   /* (no thread's slow path does its purges) */
  mm_prof_unlock();
}

static mm_noinline void free_sampled_huge(mm_segment_t *s, mm_block_t *b) {
  if (mm_prof_lock()) {
    mm_prof_forget(b);
    s->prof_sampled = 0;
    mm_prof_unlock();
  }
  mm_huge_free(s);
}

/* The page of a block is the profiler's heap's. */
mm_inline bool is_sample(uintptr_t owner) { return mm_owner_heap(owner) == mm_load_relaxed(&mm_prof_heap); }

/* Every free that the fast path does not finish, with the full checks:
 * the checked mode, huge blocks, and free_unmapped's. */
static mm_noinline void free_checked(mm_segment_t *s, mm_page_t *pg, mm_block_t *b) {
  const char *err = mm_check_block(s, pg, b);
  if (err) mm_corrupt("free", b, err);
  mm_vg_free(b);
  if (pg->checked) mm_check_on_free(pg, b, "free");
  if (s->kind == MM_HUGE) {   /* the huge case */
    if (mm_unlikely(s->prof_sampled)) free_sampled_huge(s, b);
    else mm_huge_free(s);
    return;
  }
  uintptr_t owner = atomic_load_explicit(&pg->owner, memory_order_relaxed);
  if (mm_unlikely(is_sample(owner))) free_sampled(pg, b);
  else free_block(pg, b, mm_heap_tls, owner);
}

/* The page is not the calling thread's own: another thread's page, an
 * abandoned one, a full page of ours, a huge block, or anything at all in
 * the checked mode (valgrind, MYMALLOC_CHECK=full). */
static mm_noinline void free_not_local(mm_segment_t *s, mm_page_t *pg, mm_block_t *b, mm_heap_t *h) {
  /* read again (the fast path compares in memory): only this thread
   * makes a page ours, so the value still is not our heap */
  uintptr_t owner = atomic_load_explicit(&pg->owner, memory_order_relaxed);
  if (mm_unlikely(mm_checked_mode() || pg->class_idx == MM_HUGE_CLASS)) {
    free_checked(s, pg, b);
    return;
  }
  if (mm_unlikely(!mm_free_check(pg, b, false))) {
    mm_free_invalid(b);
    return;
  }
  if (mm_unlikely(is_sample(owner))) {
    free_sampled(pg, b);
    return;
  }
  free_block(pg, b, h, owner);
}

/* free() of NULL, of a huge block aligned to 4 MiB (found through p - 1),
 * or of a pointer that is not ours. */
static mm_noinline void free_unmapped(void *p) {
  if (p == NULL) return;
  mm_segment_t *s;
  mm_page_t *pg;
  if (mm_find_page(p, &s, &pg)) {
    free_checked(s, pg, (mm_block_t *)p);
    return;
  }
  mm_free_invalid(p);
}

MM_EXPORT_AS(mm_free, mymalloc_free)
MM_OVERRIDE_AS(mm_free, free)
MM_OVERRIDE_AS(mm_free, cfree)
MM_OVERRIDE_AS(mm_free, __libc_free)
