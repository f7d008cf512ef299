#!/bin/sh
# test_run.sh -- mymalloc-run runs a program with mymalloc preloaded, as an
# exec, and refuses loudly when the preload cannot take.
#
# Works: a program found in PATH runs with libmymalloc.so.0 in its maps
# and prints the heap report with --stats; a #! script too; the exit
# status and a killing signal pass through; the program has
# mymalloc-run's process ID (exec).
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
