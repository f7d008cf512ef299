#!/bin/sh
# test_prof_tool.sh -- mymalloc-prof reads a heap profile: the sites ranked
# and unsampled as pprof does, the addresses symbolised from the ELF files,
# the flame graph, the leaks, the difference of two profiles, bad files.
#
# tests/prof_fake writes three profiles in the library's format whose
# stacks are real addresses of its own functions (site_a, site_b, site_c,
# demo::leak() under main) and of libc (a stack of printf alone), with
# known raw counts (see tests/prof_fake.c); the expected unsampled figures
# are computed here with awk, to the byte (rounding only).  When
# google-pprof is installed it must rank the same profile the same way.
# Skipped (77) without python3, and under qemu-user.
# Environment: top_builddir (tests/local.mk).

name=test_prof_tool
pass=0
fail=0
ok() { pass=$((pass + 1)); }
ko() { fail=$((fail + 1)); echo "FAIL $name: $*" >&2; }
skip() { echo "$name: SKIP: $*"; exit 77; }

: "${top_builddir:=.}"
prof=$top_builddir/tools/mymalloc-prof
fake=$top_builddir/tests/prof_fake
case "${MYMALLOC_TEST_RUNNER:-}" in *qemu*)
  skip "prof_fake is built for another machine than the one mymalloc-prof reads its files on (qemu-user)";;
esac
[ -x /usr/bin/python3 ] || skip "no /usr/bin/python3 (mymalloc-prof is a Python 3 program)"
[ -x "$prof" ] && [ -x "$fake" ] || skip "$prof or $fake not built"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mymalloc-prof.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT INT TERM
"$fake" "$tmp" || { echo "FAIL $name: prof_fake did not write its profiles"; exit 1; }

# near GOT WANT: the same integer, but for rounding (1 either way)
near() { awk -v g="$1" -v w="$2" 'BEGIN { d = g - w; exit !(g != "" && d <= 1 && d >= -1) }'; }
# unsampled COUNT BYTES RATE: "count bytes" as pprof's heap_v2 does it
unsampled() {
  awk -v c="$1" -v b="$2" -v r="$3" 'BEGIN { s = 1 / (1 - exp(-(b / c) / r)); printf "%.0f %.0f\n", c * s, b * s }'
}
# line FILE PATTERN: the number of the first line of FILE matching PATTERN (or 9999)
line() { n=$(grep -n -e "$2" "$1" | head -n 1 | cut -d: -f1); echo "${n:-9999}"; }

set -- $(unsampled 10 10240 524288); ac=$1 ab=$2
set -- $(unsampled 8 8388608 524288); bc=$1 bb=$2
set -- $(unsampled 1 48 524288); dc=$1 db=$2
set -- $(unsampled 2 64 524288); lc=$1 lb=$2
set -- $(unsampled 100 6553600 524288); cb=$2
total_b=$((ab + bb + db + lb)) total_c=$((ac + bc + dc + lc))

# ---- the top sites ------------------------------------------------------------------------
"$prof" --bytes --no-lines "$tmp/fake.heap" > "$tmp/top" 2> "$tmp/err"
st=$?
[ $st = 0 ] && [ ! -s "$tmp/err" ] && ok || ko "mymalloc-prof FILE: status $st: $(head -c 300 "$tmp/err")"
hdr=$(head -n 1 "$tmp/top")
got_b=$(echo "$hdr" | sed -n 's/^Total in use: \([0-9]*\) B .* in \([0-9]*\) objects; 21 samples, sampling rate 524288 B$/\1/p')
got_c=$(echo "$hdr" | sed -n 's/^Total in use: \([0-9]*\) B .* in \([0-9]*\) objects; 21 samples, sampling rate 524288 B$/\2/p')
near "$got_b" $total_b && near "$got_c" $total_c && ok ||
  ko "header '$hdr', expected in use $total_b B in $total_c objects, 21 samples, rate 524288"
sed -n 2p "$tmp/top" | grep -q '^ *flat  *flat%  *sum%  *cum  *cum%  *name$' && ok || ko "no column heads: $(sed -n 2p "$tmp/top")"
# flat (a site) and cum columns, to the byte
flat() { awk -v n="$2" '$6 == n { sub(/B$/, "", $1); print $1; exit }' "$1"; }
cum() { awk -v n="$2" '$6 == n { sub(/B$/, "", $4); print $4; exit }' "$1"; }
near "$(flat "$tmp/top" site_b)" $bb && near "$(flat "$tmp/top" site_a)" $ab && ok ||
  ko "flat site_b $(flat "$tmp/top" site_b) (expected $bb), site_a $(flat "$tmp/top" site_a) (expected $ab)"
near "$(cum "$tmp/top" main)" $((ab + bb + db)) && near "$(flat "$tmp/top" main)" 0 && ok ||
  ko "main: flat $(flat "$tmp/top" main), cum $(cum "$tmp/top" main), expected 0 and $((ab + bb + db))"
[ "$(line "$tmp/top" ' site_b$')" -eq 3 ] && [ "$(line "$tmp/top" ' site_a$')" -eq 4 ] && ok ||
  ko "site_b is not first and site_a second: $(cat "$tmp/top")"
grep -q ' printf$' "$tmp/top" && grep -q ' __libc_start_call_main$\| __libc_start_main$' "$tmp/top" && ok ||
  ko "libc's functions not named: $(cat "$tmp/top")"
if command -v c++filt > /dev/null 2>&1; then
  grep -q ' demo::leak()$' "$tmp/top" && ok || ko "_ZN4demo4leakEv not demangled: $(cat "$tmp/top")"
else
  grep -q ' _ZN4demo4leakEv$' "$tmp/top" && ok || ko "_ZN4demo4leakEv not named: $(cat "$tmp/top")"
fi
# the same in KiB/MiB, and file:line from addr2line where there is debug information
"$prof" "$tmp/fake.heap" > "$tmp/human" 2>&1
grep -q '^ *[0-9.]*MiB  *[0-9.]*%  *[0-9.]*%  *[0-9.]*MiB  *[0-9.]*%  site_b' "$tmp/human" && ok ||
  ko "no MiB figures for site_b: $(cat "$tmp/human")"
if command -v addr2line > /dev/null 2>&1 && command -v readelf > /dev/null 2>&1 &&
   readelf -S "$fake" 2>/dev/null | grep -q '\.debug_line'; then
  grep -q '  site_b prof_fake\.c:[0-9][0-9]*$' "$tmp/human" && ok || ko "no file:line for site_b: $(cat "$tmp/human")"
else
  echo "$name: prof_fake has no line table or there is no addr2line: file:line not checked"
fi
# --top, --objects, --alloc
"$prof" --top 1 --no-lines "$tmp/fake.heap" > "$tmp/top1"
[ "$(wc -l < "$tmp/top1")" = 4 ] && sed -n 3p "$tmp/top1" | grep -q ' site_b$' && grep -q '^(5 more below the top 1' "$tmp/top1" && ok ||
  ko "--top 1: $(cat "$tmp/top1")"
"$prof" --objects --no-lines "$tmp/fake.heap" > "$tmp/obj"
[ "$(line "$tmp/obj" ' site_a$')" -lt "$(line "$tmp/obj" ' site_b$')" ] && near "$(flat "$tmp/obj" site_a)" $ac && ok ||
  ko "--objects: site_a ($ac objects) not above site_b ($bc): $(cat "$tmp/obj")"
"$prof" --alloc --bytes --no-lines "$tmp/fake.heap" > "$tmp/alloc"
[ "$(line "$tmp/alloc" ' site_c$')" -eq 3 ] && near "$(flat "$tmp/alloc" site_c)" $cb &&
  grep -q '^Total allocated: ' "$tmp/alloc" && ok || ko "--alloc: site_c (freed, $cb B) not first: $(cat "$tmp/alloc")"
# rate 1: nothing to unsample
"$prof" --bytes --no-lines "$tmp/rate1.heap" > "$tmp/rate1"
head -n 1 "$tmp/rate1" | grep -q '^Total in use: 2300 B (2.2KiB) in 5 objects; 5 samples, sampling rate 1 B$' &&
  [ "$(flat "$tmp/rate1" site_a)" = 300 ] && [ "$(flat "$tmp/rate1" site_b)" = 2000 ] && ok ||
  ko "rate 1 scaled: $(cat "$tmp/rate1")"

# ---- the flame graph ----------------------------------------------------------------------------
if "$prof" --svg "$tmp/f.svg" "$tmp/fake.heap" > "$tmp/out" 2>&1 && [ ! -s "$tmp/out" ]; then ok; else ko "--svg: $(cat "$tmp/out")"; fi
/usr/bin/python3 - "$tmp/f.svg" > "$tmp/svgcheck" 2>&1 <<'EOF'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
ns = "{http://www.w3.org/2000/svg}"
assert root.tag == ns + "svg", root.tag
tips = [t.text for g in root.iter(ns + "g") for t in g.iter(ns + "title")]
widths = {}
for g in root.iter(ns + "g"):
    widths[g.get("data-n").split(" ")[0]] = float(g.find(ns + "rect").get("width"))
for want in ("site_a", "site_b", "main", "printf"):
    assert any(t.startswith(want) for t in tips), (want, tips)
# widths in proportion to the bytes: site_b about 1.85 times site_a, all the widest
assert 1.8 < widths["site_b"] / widths["site_a"] < 1.9, widths
assert widths["all"] == max(widths.values()), widths
print("ok", len(tips), "frames")
EOF
grep -q '^ok ' "$tmp/svgcheck" && ok || ko "the SVG: $(cat "$tmp/svgcheck")"

# ---- the leaks -------------------------------------------------------------------------------------
"$prof" --leaks --no-lines "$tmp/fake.heap" > "$tmp/leaks" 2>&1
st=$?
heading=$(line "$tmp/leaks" '^Allocations of libc and the loader (ld.so), libstdc++ or libgcc that are never freed, not the program.s leaks: 1 stack, ')
[ $st = 0 ] && [ "$heading" -lt 9999 ] && ok || ko "--leaks: status $st, no heading for libc's own: $(cat "$tmp/leaks")"
grep -q "leaks of the program: 3 stacks, $((ab + bb + db)) B\|leaks of the program: 3 stacks, $((ab + bb + db + 1)) B\|leaks of the program: 3 stacks, $((ab + bb + db - 1)) B" "$tmp/leaks" && ok ||
  ko "--leaks: not 3 stacks of $((ab + bb + db)) B: $(head -n 1 "$tmp/leaks")"
b=$(line "$tmp/leaks" ' site_b$') a=$(line "$tmp/leaks" ' site_a$') p=$(line "$tmp/leaks" ' printf$')
[ "$b" -lt "$a" ] && [ "$a" -lt "$heading" ] && [ "$p" -gt "$heading" ] && [ "$p" -lt 9999 ] && ok ||
  ko "--leaks: site_b ($b), site_a ($a) before the heading ($heading), printf ($p) after: $(cat "$tmp/leaks")"
grep -q "^Leak of $lb B in $lc objects allocated from:" "$tmp/leaks" && ok || ko "--leaks: libc's stack not $lb B in $lc objects"

# ---- the difference -----------------------------------------------------------------------------
set -- $(unsampled 5 5120 524288)
grow_b=$((ab - $2)) grow_c=$((ac - $1))
"$prof" --base "$tmp/base.heap" --bytes --no-lines "$tmp/fake.heap" > "$tmp/diff" 2>&1
got=$(head -n 1 "$tmp/diff" | sed -n 's/^Change in use (.* minus .*): +\([0-9]*\) B (.*) in +\([0-9]*\) objects$/\1 \2/p')
near "${got% *}" $grow_b && near "${got#* }" $grow_c && ok ||
  ko "--base: '$(head -n 1 "$tmp/diff")', expected +$grow_b B in +$grow_c objects"
near "$(flat "$tmp/diff" site_a | tr -d +)" $grow_b && ! grep -q ' site_b$' "$tmp/diff" && ok ||
  ko "--base: site_a not +$grow_b, or site_b (unchanged) listed: $(cat "$tmp/diff")"

# ---- bad files: one line, status 1 ----------------------------------------------------------------
printf 'this is not a profile\n' > "$tmp/bad1"
head -n 3 "$tmp/fake.heap" > "$tmp/bad2"
printf '   3: 4 [ 5:\n' >> "$tmp/bad2"
: > "$tmp/bad3"
for f in "$tmp/bad1" "$tmp/bad2" "$tmp/bad3" "$tmp/missing"; do
  "$prof" "$f" > "$tmp/out" 2> "$tmp/err"
  st=$?
  if [ $st = 1 ] && [ "$(wc -l < "$tmp/err")" = 1 ] && grep -q "^mymalloc-prof: $f" "$tmp/err" && [ ! -s "$tmp/out" ]; then
    ok; echo "$name: $(cat "$tmp/err")"
  else
    ko "bad file $f: status $st (expected 1), stderr: $(head -c 300 "$tmp/err"), stdout: $(head -c 100 "$tmp/out")"
  fi
done

# ---- google-pprof reads the same file the same way ---------------------------------------------
if command -v google-pprof > /dev/null 2>&1; then
  google-pprof --text "$fake" "$tmp/fake.heap" > "$tmp/pprof" 2> "$tmp/err"
  b=$(line "$tmp/pprof" ' site_b$') a=$(line "$tmp/pprof" ' site_a$')
  [ "$b" -lt "$a" ] && [ "$a" -lt 9999 ] && ok || ko "google-pprof: site_b not above site_a: $(cat "$tmp/pprof" "$tmp/err" | head -c 600)"
else
  echo "$name: google-pprof not installed (package google-perftools): its reading not compared"
fi

echo "$name: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
