#!/usr/bin/env python3
"""Runs Debian's bpftrace tools (/usr/sbin/*.bt) through tracec and tracerun.

For every tool:
  compile  tracec TOOL.bt -o TOOL.o           (first error line on failure)
  load     tracerun --dry-run TOOL.o          (every program through the verifier)
  run      tracerun TOOL.bt for ~2.5 s while generating matching activity,
           then SIGINT; checks the header that BEGIN prints and plausible rows.
           Only for tools with a run spec below whose probes this kernel has.

Independently of tracec's first error, every tool is scanned for the language
features it uses (FEATURES below); each feature is tried once with a tiny
probe script, so the report lists, per tool, every feature it uses that
tracec does not support today, and ranks the missing features by the number
of tools they block.

Prints a table and a summary line "compile N/38, load N/38, run N/M".
--expect-compile/--expect-load/--expect-run N make it exit 1 when a number is
below N (the lit test uses them as regression floors).

python3 standard library only. Needs root for load and run (without root
those columns are "skip").
"""
import argparse
import ctypes
import glob
import json
import os
import pty
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

# --------------------------------------------------------------- features
# name -> (regex over the tool's code with comments and #ifndef-BTF blocks
# removed, probe script). A feature is "supported" when tracec compiles its
# probe script.
FEATURES = [
    ("kprobe probes", r"(?m)^\s*kprobe:", "kprobe:vfs_read { @n = count(); }"),
    ("kretprobe probes", r"(?m)^\s*kretprobe:", "kretprobe:vfs_read { @n = count(); }"),
    ("kprobe wildcards", r"(?m)^\s*kr?(?:et)?probe:[\w.]*\*",
     "kprobe:vfs_rea* { @n = count(); }"),
    ("tracepoint wildcards", r"(?m)^\s*tracepoint:\w+:\w*\*",
     "tracepoint:syscalls:sys_enter_sync* { @n = count(); }"),
    ("time()", r"\btime\s*\(", 'BEGIN { time("%H:%M:%S "); time(); }'),
    ("float literals (1e6)", r"\b\d+e\d+\b", 'BEGIN { printf("%d\\n", 5000000 / 1e6); }'),
    ("clear()", r"\bclear\s*\(", "BEGIN { @a[1] = 1; clear(@a); }"),
    ("print(@map)", r"\bprint\s*\(\s*@\w*\s*\)", "BEGIN { @a[1] = count(); print(@a); }"),
    ("print(@map, N)", r"\bprint\s*\(\s*@\w*\s*,", "BEGIN { @a[1] = count(); print(@a, 10); }"),
    ("struct definitions in scripts (#ifndef BPFTRACE_HAVE_BTF)", r"__RAW__(?m)^\s*struct\s+\w+\s*\{",
     "#ifndef BPFTRACE_HAVE_BTF\nstruct foo { int a; };\n#endif\nBEGIN { }"),
    ("casts to kernel struct pointers (BTF)", r"\(\s*struct\s+\w+\s*\*\s*\)",
     "tracepoint:syscalls:sys_enter_openat { $t = (struct task_struct *)args->filename; @x = $t->pid; }"),
    ("curtask", r"\bcurtask\b", "tracepoint:syscalls:sys_enter_openat { @x = curtask; }"),
    ("#define constants from headers (TASK_RUNNING, AF_INET)", r"\b(TASK_RUNNING|AF_INET6?)\b",
     "#include <linux/sched.h>\n#include <sys/socket.h>\nBEGIN { @x = TASK_RUNNING + AF_INET; }"),
    ("kernel enum constants (BTF)", r"\b(TCP_[A-Z_0-9]+|SKB_DROP_REASON_\w+)\b", "BEGIN { @x = TCP_CLOSE; }"),
    ("join()", r"\bjoin\s*\(", "tracepoint:syscalls:sys_enter_execve { join(args->argv); }"),
    # _stext is in every kallsyms (the tools' own symbols may not be: see kernel_problems).
    ("kaddr()", r"\bkaddr\s*\(", 'BEGIN { @x = *kaddr("_stext"); }'),
    ("unary * dereference", r"=\s*\*\s*[\$(@]",
     "tracepoint:syscalls:sys_enter_openat { $p = args->filename; @x = *$p; }"),
    ("ntop()", r"\bntop\s*\(", 'BEGIN { printf("%s %s\\n", ntop(2, 0x0100007f), ntop(0)); }'),
    ("bswap()", r"\bbswap\s*\(", "BEGIN { @x = bswap((uint16)1); }"),
    ("kstack", r"\bkstack\b",
     'tracepoint:syscalls:sys_enter_openat { @s[kstack] = count(); printf("%s\\n", kstack); }'),
    ("usym()", r"\busym\s*\(", 'uprobe:libc:malloc { printf("%s\\n", usym(arg0)); }'),
    ("buf() and %r", r"\bbuf\s*\(",
     'tracepoint:syscalls:sys_enter_write { printf("%r\\n", buf(args->buf, 16)); }'),
    ("cat()", r"\bcat\s*\(", 'BEGIN { cat("/proc/loadavg"); }'),
    ("integer casts ((uint64), (int8))", r"\(u?int(8|16|32|64)\)", "BEGIN { @x = (int8)300; @y = (uint64)1; }"),
    ("pointer fields of tracepoint args (args->p->f, BTF)", r"args->\w+->",
     "tracepoint:syscalls:sys_enter_nanosleep { @x = args->rqtp->tv_sec; }"),
    ("func as a map value", r"=\s*func\b", "uprobe:libc:malloc { @f[tid] = func; }"),
    ("probe as a value", r"[(,]\s*probe\s*\)", 'tracepoint:syscalls:sys_enter_sync { printf("%s\\n", probe); }'),
    ("elapsed", r"\belapsed\b", "BEGIN { @x = elapsed; }"),
    ("string compare with \"\"", r'[!=]=\s*""', 'BEGIN { $c = comm; if ($c == "") { @x = 1; } }'),
    ("kstack/ustack as map keys", r"@\w*\[\s*[ku]stack\s*\]|=\s*[ku]stack\s*;",
     "tracepoint:syscalls:sys_enter_openat { @s[tid] = kstack; @c[@s[tid]] = count(); }"),
]

# --------------------------------------------------------------- run specs
# header: regex the output must contain (BEGIN's text); rows: regex for at
# least one plausible row (rows_optional: the activity may legitimately not
# produce one here); activity: what to do while the tool runs.


def _sh(cmd):
    subprocess.run(cmd, shell=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=20)


def act_ls():
    for _ in range(3):
        _sh("ls -d /tmp >/dev/null")
        _sh("sleep 0.1")


def act_busy(seconds=1.2):
    end = time.time() + seconds
    x = 0
    while time.time() < end:
        x += 1


def act_sched():
    for _ in range(10):
        _sh("sleep 0.01")
    act_busy(0.5)


def act_cat():
    for _ in range(3):
        _sh("cat /etc/hostname >/dev/null")


def act_stat():
    for _ in range(3):
        _sh("stat /etc/hostname >/dev/null")


def act_sync():
    _sh("sync")


def act_kill():
    p = subprocess.Popen(["sleep", "5"])
    time.sleep(0.1)
    p.send_signal(signal.SIGTERM)
    p.wait()


def act_nanosleep():
    # sleep(1) uses clock_nanosleep; naptime traces nanosleep(2) itself.
    code = ("import ctypes\n"
            "ts = (ctypes.c_long * 2)(0, 50000000)\n"
            "libc = ctypes.CDLL(None, use_errno=True)\n"
            "for _ in range(3): libc.syscall(35, ts, None)\n")
    subprocess.run([sys.executable, "-c", code], timeout=20)


def act_fork():
    for _ in range(20):
        _sh("true")
    time.sleep(1.2)  # pidpersec prints on interval:s:1


def act_setuid():
    subprocess.run([sys.executable, "-c", "import os; os.setuid(os.getuid()); os.setresuid(0, 0, 0)"],
                   timeout=20)


def act_write_sync(direct=True):
    path = os.path.join(tempfile.gettempdir(), "gt-compat-io.tmp")
    flag = "oflag=direct" if direct else ""
    _sh("dd if=/dev/zero of=%s bs=64k count=16 %s conv=fsync" % (path, flag))
    _sh("sync")
    try:
        os.unlink(path)
    except OSError:
        pass


def act_readline():
    """An interactive bash on a pty, so that it reads commands with readline."""
    bash = shutil.which("bash") or "/bin/bash"
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(bash, [bash, "--norc", "--noprofile", "-i"])
    try:
        time.sleep(0.3)
        os.write(fd, b"echo gtcompat_readline\n")
        time.sleep(0.3)
        os.write(fd, b"exit\n")
        end = time.time() + 3
        while time.time() < end:
            r, _, _ = select.select([fd], [], [], 0.2)
            if r:
                try:
                    if not os.read(fd, 4096):
                        break
                except OSError:
                    break
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                pid = 0
                break
    finally:
        if pid:
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except OSError:
                pass
        os.close(fd)


def act_thread():
    subprocess.run([sys.executable, "-c",
                    "import threading\n"
                    "ts = [threading.Thread(target=lambda: None) for _ in range(3)]\n"
                    "[t.start() for t in ts]; [t.join() for t in ts]\n"], timeout=20)


def act_getaddrinfo():
    for _ in range(2):
        try:
            socket.getaddrinfo("localhost", 80)
        except OSError:
            pass
        subprocess.run([sys.executable, "-c", "import socket; socket.getaddrinfo('localhost', 80)"],
                       timeout=20)


def act_capable():
    _sh("chown root /tmp; renice -n 0 -p $$")


def act_vfs():
    act_cat()
    act_ls()
    time.sleep(1.0)


RUN_SPECS = {
    "syscount": dict(header=r"Counting syscalls", rows=r"@syscall\[\d+\]: \d+", activity=act_ls),
    "execsnoop": dict(header=r"TIME\(ms\)\s+PID\s+ARGS", rows=r"(?m)^\d+\s+\d+\s+ls -d /tmp", activity=act_ls),
    "opensnoop": dict(header=r"PID\s+COMM\s+FD\s+ERR\s+PATH", rows=r"\d+\s+cat\s+\d+\s+0\s+/etc/hostname",
                      activity=act_cat),
    "runqlat": dict(header=r"Tracing CPU scheduler", rows=r"@usecs:\s*\n\[", activity=act_sched),
    "bashreadline": dict(header=r"TIME\s+PID\s+COMMAND", rows=r"\d+\s+echo gtcompat_readline",
                         activity=act_readline),
    "killsnoop": dict(header=r"Tracing kill\(\) signals", rows=r"(?m)\s15\s+\d+\s+0\s*$", activity=act_kill),
    "naptime": dict(header=r"Tracing sleeps", rows=r"python3?\S*\s+0\.050", activity=act_nanosleep),
    "pidpersec": dict(header=r"Tracing new processes", rows=r"PIDs/sec: \s*@: \d+", activity=act_fork),
    "setuids": dict(header=r"Tracing setuid\(2\)", rows=r"setuid\s+uid=0 \(0\)|setresuid\s+ruid=0",
                    activity=act_setuid),
    "statsnoop": dict(header=r"PID\s+COMM\s+ERR\s+PATH", rows=r"stat\s+0\s+/etc/hostname", activity=act_stat),
    "syncsnoop": dict(header=r"Tracing sync syscalls", rows=r"sync\s+tracepoint:syscalls:sys_enter_sync",
                      activity=act_sync),
    "writeback": dict(header=r"Tracing writeback", rows=r"(?m)\d+\.\d{3}\s*$", rows_optional=True,
                      activity=lambda: act_write_sync(direct=False)),
    "bitesize": dict(header=r"Tracing block device I/O", rows=r"@\[dd\]:\s*\n\[", activity=act_write_sync),
    "cpuwalk": dict(header=r"Sampling CPU at 99hz", rows=r"@cpu:\s*\n\[", activity=act_busy),
    "loads": dict(header=r"Reading load averages", rows=r"load averages: \d+\.\d{3}",
                  activity=lambda: time.sleep(1.3), needs=[("kallsyms", "avenrun")]),
    "runqlen": dict(header=r"Sampling run queue length", rows=r"@runqlen:\s*\n\[", activity=act_busy,
                    needs=[("btf_member", "cfs_rq", "nr_running")]),
    "threadsnoop": dict(header=r"TIME\(ms\)\s+PID\s+COMM\s+FUNC", rows=r"python", activity=act_thread),
    "gethostlatency": dict(header=r"Tracing getaddr/gethost calls", rows=r"localhost", activity=act_getaddrinfo),
    # Kernel-probe tools: run where the kernel has kprobes.
    "capable": dict(header=r"Tracing cap_capable", rows=r"CAP_\w+", activity=act_capable),
    "vfscount": dict(header=r"Tracing VFS calls", rows=r"@\[vfs_\w+\]: \d+", activity=act_vfs),
    "vfsstat": dict(header=r"Tracing key VFS calls", rows=r"@\[vfs_\w+\]: \d+", activity=act_vfs),
    "biolatency": dict(header=r"Tracing block device I/O", rows=r"@usecs:\s*\n\[", activity=act_write_sync),
}

# --------------------------------------------------------------- helpers


def strip_comments(src):
    """Removes /* */ and // comments, keeping strings and line numbers."""
    out = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if c == '"':
            j = i + 1
            while j < n and src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            out.append(src[i:j + 1])
            i = j + 1
        elif src.startswith("/*", i):
            j = src.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("\n" * src.count("\n", i, j))
            i = j
        elif src.startswith("//", i):
            j = src.find("\n", i)
            i = n if j < 0 else j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def drop_non_btf_blocks(src):
    """bpftrace defines BPFTRACE_HAVE_BTF when the kernel has BTF: keep the
    #else branch of `#ifndef BPFTRACE_HAVE_BTF` blocks."""
    out, skipping, depth = [], False, 0
    for line in src.split("\n"):
        s = line.strip()
        if re.match(r"#\s*ifndef\s+BPFTRACE_HAVE_BTF\b", s):
            skipping, depth = True, 0
            continue
        if skipping:
            if re.match(r"#\s*if", s):
                depth += 1
            elif re.match(r"#\s*endif", s):
                if depth == 0:
                    skipping = False
                    continue
                depth -= 1
            elif re.match(r"#\s*else", s) and depth == 0:
                skipping = False
                continue
            out.append("")
            continue
        out.append(line)
    return "\n".join(out)


ATTACH_RE = re.compile(r"(?m)^\s*((?:kprobe|kretprobe|tracepoint|uprobe|uretprobe|usdt|profile|interval|"
                       r"rawtracepoint|fentry|fexit|kfunc|kretfunc|software|hardware):[^\s{,/]+)")


def attach_points(code):
    return ATTACH_RE.findall(code)


def tracefs():
    for d in ("/sys/kernel/tracing", "/sys/kernel/debug/tracing"):
        if os.path.isdir(os.path.join(d, "events")):
            return d
    return None


_LDCONFIG = None
_SYMBOLS = {}


def resolve_library(name):
    """bpftrace's rule: a path, or `libc` / `libssl` = lib<name>.so* from the
    loader cache."""
    global _LDCONFIG
    if "/" in name:
        return name if os.path.exists(name) else None
    if _LDCONFIG is None:
        _LDCONFIG = []
        try:
            out = subprocess.run(["/sbin/ldconfig", "-p"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                 timeout=10).stdout.decode(errors="replace")
            for line in out.splitlines():
                m = re.match(r"\s*(\S+) \((.*)\) => (\S+)", line)
                if m and "x86-64" in m.group(2):
                    _LDCONFIG.append((m.group(1), m.group(3)))
        except (OSError, subprocess.SubprocessError):
            pass
    base = name if name.startswith("lib") else "lib" + name
    for soname, path in _LDCONFIG:
        if soname.startswith(base + ".so"):
            return path
    found = shutil.which(name)
    return found


def defined_symbols(path):
    """Names defined in .dynsym and .symtab (None when nm is missing)."""
    if path in _SYMBOLS:
        return _SYMBOLS[path]
    nm = shutil.which("nm")
    syms = None
    if nm:
        syms = set()
        for extra in (["-D"], []):
            try:
                out = subprocess.run([nm] + extra + ["--defined-only", path], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, timeout=20).stdout.decode(errors="replace")
            except (OSError, subprocess.SubprocessError):
                continue
            for line in out.splitlines():
                parts = line.split()
                if len(parts) >= 3:
                    syms.add(parts[2].split("@")[0])
    _SYMBOLS[path] = syms
    return syms


def environment_problems(points):
    """What this machine lacks for the tool regardless of tracec: uprobe
    targets (libraries, symbols) that do not exist here, so that bpftrace
    would fail too."""
    problems = []
    for p in points:
        parts = p.split(":")
        if parts[0] not in ("uprobe", "uretprobe") or len(parts) != 3:
            continue
        lib = resolve_library(parts[1])
        if not lib:
            problems.append("no library or binary '%s' here" % parts[1])
            continue
        syms = defined_symbols(lib)
        if syms is not None and parts[2] not in syms and "*" not in parts[2]:
            msg = "%s does not define %s (no symbol; bpftrace fails too)" % (lib, parts[2])
            if msg not in problems:
                problems.append(msg)
    return problems


_KALLSYMS = None
_BTF_RAW = None


def kernel_problems(spec):
    """What the running kernel lacks that the tool reads (bpftrace fails the
    same way): a symbol kaddr() resolves, a struct member it dereferences."""
    global _KALLSYMS, _BTF_RAW
    problems = []
    for need in (spec or {}).get("needs", []):
        if need[0] == "kallsyms":
            if _KALLSYMS is None:
                try:
                    with open("/proc/kallsyms") as f:
                        _KALLSYMS = set(l.split()[2] for l in f if len(l.split()) >= 3)
                except OSError:
                    _KALLSYMS = set()
            if need[1] not in _KALLSYMS:
                problems.append("kernel: /proc/kallsyms has no '%s' (CONFIG_KALLSYMS_ALL off; bpftrace fails too)"
                                % need[1])
        elif need[0] == "btf_member":
            if _BTF_RAW is None:
                _BTF_RAW = ""
                bt = shutil.which("bpftool")
                if bt and os.path.exists("/sys/kernel/btf/vmlinux"):
                    try:
                        _BTF_RAW = subprocess.run([bt, "btf", "dump", "file", "/sys/kernel/btf/vmlinux", "format",
                                                   "raw"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                                  timeout=30).stdout.decode(errors="replace")
                    except (OSError, subprocess.SubprocessError):
                        pass
            if not _BTF_RAW:
                continue  # cannot tell: assume it is there
            m = re.search(r"(?m)^\[\d+\] STRUCT '%s' .*\n((?:\t.*\n)*)" % re.escape(need[1]), _BTF_RAW)
            if m and ("\t'%s' " % need[2]) not in m.group(1):
                problems.append("kernel: struct %s has no member '%s' in this kernel's BTF (bpftrace fails too)"
                                % (need[1], need[2]))
    return problems


def probes_available(points):
    """(ok, reason): whether this machine has what the attach points need."""
    tf = tracefs()
    env = environment_problems(points)
    if env:
        return False, env[0]
    for p in points:
        kind = p.split(":", 1)[0]
        if kind in ("kprobe", "kretprobe"):
            if not os.path.isdir("/sys/bus/event_source/devices/kprobe"):
                return False, "kernel has no kprobes (%s)" % p
        elif kind in ("fentry", "fexit", "kfunc", "kretfunc"):
            return False, "fentry/fexit not checked here (%s)" % p
        elif kind == "tracepoint":
            parts = p.split(":")
            if len(parts) != 3 or not tf:
                return False, "no tracefs for %s" % p
            if not glob.glob(os.path.join(tf, "events", parts[1], parts[2])):
                return False, "kernel has no tracepoint %s" % p
    return True, ""


def summarize_env(problems):
    """One line per library: "libcrypto.so.3 does not define a, b, c"."""
    out, by_lib = [], {}
    for p in problems:
        m = re.match(r"(\S+) does not define (\S+) (.*)", p)
        if m:
            if m.group(1) not in by_lib:
                by_lib[m.group(1)] = [m.group(2)]
                out.append(m.group(1))
            else:
                by_lib[m.group(1)].append(m.group(2))
        else:
            out.append(p)
    return [("%s does not define %s (not in .dynsym/.symtab; bpftrace fails too)" % (o, ", ".join(by_lib[o])))
            if o in by_lib else o for o in out]


def run_possible(name, code):
    """(ok, reason): the tool has a run spec and this machine can run it."""
    spec = RUN_SPECS.get(name)
    ok, why = probes_available(attach_points(code))
    if not ok:
        return False, why
    if spec is None:
        return False, "no run spec (needs activity the harness does not generate)"
    k = kernel_problems(spec)
    if k:
        return False, k[0]
    return True, ""


def first_error(text):
    # bpftrace 0.17 warns about RLIMIT_MEMLOCK as an "ERROR" before the real one.
    lines = [l.strip() for l in text.splitlines() if l.strip() and "RLIMIT_MEMLOCK" not in l]
    for l in lines:
        if re.search(r"\berror\b", l, re.I):
            return l
    return lines[0] if lines else ""


def short(s, n=110):
    s = s.replace("\n", " ")
    return s if len(s) <= n else s[:n - 3] + "..."


def run_cmd(cmd, timeout):
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                           stdin=subprocess.DEVNULL)
        return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
    except subprocess.TimeoutExpired:
        return -1, "", "timed out after %ds" % timeout


# --------------------------------------------------------------- steps


def probe_features(tracec, workdir, wanted):
    """name -> (supported, first error) for the features in `wanted`."""
    result = {}
    for name, _, script in FEATURES:
        if name not in wanted:
            continue
        path = os.path.join(workdir, "feature.bt")
        with open(path, "w") as f:
            f.write(script + "\n")
        rc, out, err = run_cmd([tracec, path, "-o", os.path.join(workdir, "feature.o")], 30)
        result[name] = (rc == 0, first_error(err + out).replace(path + ":", ""))
    return result


def features_used(raw):
    code = drop_non_btf_blocks(strip_comments(raw))
    used = []
    for name, rx, _ in FEATURES:
        if rx.startswith("__RAW__"):
            if re.search(rx[len("__RAW__"):], raw):
                used.append(name)
        elif re.search(rx, code):
            used.append(name)
    return used, code


def run_tool(runner, tool_path, spec, seconds):
    """Runs the tool with activity; returns (ok, reason, output)."""
    proc = subprocess.Popen(runner + [tool_path], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL)
    chunks, errs = [], []
    attached = threading.Event()

    def reader(stream, sink, watch):
        for line in iter(stream.readline, b""):
            sink.append(line.decode(errors="replace"))
            if watch and ("Attaching" in sink[-1] or re.search(spec["header"], sink[-1])):
                attached.set()
        stream.close()

    t1 = threading.Thread(target=reader, args=(proc.stdout, chunks, True), daemon=True)
    t2 = threading.Thread(target=reader, args=(proc.stderr, errs, False), daemon=True)
    t1.start()
    t2.start()
    start = time.time()
    attached.wait(10)
    if proc.poll() is None:
        time.sleep(0.2)  # the runtime attaches right after printing "Attaching"
        try:
            spec["activity"]()
        except Exception as e:  # activity problems are reported, not fatal
            errs.append("activity failed: %s\n" % e)
        rest = seconds - (time.time() - start)
        if rest > 0:
            time.sleep(rest)
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        errs.append("did not exit within 10 s of SIGINT\n")
    t1.join(2)
    t2.join(2)
    out, err = "".join(chunks), "".join(errs)
    if not re.search(spec["header"], out):
        why = first_error(err) or "exit status %d" % proc.returncode
        return False, "no header /%s/: %s" % (spec["header"], why), out + err
    if not re.search(spec["rows"], out):
        if spec.get("rows_optional"):
            return True, "header only (no rows: the activity produced none here)", out + err
        return False, "header but no rows matching /%s/" % spec["rows"], out + err
    if proc.returncode not in (0, -signal.SIGINT, 130):
        return False, "exit status %d after SIGINT: %s" % (proc.returncode, first_error(err)), out + err
    return True, "", out + err


# --------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("build_dir", nargs="?", default=None, help="build directory (with bin/tracec, bin/tracerun)")
    ap.add_argument("--tracec", help="tracec to use (default BUILD/bin/tracec)")
    ap.add_argument("--tracerun", help="tracerun to use (default BUILD/bin/tracerun)")
    ap.add_argument("--tools-dir", default="/usr/sbin", help="where the *.bt tools are (default /usr/sbin)")
    ap.add_argument("--only", action="append", default=[], help="only this tool (repeatable)")
    ap.add_argument("--no-run", action="store_true", help="compile and load only")
    ap.add_argument("--seconds", type=float, default=2.5, help="how long each tool runs (default 2.5)")
    ap.add_argument("--workdir", help="keep objects and outputs here (default: a temporary directory)")
    ap.add_argument("--json", help="write the results as JSON to this file")
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    ap.add_argument("--reference", metavar="BPFTRACE",
                    help="check the harness itself: run the tools with this bpftrace instead (no compile/load)")
    ap.add_argument("--expect-compile", type=int, default=0, help="fail if fewer tools compile")
    ap.add_argument("--expect-load", type=int, default=0, help="fail if fewer tools load")
    ap.add_argument("--expect-run", type=int, default=0, help="fail if fewer tools run")
    args = ap.parse_args()

    build = args.build_dir or os.environ.get("GT_BUILD_DIR") or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "build")
    tracec = args.tracec or os.path.join(build, "bin", "tracec")
    tracerun = args.tracerun or os.path.join(build, "bin", "tracerun")
    for tool in (tracec, tracerun):
        if not os.access(tool, os.X_OK):
            print("run_tools.py: not executable: %s" % tool, file=sys.stderr)
            return 2
    tools = sorted(glob.glob(os.path.join(args.tools_dir, "*.bt")))
    if args.only:
        tools = [t for t in tools if os.path.basename(t)[:-3] in args.only]
    if not tools:
        print("run_tools.py: no *.bt tools in %s (apt-get install bpftrace)" % args.tools_dir, file=sys.stderr)
        return 2
    is_root = os.geteuid() == 0
    workdir = args.workdir or tempfile.mkdtemp(prefix="gt-compat-")
    os.makedirs(workdir, exist_ok=True)
    t_start = time.time()

    # Features each tool uses, then which of them tracec supports.
    uses = {}
    codes = {}
    for path in tools:
        name = os.path.basename(path)[:-3]
        with open(path, errors="replace") as f:
            raw = f.read()
        uses[name], codes[name] = features_used(raw)
    wanted = set(f for u in uses.values() for f in u)
    support = probe_features(tracec, workdir, wanted)

    results = []
    for path in tools:
        name = os.path.basename(path)[:-3]
        r = dict(tool=name, compile="fail", load="-", run="-", reason="",
                 missing=[f for f in uses[name] if not support[f][0]],
                 environment=summarize_env(environment_problems(attach_points(codes[name])) +
                                           kernel_problems(RUN_SPECS.get(name))))
        obj = os.path.join(workdir, name + ".o")
        if args.reference:
            spec = RUN_SPECS.get(name)
            avail, why = run_possible(name, codes[name])
            if avail:
                ok, why, output = run_tool([args.reference], path, spec, args.seconds)
                with open(os.path.join(workdir, name + ".run.txt"), "w") as f:
                    f.write(output)
                r["run"] = "ok" if ok else "fail"
            r["compile"] = r["load"] = "-"
            r["reason"] = why
            results.append(r)
            continue
        rc, out, err = run_cmd([tracec, path, "-o", obj], 60)
        if rc != 0:
            r["reason"] = first_error(err + out).replace(path + ":", "") or "tracec exit status %d" % rc
            results.append(r)
            continue
        r["compile"] = "ok"
        if not is_root:
            r["load"] = r["run"] = "skip"
            r["reason"] = "not root: load and run skipped"
            results.append(r)
            continue
        rc, out, err = run_cmd([tracerun, "--dry-run", obj], 60)
        if rc != 0:
            r["load"] = "fail"
            r["reason"] = first_error(err + out) or "tracerun --dry-run exit status %d" % rc
            results.append(r)
            continue
        r["load"] = "ok"
        spec = RUN_SPECS.get(name)
        avail, why = run_possible(name, codes[name])
        if not avail:
            r["run"] = "n/a"
            r["reason"] = why
        elif args.no_run:
            r["run"] = "skip"
        else:
            ok, why, output = run_tool([tracerun], path, spec, args.seconds)
            with open(os.path.join(workdir, name + ".run.txt"), "w") as f:
                f.write(output)
            r["run"] = "ok" if ok else "fail"
            r["reason"] = why
        results.append(r)

    # M counts the tools with a run spec whose probes this kernel has, whether
    # or not they compile today; "-" = runnable here but not reached.
    runnable = 0
    for r in results:
        if run_possible(r["tool"], codes[r["tool"]])[0]:
            runnable += 1
        elif r["run"] == "-":
            r["run"] = "n/a"

    n = len(results)
    n_compile = sum(r["compile"] == "ok" for r in results)
    n_load = sum(r["load"] == "ok" for r in results)
    n_run = sum(r["run"] == "ok" for r in results)

    # ---- table
    w = max(len(r["tool"]) for r in results)
    if args.markdown:
        print("| tool | compile | load | run | first reason | unsupported features it uses |")
        print("|---|---|---|---|---|---|")
        for r in results:
            print("| %s | %s | %s | %s | %s | %s |" % (r["tool"], r["compile"], r["load"], r["run"],
                                                     r["reason"].replace("|", "\\|"),
                                                     ", ".join(r["missing"] + ["env: " + e for e in r["environment"]])
                                                     or "—"))
    else:
        print("%-*s  %-7s  %-4s  %-4s  %s" % (w, "TOOL", "COMPILE", "LOAD", "RUN", "REASON"))
        for r in results:
            print("%-*s  %-7s  %-4s  %-4s  %s" % (w, r["tool"], r["compile"], r["load"], r["run"],
                                                 short(r["reason"])))
            if r["missing"]:
                print("%-*s  %s" % (w, "", "  missing: " + ", ".join(r["missing"])))
            for e in r["environment"]:
                print("%-*s  %s" % (w, "", "  environment: " + e))

    # ---- missing features ranked by the tools they block
    print()
    print("Unsupported features, by number of tools using them (alone: tools for which it is the only gap found):")
    blocked = {}
    for r in results:
        for f in r["missing"]:
            blocked.setdefault(f, []).append(r["tool"])
    for f, ts in sorted(blocked.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        by_tool = {x["tool"]: x for x in results}
        alone = [t for t in ts if len(by_tool[t]["missing"]) == 1 and not by_tool[t]["environment"]]
        print("  %2d  %-55s %s%s" % (len(ts), f, " ".join(ts),
                                      ("  (alone: %s)" % " ".join(alone)) if alone else ""))
    env = [r["tool"] for r in results if r["environment"]]
    if env:
        print("  environment (not tracec; bpftrace 0.17 fails the same way here): %s" % " ".join(env))
    unexplained = [r["tool"] for r in results if r["compile"] == "fail" and not r["missing"] and not r["environment"]]
    if unexplained:
        print("  compile failures the feature scan does not explain: %s" % " ".join(unexplained))
    supported = sorted(f for f, (ok, _) in support.items() if ok)
    if supported:
        print("Supported features the tools use: %s" % ", ".join(supported))

    print()
    print("compile %d/%d, load %d/%d, run %d/%d" % (n_compile, n, n_load, n, n_run, runnable))
    sys.stdout.flush()
    print("(%.1f s; objects and outputs in %s)" % (time.time() - t_start, workdir), file=sys.stderr)

    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(results=results, features={k: dict(supported=v[0], error=v[1])
                                                      for k, v in support.items()},
                           summary=dict(compile=n_compile, load=n_load, run=n_run, tools=n, runnable=runnable)),
                      f, indent=1)
    if not args.workdir:
        shutil.rmtree(workdir, ignore_errors=True)

    status = 0
    for what, got, want in (("compile", n_compile, args.expect_compile), ("load", n_load, args.expect_load),
                            ("run", n_run, args.expect_run)):
        if got < want:
            print("REGRESSION: %s %d < expected %d" % (what, got, want))
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
