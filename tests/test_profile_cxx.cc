// test_profile_cxx -- C++: a profile's stacks start in the function that
// said new, not in libstdc++'s operator new.
//
// Run again as a child with MYMALLOC_PROFILE_RATE=1 (every allocation a
// sample: exact counts).  cxx_a keeps 1000 new char[1024], cxx_b 100 new
// Obj (4096 bytes), cxx_c news and deletes 5000 Obj, cxx_d keeps 500
// alignas(64) objects (operator new(size_t, align_val_t), which calls
// aligned_alloc), cxx_e keeps 200 nothrow new char[512].  The dump's
// stacks are attributed by their first address (dladdr; linked with
// -export-dynamic): each site has exactly its blocks in use and
// allocated (recorded at their usable size), and no stack starts inside
// operator new (_Znwm, _Znam and their aligned and nothrow forms).
#include "config.h"

#include <mymalloc/malloc.h>

#include <new>

#include "harness.h"
#include "profile.h"

#define NAME "test_profile_cxx"

struct Obj {
  unsigned char bytes[4096];
};
struct alignas(64) Line {
  unsigned char bytes[64];
};

extern "C" {
void cxx_a();
void cxx_b();
void cxx_c();
void cxx_d();
void cxx_e();
}

static const int A_N = 1000, B_N = 100, C_N = 5000, D_N = 500, E_N = 200;
static char *blocks_a[A_N];
static Obj *blocks_b[B_N];
static Line *blocks_d[D_N];
static char *blocks_e[E_N];

extern "C" TP_SITE void cxx_a() {
  for (int i = 0; i < A_N; i++) {
    blocks_a[i] = new char[1024];
    blocks_a[i][0] = 'a';
  }
  TP_BARRIER();
}
extern "C" TP_SITE void cxx_b() {
  for (int i = 0; i < B_N; i++) {
    blocks_b[i] = new Obj;
    blocks_b[i]->bytes[0] = 'b';
  }
  TP_BARRIER();
}
extern "C" TP_SITE void cxx_c() {
  for (int i = 0; i < C_N; i++) {
    Obj *o = new Obj;
    th_sink = o;   // escapes: the pair is not elided
    o->bytes[1] = 'c';
    delete o;
  }
  TP_BARRIER();
}
extern "C" TP_SITE void cxx_d() {
  for (int i = 0; i < D_N; i++) {
    blocks_d[i] = new Line;
    blocks_d[i]->bytes[0] = 'd';
  }
  TP_BARRIER();
}
extern "C" TP_SITE void cxx_e() {
  for (int i = 0; i < E_N; i++) {
    blocks_e[i] = new (std::nothrow) char[512];
    if (blocks_e[i]) blocks_e[i][0] = 'e';
  }
  TP_BARRIER();
}

static void site(const tp_prof &p, const char *fn, unsigned long inuse, unsigned long alloc, unsigned long size) {
  tp_sum s = tp_site(&p, fn, nullptr);
  printf("%s: %s: %lu/%lu blocks in use/allocated (%lu/%lu bytes) in %d stacks\n", NAME, fn, s.ic, s.ac, s.ib,
              s.ab, s.lines);
  CHECKF(s.ic == inuse && s.ac == alloc, "%s: %lu in use, %lu allocated; expected %lu and %lu", fn, s.ic, s.ac, inuse,
         alloc);
  CHECKF(s.ib == inuse * size && s.ab == alloc * size, "%s: %lu bytes in use, %lu allocated: not blocks of %lu", fn,
         s.ib, s.ab, size);
}

static int stage() {
  cxx_a();
  cxx_b();
  cxx_c();
  cxx_d();
  cxx_e();
  char path[1024];
  snprintf(path, sizeof(path), "%s.cxx", getenv("MYMALLOC_PROFILE"));
  errno = 0;
  int rc = mymalloc_profile_dump(path);
  CHECKF(rc == 0, "mymalloc_profile_dump: %d, %s", rc, strerror(errno));
  tp_prof p;
  if (tp_parse(path, &p) != 0) {
    CHECKF(0, "%s does not parse", path);
    return test_done(NAME " (stage)");
  }
  tp_check_file(&p, "the dump");
  site(p, "cxx_a", A_N, A_N, malloc_usable_size(blocks_a[0]));
  site(p, "cxx_b", B_N, B_N, malloc_usable_size(blocks_b[0]));
  site(p, "cxx_c", 0, C_N, malloc_usable_size(blocks_b[0]));
  site(p, "cxx_d", D_N, D_N, malloc_usable_size(blocks_d[0]));
  site(p, "cxx_e", E_N, E_N, malloc_usable_size(blocks_e[0]));
  int in_new = 0;
  for (int i = 0; i < p.n; i++)
    if (p.r[i].site && (!strncmp(p.r[i].site, "_Znw", 4) || !strncmp(p.r[i].site, "_Zna", 4))) {
      if (!in_new++) fprintf(stderr, "a stack starts in %s\n", p.r[i].site);
    }
  CHECKF(in_new == 0, "%d stacks start inside operator new", in_new);
  tp_free(&p);
  for (char *a : blocks_a) delete[] a;
  for (Obj *b : blocks_b) delete b;
  for (Line *d : blocks_d) delete d;
  for (char *e : blocks_e) delete[] e;
  return test_done(NAME " (stage)");
}

int main(int argc, char **argv) {
  setvbuf(stdout, nullptr, _IONBF, 0);
  if (argc == 3 && !strcmp(argv[1], "--stage")) return stage();
  th_skip_under_valgrind(NAME, "valgrind replaces libstdc++'s operator new/delete with its own allocator");
  const char *env[] = { "MYMALLOC_PROFILE_RATE=1", "MYMALLOC_PROFILE_SEED=5", "MYMALLOC_PROFILE_AT_EXIT=0", nullptr };
  return tp_main_one(NAME, argv[0], "cxx", env);
}
