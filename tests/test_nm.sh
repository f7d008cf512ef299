#!/bin/sh
# test_nm.sh -- the library exports exactly the API, without symbol versions.
#
# `nm -D --defined-only libmymalloc.so` must list exactly: libc's allocation
# names (unless configured with --disable-override) and every mymalloc_*
# function declared in include/mymalloc/malloc.h -- no other symbol (no
# internal function, no TLS variable, no version node), none missing.
# The overriding names must carry no version: a reference to
# malloc@GLIBC_2.2.5 binds to an unversioned malloc in a preloaded library,
# not to malloc@MYMALLOC_x (objdump -T must show no MYMALLOC node).
# Environment: top_builddir (set by tests/local.mk), srcdir (automake).

name=test_nm
pass=0
fail=0
ok() { pass=$((pass + 1)); }
ko() { fail=$((fail + 1)); echo "FAIL $name: $*" >&2; }
done_() { echo "$name: $pass passed, $fail failed"; [ "$fail" -eq 0 ] || exit 1; exit 0; }

: "${top_builddir:=.}"
: "${srcdir:=.}"
lib=$top_builddir/src/.libs/libmymalloc.so
if [ ! -f "$lib" ]; then
  # the soname file is the real one when the unversioned link is absent
  lib=$top_builddir/src/.libs/libmymalloc.so.0
fi
header=$srcdir/include/mymalloc/malloc.h
for tool in nm objdump; do
  if ! command -v $tool >/dev/null 2>&1; then
    echo "$name: SKIP, $tool not found"
    exit 77
  fi
done
[ -f "$lib" ] && ok || { ko "library $lib not found"; done_; }
[ -f "$header" ] && ok || { ko "header $header not found"; done_; }

tmp=${TMPDIR:-/tmp}/mymalloc-nm.$$
mkdir "$tmp" || exit 99
trap 'rm -rf "$tmp"' EXIT INT TERM

override=yes
if [ -f "$top_builddir/config.h" ] && ! grep -q '^#define MM_OVERRIDE 1' "$top_builddir/config.h"; then
  override=no
fi

# the expected list
{
  if [ $override = yes ]; then
    for s in malloc free calloc realloc reallocarray posix_memalign aligned_alloc memalign \
             valloc pvalloc malloc_usable_size malloc_trim mallinfo mallinfo2 mallopt \
             malloc_stats malloc_info free_sized free_aligned_sized cfree __libc_malloc __libc_free \
             __libc_calloc __libc_realloc __libc_memalign __libc_valloc __libc_pvalloc \
             __libc_mallinfo __libc_mallopt __posix_memalign; do
      echo "$s"
    done
  fi
  # every mymalloc_NAME( declared in the header
  sed -n 's/.*\<\(mymalloc_[A-Za-z0-9_]*\)[ ]*(.*/\1/p' "$header"
} | LC_ALL=C sort -u > "$tmp/expected"

# what the library exports (nm of binutils >= 2.35 appends @VERSION)
nm -D --defined-only "$lib" > "$tmp/nm.raw" 2>"$tmp/nm.err"
[ $? -eq 0 ] && ok || ko "nm failed: $(cat "$tmp/nm.err")"
awk '{ print $NF }' "$tmp/nm.raw" | sed 's/@.*//' | LC_ALL=C sort -u > "$tmp/actual"

n_exp=$(wc -l < "$tmp/expected")
[ "$n_exp" -ge 19 ] && ok || ko "only $n_exp names expected: is $header complete?"

extra=$(LC_ALL=C comm -13 "$tmp/expected" "$tmp/actual")
missing=$(LC_ALL=C comm -23 "$tmp/expected" "$tmp/actual")
[ -z "$extra" ] && ok || ko "exported but not in the API: $(echo $extra)"
[ -z "$missing" ] && ok || ko "in the API but not exported: $(echo $missing)"

# no versioned definition at all, and malloc in particular is plain
if grep -q '@' "$tmp/nm.raw"; then
  ko "versioned symbols: $(grep '@' "$tmp/nm.raw" | awk '{print $NF}' | head -5 | tr '\n' ' ')"
else
  ok
fi
if [ $override = yes ]; then
  grep -q ' T malloc$' "$tmp/nm.raw" && ok || ko "malloc is not a plain defined text symbol: $(grep ' malloc' "$tmp/nm.raw")"
  grep -q ' T free$' "$tmp/nm.raw" && ok || ko "free is not a plain defined text symbol"
fi
objdump -T "$lib" > "$tmp/objdump" 2>&1
[ $? -eq 0 ] && ok || ko "objdump -T failed"
if grep -q 'MYMALLOC' "$tmp/objdump"; then
  ko "a MYMALLOC version node: $(grep MYMALLOC "$tmp/objdump" | head -3)"
else
  ok
fi
if [ $override = yes ]; then
  # the defined malloc: version column empty or Base, never a node of ours
  line=$(grep -E '[[:space:]]malloc$' "$tmp/objdump" | grep -v '\*UND\*')
  [ -n "$line" ] && ok || ko "objdump -T shows no defined malloc"
  case $line in
    *GLIBC*|*MYMALLOC*|*'('*) ko "malloc is versioned: $line" ;;
    *) ok ;;
  esac
fi
# no TLS or data symbol leaks (everything exported is a function)
if awk '$2 != "T" && $2 != "W" && $2 != "i"' "$tmp/nm.raw" | grep -q .; then
  ko "non-function symbols exported: $(awk '$2 != "T" && $2 != "W" && $2 != "i" {print $NF}' "$tmp/nm.raw" | tr '\n' ' ')"
else
  ok
fi
done_
