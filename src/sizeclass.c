/*
 * sizeclass.c -- the 44 size classes (internal.h draws them) and every
 * table derived from them, generated at compile time from one list.
 * tests/unit/test_sizeclass checks each table against its definition.
 */
#include "sizeclass.h"

/* The block sizes, ascending.  X(size, arg) */
#define MM_CLASSES(X, a)                                                       \
  X(16, a) X(32, a) X(48, a) X(64, a) X(80, a) X(96, a) X(112, a) X(128, a)    \
  X(160, a) X(192, a) X(224, a) X(256, a) X(320, a) X(384, a) X(448, a)        \
  X(512, a) X(640, a) X(768, a) X(896, a) X(1024, a) X(1280, a) X(1536, a)     \
  X(1792, a) X(2048, a) X(2560, a) X(3072, a) X(3584, a) X(4096, a)            \
  X(5120, a) X(6144, a) X(7168, a) X(8192, a) X(10240, a) X(12288, a)          \
  X(14336, a) X(16384, a) X(20480, a) X(24576, a) X(28672, a) X(32768, a)      \
  X(40960, a) X(49152, a) X(57344, a) X(65536, a)

#define SIZE(s, a) s,
const uint32_t mm_class_size[MM_NCLASSES] = { MM_CLASSES(SIZE, 0) };
_Static_assert(sizeof(mm_class_size) / sizeof(mm_class_size[0]) == MM_NCLASSES, "44 classes");

/* The block-start test (mm_is_block_start) multiplies the offset of a
 * pointer in its page by magic = floor(2^64 / size) + 1.  Then size *
 * magic = 2^64 + step with 1 <= step <= size, so for off = k * size the
 * product (mod 2^64) is k * step, small; for any other offset within a
 * segment (|off| < 4 MiB) it is at least 2^64 / size - 2^36 > 2^47.  So
 * "off * magic < reserved * step" holds exactly for the starts of the
 * blocks carved so far: one multiply and one compare
 * (tests/unit/test_sizeclass checks every offset). */
#define MAGIC_OF(s) (UINT64_MAX / (s) + 1 + (((s) & ((s) - 1)) == 0))
#define MAGIC(s, a) MAGIC_OF(s),
const uint64_t mm_class_magic[MM_NCLASSES] = { MM_CLASSES(MAGIC, 0) };
#define STEP(s, a) (uint64_t)(s) * MAGIC_OF(s),
const uint64_t mm_class_step[MM_NCLASSES] = { MM_CLASSES(STEP, 0) };

/* The cross-thread cache holds 32 KiB of a class, 8 to 512 blocks; none
 * of blocks smaller than a cache line: reused by the thread that freed
 * them, they would share lines with their neighbours' threads (passive
 * false sharing, Hoard's cache-scratch test); they go back to their owner */
#define XCAP(s, a) ((s) < 64 ? 0 : 32768 / (s) < 8 ? 8 : 32768 / (s) > 512 ? 512 : 32768 / (s)),
const uint16_t mm_xcache_cap[MM_NCLASSES] = { MM_CLASSES(XCAP, 0) };

/* The fast slots (n + 15) >> 4 of class c run from the end of the class
 * below's (0 for the first) to size / 16 + 1, exclusive. */
#define SLOT_END(s, a) (s) / 16 + 1,
const uint16_t mm_class_slot_end[MM_NCLASSES] = { MM_CLASSES(SLOT_END, 0) };

/* mm_class_lookup[i]: the smallest class that holds 16 * i bytes, i.e.
 * the number of classes smaller than 16 * i. */
#define SMALLER(s, n) + ((s) < (n))
#define L(i) (0 MM_CLASSES(SMALLER, (i) * 16)),
#define L4(i) L(i) L(i + 1) L(i + 2) L(i + 3)
#define L16(i) L4(i) L4(i + 4) L4(i + 8) L4(i + 12)
const uint8_t mm_class_lookup[MM_NSLOTS] = { L16(0) L16(16) L16(32) L16(48) L(64) };
_Static_assert(MM_NSLOTS == 65, "the lookup table covers 0..1024");
