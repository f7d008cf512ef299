/*
 * state.h -- process-wide state (state.c): the secrets of the hardening,
 * the mode word, the empty heap every thread starts with, the TLS pointer.
 */
#ifndef MM_STATE_H
#define MM_STATE_H

#include "internal.h"

#pragma GCC visibility push(hidden)

extern uintptr_t mm_secret;               /* link encoding */
/* The second word of a free block: secret ^ its address (internal.h,
 * "Hardening"); free() computes it anyway to encode the link. */
mm_inline uintptr_t mm_free_key(const mm_block_t *b) { return mm_secret ^ (uintptr_t)b; }
extern mm_heap_t mm_heap_empty;           /* every thread starts here */
extern mm_page_t mm_page_empty;           /* current[] of mm_heap_empty */
extern __thread mm_heap_t *mm_heap_tls __attribute__((tls_model("initial-exec")));

/* The mode word: how every malloc and free must behave.  Set at start
 * (valgrind is detected, MYMALLOC_CHECK read), read by the slow paths. */
#define MM_MODE_VALGRIND 1u               /* memcheck follows our blocks */
#define MM_MODE_CHECKED  MM_OWNER_CHECKED /* every malloc and free takes the
                                             checked path (valgrind or
                                             MYMALLOC_CHECK=full) */
#define MM_MODE_FULL     4u               /* MYMALLOC_CHECK=full: fills and
                                             canaries */
extern unsigned mm_mode;
mm_inline bool mm_checked_mode(void) { return mm_unlikely(mm_mode & MM_MODE_CHECKED); }
mm_inline bool mm_on_valgrind(void) { return mm_unlikely(mm_mode & MM_MODE_VALGRIND); }
mm_inline bool mm_check_full(void) { return mm_unlikely(mm_mode & MM_MODE_FULL); }

void mm_state_init(void);                 /* the secrets; valgrind */
void mm_state_set_mode(unsigned mode);    /* mm_mode, CHECKED derived */

/* page->owner of a page of h (I3) */
mm_inline uintptr_t mm_owner_tag(const mm_heap_t *h, bool full) {
  return (uintptr_t)h | (mm_mode & MM_OWNER_CHECKED) | (full ? MM_OWNER_FULL : 0u);
}
mm_inline mm_heap_t *mm_owner_heap(uintptr_t owner) {
  return (mm_heap_t *)(owner & ~(uintptr_t)(MM_OWNER_FULL | MM_OWNER_CHECKED));
}

/* Free-list links are stored as next ^ secret ^ (address of the block):
 * a forged or overwritten link decodes to garbage that mm_decode's caller
 * catches (it must stay inside the block's segment). */
#if MM_HARDEN
mm_inline uintptr_t mm_encode(const mm_block_t *b, const mm_block_t *next) {
  return (uintptr_t)next ^ mm_secret ^ (uintptr_t)b;
}
mm_inline mm_block_t *mm_decode(const mm_block_t *b) {
  return (mm_block_t *)(b->next ^ mm_secret ^ (uintptr_t)b);
}
#else   /* --disable-hardening: only to measure what hardening costs */
mm_inline uintptr_t mm_encode(const mm_block_t *b, const mm_block_t *next) {
  (void)b;
  return (uintptr_t)next;
}
mm_inline mm_block_t *mm_decode(const mm_block_t *b) { return (mm_block_t *)b->next; }
#endif

/* Valgrind client requests, only in slow paths: on valgrind, mallocs skip
 * the current pages and frees see MM_OWNER_CHECKED, so both reach the code
 * that tells memcheck about blocks (whole usable size). */
#ifdef HAVE_VALGRIND_MEMCHECK_H
#include <valgrind/memcheck.h>
#define mm_vg_alloc(p, n, zero) \
  do { if (mm_on_valgrind()) { VALGRIND_MALLOCLIKE_BLOCK((p), (n), 0, (zero)); } } while (0)
#define mm_vg_free(p) \
  do { if (mm_on_valgrind()) { VALGRIND_FREELIKE_BLOCK((p), 0); \
                               VALGRIND_MAKE_MEM_DEFINED((p), sizeof(mm_block_t)); } } while (0)
#define mm_vg_defined(p, n) \
  do { if (mm_on_valgrind()) { VALGRIND_MAKE_MEM_DEFINED((p), (n)); } } while (0)
#define mm_vg_undefined(p, n) \
  do { if (mm_on_valgrind()) { VALGRIND_MAKE_MEM_UNDEFINED((p), (n)); } } while (0)
#else
#define mm_vg_alloc(p, n, zero) ((void)(p), (void)(n), (void)(zero))
#define mm_vg_free(p) ((void)(p))
#define mm_vg_defined(p, n) ((void)(p), (void)(n))
#define mm_vg_undefined(p, n) ((void)(p), (void)(n))
#endif

#pragma GCC visibility pop

#endif
