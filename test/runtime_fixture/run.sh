#!/bin/bash
# End-to-end test of the runtime with hand-written BPF objects (no compiler
# needed): builds target.c and the *.bpf.c programs, attaches the metadata
# with llvm-objcopy, runs tracerun as root and checks its exact output.
#
#   test/runtime_fixture/run.sh BUILD/bin/tracerun [WORKDIR]
#
# Exit status 0 when every case passes; 77 (lit/automake "skipped") when not
# root or the tools are missing.
set -u
TRACERUN=$(readlink -f "${1:?usage: run.sh TRACERUN [WORKDIR]}")
HERE=$(cd "$(dirname "$0")" && pwd)
W=${2:-$(mktemp -d /tmp/gt-rt-fixture.XXXXXX)}
mkdir -p "$W"
W=$(readlink -f "$W")

if [ "$(id -u)" != 0 ]; then echo "SKIP: needs root"; exit 77; fi
for t in clang-19 llvm-objcopy-19 cc readelf; do
  command -v $t >/dev/null || { echo "SKIP: $t not found"; exit 77; }
done

BPFCFLAGS="-target bpf -D__TARGET_ARCH_x86 -I/usr/include/$(uname -m)-linux-gnu -O2 -g"
fails=0
pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1"; fails=$((fails + 1)); }

# --- build -----------------------------------------------------------------
set -e
cc -O0 -g -o "$W/target" "$HERE/target.c"
cp "$W/target" "$W/target2"
echo 'int unrelated(void) { return 1; } int main(void) { return 0; }' > "$W/other.c"
cc -O0 -g -o "$W/other" "$W/other.c"
BUILD_ID=$(readelf -n "$W/target" | sed -n 's/.*Build ID: //p')
clang-19 $BPFCFLAGS -c "$HERE/fixture.bpf.c" -o "$W/fixture.bpf.o"
clang-19 $BPFCFLAGS -DRINGBUF_SIZE=4096 -c "$HERE/fixture.bpf.c" -o "$W/small.bpf.o"
clang-19 $BPFCFLAGS -c "$HERE/timer.bpf.c" -o "$W/timer.bpf.o"
clang-19 $BPFCFLAGS -c "$HERE/bad.bpf.c" -o "$W/bad.bpf.o"
clang-19 $BPFCFLAGS -c "$HERE/events.bpf.c" -o "$W/events.bpf.o"
cc -O0 -g -fno-omit-frame-pointer -o "$W/slow" "$HERE/slow_target.c"

# meta NAME VERSION TARGET BUILD_ID SYMBOL: writes $W/NAME.json
meta() {
  sed -e "s|@VERSION@|$2|g" -e "s|@TARGET@|$3|g" -e "s|@BUILD_ID@|$4|g" \
      -e "s|\"symbol\": \"work\"|\"symbol\": \"$5\"|g" "$HERE/meta.json.in" > "$W/$1.json"
}
# object NAME BPF_OBJECT: attaches $W/NAME.json as .gt.meta
object() {
  llvm-objcopy-19 --add-section .gt.meta="$W/$1.json" "$2" "$W/$1.o"
}
meta fixture 1 "$W/target" "$BUILD_ID" work;       object fixture "$W/fixture.bpf.o"
meta small 1 "$W/target" "$BUILD_ID" work;         object small "$W/small.bpf.o"
meta v2 2 "$W/target" "$BUILD_ID" work;            object v2 "$W/fixture.bpf.o"
meta badid 1 "$W/target" "0123456789abcdef" work;  object badid "$W/fixture.bpf.o"
meta nosym 1 "$W/target" "$BUILD_ID" nosuch;       object nosym "$W/fixture.bpf.o"
meta nobin 1 "$W/missing" "" work;                 object nobin "$W/fixture.bpf.o"
meta notelf 1 "$HERE/run.sh" "" work;              object notelf "$W/fixture.bpf.o"
cp "$HERE/timer.json" "$W/timer.json";             object timer "$W/timer.bpf.o"
cp "$HERE/bad.json" "$W/bad.json";                 object bad "$W/bad.bpf.o"
sed -e "s|@TARGET@|$W/slow|g" -e "s|@BEGIN@|gt_begin|" "$HERE/events.json.in" > "$W/events.json"
object events "$W/events.bpf.o"
sed -e "s|@TARGET@|$W/slow|g" -e "s|@BEGIN@|gt_begin_sys|" "$HERE/events.json.in" > "$W/system.json"
object system "$W/events.bpf.o"
set +e

cd "$W"

# expect_out NAME EXPECTED_FILE ACTUAL_FILE
expect_out() {
  if diff -u "$2" "$3" > "$W/$1.diff"; then pass "$1"; else fail "$1"; cat "$W/$1.diff"; fi
}
# expect_rc NAME WANT GOT
expect_rc() {
  if [ "$2" = "$3" ]; then return 0; fi
  fail "$1: exit status $3, expected $2"; cat "$W/$1.err" 2>/dev/null; return 1
}
# expect_err NAME STRING: stderr of case NAME contains STRING
expect_err() {
  if grep -qF -- "$2" "$W/$1.err"; then pass "$1"; else
    fail "$1: stderr lacks: $2"; cat "$W/$1.err"; fi
}

# --- the full run: printf, every map kind, uprobe/uretprobe/tracepoint ----
"$TRACERUN" fixture.o -c ./target > full.out 2> full.err
expect_rc full 0 $? && expect_out full "$HERE/expected_full.txt" full.out
[ -s full.err ] && { fail "full: unexpected stderr"; cat full.err; }

# -q drops the Attaching line; -o writes everything to the file.
"$TRACERUN" -q fixture.o -c ./target > quiet.out 2> quiet.err
tail -n +2 "$HERE/expected_full.txt" > quiet.expected
expect_rc quiet 0 $? && expect_out quiet quiet.expected quiet.out
"$TRACERUN" -o ofile.out fixture.o -c ./target > o.stdout 2> ofile.err
expect_rc ofile 0 $? && expect_out ofile "$HERE/expected_full.txt" ofile.out
[ -s o.stdout ] && fail "ofile: stdout not empty"

# -f json: bpftrace 0.17's NDJSON (compared with bpftrace -f json running the
# script above: the same lines, except the order of ties, which is the key
# order here). The two newlines before the maps go to stdout even with -o.
"$TRACERUN" -f json fixture.o -c ./target > json.out 2> json.err
expect_rc json 0 $? && expect_out json "$HERE/expected_full.json" json.out
"$TRACERUN" -f json -o ojson.out fixture.o -c ./target > ojson.stdout 2> ojson.err
expect_rc ojson 0 $? && {
  grep -v '^$' "$HERE/expected_full.json" > ojson.expected
  expect_out ojson ojson.expected ojson.out
  expect_out ojson-stdout <(printf '\n\n') ojson.stdout
}

# print(@m), clear, zero, time, print(value), join, cat, usym, ustack (the
# libc frame's offsets and the callers' offsets are normalized to +N).
stack_offsets() { sed -E -e 's/^(    [a-z_]+)\+[0-9]+$/\1+N/' -e 's/(\\n    (outer|main|__libc_start_call_main))\+[0-9]+/\1+N/g' -e 's/^(    work)\+N$/\1+0/'; }
"$TRACERUN" -q events.o -c ./slow 2> events.err | stack_offsets > events.out
expect_out events "$HERE/expected_events.txt" events.out
cp events.err events-cat.err; expect_err events-cat "ERROR: failed to open file '/nonexistent/x': No such file or directory"
"$TRACERUN" -q -f json events.o -c ./slow 2> events-json.err | stack_offsets > events-json.out
expect_out events-json "$HERE/expected_events.json" events-json.out
# system() runs only with --unsafe.
"$TRACERUN" system.o > system.out 2> system.err
expect_rc system 1 $? && expect_err system "ERROR: system() needs --unsafe: the program wants to run 'echo sys 7'"
"$TRACERUN" -q --unsafe system.o > unsafe.out 2> unsafe.err
expect_rc unsafe 0 $? && expect_out unsafe <(printf 'sys 7\n\n\n\n\n\n\n') unsafe.out
"$TRACERUN" -q -f json --unsafe system.o > unsafe-json.out 2> unsafe-json.err
expect_rc unsafe-json 0 $? && expect_out unsafe-json <(printf '{"type": "syscall", "data": "sys 7\\n"}\n\n\n') unsafe-json.out

# All maps empty: BEGIN, END, "\n\n", then, in name order, one blank line
# per empty map (two for avg and stats), except keyless count() maps, which
# bpftrace 0.17 prints as 0 (@calls, @getpid).
{ printf 'Attaching 5 probes...\nBEGIN 42 hello\nEND\n'; printf '\n%.0s' $(seq 5)
  printf '@calls: 0\n@getpid: 0\n'; printf '\n%.0s' $(seq 10); } > empty.expected

# -c traces only the child's pid: target runs in a grandchild here.
# (sh itself may call getpid: that line is blanked.)
"$TRACERUN" fixture.o -c "sh -c './target; true'" > pid.out 2> pidfilter.err
expect_rc pidfilter 0 $? && {
  sed -i 's/^@getpid: [0-9]*$/@getpid: 0/' pid.out
  expect_out pidfilter empty.expected pid.out
}

# --dry-run loads and exits without output.
"$TRACERUN" --dry-run fixture.o > dry.out 2> dry.err
expect_rc dry 0 $? && { [ -s dry.out ] && fail "dry: output" || pass dry; }

# exit() from an interval probe; profile on every CPU.
"$TRACERUN" timer.o > timer.out 2> timer.err
rc=$?
expect_rc timer 0 $rc && {
  if head -2 timer.out | diff - <(printf 'Attaching 2 probes...\nthree ticks\n') >/dev/null &&
     grep -qE '^@samples: [1-9][0-9]*$' timer.out && grep -qx '@ticks: 3' timer.out &&
     [ "$(sed -n 3,4p timer.out)" = "$(printf '\n')" ]; then pass timer; else fail timer; cat timer.out; fi
}

# SIGINT: stops, runs END, prints maps (all empty here).
"$TRACERUN" fixture.o -c "sleep 10" > int.out 2> sigint.err &
TPID=$!
sleep 0.5
kill -INT $TPID
wait $TPID
expect_rc sigint 0 $? && expect_out sigint empty.expected int.out

# -p: stops when the process exits.
sleep 0.5 & SPID=$!
timeout 10 "$TRACERUN" -q fixture.o -p $SPID > p.out 2> pexit.err
expect_rc pexit 0 $? && pass pexit

# Lost events are counted, never silently dropped: with a 4 KiB ring and
# 20000 calls, printed + lost must be exactly 20000.
"$TRACERUN" -q small.o -c "./target 20000" > lost.out 2> lost.err
rc=$?
expect_rc lost 0 $rc && {
  printed=$(grep -c '^work x=' lost.out)
  total=$(sed -n 's/^Lost \([0-9]*\) events in total:$/\1/p' lost.err)
  total=${total:-0}
  per=$(sed -n 's/^  \([0-9]*\) in uprobe:.*:work$/\1/p' lost.err)
  running=$(sed -n 's/^Lost \([0-9]*\) events$/\1/p' lost.err | paste -sd+ | bc)
  if [ $((printed + total)) = 20000 ] && [ "${per:-0}" = "$total" ] && [ "${running:-0}" = "$total" ] &&
     grep -qx '@calls: 20000' lost.out; then
    pass "lost (printed $printed, lost $total)"
  else
    fail "lost: printed $printed + lost $total != 20000 (per-probe ${per:-0}, running ${running:-0})"
    cat lost.err
  fi
}

# -f json: losses are {"type": "lost_events", "data": {"events": N}} lines
# in the output, as bpftrace writes them.
"$TRACERUN" -q -f json small.o -c "./target 20000" > lostjson.out 2> lostjson.err
rc=$?
expect_rc lostjson 0 $rc && {
  printed=$(grep -c '^{"type": "printf", "data": "work x=' lostjson.out)
  lostn=$(sed -n 's/^{"type": "lost_events", "data": {"events": \([0-9]*\)}}$/\1/p' lostjson.out | paste -sd+ | bc)
  if [ $((printed + ${lostn:-0})) = 20000 ] && [ "${lostn:-0}" -gt 0 ]; then
    pass "lostjson (printed $printed, lost $lostn)"
  else
    fail "lostjson: printed $printed + lost ${lostn:-0} != 20000"
  fi
}

# --- errors ------------------------------------------------------------------
"$TRACERUN" bad.o > bad.out 2> verifier.err
expect_rc verifier 1 $? && {
  printf "ERROR: the kernel verifier rejected probe BEGIN: R0 invalid mem access 'map_value_or_null'\nbad.bpf.c:17: *v += 1;\n" > bad.expected
  expect_out verifier bad.expected verifier.err
}
"$TRACERUN" v2.o > v2.out 2> version.err
expect_rc version 1 $? && expect_err version "ERROR: 'v2.o': metadata format version 2 is not supported (this runtime reads version 1)"
"$TRACERUN" badid.o > badid.out 2> buildid.err
expect_rc buildid 1 $? && expect_err buildid "its build-id is $BUILD_ID, the program was compiled against build-id 0123456789abcdef"
"$TRACERUN" nosym.o -c ./target > nosym.out 2> nosym.err
expect_rc nosym 1 $? && expect_out nosym <(echo "ERROR: no symbol 'nosuch' in $W/target") nosym.err
"$TRACERUN" nobin.o > nobin.out 2> nobin.err
expect_rc nobin 1 $? && expect_err nobin "$W/missing': No such file or directory"
"$TRACERUN" notelf.o > notelf.out 2> notelf.err
expect_rc notelf 1 $? && expect_err notelf "is not an ELF file"
"$TRACERUN" target.c > cfile.out 2> script.err  # not ELF: taken as a script
expect_rc script 1 $? && pass script
"$TRACERUN" -p 999999 fixture.o > nopid.out 2> nopid.err
expect_rc nopid 1 $? && expect_out nopid <(echo "ERROR: no process with pid 999999") nopid.err
"$TRACERUN" -f yaml fixture.o > format.out 2> format.err
expect_rc format 1 $? && expect_err format "ERROR: unknown output format 'yaml' (expected text or json)"
"$TRACERUN" --bogus fixture.o > bogus.out 2> usage.err
expect_rc usage 1 $? && expect_err usage "ERROR: unknown option '--bogus'"
"$TRACERUN" nosuch.o > nofile.out 2> nofile.err
expect_rc nofile 1 $? && expect_out nofile <(echo "ERROR: cannot open 'nosuch.o': No such file or directory") nofile.err
"$TRACERUN" fixture.o -c ./no-such-command > nocmd.out 2> nocmd.err
expect_rc nocmd 1 $? && expect_err nocmd "ERROR: cannot run './no-such-command'"

if [ $fails = 0 ]; then echo "all runtime fixture cases passed"; rm -rf "$W"; exit 0; fi
echo "$fails case(s) failed; work dir: $W"
exit 1
