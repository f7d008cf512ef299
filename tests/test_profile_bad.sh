#!/bin/sh
# test_profile_bad.sh -- bad settings of the profiler: the program runs on
# to its normal exit (status 0, "done"), and stderr has exactly one line
# starting with "mymalloc:" for each bad setting, none for good ones.
#
# Run: tests/profile_helper, which dumps twice with
# mymalloc_profile_dump(NULL) and once more at exit.
#   - MYMALLOC_PROFILE in a missing directory, and in a read-only one (run
#     as user nobody through setpriv when we are root, whom modes do not
#     stop): "mymalloc: profile: cannot write PREFIX...", the dumps
#     return -1;
#   - MYMALLOC_PROFILE_RATE 0, -5, 99999999999999999999, abc, 2^40 + 1;
#     MYMALLOC_PROFILE_SIGNAL NOSUCH; RATE abc with SIGNAL NOSUCH (two
#     lines): the dumps work, the files say the default rate (heap_v2/524288);
#   - good values (no line): RATE 64k, 1m, 4096, 2^40 (the largest);
#     SIGNAL USR2, SIGUSR2;
#   - PREFIX.PID.N.heap a symbolic link (to a file, and dangling): the
#     dump fails with one warning, the file linked to is untouched and the
#     dangling link's target is not created (O_NOFOLLOW).
# Environment: top_builddir (tests/local.mk); MYMALLOC_TEST_RUNNER (qemu).

name=test_profile_bad
pass=0
fail=0
ok() { pass=$((pass + 1)); }
ko() { fail=$((fail + 1)); echo "FAIL $name: $*" >&2; }
skip() { echo "$name: SKIP: $*"; exit 77; }

: "${top_builddir:=.}"
helper=$top_builddir/tests/profile_helper
[ -x "$helper" ] || skip "$helper not built"
runner=${MYMALLOC_TEST_RUNNER:-}
case $runner in *qemu*) MYMALLOC_SBRK=0; export MYMALLOC_SBRK;; esac   # as .ci/stage-arm64's qemu-run
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mymalloc-profbad.XXXXXX") || exit 99
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT INT TERM
unset MYMALLOC_PROFILE MYMALLOC_PROFILE_RATE MYMALLOC_PROFILE_SIGNAL MYMALLOC_PROFILE_SEED MYMALLOC_PROFILE_AT_EXIT
unset LD_PRELOAD MYMALLOC_VERBOSE MYMALLOC_STATS

# run HOW [VAR=VALUE...] -- [as] ARGS...: the helper in $tmp/out, $tmp/err,
# its status in $st; "as" is the command that runs it (nothing, or setpriv)
run() {
  how=$1; shift
  vars=
  while [ "$1" != -- ]; do vars="$vars $1"; shift; done
  shift
  # shellcheck disable=SC2086
  env $vars $as $runner "$helper" "$@" > "$tmp/out" 2> "$tmp/err"
  st=$?
  [ $st = 0 ] && grep -q '^done$' "$tmp/out" && ok ||
    ko "$how: exit status $st, not its normal 0 and \"done\": $(tail -c 300 "$tmp/err")"
}
# lines N HOW: stderr has exactly N lines that start with "mymalloc:"
lines() {
  n=$(grep -c '^mymalloc:' "$tmp/err")
  [ "$n" = "$1" ] && ok || ko "$2: $n lines starting with \"mymalloc:\" on stderr, not $1: $(head -c 400 "$tmp/err")"
  other=$(grep -v '^mymalloc:' "$tmp/err" | head -3)
  [ -z "$other" ] && ok || ko "$2: other lines on stderr: $other"
}
# rate R HOW: the files of the run (in $dir: two dumps and the one at exit) say heap_v2/R
rate() {
  files=$(ls "$dir"/p.*.heap 2>/dev/null)
  [ -n "$files" ] && ok || ko "$2: no profile written"
  for f in $files; do
    h=$(head -1 "$f")
    case $h in "heap profile: "*" @ heap_v2/$1") ok;; *) ko "$2: $f begins \"$h\", not with rate $1";; esac
  done
}
fresh() { rm -rf "$tmp/d"; mkdir "$tmp/d"; dir=$tmp/d; }
as=

# ---- a prefix that cannot be written ----------------------------------------------------
run "a missing directory" MYMALLOC_PROFILE=/nonexistent/dir/p -- dump
lines 1 "a missing directory"
grep -q '^mymalloc: profile: cannot write /nonexistent/dir/p.*: No such file or directory$' "$tmp/err" && ok ||
  ko "a missing directory: the warning is not \"mymalloc: profile: cannot write /nonexistent/dir/p...: <strerror>\": $(head -c 300 "$tmp/err")"
[ "$(grep -c '^dump -1 ' "$tmp/out")" = 2 ] && ok || ko "a missing directory: the dumps did not return -1: $(cat "$tmp/out")"

mkdir "$tmp/ro" && chmod 555 "$tmp/ro"
if [ "$(id -u)" = 0 ]; then
  # root writes anywhere: the helper runs as nobody (alone, it exits 77)
  chmod 755 "$tmp"
  as=none
  if command -v setpriv > /dev/null; then
    setpriv --reuid=65534 --regid=65534 --clear-groups $runner "$helper" > /dev/null 2>&1
    [ $? = 77 ] && as="setpriv --reuid=65534 --regid=65534 --clear-groups"
  fi
fi
if [ "$as" = none ]; then
  echo "$name: skipping the read-only directory: we are root, and cannot run the helper as nobody (setpriv)"
else
  run "a read-only directory" MYMALLOC_PROFILE="$tmp/ro/p" -- dump
  lines 1 "a read-only directory"
  grep -q "^mymalloc: profile: cannot write $tmp/ro/p.*: Permission denied\$" "$tmp/err" && ok ||
    ko "a read-only directory: the warning is not \"... cannot write $tmp/ro/p...: Permission denied\": $(head -c 300 "$tmp/err")"
  [ -z "$(ls "$tmp/ro")" ] && ok || ko "a read-only directory: files were written: $(ls "$tmp/ro")"
fi
as=

# ---- bad and good values ---------------------------------------------------------------
bad() {   # bad LINES WHAT VAR=VALUE...
  n=$1 what=$2; shift 2
  fresh
  run "$what" MYMALLOC_PROFILE="$dir/p" "$@" -- dump
  lines "$n" "$what"
  [ "$(grep -c '^dump 0 ' "$tmp/out")" = 2 ] && ok || ko "$what: the dumps failed: $(cat "$tmp/out")"
}
for v in 0 -5 99999999999999999999 abc 1099511627777; do
  bad 1 "MYMALLOC_PROFILE_RATE=$v" MYMALLOC_PROFILE_RATE=$v
  rate 524288 "MYMALLOC_PROFILE_RATE=$v"
done
bad 1 MYMALLOC_PROFILE_SIGNAL=NOSUCH MYMALLOC_PROFILE_SIGNAL=NOSUCH
bad 2 "RATE=abc and SIGNAL=NOSUCH" MYMALLOC_PROFILE_RATE=abc MYMALLOC_PROFILE_SIGNAL=NOSUCH
rate 524288 "RATE=abc and SIGNAL=NOSUCH"
for v in 64k:65536 1m:1048576 4096:4096 1099511627776:1099511627776; do
  bad 0 "MYMALLOC_PROFILE_RATE=${v%:*}" MYMALLOC_PROFILE_RATE=${v%:*}
  rate "${v#*:}" "MYMALLOC_PROFILE_RATE=${v%:*}"
done
for v in USR2 SIGUSR2; do
  bad 0 "MYMALLOC_PROFILE_SIGNAL=$v" MYMALLOC_PROFILE_SIGNAL=$v
done

# ---- symbolic links are not followed ----------------------------------------------------
fresh
printf 'precious\n' > "$tmp/target"
run "a symbolic link" MYMALLOC_PROFILE="$dir/p" MYMALLOC_PROFILE_AT_EXIT=0 -- symlink "$tmp/target"
lines 1 "a symbolic link"
grep -q '^dump -1 ' "$tmp/out" && ok || ko "a symbolic link: the dump did not fail: $(cat "$tmp/out")"
[ "$(cat "$tmp/target")" = precious ] && ok || ko "a symbolic link: the file it links to was written: $(head -c 200 "$tmp/target")"
fresh
run "a dangling symbolic link" MYMALLOC_PROFILE="$dir/p" MYMALLOC_PROFILE_AT_EXIT=0 -- symlink "$tmp/absent"
lines 1 "a dangling symbolic link"
grep -q '^dump -1 ' "$tmp/out" && ok || ko "a dangling symbolic link: the dump did not fail: $(cat "$tmp/out")"
[ ! -e "$tmp/absent" ] && ok || ko "a dangling symbolic link: the dump created the file it links to"

echo "$name: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
