/* test_sbrk -- the program break.
 *
 *  1. Small blocks come from sbrk: the break moves forward while we
 *     allocate, mallinfo2().arena counts it, and blocks lie below the break.
 *  2. Another user of sbrk is tolerated: between allocations the program
 *     moves the break itself (odd sizes, so the break is left unaligned),
 *     fills its own sbrk'd areas, allocates more segments' worth, frees,
 *     trims; its areas and all blocks stay intact and never overlap.
 *  3. The break cannot grow: a page mapped (MAP_FIXED_NOREPLACE) right
 *     above the break makes sbrk fail; many MiB of small and medium blocks
 *     are still served (from mmap), with intact contents, and the break and
 *     mallinfo2().arena do not grow.
 *  4. MYMALLOC_SBRK=0 (the program re-executes itself with it set): the
 *     break never moves.
 */
#include "config.h"
#include "harness.h"

#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

struct blk { unsigned char *p; size_t n; uint64_t seed; };

#define MAXB 40000
static struct blk blks[MAXB];
static int nblks;

static size_t page;

static size_t pick_size(int i) {
  static const size_t sz[] = { 24, 100, 500, 1000, 3000, 7000, 12000, 40000 };
  return sz[i % 8];
}

/* allocate about `bytes` in small/medium blocks, filled */
static int alloc_bytes(size_t bytes, uint64_t seed) {
  size_t got = 0;
  int bad = 0;
  while (got < bytes && nblks < MAXB) {
    struct blk *b = &blks[nblks];
    b->n = pick_size(nblks);
    b->p = malloc(b->n);
    if (!b->p) { bad++; break; }
    if (!aligned16(b->p)) bad++;
    b->seed = seed + (uint64_t)nblks;
    th_fillw(b->p, b->n, b->seed);
    got += b->n;
    nblks++;
  }
  return bad;
}

static int verify_all(void) {
  int bad = 0;
  for (int i = 0; i < nblks; i++)
    if (blks[i].p && !th_verifyw(blks[i].p, blks[i].n, blks[i].seed)) bad++;
  return bad;
}

static void free_all(void) {
  for (int i = 0; i < nblks; i++) free(blks[i].p);
  nblks = 0;
}

/* ---- 1. blocks come from sbrk --------------------------------------------- */
static void test_moves(void) {
  uintptr_t b0 = (uintptr_t)sbrk(0);
  size_t arena0 = mallinfo2().arena;
  /* 24 MiB of small blocks: more than any segment left over from start-up */
  CHECK(alloc_bytes(24u << 20, 1) == 0);
  uintptr_t b1 = (uintptr_t)sbrk(0);
  CHECKF(b1 > b0, "break did not move: %#lx -> %#lx", (unsigned long)b0, (unsigned long)b1);
  CHECKF(b1 - b0 >= (16u << 20), "break moved only %lu bytes for 24 MiB",
         (unsigned long)(b1 - b0));
  size_t arena1 = mallinfo2().arena;
  CHECKF(arena1 >= arena0 + (16u << 20), "mallinfo2().arena %zu -> %zu", arena0, arena1);
  /* the blocks allocated after the break started moving lie below it */
  int below = 0, above = 0;
  for (int i = 0; i < nblks; i++) {
    uintptr_t p = (uintptr_t)blks[i].p;
    if (p >= b0 && p + blks[i].n <= b1) below++;
    else above++;
  }
  /* not all: free pages of segments made at start-up (by the runtime of a
   * sanitizer build, say) take their share first */
  CHECKF(below > nblks / 4, "%d of %d blocks in the sbrk area [%#lx, %#lx)", below, nblks,
         (unsigned long)b0, (unsigned long)b1);
  CHECK(verify_all() == 0);
  free_all();
  (void)above;
}

/* ---- 2. another sbrk user ---------------------------------------------------- */
struct area { unsigned char *p; size_t n; uint64_t seed; };

static void test_foreign_sbrk(void) {
  struct area ours[8];
  int nours = 0;
  static const size_t asz[] = { 12345, 1000003, 77, 3 << 20, 4097, 555555, 1, 2 << 20 };
  for (int round = 0; round < 8; round++) {
    /* our own piece of the break, odd sized so the break is unaligned */
    void *a = sbrk((intptr_t)asz[round]);
    CHECK(a != (void *)-1);
    if (a == (void *)-1) break;
    ours[nours].p = a;
    ours[nours].n = asz[round];
    ours[nours].seed = 1000 + (uint64_t)round;
    th_fillw(a, asz[round], ours[nours].seed);
    nours++;
    /* more than a segment's worth: the allocator must take new ones */
    CHECK(alloc_bytes(6u << 20, (uint64_t)round << 32) == 0);
    /* free every third block: pages empty, segments may go to the pool */
    for (int i = round % 3; i < nblks; i += 3) {
      if (blks[i].p && !th_verifyw(blks[i].p, blks[i].n, blks[i].seed)) CHECK(!"block damaged before free");
      free(blks[i].p);
      blks[i].p = NULL;
    }
    if (round == 5) {
      /* give everything back, trim: the allocator must not shrink the
       * break under our areas */
      for (int i = 0; i < nblks; i++) free(blks[i].p);
      nblks = 0;
      malloc_trim(0);
    }
  }
  /* no block overlaps one of our areas */
  int overlaps = 0;
  for (int i = 0; i < nblks; i++) {
    if (!blks[i].p) continue;
    uintptr_t p = (uintptr_t)blks[i].p, e = p + malloc_usable_size(blks[i].p);
    for (int k = 0; k < nours; k++) {
      uintptr_t a = (uintptr_t)ours[k].p, ae = a + ours[k].n;
      if (p < ae && a < e) overlaps++;
    }
  }
  CHECKF(overlaps == 0, "%d blocks overlap the program's own sbrk areas", overlaps);
  CHECK(verify_all() == 0);
  for (int k = 0; k < nours; k++)
    CHECKF(th_verifyw(ours[k].p, ours[k].n, ours[k].seed), "our sbrk area %d (%zu bytes at %p) damaged",
           k, ours[k].n, (void *)ours[k].p);
  free_all();
  malloc_trim(0);
  for (int k = 0; k < nours; k++)
    CHECKF(th_verifyw(ours[k].p, ours[k].n, ours[k].seed), "our sbrk area %d damaged after trim", k);
  /* give our last area back if it is still at the top (it may not be) */
  uintptr_t top = (uintptr_t)sbrk(0);
  if (nours && (uintptr_t)ours[nours - 1].p + ours[nours - 1].n == top)
    CHECK(sbrk(-(intptr_t)ours[nours - 1].n) != (void *)-1);
  /* and the allocator still works */
  CHECK(alloc_bytes(8u << 20, 99) == 0);
  CHECK(verify_all() == 0);
  free_all();
}

/* ---- 3. the break cannot grow ---------------------------------------------------- */
static void test_blocked_break(void) {
  /* first fill up what the allocator may hold in reserve: 16 MiB */
  CHECK(alloc_bytes(16u << 20, 7) == 0);
  uintptr_t brk0 = (uintptr_t)sbrk(0);
  uintptr_t wall = (brk0 + page - 1) & ~(uintptr_t)(page - 1);
  void *w = mmap((void *)wall, page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if (w == MAP_FAILED || w != (void *)wall) {
    if (w != MAP_FAILED) munmap(w, page);
    printf("test_sbrk: cannot map a page above the break (%s), part 3 skipped\n", strerror(errno));
    free_all();
    return;
  }
  /* sbrk now fails */
  errno = 0;
  CHECK(sbrk((intptr_t)(2 * page)) == (void *)-1);
  CHECK(errno == ENOMEM);
  CHECK((uintptr_t)sbrk(0) == brk0);
  size_t arena0 = mallinfo2().arena;

  /* 64 MiB more (small and medium blocks: segments, not huge mappings) */
  int first_new = nblks;
  CHECK(alloc_bytes(64u << 20, 8) == 0);
  CHECKF(nblks > first_new + 1000, "%d blocks allocated with the break blocked", nblks - first_new);
  CHECK(verify_all() == 0);
  /* the break did not grow (it may shrink: a pooled segment at its top
   * can be given back) */
  CHECKF((uintptr_t)sbrk(0) <= brk0, "break %#lx -> %#lx", (unsigned long)brk0, (unsigned long)(uintptr_t)sbrk(0));
  CHECKF(mallinfo2().arena <= arena0, "arena %zu -> %zu", arena0, mallinfo2().arena);
  /* the new blocks are in mmap'ed segments, not at or above the wall */
  int in_wall = 0;
  for (int i = first_new; i < nblks; i++) {
    uintptr_t p = (uintptr_t)blks[i].p;
    if (p >= wall && p < wall + page) in_wall++;
  }
  CHECK(in_wall == 0);
  /* churn: free half, allocate again, free all */
  for (int i = first_new; i < nblks; i += 2) { free(blks[i].p); blks[i].p = NULL; }
  CHECK(verify_all() == 0);
  for (int i = first_new; i < nblks; i += 2) {
    blks[i].p = malloc(blks[i].n);
    CHECK(blks[i].p != NULL);
    if (blks[i].p) th_fillw(blks[i].p, blks[i].n, blks[i].seed);
  }
  CHECK(verify_all() == 0);
  free_all();
  malloc_trim(0);
  /* the allocator did not write into the wall (it is PROT_NONE: we would
   * have crashed) and can still allocate after it is gone */
  munmap(w, page);
  CHECK(alloc_bytes(8u << 20, 9) == 0);
  CHECK(verify_all() == 0);
  free_all();
}

/* ---- 4. MYMALLOC_SBRK=0 -------------------------------------------------------------- */
static int child_nosbrk(void) {
  uintptr_t b0 = (uintptr_t)sbrk(0);
  size_t arena0 = mallinfo2().arena;
  CHECK(alloc_bytes(32u << 20, 11) == 0);
  CHECK(verify_all() == 0);
  void *big = malloc(5u << 20);
  CHECK(big != NULL);
  free(big);
  free_all();
  CHECK(alloc_bytes(8u << 20, 12) == 0);
  CHECK(verify_all() == 0);
  free_all();
  uintptr_t b1 = (uintptr_t)sbrk(0);
  CHECKF(b1 == b0, "with MYMALLOC_SBRK=0 the break moved from %#lx to %#lx", (unsigned long)b0,
         (unsigned long)b1);
  CHECKF(mallinfo2().arena == arena0, "with MYMALLOC_SBRK=0 arena %zu -> %zu", arena0, mallinfo2().arena);
  return test_done("test_sbrk (MYMALLOC_SBRK=0)");
}

static void test_nosbrk(char *self) {
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    setenv("MYMALLOC_SBRK", "0", 1);
    char *args[] = { self, (char *)"--nosbrk", NULL };
    th_execv("/proc/self/exe", args);
    _exit(127);
  }
  CHECK(pid > 0);
  int st = 0;
  CHECK(waitpid(pid, &st, 0) == pid);
  CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0, "MYMALLOC_SBRK=0 child: status %#x", st);
}

int main(int argc, char **argv) {
  th_skip_under_valgrind("test_sbrk", "valgrind emulates brk with a small fixed segment");
  page = (size_t)sysconf(_SC_PAGESIZE);
  if (argc > 1 && !strcmp(argv[1], "--nosbrk")) return child_nosbrk();
  setvbuf(stdout, NULL, _IONBF, 0);
  test_moves();
  if (th_under_qemu())   /* (the other parts run) */
    printf("test_sbrk: another sbrk user is not tested under qemu-user, whose emulated break cannot grow far\n");
  else
    test_foreign_sbrk();
  test_nosbrk(argv[0]);
  test_blocked_break();   /* last: it leaves the break blocked for a while */
  return test_done("test_sbrk");
}
