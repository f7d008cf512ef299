#!/bin/sh
# test_profile_pprof.sh -- pprof reads our heap profiles: google-pprof
# (Debian's google-perftools) and, when go is installed, go tool pprof.
#
# tests/test_profile --write, with MYMALLOC_PROFILE_RATE=32k and a fixed
# seed, keeps 10 MiB live from site_a (1 KiB blocks) and 30 MiB from
# site_b (64 KiB blocks), allocates and frees 50 MiB from site_c, and
# dumps.  `google-pprof --text --inuse_space PROGRAM FILE` must list
# site_b above site_a, site_c not at all (nothing in use), and a total of
# in-use memory near 40 MB; `go tool pprof -text -sample_index=inuse_space`
# the same.  Skipped where neither tool is installed, and under qemu (the
# tools read the program with this machine's binutils).
# Environment: top_builddir (tests/local.mk).

name=test_profile_pprof
pass=0
fail=0
ok() { pass=$((pass + 1)); }
ko() { fail=$((fail + 1)); echo "FAIL $name: $*" >&2; }
skip() { echo "$name: SKIP: $*"; exit 77; }

: "${top_builddir:=.}"
prog=$top_builddir/tests/test_profile
case "${MYMALLOC_TEST_RUNNER:-}" in *qemu*)
  skip "the profile is of a program built for another machine, which pprof reads with this one's binutils (qemu-user)";;
esac
[ -x "$prog" ] || skip "$prog not built"
have_pprof=no have_go=no
command -v google-pprof > /dev/null && have_pprof=yes
command -v go > /dev/null && have_go=yes
[ $have_pprof = yes ] || [ $have_go = yes ] ||
  skip "neither google-pprof (apt-get install google-perftools) nor go (golang-go) is installed"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mymalloc-pprof.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT INT TERM
unset LD_PRELOAD MYMALLOC_PROFILE_SIGNAL

MYMALLOC_PROFILE=$tmp/p MYMALLOC_PROFILE_RATE=32k MYMALLOC_PROFILE_SEED=12345 MYMALLOC_PROFILE_AT_EXIT=0 \
  "$prog" --write > "$tmp/write.out" 2>&1
st=$?
[ $st = 0 ] && ok || ko "$prog --write: status $st: $(head -c 300 "$tmp/write.out")"
file=$(ls "$tmp"/p.*.0.heap 2>/dev/null | head -1)
[ -n "$file" ] || { ko "no profile written"; echo "$name: $pass passed, $fail failed"; exit 1; }

# order TOOL OUTPUT: site_b listed above site_a, no site_c
order() {
  la=$(grep -n '[[:space:]]site_a$' "$2" | head -1 | cut -d: -f1)
  lb=$(grep -n '[[:space:]]site_b$' "$2" | head -1 | cut -d: -f1)
  if [ -n "$la" ] && [ -n "$lb" ] && [ "$lb" -lt "$la" ]; then ok; else
    ko "$1: site_b (line ${lb:-none}) is not listed above site_a (line ${la:-none}): $(head -c 600 "$2")"
  fi
  grep -q '[[:space:]]site_c$' "$2" && ko "$1: site_c is listed, with nothing in use: $(grep site_c "$2")" || ok
}

if [ $have_pprof = yes ]; then
  google-pprof --text --inuse_space "$prog" "$file" > "$tmp/pprof.out" 2> "$tmp/pprof.err"
  st=$?
  [ $st = 0 ] && ok || ko "google-pprof: status $st: $(head -c 300 "$tmp/pprof.err")"
  order google-pprof "$tmp/pprof.out"
  # "Total: 40.0 MB"
  total=$(sed -n 's/^Total: \([0-9.]*\) MB$/\1/p' "$tmp/pprof.out")
  awk -v t="${total:-0}" 'BEGIN { exit !(t >= 35 && t <= 45) }' && ok ||
    ko "google-pprof: total in use ${total:-?} MB, not near 40: $(head -3 "$tmp/pprof.out")"
else
  echo "$name: google-pprof is not installed (apt-get install google-perftools): skipping that part"
fi

if [ $have_go = yes ]; then
  HOME=$tmp GOCACHE=$tmp/gocache go tool pprof -text -sample_index=inuse_space "$prog" "$file" \
    > "$tmp/go.out" 2> "$tmp/go.err"
  st=$?
  [ $st = 0 ] && ok || ko "go tool pprof: status $st: $(head -c 300 "$tmp/go.err")"
  order "go tool pprof" "$tmp/go.out"
else
  echo "$name: go is not installed: skipping go tool pprof"
fi

echo "$name: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
