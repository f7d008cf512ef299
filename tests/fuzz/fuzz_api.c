/*
 * fuzz_api.c -- libFuzzer target for the prefixed API (a --disable-override
 * build, so the fuzzer and AddressSanitizer keep their own malloc).
 *
 * The input is a program: each 4-byte step picks an operation (malloc,
 * calloc, realloc, reallocarray, free, free_sized, posix_memalign,
 * aligned_alloc, memalign, valloc, pvalloc, usable-size write, or a
 * hand-over to a second thread that frees the block), a slot and a size.
 * A shadow model keeps each live block's size and fill byte; every block
 * is checked (contents, alignment, usable size) before it is freed or
 * resized, and all are checked and freed at the end of the input.
 *
 *   clang -fsanitize=fuzzer,address -Iinclude tests/fuzz/fuzz_api.c \
 *         src/.libs/libmymalloc.so -o fuzz_api && ./fuzz_api -max_total_time=600
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <mymalloc/malloc.h>

#define SLOTS 64

typedef struct { unsigned char *p; size_t n; unsigned char fill; size_t align; } slot_t;
static slot_t slot[SLOTS];

/* the second thread: frees what it is handed */
static pthread_mutex_t qlock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t qcond = PTHREAD_COND_INITIALIZER, qdone = PTHREAD_COND_INITIALIZER;
static slot_t queue[SLOTS];
static int qlen;
static int started;

static void die(const char *what, size_t n) {
  fprintf(stderr, "fuzz_api: %s (size %zu)\n", what, n);
  abort();
}

static void check(const slot_t *s) {
  if (!s->p) return;
  if ((uintptr_t)s->p % (s->align > 16 ? s->align : 16)) die("misaligned block", s->n);
  if (mymalloc_malloc_usable_size(s->p) < s->n) die("usable size below request", s->n);
  for (size_t i = 0; i < s->n; i++)
    if (s->p[i] != s->fill) die("block contents changed", s->n);
}

static void *freer(void *arg) {
  (void)arg;
  pthread_mutex_lock(&qlock);
  for (;;) {
    while (qlen == 0) pthread_cond_wait(&qcond, &qlock);
    while (qlen > 0) {
      slot_t s = queue[--qlen];
      check(&s);
      mymalloc_free(s.p);
    }
    pthread_cond_broadcast(&qdone);
  }
  return NULL;
}

static void hand_over(slot_t *s) {
  pthread_mutex_lock(&qlock);
  queue[qlen++] = *s;
  pthread_cond_signal(&qcond);
  while (qlen == SLOTS) pthread_cond_wait(&qdone, &qlock);
  pthread_mutex_unlock(&qlock);
  s->p = NULL;
}

static void drain(void) {
  pthread_mutex_lock(&qlock);
  while (qlen > 0) pthread_cond_wait(&qdone, &qlock);
  pthread_mutex_unlock(&qlock);
}

static size_t pick_size(uint8_t a, uint8_t b) {
  switch (a >> 6) {
    case 0: return b;                                 /* tiny, includes 0 */
    case 1: return (size_t)b * 16 + (a & 15);         /* small classes */
    case 2: return (size_t)b * 512 + (a & 63) * 8;    /* up to ~128 KiB */
    default: return (size_t)b * 4096 + (a & 63);      /* up to ~1 MiB: huge blocks */
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!started) {
    pthread_t t;
    pthread_create(&t, NULL, freer, NULL);
    pthread_detach(t);
    started = 1;
  }
  for (size_t i = 0; i + 4 <= size; i += 4) {
    uint8_t op = data[i] % 14, k = data[i + 1] % SLOTS;
    size_t n = pick_size(data[i + 2], data[i + 3]);
    slot_t *s = &slot[k];
    unsigned char fill = (unsigned char)(i * 31 + 7);
    void *q = NULL;
    size_t align = 16;
    switch (op) {
      case 0: case 1:   /* malloc, calloc */
        check(s); mymalloc_free(s->p);
        if (op == 0) q = mymalloc_malloc(n);
        else {
          q = mymalloc_calloc(1, n);
          for (size_t j = 0; q && j < n; j++) if (((unsigned char *)q)[j]) die("calloc not zero", n);
        }
        break;
      case 2: case 3: { /* realloc, reallocarray: contents kept up to min */
        check(s);
        unsigned char *old = s->p;
        q = op == 2 ? mymalloc_realloc(old, n) : mymalloc_reallocarray(old, 1, n);
        if (!q && n != 0) die("realloc failed", n);
        size_t had = old ? s->n : 0, keep = had < n ? had : n;
        for (size_t j = 0; q && j < keep; j++) if (((unsigned char *)q)[j] != s->fill) die("realloc lost contents", n);
        if (n == 0) { s->p = NULL; continue; }   /* realloc(p, 0) freed p */
        break;
      }
      case 4: check(s); mymalloc_free(s->p); s->p = NULL; continue;
      case 5: check(s); mymalloc_free_sized(s->p, s->n); s->p = NULL; continue;
      case 6: case 7: case 8: { /* posix_memalign, aligned_alloc, memalign */
        check(s); mymalloc_free(s->p);
        align = (size_t)1 << (4 + data[i + 3] % 19);   /* 16 .. 4 MiB */
        if (n > (1u << 20)) n >>= 4;
        if (op == 6) { if (mymalloc_posix_memalign(&q, align, n)) q = NULL; }
        else if (op == 7) q = mymalloc_aligned_alloc(align, n);
        else q = mymalloc_memalign(align, n);
        break;
      }
      case 9: case 10: /* valloc, pvalloc */
        check(s); mymalloc_free(s->p);
        q = op == 9 ? mymalloc_valloc(n) : mymalloc_pvalloc(n);
        align = 4096;
        break;
      case 11:          /* write the whole usable size, then restore */
        if (s->p) {
          size_t u = mymalloc_malloc_usable_size(s->p);
          memset(s->p, 0xee, u);
          memset(s->p, s->fill, s->n);
        }
        continue;
      case 12: case 13: /* freed by the other thread */
        if (s->p) hand_over(s);
        continue;
    }
    if (!q) die("allocation failed", n);
    s->p = q; s->n = n; s->fill = fill; s->align = align;
    memset(q, fill, n);
    check(s);
  }
  for (int k = 0; k < SLOTS; k++) { check(&slot[k]); mymalloc_free(slot[k].p); slot[k].p = NULL; }
  drain();
  return 0;
}
