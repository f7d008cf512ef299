#!/bin/sh
# test_preload.sh -- unmodified system programs run under
# LD_PRELOAD=libmymalloc.so.0 and give the same results as without it.
#
# Each case runs a command twice, without and with the library preloaded,
# and compares exit status and output (or checksums of what it wrote):
#   bash     a script with pipelines, command substitution, arrays,
#            associative arrays, here-documents and subshells;
#   perl     a one-liner building and pruning hashes of 150k keys;
#   python3  /usr/bin/python3 (not a shim from PATH), PYTHONMALLOC=malloc:
#            dicts, lists, strings and bytes in 4 threads;
#   git      init, add, commit (x3), log, show, gc in a temporary
#            repository with fixed dates and identity: same commit hashes;
#   gcc      compiles and links a small C program (the preload reaches cc1,
#            as, collect2, ld); same program output;
#   sort     4 MiB of generated lines, also with --parallel and a tiny
#            buffer (temporary files, threads): same checksum;
#   xz       compress (2 threads, 1 MiB blocks) and decompress: same
#            checksums;
#   sqlite3  (if present) a table of 100k rows inserted in a transaction,
#            an index, aggregates.
# And that the preloaded malloc is the one an unmodified program calls:
#   test_whoami (built without libmymalloc) names libmymalloc for each
#   function under the preload and libc without it; perl and python3 under
#   MYMALLOC_STATS=json report at exit at least 100000 allocation requests
#   served by mymalloc; MYMALLOC_STATS=1 with /bin/true prints mymalloc's
#   heap report at exit.
# And that a malformed or out-of-range option value gets one warning that
# names the values the option accepts.
# A command that is not installed is skipped (counted neither way).
# Environment: top_builddir (tests/local.mk), srcdir.

name=test_preload
pass=0
fail=0
skipped=""
ok() { pass=$((pass + 1)); }
ko() { fail=$((fail + 1)); echo "FAIL $name: $*" >&2; }
skip() { skipped="$skipped $1"; echo "$name: skipping $1 ($2)"; }

: "${top_builddir:=.}"
lib=$(cd "$top_builddir/src/.libs" 2>/dev/null && pwd)/libmymalloc.so.0
if [ ! -f "$lib" ]; then
  echo "$name: SKIP, $lib not built"
  exit 77
fi
whoami=$top_builddir/tests/test_whoami
case ${MYMALLOC_TEST_RUNNER:-} in *qemu*)
  echo "$name: SKIP: the system programs are this machine's, the library is built for another (qemu-user)"
  echo "$name: 0 passed, 0 failed"
  exit 77;;
esac

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mymalloc-preload.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT INT TERM
# a clean, fixed environment for every program
HOME=$tmp/home
mkdir -p "$HOME"
LC_ALL=C
TZ=UTC
export HOME LC_ALL TZ
unset MYMALLOC_STATS MYMALLOC_VERBOSE LD_PRELOAD

# same NAME CMD...: run CMD (in a fresh directory) without and with the
# preload; status and stdout must be equal, stderr must not mention mymalloc
same() {
  label=$1
  shift
  for mode in plain preload; do
    rm -rf "$tmp/run.$mode"
    mkdir -p "$tmp/run.$mode"
    if [ $mode = plain ]; then
      (cd "$tmp/run.$mode" && "$@") > "$tmp/out.$mode" 2> "$tmp/err.$mode"
    else
      (cd "$tmp/run.$mode" && LD_PRELOAD=$lib "$@") > "$tmp/out.$mode" 2> "$tmp/err.$mode"
    fi
    echo $? > "$tmp/status.$mode"
  done
  st_plain=$(cat "$tmp/status.plain")
  st_pre=$(cat "$tmp/status.preload")
  if [ "$st_plain" != 0 ]; then
    ko "$label: fails even without the preload (status $st_plain): $(head -c 300 "$tmp/err.plain")"
  elif [ "$st_pre" != "$st_plain" ]; then
    ko "$label: status $st_pre under the preload, $st_plain without: $(head -c 300 "$tmp/err.preload")"
  elif ! cmp -s "$tmp/out.plain" "$tmp/out.preload"; then
    ko "$label: output differs under the preload"
    diff "$tmp/out.plain" "$tmp/out.preload" | head -10 >&2
  elif grep -q mymalloc "$tmp/err.preload"; then
    ko "$label: mymalloc complained: $(grep mymalloc "$tmp/err.preload" | head -3)"
  elif [ ! -s "$tmp/out.plain" ]; then
    ko "$label: no output at all"
  else
    ok
  fi
}

have() { command -v "$1" >/dev/null 2>&1; }

# ---- bash ----------------------------------------------------------------------
if have bash; then
  cat > "$tmp/script.bash" <<'EOS'
set -e
s=""
for i in $(seq 1 3000); do s="$s$i,"; done
echo "len ${#s}"
seq 1 20000 | awk '{ t += $1 } END { print t }' | tr 0 o
x=$(printf '%s\n' $(seq 1 5000) | sort -rn | head -3 | tr '\n' ' ')
echo "top: $x"
declare -A h
for i in $(seq 1 5000); do h[k$i]=$((i * i)); done
echo "assoc ${#h[@]} ${h[k4999]}"
unset 'h[k1]'
echo "assoc ${#h[@]}"
a=()
for i in {1..4000}; do a+=("item-$i-$(( i % 7 ))"); done
echo "array ${#a[@]} ${a[3999]}"
r=$( (for i in 1 2 3; do echo "sub $i"; done) | wc -l)
echo "subshell $r"
while read -r n w; do echo "$w=$n"; done <<EOF2
1 one
2 two
EOF2
f() { local v=$1; echo "${v//a/A}${v^^}"; }
f banana
echo "$(f "$(f abc)")" | cut -c1-20
EOS
  same bash bash "$tmp/script.bash"
else
  skip bash "not installed"
fi

# ---- perl -------------------------------------------------------------------------
if have perl; then
  same perl perl -e '
    my %h; for my $i (1 .. 150000) { $h{"key$i"} = "v" x ($i % 50) }
    my $t = 0; $t += length($h{$_}) for keys %h;
    print scalar(keys %h), " $t\n";
    delete $h{$_} for grep { /7/ } keys %h;
    print scalar(keys %h), "\n";
    my @a = map { [$_, $_ * 2, "x" x ($_ % 10)] } 1 .. 100000;
    my $s = 0; $s += $_->[1] for @a; print "$s\n";
    my $str = join(",", sort { $a <=> $b } map { $_ * 7 % 1000 } 1 .. 50000);
    print length($str), "\n";'
else
  skip perl "not installed"
fi

# ---- python3 (the system one, not a pyenv shim) ---------------------------------------
if [ -x /usr/bin/python3 ]; then
  cat > "$tmp/prog.py" <<'EOS'
import threading, hashlib
res = [None] * 4
def work(i):
    d = {}
    for j in range(60000):
        d[str(j) * 3] = [j] * (j % 10)
    s = sum(len(v) for v in d.values())
    l = [bytes([j % 256]) * (j % 3000) for j in range(3000)]
    h = hashlib.sha256(b"".join(l)).hexdigest()
    t = "".join(str(k) for k in range(50000))
    res[i] = (s, h[:16], len(t))
ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]
for t in ts: t.start()
for t in ts: t.join()
for r in res: print(r)
big = bytearray(20 * 1024 * 1024)
big[-1] = 7
print(len(big), big[-1], sum(big[:1000]))
EOS
  # PYTHONMALLOC=malloc: every object through malloc, not pymalloc's arenas
  same python3 env PYTHONMALLOC=malloc /usr/bin/python3 "$tmp/prog.py"
else
  skip python3 "/usr/bin/python3 not installed"
fi

# ---- git -----------------------------------------------------------------------------
if have git; then
  cat > "$tmp/git.sh" <<'EOS'
set -e
export GIT_AUTHOR_NAME=Test GIT_AUTHOR_EMAIL=test@example.invalid
export GIT_COMMITTER_NAME=Test GIT_COMMITTER_EMAIL=test@example.invalid
export GIT_AUTHOR_DATE='2020-01-01T00:00:00Z' GIT_COMMITTER_DATE='2020-01-01T00:00:00Z'
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
git init -q -b main repo
cd repo
seq 1 20000 > numbers.txt
printf 'hello\n' > a.txt
git add .
git commit -q -m first
seq 1 3 20000 > numbers.txt
mkdir sub && for i in 1 2 3 4 5; do seq $i 100 > sub/f$i; done
git add -A
git commit -q -m second
git rm -q a.txt
git commit -q -m third
git log --format='%H %an %ad %s' --date=iso-strict
git show --stat --format=%H HEAD~1 | tail -3
git diff HEAD~2 HEAD -- numbers.txt | wc -l
git gc -q
git fsck --no-progress 2>&1
git count-objects -v | grep -v size
EOS
  same git sh "$tmp/git.sh"
else
  skip git "not installed"
fi

# ---- gcc --------------------------------------------------------------------------------
if have gcc; then
  cat > "$tmp/prog.c" <<'EOS'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
struct node { struct node *next; int v; };
int main(void) {
  struct node *h = NULL;
  for (int i = 0; i < 100000; i++) {
    struct node *n = malloc(sizeof *n);
    n->v = i; n->next = h; h = n;
  }
  long s = 0;
  while (h) { struct node *n = h->next; s += h->v; free(h); h = n; }
  char *b = malloc(1 << 20);
  memset(b, 'x', 1 << 20);
  printf("sum %ld %c\n", s, b[12345]);
  free(b);
  return 0;
}
EOS
  same gcc sh -c "gcc -O2 -Wall -o prog '$tmp/prog.c' && ./prog && gcc -O0 -g -c -o prog.o '$tmp/prog.c' && gcc -o prog2 prog.o && ./prog2"
else
  skip gcc "not installed"
fi

# ---- sort, xz -----------------------------------------------------------------------------
# 4 MiB of generated data (250000 lines)
awk 'BEGIN { for (i = 1; i <= 250000; i++) printf "%d %s %d\n", (i * 7919) % 100003, "line", i }' > "$tmp/data.txt"
if have sort && have sha256sum; then
  same sort sh -c "sort '$tmp/data.txt' | sha256sum; sort -n -k3,3r '$tmp/data.txt' | sha256sum"
  same "sort --parallel" sh -c "sort -S 256K --parallel=2 -T . -k1,1n -k3,3n '$tmp/data.txt' | sha256sum"
fi
if have xz && have sha256sum; then
  same xz sh -c "xz -T2 -1 --block-size=1MiB -c '$tmp/data.txt' > d.xz && sha256sum < d.xz && xz -d -T2 -c d.xz | sha256sum && sha256sum < '$tmp/data.txt'"
else
  skip xz "not installed"
fi

# ---- sqlite3 --------------------------------------------------------------------------------
if have sqlite3; then
  cat > "$tmp/db.sql" <<'EOS'
CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER, s TEXT);
BEGIN;
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100000)
INSERT INTO t(k, s) SELECT (x * 7919) % 1000, printf('row-%d-%s', x, hex(x * 31)) FROM c;
COMMIT;
CREATE INDEX tk ON t(k);
SELECT count(*), sum(k), min(s), max(s), avg(length(s)) FROM t;
SELECT k, count(*), sum(id) FROM t GROUP BY k ORDER BY count(*) DESC, k LIMIT 5;
SELECT group_concat(id) FROM (SELECT id FROM t WHERE k = 17 ORDER BY id LIMIT 10);
DELETE FROM t WHERE k % 3 = 0;
VACUUM;
SELECT count(*), total(k) FROM t;
EOS
  same sqlite3 sh -c "sqlite3 db.sqlite < '$tmp/db.sql'"
else
  skip sqlite3 "not installed"
fi

# ---- whose malloc is it? ----------------------------------------------------------------
if [ -x "$whoami" ]; then
  "$whoami" > "$tmp/who.plain" 2>&1
  st=$?
  LD_PRELOAD=$lib "$whoami" > "$tmp/who.pre" 2>&1
  st_pre=$?
  [ $st -eq 0 ] && [ $st_pre -eq 0 ] && ok || ko "test_whoami failed: $st / $st_pre"
  grep -q '^work: ok$' "$tmp/who.pre" && ok || ko "test_whoami under the preload: $(grep work "$tmp/who.pre")"
  # without the preload: libc's
  if grep '^malloc: ' "$tmp/who.plain" | grep -q libmymalloc; then
    ko "test_whoami is linked with libmymalloc: the comparison means nothing"
  else
    ok
  fi
  grep -q '^mymalloc_stats_print: absent$' "$tmp/who.plain" && ok || ko "mymalloc symbols without the preload"
  # with it: every function is ours
  n=$(grep -c ': ' "$tmp/who.pre")
  notours=$(grep -v -e '^work:' -e '^mymalloc_stats_print:' "$tmp/who.pre" | grep -v 'libmymalloc\.so')
  [ "$n" -ge 18 ] && ok || ko "test_whoami printed only $n lines"
  [ -z "$notours" ] && ok || ko "under LD_PRELOAD not ours: $(echo "$notours" | tr '\n' ';')"
  grep -q '^mymalloc_stats_print: present$' "$tmp/who.pre" && ok || ko "mymalloc_stats_print not found under the preload"
else
  ko "$whoami not built"
fi

# the programs above were really served by mymalloc: its own count of
# allocation requests (the exit report, json) for perl and python3
stats_on=yes
if [ -f "$top_builddir/config.h" ] && grep -q '^#define MM_STATS 0' "$top_builddir/config.h"; then
  stats_on=no   # --disable-stats: the per-class counters are compiled out
fi
served() {   # served LABEL MIN CMD...: at least MIN allocation requests
  label=$1 min=$2
  shift 2
  (cd "$tmp" && MYMALLOC_STATS=json LD_PRELOAD=$lib "$@") > /dev/null 2> "$tmp/served.json"
  n=$(grep -o '"alloc_requests": [0-9]*' "$tmp/served.json" | awk '{ s += $2 } END { print s + 0 }')
  if [ "$n" -ge "$min" ]; then ok; else ko "$label: mymalloc counted $n allocation requests, expected >= $min"; fi
}
if [ $stats_on = yes ]; then
  have perl && served perl 100000 perl -e 'my %h; $h{"k$_"} = "v" x ($_ % 40) for 1 .. 100000; print scalar(keys %h), "\n"'
  # (PYTHONMALLOC=malloc: small objects too, not only pymalloc's arenas)
  [ -x /usr/bin/python3 ] && served python3 100000 env PYTHONMALLOC=malloc /usr/bin/python3 -c \
    'd = {str(i): [i] * (i % 5) for i in range(100000)}; print(len(d))'
fi

# the report at exit of an unmodified /bin/true
if [ -x /bin/true ]; then
  env MYMALLOC_STATS=1 LD_PRELOAD="$lib" /bin/true 2> "$tmp/true.err"
  st=$?
  [ $st -eq 0 ] && ok || ko "/bin/true under the preload: status $st"
  grep -q 'mymalloc .*heap report' "$tmp/true.err" && ok || ko "no heap report from /bin/true: $(head -c 200 "$tmp/true.err")"
  env MYMALLOC_STATS=json LD_PRELOAD="$lib" /bin/true 2> "$tmp/true.json"
  grep -q '"schema"' "$tmp/true.json" && ok || ko "no json report from /bin/true"
fi

# a bad option value: one warning naming the values the option accepts
warned() {   # warned SETTING EXPECTED: the warning for SETTING says EXPECTED
  env "$1" LD_PRELOAD="$lib" /bin/true 2> "$tmp/opt.err"
  n=$(grep -c "^mymalloc: warning: ignoring $1 (.*): expected $2; using the default [0-9]*\$" "$tmp/opt.err")
  [ "$n" = 1 ] && ok || ko "$1: expected one warning naming \"$2\", got: $(head -c 300 "$tmp/opt.err")"
}
if [ -x /bin/true ]; then
  warned MYMALLOC_SBRK=maybe '0 or 1'
  warned MYMALLOC_STATS=2 '0, 1, text or json'
  warned MYMALLOC_CHECK=half '0, 1 or full'
  warned MYMALLOC_HUGE_CACHE_MB=99999999 'a decimal number from 0 to 1048576'
  warned MYMALLOC_PURGE_DELAY_MS=-1 'a decimal number from 0 to 3600000'
  warned MYMALLOC_SEGMENT_POOL=4096x 'a decimal number from 0 to 4096'
fi

[ -n "$skipped" ] && echo "$name: skipped:$skipped"
echo "$name: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
