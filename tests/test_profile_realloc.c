/* test_profile_realloc -- a sample resized by realloc: its record follows
 * the block.
 *
 * Run again as a child at MYMALLOC_PROFILE_RATE=1 (every allocation a
 * sample).  site_grow allocates 2 MiB and grows it by realloc to 6, 12
 * and 24 MiB (huge blocks: resized in place or moved by mremap, not
 * copied), then shrinks it to 3 MiB; site_small allocates 100 bytes and
 * grows it to 300 KiB (copied: each step a new allocation, the old one
 * freed).  Checked in the dumps: site_grow has one block in use of the
 * final usable size and one allocation (the block moved, it was not
 * allocated again) of the bytes it grew to (24 MiB: growth counts as
 * bytes allocated, so that in use stays below allocated); after the free, nothing in use; site_small has one
 * block in use, of the usable size of the last copy; the header stays
 * the sum of the lines.
 */
#include "config.h"

#include <mymalloc/malloc.h>

#include "harness.h"
#include "profile.h"

#define NAME "test_profile_realloc"
#define MIB ((size_t)1 << 20)

static void *grown, *small;

void site_grow(void);
void site_small(void);

TP_SITE void site_grow(void) {
  char *p = malloc(2 * MIB);
  memset(p, 7, 2 * MIB);
  size_t steps[] = { 6 * MIB, 12 * MIB, 24 * MIB, 3 * MIB };
  for (unsigned i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
    char *q = realloc(p, steps[i]);
    CHECKF(q != NULL, "realloc to %zu bytes failed", steps[i]);
    if (!q) break;
    CHECKF(q[0] == 7 && q[2 * MIB - 1] == 7, "realloc to %zu bytes lost the contents", steps[i]);
    p = q;
  }
  grown = p;
  TP_BARRIER();
}

TP_SITE void site_small(void) {
  char *p = malloc(100);
  for (size_t n = 1000; n <= 300 * 1024; n *= 3) {
    char *q = realloc(p, n);
    CHECK(q != NULL);
    if (!q) break;
    p = q;
  }
  small = p;
  TP_BARRIER();
}

static struct tp_sum dump_site(const char *path, const char *fn, struct tp_prof *pr) {
  struct tp_sum s = { 0 };
  CHECKF(mymalloc_profile_dump(path) == 0, "dump to %s: %s", path, strerror(errno));
  if (tp_parse(path, pr) != 0) {
    CHECKF(0, "%s does not parse", path);
    return s;
  }
  tp_check_file(pr, path);
  return tp_site(pr, fn, NULL);
}

static int stage(void) {
  const char *prefix = getenv("MYMALLOC_PROFILE");
  char path[1024];
  site_grow();
  site_small();
  struct tp_prof pr;
  snprintf(path, sizeof(path), "%s.grown", prefix);
  struct tp_sum g = dump_site(path, "site_grow", &pr);
  struct tp_sum s = tp_site(&pr, "site_small", NULL);
  tp_free(&pr);
  size_t gu = malloc_usable_size(grown), su = malloc_usable_size(small);
  printf("%s: site_grow %lu/%lu blocks (%lu/%lu bytes) in use/allocated, usable %zu; site_small %lu in use (%lu bytes), "
         "usable %zu\n", NAME, g.ic, g.ac, g.ib, g.ab, gu, s.ic, s.ib, su);
  CHECKF(g.ic == 1 && g.ib == gu, "site_grow: %lu in use of %lu bytes; expected 1 of %zu", g.ic, g.ib, gu);
  if (!th_under_valgrind()) {   /* (under valgrind a huge realloc copies, so that memcheck follows) */
    CHECKF(g.ac == 1, "site_grow: %lu allocations recorded; the block moved, it was allocated once", g.ac);
    CHECKF(g.ab >= 24 * MIB && g.ab < 25 * MIB, "site_grow: %lu bytes allocated; its growth to 24 MiB counts", g.ab);
  }
  CHECKF(s.ic == 1 && s.ib == su, "site_small: %lu in use of %lu bytes; expected 1 of %zu", s.ic, s.ib, su);
  CHECKF(s.ac >= 2, "site_small: %lu allocations recorded; its copies are allocations", s.ac);
  free(grown);
  free(small);
  snprintf(path, sizeof(path), "%s.freed", prefix);
  g = dump_site(path, "site_grow", &pr);
  s = tp_site(&pr, "site_small", NULL);
  tp_free(&pr);
  CHECKF(g.ic == 0 && g.ib == 0 && s.ic == 0, "after free: site_grow %lu in use (%lu bytes), site_small %lu", g.ic,
         g.ib, s.ic);
  return test_done(NAME " (stage)");
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IONBF, 0);
  if (argc == 3 && !strcmp(argv[1], "--stage")) return stage();
  const char *env[] = { "MYMALLOC_PROFILE_RATE=1", "MYMALLOC_PROFILE_SEED=5", NULL };
  return tp_main_one(NAME, argv[0], "realloc", env);
}
