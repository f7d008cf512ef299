/*
 * init.c -- process start, thread start and end, fork (init.h).
 *
 * Every thread starts with mm_heap_tls == &mm_heap_empty (state.c), whose
 * pages have no free block: its first malloc takes the slow path, which
 * calls mm_thread_init().  The first of those also runs mm_process_init().
 */
#include "init.h"
#include "check.h"
#include "heap.h"
#include "huge.h"
#include "options.h"
#include "os.h"
#include "page.h"
#include "segment.h"
#include "state.h"

#include <sched.h>
#include <string.h>

static _Atomic(int) mm_process_ready;      /* 0 no, 1 initialising, 2 ready */
static __thread int mm_init_depth __attribute__((tls_model("initial-exec")));
static pthread_key_t mm_thread_key;

static void thread_done(void *arg);
static void fork_prepare(void);
static void fork_parent(void);
static void fork_child(void);

void mm_process_init(void) {
  if (mm_likely(atomic_load_explicit(&mm_process_ready, memory_order_acquire) == 2)) return;
  int expected = 0;
  if (atomic_compare_exchange_strong(&mm_process_ready, &expected, 1)) {
    mm_options_init();
    mm_os_init();
    mm_state_init();
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

mm_heap_t *mm_thread_init(void) {
  mm_process_init();
  if (mm_heap_tls != &mm_heap_empty) return mm_heap_tls;   /* nested */
  mm_heap_t *h = mm_heap_create();
  /* may allocate (keys beyond the first 32): we are already set up */
  if (h && atomic_load(&mm_process_ready) == 2) pthread_setspecific(mm_thread_key, h);
  return h;
}

/* Thread exit (pthread key destructor).  Other libraries' destructors may
 * still allocate after this: they get a fresh heap (and this runs again). */
static void thread_done(void *arg) {
  mm_heap_t *h = arg;
  if (!h || h != mm_heap_tls) return;
  mm_heap_done(h);
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

void mm_process_start(void) {
  static bool started;
  if (started) return;
  started = true;
  mm_process_init();
  mm_options_read_env();
  unsigned mode = mm_mode;
#ifdef HAVE_VALGRIND_MEMCHECK_H
  /* only the tools that follow heap blocks need the checked paths; under
   * callgrind or cachegrind we keep the real fast paths (their counts) */
  if ((mode & MM_MODE_VALGRIND) && !valgrind_tracks_heap()) mode &= ~MM_MODE_VALGRIND;
#endif
  if (mm_option(MM_OPT_CHECK)) mode |= MM_MODE_FULL;
  mm_state_set_mode(mode);
  /* from here on, in the checked mode, every malloc and free takes the
   * checking path; pages made before (by earlier calls) keep no canaries */
  mm_heap_t *h = mm_heap_tls;
  if (mm_checked_mode() && h != &mm_heap_empty)
    for (unsigned c = 0; c < MM_NCLASSES; c++) mm_page_set_current(h, c, &mm_page_empty);
  if (mm_heap_tls == &mm_heap_empty) mm_thread_init();
}

/* The environment is read by the constructor: earlier calls use defaults. */
__attribute__((constructor)) static void mm_constructor(void) { mm_process_start(); }

/* ---- fork: every global lock is taken around fork() ------------------------
 * Lock order, everywhere: stats -> heaps -> segment -> huge (the stats
 * lock is stats.c's, which registers its own handlers after these: its
 * prepare runs first). */
static void fork_prepare(void) {
  mm_heap_fork_prepare();
  mm_segment_fork_prepare();
  mm_huge_fork_prepare();
}
static void fork_parent(void) {
  mm_huge_fork_parent();
  mm_segment_fork_parent();
  mm_heap_fork_parent();
}
static void fork_child(void) {
  mm_huge_fork_child();
  mm_segment_fork_child();
  mm_heap_fork_child();
}
