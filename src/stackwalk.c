/*
 * stackwalk.c -- the call stack of a sampled allocation (stackwalk.h).
 *
 * Debian builds without frame pointers, so a stack is walked by the DWARF
 * call-frame information (CFI) that every object keeps in .eh_frame:
 * for each code address, how to find the caller's stack pointer (the
 * CFA), its return address and its saved registers.  libgcc's
 * _Unwind_Backtrace reads and interprets that information anew for every
 * frame of every stack (~1,300 instructions a frame); a profiler that
 * samples large blocks unwinds often, so on x86_64 the rule of each
 * return address is read once and kept in a cache:
 *
 *  - a rule is "CFA = rsp or rbp + k; the return address at CFA - 8;
 *    rbp unchanged or saved at CFA + j", or "the stack ends here" (the
 *    return address is undefined: _start, a thread's first frame), or
 *    "not for the cache" (a signal frame, a DWARF expression, a register
 *    rule we do not follow): then the whole stack is unwound by libgcc;
 *  - the CFI is found by libgcc's _Unwind_Find_FDE (through glibc's
 *    _dl_find_object, lock-free) and interpreted here (the CIE's initial
 *    instructions, then the FDE's up to the address);
 *  - the cache is direct-mapped, 2^14 entries of one word (a tag of the
 *    address and the rule), read and written with relaxed atomics: a
 *    thread sees an entry whole or not at all.  It is emptied when glibc
 *    says a library was unloaded (dl_iterate_phdr's dlpi_subs, read once
 *    per stack): the code at a cached address may be another function's.
 *
 * A walk stops at a frame without CFI (JIT code; libgcc stops there too),
 * at a return address of 0, or when the CFA does not move up the stack.
 * It trusts the stack, as every CFI unwinder does: a program whose own
 * stack is corrupt can crash it.  Elsewhere than x86_64, libgcc walks
 * every stack.
 *
 * libgcc's own first use may allocate (it registers the objects of a
 * static program): mm_unwind_init runs it once at start-up there.  A reader
 * lock is held around every call into libgcc, and taken as a writer
 * around fork(): a static program's child once deadlocked on a lock of
 * libgcc's that a sampling thread held at the fork.
 */
#include "stackwalk.h"
#include "os.h"

#include <link.h>
#include <pthread.h>
#include <stddef.h>
#include <string.h>
#include <unwind.h>

static pthread_rwlock_t uw_lock = PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;
static struct { uint64_t fast, fallback, misses, flushes, checks; } uw_count;   /* relaxed, approximate */
#define COUNT(field) mm_store_relaxed(&uw_count.field, uw_count.field + 1)

/* ---- libgcc's walk -------------------------------------------------------- */
typedef struct {
  uintptr_t *ips;
  unsigned n, max;
} collect_t;

static _Unwind_Reason_Code collect(struct _Unwind_Context *ctx, void *arg) {
  collect_t *c = arg;
  uintptr_t ip = (uintptr_t)_Unwind_GetIP(ctx);
  if (ip == 0) return _URC_END_OF_STACK;
  c->ips[c->n++] = ip;
  return c->n < c->max ? _URC_NO_REASON : _URC_END_OF_STACK;
}

/* (ips[0] is in this function: the profiler skips our frames by their
 * section, MM_API_TEXT, whichever walk made them) */
MM_API_TEXT mm_noinline unsigned mm_unwind_libgcc(uintptr_t *ips, unsigned max) {
  collect_t c = { ips, 0, max };
  if (max == 0) return 0;
  pthread_rwlock_rdlock(&uw_lock);
  _Unwind_Backtrace(collect, &c);
  pthread_rwlock_unlock(&uw_lock);
  __asm__ volatile("" ::: "memory");   /* not a tail call */
  return c.n;
}

void mm_unwind_fork_prepare(void) { pthread_rwlock_wrlock(&uw_lock); }
void mm_unwind_fork_parent(void) { pthread_rwlock_unlock(&uw_lock); }
void mm_unwind_fork_child(void) {
  pthread_rwlock_t fresh = PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;
  uw_lock = fresh;
}

void mm_unwind_info(mm_unwind_info_t *info) {
  info->fast = mm_load_relaxed(&uw_count.fast);
  info->fallback = mm_load_relaxed(&uw_count.fallback);
  info->misses = mm_load_relaxed(&uw_count.misses);
  info->flushes = mm_load_relaxed(&uw_count.flushes);
  info->checks = mm_load_relaxed(&uw_count.checks);
}

#if defined(__x86_64__)
/* ---- the CFI of one address ------------------------------------------------ */
/* (libgcc's, from unwind-dw2-fde.h) */
struct dwarf_eh_bases { void *tbase, *dbase, *func; };
extern const void *_Unwind_Find_FDE(void *pc, struct dwarf_eh_bases *bases);

enum { R_BP = 6, R_SP = 7, R_RA = 16 };               /* DWARF's numbers */
enum { HOW_SAME, HOW_OFFSET, HOW_UNDEF, HOW_OTHER };   /* a register's rule */

typedef struct {
  uint64_t cfa_reg;
  int64_t cfa_off;
  bool cfa_expr;                          /* DW_CFA_def_cfa_expression */
  uint8_t bp_how, ra_how;
  int64_t bp_off, ra_off;
} cfi_state_t;

typedef struct {
  const uint8_t *p, *end;
  bool bad;
} cursor_t;

static uint8_t rd_u8(cursor_t *c) {
  if (c->p >= c->end) { c->bad = true; return 0; }
  return *c->p++;
}

static uint64_t rd_fixed(cursor_t *c, unsigned n) {   /* little-endian */
  if ((size_t)(c->end - c->p) < n) { c->bad = true; return 0; }
  uint64_t v = 0;
  for (unsigned i = 0; i < n; i++) v |= (uint64_t)c->p[i] << (8 * i);
  c->p += n;
  return v;
}

static uint64_t rd_uleb(cursor_t *c) {
  uint64_t v = 0;
  for (unsigned shift = 0;; shift += 7) {
    uint8_t b = rd_u8(c);
    if (shift < 64) v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80) || c->bad) return v;
  }
}

static int64_t rd_sleb(cursor_t *c) {
  uint64_t v = 0;
  unsigned shift = 0;
  uint8_t b;
  do {
    b = rd_u8(c);
    if (shift < 64) v |= (uint64_t)(b & 0x7f) << shift;
    shift += 7;
  } while ((b & 0x80) && !c->bad);
  if (shift < 64 && (b & 0x40)) v |= ~(uint64_t)0 << shift;
  return (int64_t)v;
}

/* Skip a pointer of DW_EH_PE encoding enc (its value is not needed: the
 * function's start comes from _Unwind_Find_FDE). */
static void skip_encoded(cursor_t *c, uint8_t enc) {
  if (enc == 0xff) return;                /* DW_EH_PE_omit */
  switch (enc & 0x0f) {
  case 0x00: case 0x04: case 0x0c: rd_fixed(c, 8); break;
  case 0x02: case 0x0a: rd_fixed(c, 2); break;
  case 0x03: case 0x0b: rd_fixed(c, 4); break;
  case 0x01: rd_uleb(c); break;
  case 0x09: rd_sleb(c); break;
  default: c->bad = true;
  }
}

static void set_rule(cfi_state_t *st, uint64_t reg, uint8_t how, int64_t off) {
  if (reg == R_BP) { st->bp_how = how; st->bp_off = off; }
  else if (reg == R_RA) { st->ra_how = how; st->ra_off = off; }
}

static void restore_rule(cfi_state_t *st, const cfi_state_t *init, uint64_t reg) {
  if (reg == R_BP) { st->bp_how = init->bp_how; st->bp_off = init->bp_off; }
  else if (reg == R_RA) { st->ra_how = init->ra_how; st->ra_off = init->ra_off; }
}

#define CFI_STATES 8                      /* depth of DW_CFA_remember_state */

/* Run the CFA instructions of c from address loc until the one that
 * moves past target; false on anything this interpreter does not know. */
static bool run_cfi(cursor_t *c, uintptr_t loc, uintptr_t target, uint64_t caf, int64_t daf,
                    cfi_state_t *st, const cfi_state_t *init) {
  cfi_state_t saved[CFI_STATES];
  unsigned depth = 0;
  while (c->p < c->end && !c->bad) {
    uint8_t op = rd_u8(c);
    uint64_t reg, n;
    switch (op & 0xc0) {
    case 0x40:                            /* DW_CFA_advance_loc */
      loc += (op & 0x3f) * caf;
      if (loc > target) return true;
      continue;
    case 0x80:                            /* DW_CFA_offset */
      set_rule(st, op & 0x3f, HOW_OFFSET, (int64_t)rd_uleb(c) * daf);
      continue;
    case 0xc0:                            /* DW_CFA_restore */
      if (!init) return false;
      restore_rule(st, init, op & 0x3f);
      continue;
    }
    switch (op) {
    case 0x00: break;                     /* DW_CFA_nop */
    case 0x02: case 0x03: case 0x04:      /* DW_CFA_advance_loc1, 2, 4 */
      loc += rd_fixed(c, op == 0x02 ? 1 : op == 0x03 ? 2 : 4) * caf;
      if (loc > target) return !c->bad;
      break;
    case 0x05:                            /* DW_CFA_offset_extended */
      reg = rd_uleb(c);
      set_rule(st, reg, HOW_OFFSET, (int64_t)rd_uleb(c) * daf);
      break;
    case 0x06:                            /* DW_CFA_restore_extended */
      if (!init) return false;
      restore_rule(st, init, rd_uleb(c));
      break;
    case 0x07: set_rule(st, rd_uleb(c), HOW_UNDEF, 0); break;   /* DW_CFA_undefined */
    case 0x08: set_rule(st, rd_uleb(c), HOW_SAME, 0); break;    /* DW_CFA_same_value */
    case 0x09:                            /* DW_CFA_register */
      reg = rd_uleb(c);
      rd_uleb(c);
      set_rule(st, reg, HOW_OTHER, 0);
      break;
    case 0x0a:                            /* DW_CFA_remember_state */
      if (depth == CFI_STATES) return false;
      saved[depth++] = *st;
      break;
    case 0x0b:                            /* DW_CFA_restore_state (with the CFA, as GCC means it) */
      if (depth == 0) return false;
      *st = saved[--depth];
      break;
    case 0x0c:                            /* DW_CFA_def_cfa */
      st->cfa_reg = rd_uleb(c);
      st->cfa_off = (int64_t)rd_uleb(c);
      st->cfa_expr = false;
      break;
    case 0x0d: st->cfa_reg = rd_uleb(c); st->cfa_expr = false; break;   /* DW_CFA_def_cfa_register */
    case 0x0e: st->cfa_off = (int64_t)rd_uleb(c); break;                /* DW_CFA_def_cfa_offset */
    case 0x0f:                            /* DW_CFA_def_cfa_expression */
      n = rd_uleb(c);
      if ((size_t)(c->end - c->p) < n) return false;
      c->p += n;
      st->cfa_expr = true;
      break;
    case 0x10: case 0x16:                 /* DW_CFA_expression, DW_CFA_val_expression */
      reg = rd_uleb(c);
      n = rd_uleb(c);
      if ((size_t)(c->end - c->p) < n) return false;
      c->p += n;
      set_rule(st, reg, HOW_OTHER, 0);
      break;
    case 0x11:                            /* DW_CFA_offset_extended_sf */
      reg = rd_uleb(c);
      set_rule(st, reg, HOW_OFFSET, rd_sleb(c) * daf);
      break;
    case 0x12:                            /* DW_CFA_def_cfa_sf */
      st->cfa_reg = rd_uleb(c);
      st->cfa_off = rd_sleb(c) * daf;
      st->cfa_expr = false;
      break;
    case 0x13: st->cfa_off = rd_sleb(c) * daf; break;   /* DW_CFA_def_cfa_offset_sf */
    case 0x14: case 0x15:                 /* DW_CFA_val_offset, _sf */
      reg = rd_uleb(c);
      rd_uleb(c);
      set_rule(st, reg, HOW_OTHER, 0);
      break;
    case 0x2e: rd_uleb(c); break;         /* DW_CFA_GNU_args_size */
    case 0x2f:                            /* DW_CFA_GNU_negative_offset_extended */
      reg = rd_uleb(c);
      set_rule(st, reg, HOW_OFFSET, -(int64_t)rd_uleb(c) * daf);
      break;
    default:
      return false;                       /* DW_CFA_set_loc, vendor codes */
    }
  }
  return !c->bad;
}

/* A rule: how the caller's registers follow from this frame's. */
#define RULE_END      1u                  /* the stack ends here (or no CFI) */
#define RULE_LIBGCC   2u                  /* unwind the whole stack by libgcc */
#define RULE_CFA_BP   4u                  /* the CFA is rbp + cfa_off (else rsp + cfa_off) */
#define RULE_BP_SAVED 8u                  /* the caller's rbp is at CFA - bp_down (else rbp) */
#define RULE_LASTING  16u                 /* in an object that is never unloaded */
#define RULE_NO_CFI   32u                 /* (with RULE_END) no FDE: not cached, a
                                             library may be loaded there later */
typedef struct {
  uint32_t flags;
  uint32_t bp_down;
  uint64_t cfa_off;
} rule_t;

static const rule_t rule_libgcc = { RULE_LIBGCC, 0, 0 };
static const rule_t rule_end = { RULE_END, 0, 0 };
static const rule_t rule_no_cfi = { RULE_END | RULE_NO_CFI, 0, 0 };

/* The rule of code address key, read from its CFI. */
static rule_t rule_read(uintptr_t key) {
  struct dwarf_eh_bases bases;
  pthread_rwlock_rdlock(&uw_lock);
  const uint8_t *fde = _Unwind_Find_FDE((void *)key, &bases);
  pthread_rwlock_unlock(&uw_lock);
  if (!fde) return rule_no_cfi;           /* JIT code, or no stack at all */
  COUNT(misses);
  /* (.eh_frame and the FDEs stay mapped as long as their object) */
  uint32_t fde_len, cie_off, cie_len;
  memcpy(&fde_len, fde, 4);
  memcpy(&cie_off, fde + 4, 4);
  if (fde_len == 0xffffffffu || fde_len < 8) return rule_libgcc;
  const uint8_t *cie = fde + 4 - cie_off;
  memcpy(&cie_len, cie, 4);
  if (cie_len == 0xffffffffu || cie_len < 8) return rule_libgcc;

  cursor_t c = { cie + 8, cie + 4 + cie_len, false };
  uint8_t version = rd_u8(&c);
  const char *aug = (const char *)c.p;
  size_t aug_len = strnlen(aug, (size_t)(c.end - c.p));
  c.p += aug_len + 1;
  if (c.p > c.end || (aug[0] && aug[0] != 'z')) return rule_libgcc;
  uint64_t caf = rd_uleb(&c);
  int64_t daf = rd_sleb(&c);
  uint64_t ra_reg = version == 1 ? rd_u8(&c) : rd_uleb(&c);
  uint8_t fde_enc = 0;                    /* DW_EH_PE_absptr */
  if (aug[0] == 'z') {
    uint64_t n = rd_uleb(&c);
    if (c.bad || (size_t)(c.end - c.p) < n) return rule_libgcc;
    cursor_t a = { c.p, c.p + n, false };
    for (const char *q = aug + 1; *q; q++) {
      if (*q == 'R') fde_enc = rd_u8(&a);
      else if (*q == 'P') skip_encoded(&a, rd_u8(&a));
      else if (*q == 'L') rd_u8(&a);
      else return rule_libgcc;   /* 'S' (a signal frame) and the rest */
    }
    if (a.bad) return rule_libgcc;
    c.p += n;
  }
  if (c.bad || ra_reg != R_RA) return rule_libgcc;

  cfi_state_t init = { R_SP, 0, false, HOW_SAME, HOW_SAME, 0, 0 };
  if (!run_cfi(&c, 0, UINTPTR_MAX, caf, daf, &init, NULL)) return rule_libgcc;

  cursor_t f = { fde + 8, fde + 4 + fde_len, false };
  skip_encoded(&f, fde_enc);              /* its start (bases.func) */
  skip_encoded(&f, fde_enc & 0x0f);       /* its length (no relocation) */
  if (aug[0] == 'z') {
    uint64_t n = rd_uleb(&f);
    if (f.bad || (size_t)(f.end - f.p) < n) return rule_libgcc;
    f.p += n;
  }
  cfi_state_t st = init;
  if (f.bad || !run_cfi(&f, (uintptr_t)bases.func, key, caf, daf, &st, &init))
    return rule_libgcc;

  if (st.ra_how == HOW_UNDEF) return rule_end;
  if (st.cfa_expr || (st.cfa_reg != R_SP && st.cfa_reg != R_BP) || st.ra_how != HOW_OFFSET ||
      st.ra_off != -8 || st.cfa_off < 8 || (st.cfa_off & 7) || (st.bp_how != HOW_SAME && st.bp_how != HOW_OFFSET))
    return rule_libgcc;
  rule_t r = { st.cfa_reg == R_BP ? RULE_CFA_BP : 0, 0, (uint64_t)st.cfa_off };
  if (st.bp_how == HOW_OFFSET) {
    if (st.bp_off >= 0 || (st.bp_off & 7) || st.bp_off < -(int64_t)UINT32_MAX) return rule_libgcc;
    r.flags |= RULE_BP_SAVED;
    r.bp_down = (uint32_t)-st.bp_off;
  }
  return r;
}

/* ---- the cache --------------------------------------------------------------- */
/* A cache entry: a rule in one word with the tag of its address (0:
 * empty; no code is below 2^CACHE_BITS):
 *   bits 0-4 the flags, 5-20 cfa_off / 8, 21-29 bp_down / 8,
 *   30-63 the address >> CACHE_BITS (addresses below 2^48).
 * A rule with larger offsets is read from the CFI every time. */
#define CACHE_BITS 14
#define CACHE_SLOTS ((size_t)1 << CACHE_BITS)
#define KEY_LIMIT ((uintptr_t)1 << 48)
#define E_FLAGS     31u
#define E_CFA_SHIFT 5
#define E_CFA_MAX   0xffffu
#define E_BP_SHIFT  21
#define E_BP_MAX    0x1ffu
#define E_TAG_SHIFT 30

static _Atomic(uint64_t) *uw_cache;       /* CACHE_SLOTS rules, 0 empty */
static unsigned long long uw_subs;        /* dlpi_subs when it was filled */

/* Objects that are never unloaded, whose rules therefore never go stale:
 * the program, the C library and the loader (by their names: a
 * sanitizer's runtime intercepts every libc function whose address we
 * could take), ourselves.  (Every object loaded at start-up is never
 * unloaded, but which those are cannot be told from outside.) */
#define NLASTING 4
static struct { uintptr_t lo, hi; } lasting[NLASTING];

static int read_subs(struct dl_phdr_info *info, size_t size, void *arg) {
  bool has = size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof(info->dlpi_subs);
  *(unsigned long long *)arg = has ? info->dlpi_subs : ~0ull;
  return 1;                               /* the first object is enough */
}

/* The libraries unloaded so far (~0: not known, nothing is cached). */
static unsigned long long unloads(void) {
  unsigned long long subs = ~0ull;
  dl_iterate_phdr(read_subs, &subs);
  return subs;
}

static bool name_is(const char *path, const char *prefix) {
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  return strncmp(base, prefix, strlen(prefix)) == 0;
}

static int find_lasting(struct dl_phdr_info *info, size_t size, void *arg) {
  unsigned *seen = arg;
  (void)size;
  uintptr_t lo = UINTPTR_MAX, hi = 0;
  for (unsigned i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_LOAD) continue;
    uintptr_t a = info->dlpi_addr + ph->p_vaddr;
    if (a < lo) lo = a;
    if (a + ph->p_memsz > hi) hi = a + ph->p_memsz;
  }
  const uintptr_t ours = (uintptr_t)mm_unwind_init;
  const char *name = info->dlpi_name ? info->dlpi_name : "";
  unsigned k = *seen == 0 ? 0 : name_is(name, "libc.so.") ? 1 : name_is(name, "ld-linux") ? 2
             : (ours >= lo && ours < hi) ? 3 : NLASTING;
  if (k < NLASTING) { lasting[k].lo = lo; lasting[k].hi = hi; }
  ++*seen;
  return 0;
}

static bool is_lasting(uintptr_t a) {
  for (unsigned k = 0; k < NLASTING; k++)
    if (a >= lasting[k].lo && a < lasting[k].hi) return true;
  return false;
}

/* An unloaded library empties the cache: the code at a cached address
 * may be another's now.  (A walk that read a rule before the unload may
 * still store it: the window of any cache of this kind.) */
static bool check_unloads(void) {
  COUNT(checks);
  unsigned long long subs = unloads();
  if (subs == ~0ull) return false;
  if (mm_unlikely(subs != mm_load_relaxed(&uw_subs))) {
    for (size_t i = 0; i < CACHE_SLOTS; i++) atomic_store_explicit(&uw_cache[i], 0, memory_order_relaxed);
    mm_store_relaxed(&uw_subs, subs);
    COUNT(flushes);
  }
  return true;
}

/* The rule of key.  *checked: whether this walk asked glibc about
 * unloads yet -- only needed before trusting a cached rule of an object
 * that may be unloaded (0: no cache). */
static rule_t rule_of(uintptr_t key, int *checked) {
  if (*checked < 0 || key >= KEY_LIMIT) return rule_read(key);
  _Atomic(uint64_t) *slot = &uw_cache[key & (CACHE_SLOTS - 1)];
  uint64_t e = atomic_load_explicit(slot, memory_order_relaxed);
  if (mm_likely(e >> E_TAG_SHIFT == key >> CACHE_BITS)) {
    if (mm_likely(e & RULE_LASTING) || *checked) {
      rule_t r = { (uint32_t)e & E_FLAGS, (uint32_t)(e >> E_BP_SHIFT & E_BP_MAX) * 8, (e >> E_CFA_SHIFT & E_CFA_MAX) * 8 };
      return r;
    }
    *checked = check_unloads() ? 1 : -1;
    return rule_of(key, checked);
  }
  rule_t r = rule_read(key);
  if (is_lasting(key)) r.flags |= RULE_LASTING;
  if (!(r.flags & RULE_NO_CFI) && r.cfa_off / 8 <= E_CFA_MAX && r.bp_down / 8 <= E_BP_MAX && !(r.cfa_off & 7) &&
      !(r.bp_down & 7))
    atomic_store_explicit(slot, (uint64_t)r.flags | r.cfa_off / 8 << E_CFA_SHIFT | (uint64_t)(r.bp_down / 8) << E_BP_SHIFT |
                                    (uint64_t)(key >> CACHE_BITS) << E_TAG_SHIFT, memory_order_relaxed);
  return r;
}

#define WALK_LIBGCC UINT32_MAX

/* Walk from the frame at pc (exact: the code runs there) with these
 * stack and frame pointers. */
static unsigned walk(uintptr_t pc, uintptr_t sp, uintptr_t bp, uintptr_t *ips, unsigned max) {
  int checked = uw_cache ? 0 : -1;
  unsigned n = 0;
  uintptr_t key = pc;
  while (n < max) {
    rule_t r = rule_of(key, &checked);
    if (mm_unlikely(r.flags & (RULE_LIBGCC | RULE_END))) {
      if (r.flags & RULE_LIBGCC) return WALK_LIBGCC;
      break;
    }
    uintptr_t cfa = ((r.flags & RULE_CFA_BP) ? bp : sp) + r.cfa_off;
    if (mm_unlikely(cfa <= sp || (cfa & 7))) break;   /* not up the stack: it is not one */
    uintptr_t ra = *(const uintptr_t *)(cfa - 8);
    if (r.flags & RULE_BP_SAVED) bp = *(const uintptr_t *)(cfa - r.bp_down);
    sp = cfa;
    if (mm_unlikely(ra == 0)) break;
    ips[n++] = ra;
    key = ra - 1;                         /* in the call, not after it */
  }
  return n;
}

MM_API_TEXT mm_noinline unsigned mm_unwind_from(uintptr_t pc, uintptr_t sp, uintptr_t bp, uintptr_t *ips,
                                                unsigned max) {
  unsigned n = walk(pc, sp, bp, ips, max);
  if (n == WALK_LIBGCC) {
    COUNT(fallback);
    n = mm_unwind_libgcc(ips, max);
  } else {
    COUNT(fast);
  }
  __asm__ volatile("" ::: "memory");   /* not a tail call: this frame is ours */
  return n;
}

MM_API_TEXT mm_noinline unsigned mm_unwind(uintptr_t *ips, unsigned max) {
  uintptr_t pc, sp, bp;
  MM_UNWIND_REGS(pc, sp, bp);
  unsigned n = mm_unwind_from(pc, sp, bp, ips, max);
  __asm__ volatile("" ::: "memory");   /* not a tail call: this frame is ours */
  return n;
}

#ifdef MM_TEST_SEAMS
void mm_unwind_test_nothing_lasts(void) {
  memset(lasting, 0, sizeof(lasting));
  for (size_t i = 0; i < CACHE_SLOTS; i++) atomic_store_explicit(&uw_cache[i], 0, memory_order_relaxed);
}
#endif

size_t mm_unwind_init(void) {
  uintptr_t warm[8];
#ifndef PIC
  /* libgcc's first use, now: in a static program it registers the
   * program's objects, and allocates.  (In the shared library it finds
   * them through glibc; and a thread inside the profiler is not sampled,
   * were a JIT's registered frames to make it allocate later.) */
  mm_unwind_libgcc(warm, 8);
#endif
  size_t bytes = CACHE_SLOTS * sizeof(uint64_t);
  uw_cache = mm_os_mmap(bytes);
  if (!uw_cache) return 0;
  uw_subs = unloads();
  unsigned seen = 0;
  dl_iterate_phdr(find_lasting, &seen);
  mm_unwind(warm, 8);
  return bytes;
}

#else   /* not x86_64: libgcc walks every stack */

MM_API_TEXT mm_noinline unsigned mm_unwind_from(uintptr_t pc, uintptr_t sp, uintptr_t bp, uintptr_t *ips,
                                                unsigned max) {
  (void)pc, (void)sp, (void)bp;
  COUNT(fallback);
  unsigned n = mm_unwind_libgcc(ips, max);
  __asm__ volatile("" ::: "memory");
  return n;
}

MM_API_TEXT mm_noinline unsigned mm_unwind(uintptr_t *ips, unsigned max) {
  unsigned n = mm_unwind_from(0, 0, 0, ips, max);
  __asm__ volatile("" ::: "memory");
  return n;
}

size_t mm_unwind_init(void) {
  uintptr_t warm[8];
  mm_unwind_libgcc(warm, 8);
  return 0;
}

#endif
