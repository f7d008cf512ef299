/*
 * init.c -- process start, thread start and end, fork.
 *
 * Every thread starts with mm_heap_tls == &mm_heap_empty, whose direct
 * pages have no free block: its first malloc takes the slow path, which
 * calls mm_heap_init_thread().  The first of those also runs
 * mm_process_init(), which must work before main, from the dynamic loader
 * and from other libraries' constructors, so it calls nothing that may
 * allocate before the allocator can serve a nested call.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

uintptr_t mm_secret;
uintptr_t mm_owner_slow;
bool mm_valgrind;
bool mm_check_full;
bool mm_slow_mode;
uintptr_t mm_free_key;
size_t mm_os_page = 4096;
_Atomic(int) mm_process_ready;      /* 0 no, 1 initialising, 2 ready */

mm_page_t mm_page_empty;
mm_heap_t mm_heap_empty = {
  .fast = { [0 ... MM_NSLOTS - 1] = &mm_page_empty },
  .direct = { [0 ... MM_NCLASSES - 1] = &mm_page_empty },
};
__thread mm_heap_t *mm_heap_tls __attribute__((tls_model("initial-exec"))) = &mm_heap_empty;
static __thread int mm_init_depth __attribute__((tls_model("initial-exec")));

static pthread_key_t mm_thread_key;

pthread_mutex_t mm_heaps_lock = PTHREAD_MUTEX_INITIALIZER;
mm_heap_t *mm_heaps;                 /* live heaps */
static mm_heap_t *mm_heap_pool;      /* structures of dead heaps, for reuse */

/* A coarse clock (a few ms) is all the purge delays need, and cheaper. */
uint64_t mm_clock_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- process ------------------------------------------------------------ */
static uint64_t mix64(uint64_t x) {
  x ^= x >> 33; x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

static void thread_done(void *arg);
static void fork_prepare(void);
static void fork_parent(void);
static void fork_child(void);

void mm_process_init(void) {
  if (mm_likely(atomic_load_explicit(&mm_process_ready, memory_order_acquire) == 2)) return;
  int expected = 0;
  if (atomic_compare_exchange_strong(&mm_process_ready, &expected, 1)) {
    mm_options_init();
#ifdef HAVE_VALGRIND_MEMCHECK_H
    if (RUNNING_ON_VALGRIND) { mm_valgrind = true; mm_slow_mode = true; mm_owner_slow = MM_OWNER_SLOW; }
#endif
    long ps = sysconf(_SC_PAGESIZE);
    if (ps > 0) mm_os_page = (size_t)ps;
    /* secrets: the kernel's 16 random bytes (AT_RANDOM), mixed with
     * addresses (ASLR) and the time; no system call that may fail */
    uint64_t r0 = 0, r1 = 0;
    const uint64_t *rnd = (const uint64_t *)getauxval(AT_RANDOM);
    if (rnd) { memcpy(&r0, rnd, 8); memcpy(&r1, rnd + 1, 8); }
    uint64_t t = mm_clock_ns();
    mm_secret = (uintptr_t)mix64(r0 ^ (uintptr_t)&mm_secret ^ t) | 1;
    mm_free_key = (uintptr_t)mix64(r1 ^ (uintptr_t)&expected ^ (t << 17)) | 2;
    mm_init_depth++;   /* nested mallocs from here on are served */
    pthread_key_create(&mm_thread_key, thread_done);
    pthread_atfork(fork_prepare, fork_parent, fork_child);
    mm_init_depth--;
    atomic_store_explicit(&mm_process_ready, 2, memory_order_release);
    /* a heap made by a nested call during init gets its exit hook now */
    if (mm_heap_tls != &mm_heap_empty) pthread_setspecific(mm_thread_key, mm_heap_tls);
    return;
  }
  if (mm_init_depth > 0) return;   /* nested call from our own init */
  while (atomic_load_explicit(&mm_process_ready, memory_order_acquire) != 2) sched_yield();
}

#ifdef HAVE_VALGRIND_MEMCHECK_H
/* Does the valgrind tool we run under track heap blocks (memcheck,
 * helgrind, drd)?  Its preload library says so. */
static bool valgrind_tracks_heap(void) {
  extern char **environ;
  for (char **e = environ; e && *e; e++) {
    if (strncmp(*e, "LD_PRELOAD=", 11) != 0) continue;
    return strstr(*e, "vgpreload_memcheck") || strstr(*e, "vgpreload_helgrind") ||
           strstr(*e, "vgpreload_drd");
  }
  return true;   /* cannot tell: be safe */
}
#endif

/* The environment is read by the constructor: earlier calls use defaults. */
__attribute__((constructor)) static void mm_constructor(void) {
  mm_process_init();
  mm_options_read_env();
#ifdef HAVE_VALGRIND_MEMCHECK_H
  /* only the tools that follow heap blocks need the slow paths; under
   * callgrind or cachegrind we keep the real fast paths (their counts) */
  if (mm_valgrind && !valgrind_tracks_heap()) {
    mm_valgrind = false;
    mm_slow_mode = false;
    mm_owner_slow = 0;
  }
#endif
  if (mm_option(MM_OPT_CHECK)) {
    /* from here on every malloc and free takes the checking slow path;
     * pages made before (by earlier calls) keep no canaries */
    mm_check_full = true;
    mm_slow_mode = true;
    mm_owner_slow = MM_OWNER_SLOW;
    mm_heap_t *h = mm_heap_tls;
    if (h != &mm_heap_empty)
      for (unsigned c = 0; c < MM_NCLASSES; c++) mm_heap_set_direct(h, c, &mm_page_empty);
  }
  if (mm_option(MM_OPT_STATS)) {
    int fd = fcntl(2, F_DUPFD_CLOEXEC, 3);
    if (fd >= 0) mm_stats_fd = fd;
  }
  if (mm_heap_tls == &mm_heap_empty) mm_heap_init_thread();
}

__attribute__((destructor)) static void mm_destructor(void) {
  if (mm_option(MM_OPT_STATS)) mm_stats_print_at_exit();
}

/* ---- heaps ------------------------------------------------------------------ */
static uint8_t *mm_heap_chunk, *mm_heap_chunk_end;   /* untouched structures */

/* A heap structure: a dead thread's, or the next of a chunk from the
 * kernel (handed out in order: the rest of the chunk stays untouched,
 * and costs no resident memory).  mm_heaps_lock held. */
static mm_heap_t *heap_struct_alloc(void) {
  mm_heap_t *h = mm_heap_pool;
  if (h) { mm_heap_pool = h->next_heap; return h; }
  if ((size_t)(mm_heap_chunk_end - mm_heap_chunk) < sizeof(mm_heap_t)) {   /* (both NULL at first) */
    size_t sz = mm_align_up(sizeof(mm_heap_t) * 16, mm_os_page);
    uint8_t *chunk = mm_os_mmap(sz);
    if (!chunk) return NULL;
    mm_heap_chunk = chunk;
    mm_heap_chunk_end = chunk + sz;
  }
  h = (mm_heap_t *)mm_heap_chunk;
  mm_heap_chunk += sizeof(mm_heap_t);
  return h;
}

mm_heap_t *mm_heap_init_thread(void) {
  mm_process_init();
  if (mm_heap_tls != &mm_heap_empty) return mm_heap_tls;   /* nested */
  pthread_mutex_lock(&mm_heaps_lock);
  mm_heap_t *h = heap_struct_alloc();
  if (!h) { pthread_mutex_unlock(&mm_heaps_lock); return NULL; }
  memset(h, 0, sizeof(*h));
  for (unsigned c = 0; c < MM_NCLASSES; c++) {
    mm_heap_set_direct(h, c, &mm_page_empty);
    h->foreign[c].cap = mm_foreign_cap[c];
  }
  h->live = 1;
  h->next_heap = mm_heaps;
  if (mm_heaps) mm_heaps->prev_heap = h;
  mm_heaps = h;
  pthread_mutex_unlock(&mm_heaps_lock);
  atomic_fetch_add(&mm_os_stats.heaps_live, 1);
  mm_heap_tls = h;
  /* may allocate (keys beyond the first 32): we are already set up */
  if (atomic_load(&mm_process_ready) == 2) pthread_setspecific(mm_thread_key, h);
  return h;
}

/* Thread exit (pthread key destructor).  Other libraries' destructors may
 * still allocate after this: they get a fresh heap (and this runs again). */
static void thread_done(void *arg) {
  mm_heap_t *h = arg;
  if (!h || h != mm_heap_tls) return;
  for (unsigned c = 0; c < MM_NCLASSES; c++) h->foreign[c].cap = 0;   /* takes no more */
  mm_foreign_flush(h);
  mm_heap_release_empty(h, true);
  mm_heap_abandon(h);
  mm_heap_tls = &mm_heap_empty;
  pthread_mutex_lock(&mm_heaps_lock);
  mm_stats_fold_heap(h);
  if (h->prev_heap) h->prev_heap->next_heap = h->next_heap; else mm_heaps = h->next_heap;
  if (h->next_heap) h->next_heap->prev_heap = h->prev_heap;
  h->live = 0;
  h->next_heap = mm_heap_pool;
  mm_heap_pool = h;
  pthread_mutex_unlock(&mm_heaps_lock);
  atomic_fetch_sub(&mm_os_stats.heaps_live, 1);
}

/* ---- fork: every global lock is taken around fork() ------------------------
 * Lock order, everywhere: stats -> heaps -> segment -> huge. */
static void fork_prepare(void) {
  mm_stats_fork_prepare();
  pthread_mutex_lock(&mm_heaps_lock);
  mm_segment_fork_prepare();
  mm_huge_fork_prepare();
}
static void fork_parent(void) {
  mm_huge_fork_parent();
  mm_segment_fork_parent();
  pthread_mutex_unlock(&mm_heaps_lock);
  mm_stats_fork_parent();
}
static void fork_child(void) {
  mm_huge_fork_child();
  mm_segment_fork_child();
  pthread_mutex_init(&mm_heaps_lock, NULL);
  mm_stats_fork_child();
}
