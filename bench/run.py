#!/usr/bin/env python3
"""Benchmarks tracerun against bpftrace 0.17, measured in the same run.

Prints one table: for each measurement the median over --runs runs (default 5)
for tracerun (JIT: a .gt script compiled in-process; AOT: a tracec object) and
for bpftrace, and the ratio tracerun / bpftrace.

  (a) per-hit cost of `uprobe:BIN:f { @c = count(); }` on the -O0 loop target
      (entry emulated by the kernel) and the -O2 one (entry single-stepped),
      and of an entry+return latency histogram: (traced - untraced loop time) / N;
  (b) per-hit cost of one printf per event, with the number of lines actually
      delivered (loss shows as "LOST n");
  (c) start to probes attached: from starting the tracer to the moment its
      `-c` command (test/programs/stamp.c) runs, which both tracers allow only
      once every probe is attached;
  (d) peak RSS of the tracer during (c);
  (e) per-hit cost of `@[ustack] = count()` at stack depths 10 and 100
      (test/programs/unwind_target.c): with frame pointers (unwind_fp) and
      without (unwind_gcc: tracerun unwinds with DWARF CFI in BPF; bpftrace
      can only walk frame pointers, so its stacks there are truncated).

The loop target (test/programs/loop.c) times its own calls and reports them
on stderr (GT_LOOP_TIME=1), so tracer start-up never counts in (a) and (b).

Usage: bench/run.py [--build-dir DIR] [--runs N] [--quick] [--only tracerun|bpftrace]
                    [--rows SUBSTRING]
Needs root. Only the Python standard library.
"""
import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def die(msg):
    sys.exit("bench: " + msg)


class Tool:
    """How to run one tracer: name, argv prefix, and how a program is given."""

    def __init__(self, name, argv, kind):
        self.name = name      # column label
        self.argv = argv      # e.g. ["/repo/build/bin/tracerun"]
        self.kind = kind      # "jit", "aot" or "bpftrace"
        self.ok = True
        self.note = ""

    def program_args(self, script, workdir, tag):
        """Arguments that make the tool run `script` (text)."""
        path = os.path.join(workdir, tag + ".gt")
        with open(path, "w") as f:
            f.write(script + "\n")
        if self.kind == "aot":
            obj = os.path.join(workdir, tag + ".o")
            r = subprocess.run([TRACEC, path, "-o", obj], capture_output=True, text=True)
            if r.returncode != 0:
                raise RuntimeError("tracec failed: " + r.stderr.strip()[:300])
            return [obj]
        return [path]


def run_traced(tool, script, target_argv, workdir, tag, stdout_path=None):
    """Runs target under the tool with -c; returns (loop_ns, stdout_path)."""
    env = dict(os.environ, GT_LOOP_TIME="1")
    args = tool.argv + ["-q"] + ["-c", " ".join(target_argv)] + tool.program_args(script, workdir, tag)
    out_path = stdout_path or os.path.join(workdir, tag + ".out")
    with open(out_path, "w") as out:
        r = subprocess.run(args, stdout=out, stderr=subprocess.PIPE, text=True, env=env, timeout=600)
    m = re.search(r"loop_ns=(\d+)", r.stderr)
    if r.returncode != 0 or not m:
        raise RuntimeError("%s exited %d: %s" % (tool.name, r.returncode,
                                                 " ".join(l for l in r.stderr.splitlines()
                                                          if "RLIMIT" not in l)[:300]))
    return int(m.group(1)), out_path, r.stderr


def untraced_ns(target_argv):
    env = dict(os.environ, GT_LOOP_TIME="1")
    r = subprocess.run(target_argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                       env=env, check=True)
    return int(re.search(r"loop_ns=(\d+)", r.stderr).group(1))


def median(xs):
    return statistics.median(xs) if xs else None


def fmt_ns(ns):
    if ns is None:
        return "n/a"
    if ns >= 1e6:
        return "%.1f ms" % (ns / 1e6)
    if ns >= 1e3:
        return "%.2f us" % (ns / 1e3)
    return "%.0f ns" % ns


def fmt_kb(kb):
    return "n/a" if kb is None else "%.1f MB" % (kb / 1024.0)


# ------------------------------------------------------------------ measurements

def per_hit_sample(tool, script, prog, n, workdir, tag, argv=None):
    """One sample of (traced - untraced) / n; the untraced time is measured
    right before, so slow drifts of the machine cancel out. The target runs
    as `argv + [n]` (default: prog n)."""
    target = (argv or [prog]) + [str(n)]
    base = median([untraced_ns(target) for _ in range(3)])
    ns, _, _ = run_traced(tool, script, target, workdir, tag)
    return max(0.0, (ns - base) / n), 0


def printf_sample(tool, prog, n, workdir, tag):
    """One sample of the per-event cost of a printf; also returns how many of
    the n events did not reach the output."""
    script = "uprobe:%s:f { printf(\"%%d\\n\", arg0); }" % prog
    target = [prog, str(n)]
    base = median([untraced_ns(target) for _ in range(3)])
    ns, out_path, _ = run_traced(tool, script, target, workdir, tag)
    delivered = 0
    with open(out_path, errors="replace") as f:
        for line in f:
            if re.fullmatch(r"\d+\n?", line):
                delivered += 1
    return max(0.0, (ns - base) / n), n - delivered


def attach_time(tool, prog, runs, workdir, tag):
    """Start to probes attached, and peak RSS.

    The tracer runs `uprobe:LOOP:f { @c = count(); }` with `-c STAMP`; both
    tracers exec the -c command only after every probe is attached, and STAMP
    prints CLOCK_MONOTONIC as its first act, so STAMP's time minus the time the
    tracer was started is the start-to-attached latency (teardown excluded).
    """
    stamp = os.path.join(os.path.dirname(prog), "stamp_O0")
    script = "uprobe:%s:f { @c = count(); }" % prog
    prog_args = tool.program_args(script, workdir, tag)
    times, rss = [], []
    for _ in range(runs):
        args = tool.argv + ["-q", "-c", stamp] + prog_args
        t0 = time.monotonic_ns()
        p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        _, status, ru = os.wait4(p.pid, 0)
        out = p.stdout.read().decode(errors="replace")
        err = p.stderr.read().decode(errors="replace")
        p.stdout.close()
        p.stderr.close()
        code = os.waitstatus_to_exitcode(status)
        m = re.search(r"stamp_ns=(\d+)", out)
        if code != 0 or not m:
            raise RuntimeError("%s exited %d: %s" % (tool.name, code, err.strip()[:300]))
        times.append(int(m.group(1)) - t0)
        rss.append(ru.ru_maxrss)
    return median(times), median(rss)


# ------------------------------------------------------------------ main

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default=os.environ.get("BUILD_DIR", os.path.join(REPO, "build")))
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--quick", action="store_true", help="smaller N (for a smoke test)")
    ap.add_argument("--only", choices=["tracerun", "bpftrace"], help="run one side only")
    ap.add_argument("--rows", help="run only the measurements whose label contains this")
    a = ap.parse_args()
    if a.runs < 1:
        die("--runs must be >= 1")
    if os.geteuid() != 0:
        die("run me as root (tracing needs it)")

    global TRACEC
    bindir = os.path.join(a.build_dir, "bin")
    TRACEC = os.path.join(bindir, "tracec")
    tracerun = os.path.join(bindir, "tracerun")
    progdir = os.path.join(a.build_dir, "test", "programs")
    loop0, loop2 = os.path.join(progdir, "loop_O0"), os.path.join(progdir, "loop_O2")
    for p in (loop0, loop2):
        if not os.path.exists(p):
            die("%s not built (cmake --build %s)" % (p, a.build_dir))

    if a.only != "tracerun" and not shutil.which("bpftrace"):
        print("bench: bpftrace not found; installing it with apt-get (comparison only)", file=sys.stderr)
        subprocess.run(["apt-get", "install", "-y", "-q", "bpftrace"],
                       env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"),
                       stdout=subprocess.DEVNULL)

    tools = []
    if a.only != "bpftrace":
        jit = Tool("tracerun JIT", [tracerun], "jit")
        aot = Tool("tracerun AOT", [tracerun], "aot")
        if not os.path.exists(tracerun):
            jit.ok = aot.ok = False
            jit.note = aot.note = "tracerun not built"
        elif not os.path.exists(TRACEC):
            aot.ok, aot.note = False, "tracec not built"
        tools += [jit, aot]
    if a.only != "tracerun":
        bt = Tool("bpftrace", [shutil.which("bpftrace") or "bpftrace"], "bpftrace")
        if not shutil.which("bpftrace"):
            bt.ok, bt.note = False, "bpftrace not installed"
        tools.append(bt)

    n0, n2, nprintf = (200000, 20000, 200000) if not a.quick else (20000, 2000, 20000)
    count0 = "uprobe:%s:f { @c = count(); }" % loop0
    count2 = "uprobe:%s:f { @c = count(); }" % loop2
    lat0 = ("uprobe:%s:f { @s[tid] = nsecs; } "
            "uretprobe:%s:f { @lat = hist(nsecs - @s[tid]); delete(@s[tid]); }" % (loop0, loop0))
    rows = [
        ("(a) count(), -O0 entry, per hit",
         lambda t, w, tag: per_hit_sample(t, count0, loop0, n0, w, tag)),
        ("(a) count(), -O2 entry, per hit",
         lambda t, w, tag: per_hit_sample(t, count2, loop2, n2, w, tag)),
        ("(a) entry+return latency hist, -O0, per hit",
         lambda t, w, tag: per_hit_sample(t, lat0, loop0, n0, w, tag)),
        ("(b) printf per event, -O0, per hit",
         lambda t, w, tag: printf_sample(t, loop0, nprintf, w, tag)),
    ]
    nstack = 20000 if not a.quick else 2000
    for depth in (10, 100):
        for prog, how in (("unwind_fp", "frame pointers"), ("unwind_gcc", "no frame pointers")):
            path = os.path.join(progdir, prog)
            script = "uprobe:%s:on_compare { @[ustack] = count(); }" % path
            rows.append(("(e) @[ustack] = count(), depth %d, %s" % (depth, how),
                         lambda t, w, tag, s=script, p=path, d=depth:
                         per_hit_sample(t, s, p, nstack, w, tag, [p, str(d)])))
    if a.rows:
        rows = [r for r in rows if a.rows in r[0]]

    results = {}   # (row, tool) -> (value, note)
    rss = {}
    with tempfile.TemporaryDirectory(prefix="gt-bench-") as work:
        # Runs of the tools are interleaved (run 1 of each tool, then run 2,
        # ...) so that the machine's drifts hit every tool alike.
        for ri, (label, fn) in enumerate(rows):
            samples = {t.name: [] for t in tools}
            lost = {t.name: 0 for t in tools}
            failed = {}
            for run in range(a.runs):
                for t in tools:
                    if not t.ok or t.name in failed:
                        continue
                    print("bench: %-45s %-13s run %d/%d" % (label, t.name, run + 1, a.runs),
                          file=sys.stderr, flush=True)
                    try:
                        v, l = fn(t, work, "r%d-%d" % (ri, run))
                        samples[t.name].append(v)
                        lost[t.name] = max(lost[t.name], l)
                    except Exception as e:  # keep going: report what failed
                        failed[t.name] = "failed: %s" % str(e)[:120]
            for t in tools:
                if not t.ok:
                    results[(label, t.name)] = (None, t.note)
                elif t.name in failed:
                    results[(label, t.name)] = (None, failed[t.name])
                else:
                    note = ""
                    if label.startswith("(b)"):
                        note = "0 lost" if lost[t.name] == 0 else "LOST %d of %d" % (lost[t.name], nprintf)
                    results[(label, t.name)] = (median(samples[t.name]), note)
        label = "(c) start to probes attached"
        measure_attach = not a.rows or a.rows in label or a.rows in "(d) peak RSS"
        for t in (tools if measure_attach else []):
            if not t.ok:
                results[(label, t.name)] = (None, t.note)
                rss[t.name] = (None, t.note)
                continue
            print("bench: %-45s %-13s ..." % (label, t.name), file=sys.stderr, flush=True)
            try:
                ns, kb = attach_time(t, loop0, a.runs, work, "attach")
                results[(label, t.name)] = (ns, "")
                rss[t.name] = (kb, "")
            except Exception as e:
                results[(label, t.name)] = (None, "failed: %s" % str(e)[:120])
                rss[t.name] = (None, "")
        if measure_attach:
            rows.append((label, None))

    # ------------------------------------------------------------ table
    names = [t.name for t in tools]
    have_bt = "bpftrace" in names
    header = ["measurement (median of %d)" % a.runs] + names
    if have_bt:
        header += ["%s / bpftrace" % n for n in names if n != "bpftrace"]
    table = [header]
    notes = []
    for label, _ in rows:
        line = [label]
        for n in names:
            v, note = results.get((label, n), (None, ""))
            line.append(fmt_ns(v) + (" [%s]" % note if note and v is not None else ""))
            if note and v is None:
                tool_note = next((t.note for t in tools if t.name == n), "")
                text = ("%s: %s" % (n, note)) if note == tool_note else ("%s / %s: %s" % (label, n, note))
                if text not in notes:
                    notes.append(text)
        if have_bt:
            bv = results.get((label, "bpftrace"), (None, ""))[0]
            for n in names:
                if n == "bpftrace":
                    continue
                v = results.get((label, n), (None, ""))[0]
                line.append("%.2fx" % (v / bv) if v is not None and bv else "n/a")
        table.append(line)
    line = ["(d) peak RSS (during c)"]
    for n in names:
        line.append(fmt_kb(rss.get(n, (None, ""))[0]))
    if have_bt:
        bv = rss.get("bpftrace", (None, ""))[0]
        for n in names:
            if n == "bpftrace":
                continue
            v = rss.get(n, (None, ""))[0]
            line.append("%.2fx" % (v / bv) if v is not None and bv else "n/a")
    if measure_attach:
        table.append(line)

    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    print()
    for i, r in enumerate(table):
        print("  ".join(c.ljust(widths[j]) if j == 0 else c.rjust(widths[j]) for j, c in enumerate(r)))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    print()
    print("N: count/latency -O0 %d calls, -O2 %d calls; printf %d calls. Per-hit = (traced - "
          "untraced loop time) / N." % (n0, n2, nprintf))
    for n in notes:
        print("note: " + n)
    return 0


TRACEC = None

if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.exit(main())
