/*
 * prof.c -- sampled heap profiling: MYMALLOC_PROFILE=PREFIX (prof.h).
 *
 * Sampling.  On average one sample per MYMALLOC_PROFILE_RATE bytes (R):
 * an allocation of s bytes (its usable size, the size the file records)
 * is sampled with probability 1 - exp(-s/R), independently of every
 * other -- a Poisson process over the bytes allocated, as in tcmalloc and
 * jemalloc, so that no periodic pattern can fool it.  Two countdowns draw
 * it, both from exponential draws E ~ Exp(1):
 *  - each fast slot (alloc.c's fast path, up to 1 KiB) counts its
 *    allocations down from floor(E * R / s) (a geometric count with
 *    q = exp(-s/R)); the one that borrows is sampled.  The fast path's
 *    price is one branch: the count replaced the request counter;
 *  - the slow paths (blocks from the cross-thread cache, refills, medium
 *    and huge blocks, the aligned functions) count bytes down in
 *    heap->prof_left from E * R.
 * Off, every countdown starts at its maximum and never runs out.
 *
 * A sampled block comes from mm_prof_heap, a heap that no thread owns,
 * under the profiler's lock.  free() sees that its page's owner is not
 * the calling thread's heap -- the compare that sends cross-thread frees
 * to the slow path -- and free_not_local recognises the profiler's heap:
 * the free of every other block is untouched.  A huge sample carries
 * segment->prof_sampled.
 *
 * Stacks.  stackwalk.c walks them by the DWARF call-frame information that
 * Debian's builds keep (.eh_frame) also without frame pointers: on
 * x86_64 through a cache of each return address's rule, elsewhere (and
 * for signal frames and rules it does not cache) by libgcc's
 * _Unwind_Backtrace.  It is prepared at start-up, since libgcc's first
 * use may allocate (in a static program); a thread inside the profiler
 * is never sampled again, so nothing recurses.
 * Our frames are skipped by address -- the section mymalloc_api
 * (internal.h) -- then those of the C++ operator new (by their symbols'
 * extents).
 *
 * Tables.  Stacks live in append-only chunks from the OS layer, never
 * freed, so that a dump can read them without the lock; a hash of their
 * frames finds them.  The samples in use are an open-addressing map from
 * address to stack (used under the lock only).  Counters change under a
 * sequence lock: a dump -- from a signal handler or any thread, which
 * takes no lock -- copies them until the sequence stayed even and
 * unchanged.  Both tables stay under MYMALLOC_PROFILE_MAX_MB; a sample
 * that does not fit is not taken (counted as dropped).
 *
 * Dumps.  PREFIX.PID.N.heap, gperftools' text heap profile ("heap_v2/R":
 * the counts are raw samples, which google-pprof and go tool pprof
 * unsample), then MAPPED_LIBRARIES: and /proc/self/maps; written with
 * write(2) from a stack buffer, opened without following a symlink: at
 * exit, on mymalloc_profile_dump() and on MYMALLOC_PROFILE_SIGNAL.
 */
#include "prof.h"
#include "format.h"
#include "heap.h"
#include "init.h"
#include "options.h"
#include "os.h"
#include "sizeclass.h"
#include "state.h"
#include "stackwalk.h"

#include <errno.h>
#include <fcntl.h>
#include <dlfcn.h>
#include <link.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

bool mm_prof_on;
static uint64_t prof_dummy;               /* mm_prof_heap until the first sample */
mm_heap_t *mm_prof_heap = (mm_heap_t *)&prof_dummy;

static uint64_t prof_rate;
static char prof_prefix[1024];
static int prof_signal;
static _Atomic(uint64_t) prof_dump_seq;   /* the N of PREFIX.PID.N.heap */
static _Atomic(int) prof_warned;          /* one warning about writing */
static __thread int prof_busy __attribute__((tls_model("initial-exec")));
static __thread int prof_locked __attribute__((tls_model("initial-exec")));   /* holds the lock: may be mid-update */
/* The profiler's lock: a spin lock (held for a table update, rarely for a
 * rehash or a refill of its heap; a waiter yields the core after a few
 * tries): a sample takes it twice, and a mutex's lock and unlock cost
 * ~50 instructions each time. */
static _Atomic(int) prof_lock_word;

static void plock(void) {
  unsigned tries = 0;
  while (atomic_exchange_explicit(&prof_lock_word, 1, memory_order_acquire))
    while (atomic_load_explicit(&prof_lock_word, memory_order_relaxed))
      if (++tries > 64) sched_yield();
}

static void punlock(void) { atomic_store_explicit(&prof_lock_word, 0, memory_order_release); }
bool mm_prof_busy(void) { return prof_busy != 0; }

/* ---- the sampler -------------------------------------------------------- */
static uint64_t rng_next(uint64_t *s) {   /* xorshift64* */
  uint64_t x = *s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *s = x;
  return x * 0x2545f4914f6cdd1dull;
}

/* E ~ Exp(1): -ln U, U uniform on (0, 1], without libm: U = m / 2^53,
 * m = 2^e * f with f in [1, 2), ln f = 2 atanh((f - 1) / (f + 1)) by its
 * series (t <= 1/3: the terms left out are below 1e-8). */
static double exp_draw(uint64_t *s) {
  uint64_t m = (rng_next(s) >> 11) + 1;
  int e = 63 - __builtin_clzll(m);
  double f = (double)m / (double)((uint64_t)1 << e);
  double t = (f - 1) / (f + 1), t2 = t * t;
  double ln_f = 2 * t * (1 + t2 * (1. / 3 + t2 * (1. / 5 + t2 * (1. / 7 + t2 * (1. / 9 + t2 * (1. / 11 + t2 / 13))))));
  return (53 - e) * 0.69314718055994530942 - ln_f;
}

static uint64_t next_count(mm_heap_t *h, size_t size) {
  double k = exp_draw(&h->prof_rng) * (double)prof_rate / (double)size;
  return k < 4e18 ? (uint64_t)k : (uint64_t)4e18;
}

static int64_t next_bytes(mm_heap_t *h) {
  double b = exp_draw(&h->prof_rng) * (double)prof_rate;
  return b < 4e18 ? (int64_t)b : (int64_t)4e18;
}

static size_t slot_size(size_t i) { return mm_class_size[mm_class_lookup[i]]; }

/* The owner rewrites its countdowns; the report reads them meanwhile
 * (mm_fast_requests). */
static void fast_begin(mm_heap_t *h) {
  atomic_store_explicit(&h->fast_seq, atomic_load_explicit(&h->fast_seq, memory_order_relaxed) + 1, memory_order_relaxed);
  atomic_thread_fence(memory_order_release);
}
static void fast_end(mm_heap_t *h) {
  atomic_store_explicit(&h->fast_seq, atomic_load_explicit(&h->fast_seq, memory_order_relaxed) + 1, memory_order_release);
}

void mm_prof_arm(mm_heap_t *h) {
  static _Atomic(uint64_t) heaps;
  uint64_t seed = (uint64_t)mm_option(MM_OPT_PROFILE_SEED);
  if (!seed) seed = mm_secret ^ mm_clock_ns();
  /* splitmix64 of seed and the heap's number: distinct, never 0 */
  uint64_t z = seed + 0x9e3779b97f4a7c15ull * (atomic_fetch_add(&heaps, 1) + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  h->prof_rng = (z ^ (z >> 31)) | 1;
  fast_begin(h);
  for (size_t i = 0; i < MM_NSLOTS; i++) {
    h->fast_done[i] += h->fast_start[i] - h->fast[i].left;
    h->fast_start[i] = h->fast[i].left = next_count(h, slot_size(i));
  }
  fast_end(h);
  h->prof_left = next_bytes(h);
}

void mm_prof_rearm_slot(mm_heap_t *h, size_t i) {
  /* it served fast_start[i]; the one that borrowed is the sample,
   * counted by the profiler's heap */
  uint64_t n = next_count(h, slot_size(i));
  fast_begin(h);
  h->fast_done[i] += h->fast_start[i];
  h->fast[i].left = n;
  h->fast_start[i] = n;
  fast_end(h);
}

void mm_prof_rearm_bytes(mm_heap_t *h) { h->prof_left = next_bytes(h); }

/* ---- stacks ------------------------------------------------------------- */
extern char __start_mymalloc_api[] __attribute__((visibility("hidden")));
extern char __stop_mymalloc_api[] __attribute__((visibility("hidden")));

/* The C++ allocation functions (libstdc++'s, or the program's own
 * replacements): weak, so NULL in a program without them.  Their frames
 * are skipped after ours, and only theirs: an allocation made inside
 * libstdc++ (std::string, locale) keeps its libstdc++ frames. */
#define NEW_FNS(X) \
  X(_Znwm) X(_Znam) X(_ZnwmRKSt9nothrow_t) X(_ZnamRKSt9nothrow_t) \
  X(_ZnwmSt11align_val_t) X(_ZnamSt11align_val_t) \
  X(_ZnwmSt11align_val_tRKSt9nothrow_t) X(_ZnamSt11align_val_tRKSt9nothrow_t)
#define DECLARE_NEW(name) extern char name[] __attribute__((weak));
NEW_FNS(DECLARE_NEW)
#define NEW_ADDR(name) name,
#define NNEW 8
static struct { uintptr_t lo, hi; } new_fns[NNEW];
static uintptr_t new_lo = UINTPTR_MAX, new_hi;   /* all of them (none: empty) */

static bool in_new(uintptr_t ip) {
  if (ip < new_lo || ip >= new_hi) return false;
  for (unsigned i = 0; i < NNEW; i++)
    if (ip >= new_fns[i].lo && ip < new_fns[i].hi) return true;
  return false;
}

/* Their extents from the dynamic symbol table (dladdr1); in a static
 * program, where it says nothing, the first 64 bytes: a return address
 * in operator new follows its call of malloc, which comes first. */
static void find_new_fns(void) {
  char *addr[NNEW] = { NEW_FNS(NEW_ADDR) };
  for (unsigned i = 0; i < NNEW; i++) {
    if (!addr[i]) continue;
    Dl_info info;
    const ElfW(Sym) *sym = NULL;
    size_t size = 64;
    if (dladdr1(addr[i], &info, (void **)&sym, RTLD_DL_SYMENT) && sym && sym->st_size) size = sym->st_size;
    new_fns[i].lo = (uintptr_t)addr[i];
    new_fns[i].hi = (uintptr_t)addr[i] + size;
    if (new_fns[i].lo < new_lo) new_lo = new_fns[i].lo;
    if (new_fns[i].hi > new_hi) new_hi = new_fns[i].hi;
  }
}

static bool ours(uintptr_t ip) {
  return ip >= (uintptr_t)__start_mymalloc_api && ip < (uintptr_t)__stop_mymalloc_api;
}

MM_API_TEXT mm_noinline unsigned mm_prof_walk(uintptr_t pc, uintptr_t sp, uintptr_t bp, uintptr_t *frames,
                                              unsigned *first) {
  prof_busy++;
  unsigned n = mm_unwind_from(pc, sp, bp, frames, MM_PROF_RAW);
  prof_busy--;
  /* past ours (none, when our caller tail-called into the function that
   * took the registers: its return address is our caller's), then
   * operator new's */
  unsigned i = 0;
  while (i < n && ours(frames[i])) i++;
  while (i < n && in_new(frames[i])) i++;
  *first = i;
  __asm__ volatile("" ::: "memory");   /* not a tail call: this frame is ours */
  return n - i < MM_PROF_DEPTH ? n - i : MM_PROF_DEPTH;
}

/* ---- tables ------------------------------------------------------------- */
typedef struct prof_stack_s {
  struct prof_stack_s *hnext;             /* hash chain */
  uint64_t hash;
  /* under the sequence lock (relaxed atomics) */
  uint64_t inuse_count, inuse_bytes, alloc_count, alloc_bytes;
  uint32_t depth;
  uintptr_t frames[];
} prof_stack_t;

typedef struct prof_chunk_s {
  struct prof_chunk_s *next;              /* published with release */
  size_t used;                            /* bytes of stacks, published with release */
  size_t size;
} prof_chunk_t;

typedef struct {
  uintptr_t addr;                         /* 0 empty, 1 deleted */
  prof_stack_t *stack;
  uint64_t size;
  mm_heap_t *heap;                        /* that allocated it */
} prof_live_t;

#define PROF_CHUNK   ((size_t)1 << 20)
#define PROF_BUCKETS ((size_t)1 << 16)
#define LIVE_DELETED ((uintptr_t)1)

static prof_chunk_t *chunk_first, *chunk_last;
static prof_stack_t **buckets;
static prof_live_t *live;
static size_t live_cap, live_slots_used;  /* used: live and deleted entries */
static _Atomic(uint64_t) prof_seq;
static struct {                           /* relaxed atomics: the report reads them */
  uint64_t live, live_bytes, stacks, table_bytes, dropped;
} pst;

static void seq_begin(void) {
  atomic_store_explicit(&prof_seq, atomic_load_explicit(&prof_seq, memory_order_relaxed) + 1, memory_order_relaxed);
  atomic_thread_fence(memory_order_release);
}
static void seq_end(void) {
  atomic_store_explicit(&prof_seq, atomic_load_explicit(&prof_seq, memory_order_relaxed) + 1, memory_order_release);
}
#define ADD(field, v) mm_store_relaxed(&(field), (field) + (v))

static bool room_for(size_t bytes) {
  return pst.table_bytes + bytes <= (uint64_t)mm_option(MM_OPT_PROFILE_MAX_MB) << 20;
}

static void *table_map(size_t bytes) {
  if (!room_for(bytes)) return NULL;
  void *p = mm_os_mmap(bytes);
  if (p) ADD(pst.table_bytes, bytes);
  return p;
}

static uint64_t hash_frames(const uintptr_t *f, unsigned n) {
  uint64_t h = 0x84222325cbf29ce4ull ^ n;
  for (unsigned i = 0; i < n; i++) h = (h ^ f[i]) * 0x100000001b3ull;
  return h ^ (h >> 29);
}

static size_t stack_bytes(unsigned depth) {
  return mm_align_up(sizeof(prof_stack_t) + depth * sizeof(uintptr_t), 16);
}

static prof_stack_t *stack_find(const uintptr_t *frames, unsigned depth) {
  uint64_t h = hash_frames(frames, depth);
  prof_stack_t **bucket = &buckets[h & (PROF_BUCKETS - 1)];
  for (prof_stack_t *st = *bucket; st; st = st->hnext)
    if (st->hash == h && st->depth == depth && !memcmp(st->frames, frames, depth * sizeof(uintptr_t))) return st;
  size_t need = stack_bytes(depth);
  prof_chunk_t *c = chunk_last;
  if (!c || c->size - c->used < need) {
    c = table_map(PROF_CHUNK);
    if (!c) return NULL;
    c->size = PROF_CHUNK - sizeof(prof_chunk_t);
    if (chunk_last) __atomic_store_n(&chunk_last->next, c, __ATOMIC_RELEASE);
    else __atomic_store_n(&chunk_first, c, __ATOMIC_RELEASE);
    chunk_last = c;
  }
  prof_stack_t *st = (prof_stack_t *)((char *)(c + 1) + c->used);
  st->hash = h;
  st->depth = depth;
  memcpy(st->frames, frames, depth * sizeof(uintptr_t));
  st->hnext = *bucket;
  *bucket = st;
  __atomic_store_n(&c->used, c->used + need, __ATOMIC_RELEASE);   /* a dump sees it now */
  ADD(pst.stacks, 1);
  return st;
}

static size_t live_index(uintptr_t addr, size_t cap) {
  return (size_t)(((uint64_t)addr >> 4) * 0x9e3779b97f4a7c15ull >> 20) & (cap - 1);
}

/* The map again, with room for cap entries (the deleted ones go). */
static bool live_rehash(size_t cap) {
  prof_live_t *t = table_map(cap * sizeof(prof_live_t));
  if (!t) return false;
  for (size_t i = 0; i < live_cap; i++) {
    if (live[i].addr <= LIVE_DELETED) continue;
    size_t j = live_index(live[i].addr, cap);
    while (t[j].addr) j = (j + 1) & (cap - 1);
    t[j] = live[i];
  }
  if (live) {
    mm_os_munmap(live, live_cap * sizeof(prof_live_t));
    ADD(pst.table_bytes, -(uint64_t)(live_cap * sizeof(prof_live_t)));
  }
  live = t;
  live_cap = cap;
  live_slots_used = pst.live;
  return true;
}

/* Room for one more entry: the map grows at half full, to 1/4 full. */
static bool live_reserve(void) {
  if ((live_slots_used + 1) * 2 <= live_cap) return true;
  size_t cap = 4096;
  while (cap < (pst.live + 1) * 4) cap *= 2;
  return live_rehash(cap);
}

/* The map shrinks when the samples in use fill under 1/16 of it: the
 * profiler's memory follows them (after a burst of samples freed). */
static void live_shrink(void) {
  if (live_cap <= 4096 || pst.live * 16 >= live_cap) return;
  size_t cap = 4096;
  while (cap < (pst.live + 1) * 4) cap *= 2;
  live_rehash(cap);   /* (no room for the new one: the old one stays) */
}

void mm_prof_record(void *p, size_t size, mm_heap_t *h, const uintptr_t *frames, unsigned depth) {
  prof_stack_t *st = stack_find(frames, depth);
  if (!st || !live_reserve()) { ADD(pst.dropped, 1); return; }
  size_t j = live_index((uintptr_t)p, live_cap);
  while (live[j].addr > LIVE_DELETED) j = (j + 1) & (live_cap - 1);
  if (!live[j].addr) live_slots_used++;
  live[j] = (prof_live_t){ (uintptr_t)p, st, size, h };
  seq_begin();
  ADD(st->inuse_count, 1);
  ADD(st->inuse_bytes, size);
  ADD(st->alloc_count, 1);
  ADD(st->alloc_bytes, size);
  seq_end();
  ADD(pst.live, 1);
  ADD(pst.live_bytes, size);
}

mm_heap_t *mm_prof_forget(void *p) {
  if (!live_cap) return NULL;
  size_t j = live_index((uintptr_t)p, live_cap);
  for (; live[j].addr; j = (j + 1) & (live_cap - 1)) {
    if (live[j].addr != (uintptr_t)p) continue;
    prof_stack_t *st = live[j].stack;
    seq_begin();
    ADD(st->inuse_count, -1);
    ADD(st->inuse_bytes, -live[j].size);
    seq_end();
    ADD(pst.live, -1);
    ADD(pst.live_bytes, -live[j].size);
    live[j].addr = LIVE_DELETED;
    mm_heap_t *h = live[j].heap;
    live_shrink();
    return h;
  }
  return NULL;
}

/* Under the lock: the record of sample p leaves the map for a realloc
 * that keeps the block's pages (a huge block resized in place or moved
 * by mremap); its counters stay.  Taken out before the realloc: another
 * thread may get p's old address meanwhile, and sample it.  false: p was
 * not recorded. */
bool mm_prof_hold(void *p, mm_prof_held_t *held) {
  if (!live_cap) return false;
  size_t j = live_index((uintptr_t)p, live_cap);
  for (; live[j].addr; j = (j + 1) & (live_cap - 1)) {
    if (live[j].addr != (uintptr_t)p) continue;
    held->stack = live[j].stack;
    held->size = live[j].size;
    held->heap = live[j].heap;
    live[j].addr = LIVE_DELETED;
    ADD(pst.live, -1);
    return true;
  }
  return false;
}

/* Under the lock: the held record back, for the block q of size bytes
 * (p itself when the realloc failed), with its stack: not a new
 * allocation; growth counts as bytes allocated (in use <= allocated).
 * false: no room -- the record is dropped, q is not a sample. */
bool mm_prof_place(void *q, size_t size, const mm_prof_held_t *held) {
  prof_stack_t *st = held->stack;
  bool room = live_reserve();
  seq_begin();
  if (room) {
    ADD(st->inuse_bytes, (uint64_t)size - held->size);
    if (size > held->size) ADD(st->alloc_bytes, size - held->size);
  } else {
    ADD(st->inuse_count, -1);
    ADD(st->inuse_bytes, -held->size);
  }
  seq_end();
  if (!room) {
    ADD(pst.live_bytes, -held->size);
    ADD(pst.dropped, 1);
    return false;
  }
  ADD(pst.live_bytes, (uint64_t)size - held->size);
  ADD(pst.live, 1);
  size_t k = live_index((uintptr_t)q, live_cap);
  while (live[k].addr > LIVE_DELETED) k = (k + 1) & (live_cap - 1);
  if (!live[k].addr) live_slots_used++;
  live[k] = (prof_live_t){ (uintptr_t)q, st, size, held->heap };
  return true;
}

/* ---- the lock ------------------------------------------------------------ */
mm_heap_t *mm_prof_lock(void) {
  plock();
  prof_busy++;
  prof_locked = 1;
  mm_heap_t *h = mm_load_relaxed(&mm_prof_heap);
  if (h == (mm_heap_t *)&prof_dummy) {
    h = mm_heap_create_shared();
    if (!h) { mm_prof_unlock(); return NULL; }
    mm_store_relaxed(&mm_prof_heap, h);
  }
  return h;
}

void mm_prof_unlock(void) {
  prof_locked = 0;
  prof_busy--;
  punlock();
}

/* The unwinder's lock first (a thread unwinds before it takes ours). */
static void fork_prepare(void) {
  mm_unwind_fork_prepare();
  plock();
}
static void fork_parent(void) {
  punlock();
  mm_unwind_fork_parent();
}
static void fork_child(void) {
  atomic_store(&prof_dump_seq, 0);   /* the child's files count from 0 */
  atomic_store(&prof_warned, 0);
  atomic_store(&prof_lock_word, 0);
  mm_unwind_fork_child();
}

void mm_prof_info(mm_prof_info_t *info) {
  info->rate = mm_prof_on ? prof_rate : 0;
  info->live = mm_load_relaxed(&pst.live);
  info->live_bytes = mm_load_relaxed(&pst.live_bytes);
  info->stacks = mm_load_relaxed(&pst.stacks);
  info->table_bytes = mm_load_relaxed(&pst.table_bytes);
  info->limit_bytes = (uint64_t)mm_option(MM_OPT_PROFILE_MAX_MB) << 20;
  info->dropped = mm_load_relaxed(&pst.dropped);
}

/* ---- dumps ----------------------------------------------------------------- */
typedef struct { uint64_t inuse_count, inuse_bytes, alloc_count, alloc_bytes; } counts_t;

/* The stacks published so far, in order; *n their number. */
static prof_stack_t *stack_next(prof_chunk_t **c, size_t *off) {
  while (*c) {
    size_t used = __atomic_load_n(&(*c)->used, __ATOMIC_ACQUIRE);
    if (*off < used) {
      prof_stack_t *st = (prof_stack_t *)((char *)(*c + 1) + *off);
      *off += stack_bytes(st->depth);
      return st;
    }
    *c = __atomic_load_n(&(*c)->next, __ATOMIC_ACQUIRE);
    *off = 0;
  }
  return NULL;
}

/* Copy the counters of the first n stacks into snap, consistently: until
 * the sequence was even and did not move (this thread may be the writer
 * a signal interrupted: then what is there). */
static void snapshot(counts_t *snap, size_t n) {
  for (int tries = 0;; tries++) {
    uint64_t s0 = atomic_load_explicit(&prof_seq, memory_order_acquire);
    prof_chunk_t *c = __atomic_load_n(&chunk_first, __ATOMIC_ACQUIRE);
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
      prof_stack_t *st = stack_next(&c, &off);
      snap[i].inuse_count = mm_load_relaxed(&st->inuse_count);
      snap[i].inuse_bytes = mm_load_relaxed(&st->inuse_bytes);
      snap[i].alloc_count = mm_load_relaxed(&st->alloc_count);
      snap[i].alloc_bytes = mm_load_relaxed(&st->alloc_bytes);
    }
    atomic_thread_fence(memory_order_acquire);
    uint64_t s1 = atomic_load_explicit(&prof_seq, memory_order_relaxed);
    if ((s0 == s1 && !(s0 & 1)) || prof_locked || tries >= 10000) return;
    if (tries > 100) sched_yield();
  }
}

/* " 0x%016lx" without stdio */
static void put_hex16(mm_buf_t *b, uintptr_t v) {
  char tmp[18] = { '0', 'x' };
  for (int i = 0; i < 16; i++) tmp[2 + i] = "0123456789abcdef"[(v >> (60 - 4 * i)) & 15];
  mm_buf_mem(b, tmp, sizeof(tmp));
}

static void put_counts(mm_buf_t *b, const counts_t *k) {
  mm_buf_u64_col(b, k->inuse_count, 6);
  mm_buf_str(b, ": ");
  mm_buf_u64_col(b, k->inuse_bytes, 8);
  mm_buf_str(b, " [");
  mm_buf_u64_col(b, k->alloc_count, 6);
  mm_buf_str(b, ": ");
  mm_buf_u64_col(b, k->alloc_bytes, 8);
  mm_buf_str(b, "] @");
}

static void write_maps(mm_buf_t *b) {
  mm_buf_str(b, "\nMAPPED_LIBRARIES:\n");
  int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  char tmp[1024];
  ssize_t r;
  while ((r = read(fd, tmp, sizeof(tmp))) > 0 || (r < 0 && errno == EINTR))
    if (r > 0) mm_buf_mem(b, tmp, (size_t)r);
  close(fd);
}

/* Returns 0 or the errno of the write that failed. */
static int write_profile(int fd, const counts_t *snap, size_t n) {
  char buf[4096];
  mm_buf_t b = { buf, 0, sizeof(buf), fd, 0 };
  counts_t total = { 0, 0, 0, 0 };
  for (size_t i = 0; i < n; i++) {
    total.inuse_count += snap[i].inuse_count;
    total.inuse_bytes += snap[i].inuse_bytes;
    total.alloc_count += snap[i].alloc_count;
    total.alloc_bytes += snap[i].alloc_bytes;
  }
  mm_buf_str(&b, "heap profile: ");
  put_counts(&b, &total);
  mm_buf_str(&b, " heap_v2/");
  mm_buf_u64(&b, prof_rate);
  mm_buf_str(&b, "\n");
  prof_chunk_t *c = __atomic_load_n(&chunk_first, __ATOMIC_ACQUIRE);
  size_t off = 0;
  for (size_t i = 0; i < n; i++) {
    prof_stack_t *st = stack_next(&c, &off);
    if (!snap[i].alloc_count) continue;
    put_counts(&b, &snap[i]);
    for (unsigned k = 0; k < st->depth; k++) {
      mm_buf_str(&b, " ");
      put_hex16(&b, st->frames[k]);
    }
    mm_buf_str(&b, "\n");
  }
  write_maps(&b);
  mm_buf_flush(&b);
  return b.failed;
}

/* strerror's text without strerror (which may allocate, for a locale's
 * translation): glibc's own English descriptions. */
static const char *errno_text(int e) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
  const char *d = strerrordesc_np(e);
  if (d) return d;
#endif
  switch (e) {
  case ENOENT: return "No such file or directory";
  case EACCES: return "Permission denied";
  case EROFS: return "Read-only file system";
  case ELOOP: return "Too many levels of symbolic links";
  case ENOTDIR: return "Not a directory";
  case EISDIR: return "Is a directory";
  case ENOSPC: return "No space left on device";
  default: return "Input/output error";
  }
}

static void warn_write(const char *path, int e) {
  if (atomic_exchange(&prof_warned, 1)) return;
  char buf[1400];
  mm_buf_t b = { buf, 0, sizeof(buf), 2, 0 };
  mm_buf_str(&b, "mymalloc: profile: cannot write ");
  mm_buf_str(&b, path);
  mm_buf_str(&b, ": ");
  mm_buf_str(&b, errno_text(e));
  mm_buf_str(&b, "\n");
  mm_buf_flush(&b);
}

static int prof_dump(const char *path) {
  if (!mm_prof_on) { errno = ENOENT; return -1; }
  char name[sizeof(prof_prefix) + 64];
  bool named = !path;
  if (!path) {
    mm_buf_t b = { name, 0, sizeof(name) - 1, -1, 0 };
    mm_buf_str(&b, prof_prefix);
    mm_buf_str(&b, ".");
    mm_buf_u64(&b, (uint64_t)getpid());
    mm_buf_str(&b, ".");
    mm_buf_u64(&b, atomic_fetch_add(&prof_dump_seq, 1));
    mm_buf_str(&b, ".heap");
    name[b.len] = 0;
    path = name;
  }
  /* the stacks published now, and room for their counters */
  size_t n = 0, off = 0;
  prof_chunk_t *c = __atomic_load_n(&chunk_first, __ATOMIC_ACQUIRE);
  while (stack_next(&c, &off)) n++;
  size_t snap_bytes = mm_align_up((n ? n : 1) * sizeof(counts_t), mm_os_page);
  counts_t *snap = mm_os_mmap(snap_bytes);
  if (!snap) { errno = ENOMEM; return -1; }
  snapshot(snap, n);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
  int err = 0;
  if (fd < 0) {
    err = errno;
  } else {
    err = write_profile(fd, snap, n);
    if (close(fd) != 0 && !err) err = errno;
  }
  mm_os_munmap(snap, snap_bytes);
  if (err) {
    if (named) warn_write(path, err);   /* (mymalloc_profile_dump(path) has errno) */
    errno = err;
    return -1;
  }
  return 0;
}

int mm_profile_dump(const char *path) {
  int saved = errno;
  int r = prof_dump(path);
  if (r == 0) errno = saved;
  return r;
}

static void on_signal(int sig) {
  (void)sig;
  int saved = errno;
  prof_dump(NULL);
  errno = saved;
}

/* ---- start and exit ---------------------------------------------------- */
static const struct { const char *name; int sig; } signal_names[] = {
  { "HUP", SIGHUP }, { "INT", SIGINT }, { "QUIT", SIGQUIT }, { "USR1", SIGUSR1 },
  { "USR2", SIGUSR2 }, { "ALRM", SIGALRM }, { "TERM", SIGTERM }, { "CONT", SIGCONT },
  { "TSTP", SIGTSTP }, { "TTIN", SIGTTIN }, { "TTOU", SIGTTOU }, { "URG", SIGURG },
  { "XCPU", SIGXCPU }, { "XFSZ", SIGXFSZ }, { "VTALRM", SIGVTALRM }, { "PROF", SIGPROF },
  { "WINCH", SIGWINCH }, { "IO", SIGIO }, { "PWR", SIGPWR }, { "SYS", SIGSYS },
};

/* A decimal number (at most 4 digits), or -1. */
static int small_number(const char *d) {
  int k = 0;
  if (!*d) return -1;
  for (int n = 0; *d; d++, n++) {
    if (*d < '0' || *d > '9' || n >= 4) return -1;
    k = k * 10 + (*d - '0');
  }
  return k;
}

/* USR2, SIGUSR2, RTMIN+1, RTMAX-2, or a number; 0 for a signal that is
 * unknown, reserved (glibc's 32 and 33), or not one to dump on (those
 * that cannot be caught, and those the program's faults raise). */
static int parse_signal(const char *v) {
  if (!strncmp(v, "SIG", 3)) v += 3;
  int k = -1;
  for (size_t i = 0; i < sizeof(signal_names) / sizeof(signal_names[0]); i++)
    if (!strcmp(v, signal_names[i].name)) k = signal_names[i].sig;
  if (k < 0 && !strncmp(v, "RTMIN", 5)) {
    int d = v[5] == 0 ? 0 : v[5] == '+' ? small_number(v + 6) : -1;
    k = d < 0 ? -1 : SIGRTMIN + d;
  } else if (k < 0 && !strncmp(v, "RTMAX", 5)) {
    int d = v[5] == 0 ? 0 : v[5] == '-' ? small_number(v + 6) : -1;
    k = d < 0 ? -1 : SIGRTMAX - d;
  } else if (k < 0) {
    k = small_number(v);
  }
  if (k <= 0 || k >= NSIG || (k > SIGSYS && k < SIGRTMIN) || k > SIGRTMAX) return 0;
  if (k == SIGKILL || k == SIGSTOP || k == SIGSEGV || k == SIGBUS || k == SIGFPE || k == SIGILL ||
      k == SIGABRT || k == SIGTRAP || k == SIGCHLD || k == SIGPIPE)
    return 0;
  return k;
}

/* After the library's own constructor (init.c): the options are read. */
__attribute__((constructor)) static void prof_start(void) {
  mm_process_start();
  const char *prefix = mm_options_getenv("MYMALLOC_PROFILE");
  if (!prefix || !*prefix) return;
  if (strlen(prefix) >= sizeof(prof_prefix) - 64) {
    mm_options_warn("MYMALLOC_PROFILE", "...", "the prefix is longer than 900 bytes; profiling stays off");
    return;
  }
  strcpy(prof_prefix, prefix);
  prof_rate = (uint64_t)mm_option(MM_OPT_PROFILE_RATE);
  buckets = table_map(PROF_BUCKETS * sizeof(prof_stack_t *));
  if (!buckets) return;
  find_new_fns();
  /* the unwinder's first use may allocate: now */
  ADD(pst.table_bytes, mm_unwind_init());
  pthread_atfork(fork_prepare, fork_parent, fork_child);   /* after init.c's: taken first */
  mm_prof_on = true;
  if (mm_heap_tls != &mm_heap_empty) mm_prof_arm(mm_heap_tls);
  const char *sig = mm_options_getenv("MYMALLOC_PROFILE_SIGNAL");
  if (sig && *sig) {
    prof_signal = parse_signal(sig);
    if (!prof_signal) {
      mm_options_warn("MYMALLOC_PROFILE_SIGNAL", sig, "not a signal name (USR2, SIGUSR2, RTMIN+1, RTMAX-1) or number that can be caught");
    } else {
      struct sigaction old, sa;
      memset(&sa, 0, sizeof(sa));
      sa.sa_handler = on_signal;
      sa.sa_flags = SA_RESTART;
      sigemptyset(&sa.sa_mask);
      /* a handler the program (or its loader) set already wins */
      if (sigaction(prof_signal, NULL, &old) != 0 ||
          (old.sa_handler == SIG_DFL && sigaction(prof_signal, &sa, NULL) != 0))
        mm_options_warn("MYMALLOC_PROFILE_SIGNAL", sig, "sigaction refused this signal");
    }
  }
}

__attribute__((destructor)) static void prof_exit(void) {
  if (mm_prof_on && mm_option(MM_OPT_PROFILE_AT_EXIT)) prof_dump(NULL);
}

MM_EXPORT_AS(mm_profile_dump, mymalloc_profile_dump)
