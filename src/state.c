/*
 * state.c -- process-wide state: the secrets, the mode word, the empty
 * heap and page every thread starts with, and its TLS pointer.
 */
#include "state.h"
#include "os.h"

#include <string.h>
#include <sys/auxv.h>

/* (the top bit before the first call too: the empty page's list must fail
 * the fast path's link check from the start) */
uintptr_t mm_secret = (uintptr_t)1 << 63;
unsigned mm_mode;

/* Every thread starts with mm_heap_tls == &mm_heap_empty, whose pages
 * have no free block: its first malloc takes the slow path, which makes
 * the thread's heap (alloc.c, init.c). */
#if MM_HARDEN
/* the empty page's "list": one word that, as a link, decodes to above
 * 4 MiB, so that the fast path's link check sends malloc to the slow path */
static const mm_block_t mm_no_block;
mm_page_t mm_page_empty = { .free = (mm_block_t *)&mm_no_block };
#else
mm_page_t mm_page_empty;
#endif
mm_heap_t mm_heap_empty = {
  .fast = { [0 ... MM_NSLOTS - 1] = { .page = &mm_page_empty } },
  .current = { [0 ... MM_NCLASSES - 1] = &mm_page_empty },
};
__thread mm_heap_t *mm_heap_tls __attribute__((tls_model("initial-exec"))) = &mm_heap_empty;

static uint64_t mix64(uint64_t x) {
  x ^= x >> 33; x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

/* The secrets: the kernel's 16 random bytes (AT_RANDOM), mixed with
 * addresses (ASLR) and the time; no system call that may fail. */
void mm_state_init(void) {
  uint64_t r0 = 0, r1 = 0;
  const uint64_t *rnd = (const uint64_t *)getauxval(AT_RANDOM);
  if (rnd) { memcpy(&r0, rnd, 8); memcpy(&r1, rnd + 1, 8); }
  r0 ^= mix64(r1);
  uint64_t t = mm_clock_ns();
  /* the top bit set: the empty page's mm_no_block (a word 0) decodes, as
   * a link, to above 4 MiB (internal.h, "Hardening") */
  mm_secret = (uintptr_t)mix64(r0 ^ (uintptr_t)&mm_secret ^ t) | 1 | (uintptr_t)1 << 63;
#ifdef HAVE_VALGRIND_MEMCHECK_H
  if (RUNNING_ON_VALGRIND) mm_state_set_mode(MM_MODE_VALGRIND);
#endif
}

void mm_state_set_mode(unsigned mode) {
  mode &= MM_MODE_VALGRIND | MM_MODE_FULL;
  if (mode) mode |= MM_MODE_CHECKED;
  mm_mode = mode;
}
