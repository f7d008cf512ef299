#!/bin/sh
# test_layers.sh -- the library's files stand on floors (listed once, at
# the top of src/internal.h): each object file may use only symbols that
# files on its own floor or below define, and the files of one floor must
# not use each other in a cycle.  Reads the objects of the build
# (src/libmymalloc_la-*.lo and the objects they name) with nm, so it works
# in a VPATH build and under distcheck.
#
#   tests/test_layers.sh            (make check sets srcdir, top_builddir)
#   MM_LAYERS_SHOW=1 ...            also print every edge of the graph
set -u
srcdir=${srcdir:-.}
build=${top_builddir:-.}
header=$srcdir/src/internal.h
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
done_() { echo "$pass passed, $fail failed"; [ "$fail" = 0 ] && exit 0 || exit 1; }

command -v nm >/dev/null 2>&1 || { echo "FAIL: nm not found (binutils)"; echo "0 passed, 1 failed"; exit 1; }
[ -r "$header" ] || { echo "FAIL: cannot read $header"; echo "0 passed, 1 failed"; exit 1; }

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

# the floors: " *   floor N name:   file file ..."
sed -n 's/^ \*   floor \([0-9][0-9]*\) [a-z]*: *\(.*\)$/\1 \2/p' "$header" |
  while read -r n files; do for f in $files; do echo "$f $n"; done; done >"$tmp/floors"
[ -s "$tmp/floors" ] && ok || bad "no floors found in $header"

# the objects: each .lo names its PIC object (or its non-PIC one)
: >"$tmp/defs"; : >"$tmp/undefs"
nobj=0
for lo in "$build"/src/libmymalloc_la-*.lo; do
  [ -f "$lo" ] || continue
  name=$(basename "$lo" .lo); name=${name#libmymalloc_la-}
  obj=$(sed -n "s/^pic_object='\(.*\)'$/\1/p" "$lo")
  [ -n "$obj" ] && [ "$obj" != none ] || obj=$(sed -n "s/^non_pic_object='\(.*\)'$/\1/p" "$lo")
  obj=$(dirname "$lo")/$obj
  if [ ! -r "$obj" ]; then bad "$name: cannot read its object $obj"; continue; fi
  if ! nm "$obj" >"$tmp/nm.$name" 2>"$tmp/nm.err"; then
    bad "$name: nm cannot read $obj ($(head -1 "$tmp/nm.err")); an LTO or bitcode object? build without -flto"
    continue
  fi
  if grep -q '__gnu_lto' "$tmp/nm.$name" || [ ! -s "$tmp/nm.$name" ]; then
    bad "$name: $obj holds no machine-code symbols (LTO bitcode?); build without -flto"
    continue
  fi
  grep -q "^$name " "$tmp/floors" || bad "$name.c is on no floor of $header"
  awk -v f="$name" 'NF == 3 && $2 ~ /^[TDBRVWGS]$/ { print $3, f }' "$tmp/nm.$name" >>"$tmp/defs"
  awk -v f="$name" 'NF == 2 && $1 == "U" { print f, $2 }' "$tmp/nm.$name" >>"$tmp/undefs"
  nobj=$((nobj + 1))
done
[ "$nobj" -ge 5 ] && ok || bad "found $nobj objects in $build/src (is the library built?)"

# edges "user definer" between files, then the floor of each side
awk 'NR == FNR { def[$1] = $2; next }
     ($2 in def) && def[$2] != $1 { print $1, def[$2], $2 }' "$tmp/defs" "$tmp/undefs" |
  sort -u >"$tmp/edges.sym"
awk '{ print $1, $2 }' "$tmp/edges.sym" | sort -u >"$tmp/edges"
[ -n "${MM_LAYERS_SHOW:-}" ] && cat "$tmp/edges.sym"

up=$(awk 'NR == FNR { fl[$1] = $2; next }
          ($1 in fl) && ($2 in fl) && fl[$2] > fl[$1] { printf "%s.c (floor %s) uses %s of %s.c (floor %s)\n", $1, fl[$1], $3, $2, fl[$2] }' \
       "$tmp/floors" "$tmp/edges.sym")
if [ -n "$up" ]; then bad "calls up a floor:"; echo "$up" | sed 's/^/  /'; else ok; fi

# a cycle: repeatedly drop the edges into files that use nothing and out
# of files that nothing uses; what stays lies on a cycle
cyc=$(awk '{ e[NR] = $0; n = NR }
  END {
    do {
      changed = 0
      delete out; delete in_
      for (i = 1; i <= n; i++) if (e[i] != "") { split(e[i], a, " "); out[a[1]] = 1; in_[a[2]] = 1 }
      for (i = 1; i <= n; i++) if (e[i] != "") {
        split(e[i], a, " ")
        if (!(a[2] in out) || !(a[1] in in_)) { e[i] = ""; changed = 1 }
      }
    } while (changed)
    for (i = 1; i <= n; i++) if (e[i] != "") { split(e[i], a, " "); printf "  %s.c uses %s.c\n", a[1], a[2] }
  }' "$tmp/edges")
if [ -n "$cyc" ]; then bad "the files use each other in a cycle:"; echo "$cyc"; else ok; fi

echo "layers: $nobj objects, $(wc -l <"$tmp/edges") file dependencies"
done_
