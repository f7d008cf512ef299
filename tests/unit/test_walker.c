/*
 * test_walker -- the heap walker (mm_heap_check, run on every malloc slow
 * path by --enable-debug builds) finds each invariant of internal.h
 * broken: a child breaks one on purpose, runs the walker, and must die by
 * SIGABRT with one line naming that invariant.  The intact heap passes.
 */
#include "internal.h"
#include "check.h"
#include "page.h"
#include "segmap.h"
#include "state.h"
#include "harness.h"

#include <signal.h>
#include <sys/wait.h>

static void *small_block, *medium_block;

/* Run the walker in a child after corrupt(); return what it printed and
 * how it ended. */
static int run(void (*corrupt)(void), char *out, size_t cap) {
  int fd[2];
  if (pipe(fd) != 0) return -1;
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fd[1], 2);
    close(fd[0]);
    if (corrupt) corrupt();
    mm_heap_check(mm_heap_tls);
    _exit(0);
  }
  close(fd[1]);
  size_t n = 0;
  ssize_t r;
  while (n + 1 < cap && (r = read(fd[0], out + n, cap - 1 - n)) > 0) n += (size_t)r;
  out[n] = 0;
  th_drop_qemu_lines(out, n);
  close(fd[0]);
  int st = 0;
  waitpid(pid, &st, 0);
  return st;
}

static mm_page_t *page_of(void *p, mm_segment_t **sp) {
  mm_segment_t *s;
  mm_page_t *pg;
  mm_find_page(p, &s, &pg);
  if (sp) *sp = s;
  return pg;
}

static void break_i1(void) { page_of(small_block, NULL)->used++; }
static void break_i2(void) {   /* a misplaced block on the free list */
  mm_page_t *pg = page_of(small_block, NULL);
  pg->free = (mm_block_t *)(pg->start + 8);
}
static void break_i3(void) {   /* marked full while on the queue */
  mm_page_t *pg = page_of(small_block, NULL);
  atomic_fetch_or(&pg->owner, MM_OWNER_FULL);
}
static void break_i4(void) { mm_segment_t *s; page_of(small_block, &s); s->used_pages++; }
static void break_i5(void) { mm_segment_t *s; page_of(medium_block, &s); mm_segmap_put((uintptr_t)s, 0); }
static void break_i6(void) { page_of(small_block, NULL)->start += 8; }
static void break_i7(void) { mm_page_t *pg = page_of(small_block, NULL); pg->limit += pg->block_size; }
static void break_i8(void) { mm_heap_tls->fast[(64 + 15) >> 4].page = &mm_page_empty; }
static void break_i9(void) { page_of(small_block, NULL)->kept = 1; }   /* kept, not listed */

int main(void) {
  th_skip_under_valgrind("test_walker", "breaks the heap on purpose: memcheck reports it first");
  if (getenv("MYMALLOC_CHECK")) th_skip("test_walker", "the checked mode keeps other fast slots");
  /* a heap with a page of 64-byte blocks (some free) and a medium page */
  void *keep[40];
  for (int i = 0; i < 40; i++) keep[i] = mymalloc_malloc(64);
  for (int i = 0; i < 40; i += 2) mymalloc_free(keep[i]);
  small_block = keep[1];
  medium_block = mymalloc_malloc(20000);
  CHECK(page_of(small_block, NULL)->block_size == 64);

  char out[1024];
  int st = run(NULL, out, sizeof(out));
  CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0 && !out[0], "the intact heap: status %d, %s", st, out);

  struct { const char *inv; void (*corrupt)(void); } cases[] = {
    { "I1", break_i1 }, { "I2", break_i2 }, { "I3", break_i3 }, { "I4", break_i4 },
    { "I5", break_i5 }, { "I6", break_i6 }, { "I7", break_i7 }, { "I8", break_i8 },
    { "I9", break_i9 },
  };
  for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
    st = run(cases[k].corrupt, out, sizeof(out));
    char want[64];
    snprintf(want, sizeof(want), "mymalloc: heap invariant %s broken: ", cases[k].inv);
    CHECKF(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "%s: status %d", cases[k].inv, st);
    CHECKF(strstr(out, want) == out && strchr(out, '\n') == out + strlen(out) - 1,
           "%s: the walker said: %s", cases[k].inv, out);
    printf("%s: %s", cases[k].inv, out);
  }
  for (int i = 1; i < 40; i += 2) mymalloc_free(keep[i]);
  mymalloc_free(medium_block);
  return test_done("test_walker");
}
