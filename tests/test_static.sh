#!/bin/sh
# test_static.sh -- a program linked with -static against the built
# libmymalloc.a really uses mymalloc, threads and fork included.
#
# tests/static_prog.c is compiled with $CC -static, linked the way the
# README says (pkg-config --static --libs libmymalloc, here with the
# uninstalled libmymalloc.pc and libdir pointed at src/.libs), and with
# src/.libs/libmymalloc.a named directly.  Each link must succeed (no
# duplicate definition from libc.a's malloc.o), glibc's allocator must be
# absent from the program (no _int_malloc), and the program's heap reports
# (mymalloc_stats_print JSON) must count its requests: 4000 of class 3072
# in the parent (4 threads), 500 of class 7168 in the child of a fork made
# while the threads allocate, and none of those in the parent.
# Skipped (77, with the reason) in --disable-override builds, under the
# sanitizers (they bring their own malloc), and where libc.a is missing.
# Environment: top_builddir, srcdir (tests/local.mk), CC, CFLAGS, LDFLAGS.

name=test_static
pass=0
fail=0
ok() { pass=$((pass + 1)); }
ko() { fail=$((fail + 1)); echo "FAIL $name: $*" >&2; }
skip() { echo "$name: SKIP: $*"; exit 77; }

: "${top_builddir:=.}"
: "${srcdir:=.}"
: "${CC:=cc}"
archive=$top_builddir/src/.libs/libmymalloc.a
case "${MYMALLOC_TEST_RUNNER:-}" in *qemu*)
  skip "it runs the programs it links, built for another machine than this shell's (qemu-user)";;
esac
if [ -f "$top_builddir/config.h" ] && ! grep -q '^#define MM_OVERRIDE 1' "$top_builddir/config.h"; then
  skip "a --disable-override build defines no malloc for a static program"
fi
case " ${CFLAGS:-} ${LDFLAGS:-} " in
  *-fsanitize=*) skip "a sanitizer build (the sanitizer runtime brings its own malloc, and links dynamically)" ;;
esac
if grep -q '^#define MM_STATS 0' "$top_builddir/config.h" 2>/dev/null; then
  skip "a --disable-stats build counts no requests"
fi
[ -f "$archive" ] || skip "$archive not built (configured with --disable-static?)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mymalloc-static.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT INT TERM
printf 'int main(void) { return 0; }\n' > "$tmp/empty.c"
$CC -static -o "$tmp/empty" "$tmp/empty.c" > "$tmp/empty.log" 2>&1 ||
  skip "$CC -static cannot link a program here (libc.a missing?): $(head -c 200 "$tmp/empty.log")"

cflags="-O2 -Wall -Wextra -Werror -I$srcdir/include -I$srcdir/tests"

# check PROG: run PROG and read its two reports
check() {
  prog=$1 how=$2
  "$prog" > "$tmp/out" 2> "$tmp/err"
  st=$?
  [ $st = 0 ] && ok || ko "$how: exit status $st: $(head -c 300 "$tmp/err")"
  grep -q '^static_prog: [0-9]* passed, 0 failed$' "$tmp/out" && ok ||
    ko "$how: $(grep 'static_prog:' "$tmp/out") $(head -c 300 "$tmp/err")"
  # the first report is the child's, the second the parent's
  n=$(grep -c '"schema": "mymalloc-stats/1"' "$tmp/out")
  [ "$n" = 2 ] && ok || ko "$how: $n heap reports, expected 2"
  awk -v out="$tmp/report" '
    /"schema"/ { r++ }
    /"block_size"/ {
      bs = $0; sub(/.*"block_size": /, "", bs); sub(/,.*/, "", bs)
      a = $0; sub(/.*"alloc_requests": /, "", a); sub(/,.*/, "", a)
      print r, bs, a > out
    }' "$tmp/out"
  allocs() { awk -v r="$1" -v b="$2" '$1 == r && $2 == b { n = $3 } END { print n + 0 }' "$tmp/report"; }
  c3=$(allocs 1 3072) c7=$(allocs 1 7168) p3=$(allocs 2 3072) p7=$(allocs 2 7168)
  [ "$c7" -ge 500 ] && ok || ko "$how: the child's report counts $c7 requests of 7168 bytes, expected >= 500"
  [ "$p3" -ge 4000 ] && ok || ko "$how: the parent's report counts $p3 requests of 3072 bytes, expected >= 4000"
  [ "$p7" -lt 500 ] && ok || ko "$how: the parent counts $p7 requests of 7168 bytes: the child's?"
  [ "$c3" -le "$p3" ] && ok || ko "$how: the child counts more 3072-byte requests ($c3) than the parent ($p3)"
}

# 1. as the README says: pkg-config --static (the uninstalled .pc)
if command -v pkg-config >/dev/null 2>&1 && [ -f "$top_builddir/libmymalloc.pc" ]; then
  libs=$(PKG_CONFIG_PATH=$top_builddir pkg-config --define-variable=libdir="$top_builddir/src/.libs" \
           --static --libs libmymalloc)
  if $CC -static $cflags -o "$tmp/prog1" "$srcdir/tests/static_prog.c" $libs > "$tmp/link1.log" 2>&1; then
    ok
    check "$tmp/prog1" "pkg-config --static"
    nm "$tmp/prog1" 2>/dev/null | grep -qw _int_malloc && ko "glibc's malloc.o is in the program" || ok
  else
    ko "cc -static prog.c $libs: $(grep -m3 -e 'multiple definition' -e error "$tmp/link1.log")"
  fi
else
  echo "$name: pkg-config not found: only the direct link"
fi

# 2. the archive named directly
if $CC -static $cflags -o "$tmp/prog2" "$srcdir/tests/static_prog.c" "$archive" -lpthread > "$tmp/link2.log" 2>&1; then
  ok
  check "$tmp/prog2" "libmymalloc.a"
  nm "$tmp/prog2" 2>/dev/null | grep -qw _int_malloc && ko "glibc's malloc.o is in the program" || ok
  # the program is static: no interpreter
  if command -v readelf >/dev/null 2>&1; then
    readelf -l "$tmp/prog2" | grep -q 'Requesting program interpreter' && ko "prog2 is not static" || ok
  fi
else
  ko "cc -static prog.c libmymalloc.a: $(grep -m3 -e 'multiple definition' -e error "$tmp/link2.log")"
fi

echo "$name: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
