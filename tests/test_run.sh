#!/bin/sh
# test_run.sh -- mymalloc-run runs a program with mymalloc preloaded, as an
# exec, and refuses loudly when the preload cannot take.
#
# Works: a program found in PATH runs with libmymalloc.so.0 in its maps
# and prints the heap report with --stats; a #! script too; the exit
# status and a killing signal pass through; the program has
# mymalloc-run's process ID (exec).
# --leaks: the program runs as a child with MYMALLOC_PROFILE in a
# temporary directory and MYMALLOC_PROFILE_RATE=1 (or --rate), its exit
# status and a killing signal pass through, a missing profile is one line
# ("no profile written by PID"), the report of the profile with the
# highest N goes to stderr, the temporary directory is removed; with the
# library's profiler, the report names the function that leaked.
# Refuses (status 1, exactly one line on stderr that starts with
# "mymalloc-run: ", the program not run): the library is not found
# (MYMALLOC_LIBRARY naming no file; an installed copy of the script when
# neither the libdir nor the loader has the library), a statically linked
# program, a #! script whose interpreter is static, a set-user-ID and a
# set-group-ID program.  A command that does not exist: 127.
# Environment: top_builddir, srcdir (tests/local.mk), CC.

name=test_run
pass=0
fail=0
ok() { pass=$((pass + 1)); }
ko() { fail=$((fail + 1)); echo "FAIL $name: $*" >&2; }

: "${top_builddir:=.}"
: "${CC:=cc}"
run=$top_builddir/tools/mymalloc-run
case "${MYMALLOC_TEST_RUNNER:-}" in *qemu*)
  echo "$name: SKIP: the programs it starts are this machine's, the library is built for another (qemu-user)"
  exit 77;;
esac
if [ ! -x "$run" ] || [ ! -f "$top_builddir/src/.libs/libmymalloc.so.0" ]; then
  echo "$name: SKIP, $run or the library not built"
  exit 77
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mymalloc-run.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT INT TERM
unset LD_PRELOAD MYMALLOC_LIBRARY MYMALLOC_STATS MYMALLOC_VERBOSE

# ---- it works ---------------------------------------------------------------------
"$run" --stats true 2> "$tmp/err"
st=$?
[ $st = 0 ] && ok || ko "mymalloc-run --stats true: status $st: $(head -c 300 "$tmp/err")"
grep -q '^mymalloc .* heap report, pid [0-9]* (true)$' "$tmp/err" && ok ||
  ko "no heap report from true: $(head -c 300 "$tmp/err")"
"$run" sh -c 'grep -q libmymalloc.so.0 /proc/$$/maps' && ok || ko "libmymalloc.so.0 not in the program's maps"
printf '#!/bin/sh\ngrep -c libmymalloc.so.0 /proc/$$/maps\n' > "$tmp/script"
chmod +x "$tmp/script"
n=$("$run" "$tmp/script" 2>&1)
[ "$n" -ge 1 ] 2>/dev/null && ok || ko "a #! script: $n"
"$run" sh -c 'exit 7'
st=$?
[ $st = 7 ] && ok || ko "exit status 7 came back as $st"
"$run" sh -c 'kill -TERM $$' 2>/dev/null
st=$?
[ $st = 143 ] && ok || ko "a program killed by SIGTERM gave status $st, expected 143"
"$run" sh -c 'echo $$' > "$tmp/pid" &
pid=$!
wait $pid
[ "$(cat "$tmp/pid")" = "$pid" ] && ok || ko "the program ran as pid $(cat "$tmp/pid"), mymalloc-run was $pid: not an exec"
"$run" no-such-command-xyz 2> "$tmp/err"
st=$?
[ $st = 127 ] && ok || ko "a missing command: status $st, expected 127"

# ---- --leaks --------------------------------------------------------------------------
mkdir -p "$tmp/t"
TMPDIR=$tmp/t "$run" --leaks sh -c 'exit 3' 2> "$tmp/err"
st=$?
[ $st = 3 ] && ok || ko "--leaks: exit status 3 came back as $st"
grep -q '^mymalloc-run: no profile written by [0-9][0-9]*: no leak report$' "$tmp/err" && [ "$(wc -l < "$tmp/err")" = 1 ] && ok ||
  ko "--leaks without a profile: $(head -c 300 "$tmp/err")"
TMPDIR=$tmp/t "$run" --leaks sh -c 'kill -TERM $$' 2>/dev/null
st=$?
[ $st = 143 ] && ok || ko "--leaks: a program killed by SIGTERM gave status $st, expected 143"
# ... because mymalloc-run itself died of it (a shell sees 143 for exit 143 too)
if command -v python3 > /dev/null 2>&1; then
  out=$(TMPDIR=$tmp/t python3 -c 'import subprocess, sys; print(subprocess.run(sys.argv[1:], stderr=subprocess.DEVNULL).returncode)' \
    "$run" --leaks sh -c 'kill -TERM $$' 2>&1)
  [ "$out" = -15 ] && ok || ko "--leaks: mymalloc-run did not die of SIGTERM (python3 saw $out, expected -15)"
else
  echo "$name: no python3: whether mymalloc-run died of the signal itself not checked"
fi
# a SIGTERM to mymalloc-run alone: it ends so after the program has ended
TMPDIR=$tmp/t "$run" --leaks sh -c ': > "$1/started"; sleep 1; : > "$1/done"; exit 4' sh "$tmp" 2>/dev/null &
p=$!
k=0
while [ ! -f "$tmp/started" ] && [ $k -lt 100 ]; do sleep 0.1; k=$((k + 1)); done
kill -TERM $p
wait $p
st=$?
[ $st = 143 ] && [ -f "$tmp/done" ] && ok || ko "--leaks, SIGTERM to mymalloc-run: status $st (expected 143), the program $([ -f "$tmp/done" ] && echo ended || echo did not end)"
out=$(TMPDIR=$tmp/t "$run" --leaks sh -c 'echo "$MYMALLOC_PROFILE_RATE ${MYMALLOC_PROFILE#$TMPDIR/mymalloc-leaks.}"' 2>/dev/null)
case $out in "1 "??????/leaks) ok ;; *) ko "--leaks: the program's rate and prefix: '$out'" ;; esac
out=$(TMPDIR=$tmp/t "$run" --rate=64k --leaks sh -c 'echo "$MYMALLOC_PROFILE_RATE"' 2>/dev/null)
[ "$out" = 64k ] && ok || ko "--leaks --rate=64k: the program's rate is '$out'"
out=$("$run" --profile=/x/y --rate=4k sh -c 'echo "$MYMALLOC_PROFILE $MYMALLOC_PROFILE_RATE"')
[ "$out" = "/x/y 4k" ] && ok || ko "--profile=/x/y --rate=4k: '$out'"
out=$("$run" --profile sh -c 'echo "$MYMALLOC_PROFILE"')
[ "$out" = ./mymalloc-profile ] && ok || ko "--profile: '$out'"
"$run" --leaks --profile true 2> "$tmp/err"
st=$?
[ $st = 2 ] && ok || ko "--leaks --profile: status $st, expected 2"
# the report: of the profile with the highest N (10, not 2), on stderr
fake=$top_builddir/tests/prof_fake
if [ -x "$fake" ] && [ -x "$top_builddir/tools/mymalloc-prof" ] && [ -x /usr/bin/python3 ]; then
  mkdir -p "$tmp/p" && "$fake" "$tmp/p"
  TMPDIR=$tmp/t "$run" --leaks sh -c 'cp "$1/rate1.heap" "$MYMALLOC_PROFILE.$$.2.heap"; cp "$1/fake.heap" "$MYMALLOC_PROFILE.$$.10.heap"; exit 5' sh "$tmp/p" > "$tmp/out" 2> "$tmp/err"
  st=$?
  [ $st = 5 ] && [ ! -s "$tmp/out" ] && grep -q 'leaks of the program: 3 stacks, ' "$tmp/err" &&
    grep -q '^Allocations of libc and the loader' "$tmp/err" && ok ||
    ko "--leaks with a profile: status $st (expected 5), stderr: $(head -c 400 "$tmp/err")"
  if nm -D "$top_builddir/src/.libs/libmymalloc.so.0" 2>/dev/null | grep -q ' T mymalloc_profile_dump$'; then
    TMPDIR=$tmp/t "$run" --leaks "$fake" --leak 2> "$tmp/err"
    st=$?
    [ $st = 0 ] && grep -q '^Leak of [0-9]* B in 100 objects allocated from:$' "$tmp/err" &&
      grep -A1 '^Leak of [0-9]* B in 100 objects' "$tmp/err" | grep -q ' leak_here\( \|$\)' && ok ||
      ko "--leaks with the profiler: status $st, no leak of 100 objects in leak_here: $(head -c 600 "$tmp/err")"
  else
    echo "$name: the library has no profiler (mymalloc_profile_dump): a real leak not reported"
  fi
else
  echo "$name: prof_fake, mymalloc-prof or python3 missing: the --leaks report not checked"
fi
[ -z "$(ls "$tmp/t")" ] && ok || ko "--leaks left its temporary files: $(ls "$tmp/t")"

# ---- it refuses ---------------------------------------------------------------------
# refused LABEL CMD...: status 1, one line "mymalloc-run: ...", the program
# (which would print "ran") not run
refused() {
  label=$1
  shift
  "$@" > "$tmp/out" 2> "$tmp/err"
  st=$?
  lines=$(wc -l < "$tmp/err")
  if [ $st != 1 ]; then
    ko "$label: status $st, expected 1: $(head -c 300 "$tmp/err")"
  elif [ "$lines" != 1 ] || ! grep -q '^mymalloc-run: ' "$tmp/err"; then
    ko "$label: expected one line 'mymalloc-run: ...' on stderr, got $lines: $(head -c 300 "$tmp/err")"
  elif [ -s "$tmp/out" ]; then
    ko "$label: the program ran: $(head -c 100 "$tmp/out")"
  else
    ok
    echo "$name: $label: $(cat "$tmp/err")"
  fi
}

refused "library not found (MYMALLOC_LIBRARY)" env MYMALLOC_LIBRARY=/nonexistent/libmymalloc.so.0 "$run" echo ran

# an installed copy whose libdir has no library: refused unless the loader
# itself knows libmymalloc.so.0 (installed on this machine)
mkdir -p "$tmp/bin"
sed "s|^installed=.*|installed='/nonexistent/libmymalloc.so.0'|" "$run" > "$tmp/bin/mymalloc-run"
chmod +x "$tmp/bin/mymalloc-run"
ldc=$(command -v ldconfig || echo /sbin/ldconfig)
if [ -x "$ldc" ] && "$ldc" -p 2>/dev/null | grep -q 'libmymalloc\.so\.0 '; then
  echo "$name: libmymalloc.so.0 is in the loader's cache: the installed copy finds it"
  "$tmp/bin/mymalloc-run" sh -c 'grep -q libmymalloc.so.0 /proc/$$/maps' && ok || ko "the installed copy did not preload the cached library"
else
  refused "library not found (installed copy)" env -u LD_LIBRARY_PATH "$tmp/bin/mymalloc-run" echo ran
fi

for m in u g; do
  if cp /bin/echo "$tmp/s${m}id-echo" && chmod $m+s "$tmp/s${m}id-echo"; then
    refused "set-${m}id program" "$run" "$tmp/s${m}id-echo" ran
  else
    ko "cannot make a set-${m}id copy of /bin/echo"
  fi
done

cat > "$tmp/static.c" <<'EOS'
#include <stdio.h>
int main(int argc, char **argv) { if (argc > 1) puts(argv[1]); return 0; }
EOS
if $CC -static -o "$tmp/static" "$tmp/static.c" > /dev/null 2>&1; then
  refused "static program" "$run" "$tmp/static" ran
  printf '#!%s\n' "$tmp/static" > "$tmp/static-script"
  chmod +x "$tmp/static-script"
  refused "script with a static interpreter" "$run" "$tmp/static-script" ran
  # and the static program itself runs fine without mymalloc-run
  [ "$("$tmp/static" ran)" = ran ] && ok || ko "the static program does not run at all"
else
  echo "$name: skipping the static cases ($CC -static cannot link here)"
fi

echo "$name: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
