# -*- Python -*-
# lit configuration for the tracec / tracerun suites.
#
# Normally loaded from <build>/test/lit/lit.site.cfg.py (configured by CMake),
# which sets the gt_* paths below. Running lit on the source tree directly
# (lit test/lit) also works: the build directory is then $GT_BUILD_DIR or
# <repo>/build.
#
# Substitutions: %tracec %tracerun %programs %cc %clang %python %inputs
# Tools in PATH:  FileCheck not count (from LLVM 19)
# Features (printed with the reason at start-up, see docs/testing.md):
#   root bpf uprobes tracepoints syscall-tracepoints perf-events kprobes
#   fentry btf bpftrace gdb python3.11
import ctypes
import ctypes.util
import os
import platform
import shutil
import sys

import lit.formats
import lit.util

config.name = "gt"
config.test_format = lit.formats.ShTest(execute_external=True)
config.suffixes = [".test", ".gt"]
config.excludes = ["Inputs", "lit.cfg.py", "lit.site.cfg.py", "lit.site.cfg.py.in", "lit.local.cfg"]
config.test_source_root = os.path.dirname(os.path.abspath(__file__))

# ----------------------------------------------------------------- paths
repo_dir = getattr(config, "gt_source_dir", None) or os.path.abspath(
    os.path.join(config.test_source_root, "..", ".."))
binary_dir = getattr(config, "gt_binary_dir", None) or os.environ.get(
    "GT_BUILD_DIR", os.path.join(repo_dir, "build"))
tools_dir = getattr(config, "gt_tools_dir", None) or os.path.join(binary_dir, "bin")
programs_dir = getattr(config, "gt_programs_dir", None) or os.path.join(
    binary_dir, "test", "programs")
llvm_tools_dir = getattr(config, "llvm_tools_dir", None) or "/usr/lib/llvm-19/bin"

if not hasattr(config, "gt_binary_dir"):
    config.test_exec_root = os.path.join(binary_dir, "test", "lit")

config.environment["PATH"] = os.pathsep.join(
    [tools_dir, llvm_tools_dir, config.environment.get("PATH", os.environ.get("PATH", ""))])
# Keep tool output stable and uncoloured.
config.environment["LC_ALL"] = "C"
config.environment["TERM"] = "dumb"
for var in ("HOME", "TMPDIR", "GT_DEBUG"):
    if var in os.environ:
        config.environment[var] = os.environ[var]

python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
cc = shutil.which("gcc") or getattr(config, "gt_cc", "cc")
clang = shutil.which("clang-19") or os.path.join(llvm_tools_dir, "clang")

# GT_TRACEC / GT_TRACERUN override the tools under test (e.g. an installed copy).
tracec = os.environ.get("GT_TRACEC") or os.path.join(tools_dir, "tracec")
tracerun = os.environ.get("GT_TRACERUN") or os.path.join(tools_dir, "tracerun")
config.substitutions.append(("%tracec", tracec))
config.substitutions.append(("%tracerun", tracerun))
config.substitutions.append(("%programs", programs_dir))
config.substitutions.append(("%inputs", os.path.join(config.test_source_root, "Inputs")))
config.substitutions.append(("%python", python))
config.substitutions.append(("%clang", clang))
config.substitutions.append(("%cc", cc))

for tool in ("FileCheck", "not", "count"):
    if not os.path.exists(os.path.join(llvm_tools_dir, tool)):
        lit_config.warning("%s not found in %s (apt-get install llvm-19-tools)" % (tool, llvm_tools_dir))
for tool in (tracec, tracerun):
    if not os.path.exists(tool):
        lit_config.warning("not built yet: %s" % tool)
if not os.path.isdir(programs_dir):
    lit_config.warning("test programs not built: %s (ninja -C %s gt_test_programs)"
                       % (programs_dir, binary_dir))

# test/lit/runtime/lit.local.cfg puts the runtime tests in this group.
lit_config.parallelism_groups["gt-runtime"] = 1

# Per-test time limit (lit needs psutil for it: apt-get install python3-psutil).
try:
    import psutil  # noqa: F401
    lit_config.maxIndividualTestTime = int(os.environ.get("GT_LIT_TIMEOUT", "120"))
except ImportError:
    lit_config.note("python3-psutil missing: no per-test timeout")

# ----------------------------------------------------------------- features
_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_SYSCALLS = {
    "x86_64": {"bpf": 321, "perf_event_open": 298},
    "aarch64": {"bpf": 280, "perf_event_open": 241},
}.get(platform.machine(), {})


def _close(fd):
    try:
        os.close(fd)
    except OSError:
        pass


def probe_bpf():
    """Loads `r0 = 0; exit` as a socket filter with BPF_PROG_LOAD."""
    if "bpf" not in _SYSCALLS:
        return False, "unknown bpf syscall number on %s" % platform.machine()
    insns = bytes([0xB7, 0, 0, 0, 0, 0, 0, 0,   # mov64 r0, 0
                   0x95, 0, 0, 0, 0, 0, 0, 0])  # exit
    insn_buf = ctypes.create_string_buffer(insns, len(insns))
    license = ctypes.create_string_buffer(b"GPL")
    attr = ctypes.create_string_buffer(128)
    ctypes.memmove(ctypes.addressof(attr), (ctypes.c_uint32 * 2)(1, 2), 8)  # SOCKET_FILTER, 2 insns
    ctypes.memmove(ctypes.addressof(attr) + 8, (ctypes.c_uint64 * 2)(
        ctypes.addressof(insn_buf), ctypes.addressof(license)), 16)
    fd = _libc.syscall(_SYSCALLS["bpf"], 5, attr, 128)  # BPF_PROG_LOAD
    if fd < 0:
        err = ctypes.get_errno()
        return False, "BPF_PROG_LOAD failed: %s" % os.strerror(err)
    _close(fd)
    return True, "BPF_PROG_LOAD of a trivial program works"


def probe_fentry():
    """libbpf's probe for BPF_PROG_TYPE_TRACING: load an fentry program with
    attach_btf_id 1 (not a function). A kernel that supports fentry rejects it
    with EINVAL; one without (no ftrace direct calls, or forbidden) answers
    ENOTSUPP/EPERM."""
    if "bpf" not in _SYSCALLS:
        return False, "unknown bpf syscall number"
    insns = bytes([0xB7, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0])
    insn_buf = ctypes.create_string_buffer(insns, len(insns))
    license = ctypes.create_string_buffer(b"GPL")
    attr = ctypes.create_string_buffer(128)
    a = ctypes.addressof(attr)
    ctypes.memmove(a, (ctypes.c_uint32 * 2)(26, 2), 8)  # BPF_PROG_TYPE_TRACING
    ctypes.memmove(a + 8, (ctypes.c_uint64 * 2)(
        ctypes.addressof(insn_buf), ctypes.addressof(license)), 16)
    ctypes.memmove(a + 68, (ctypes.c_uint32 * 1)(24), 4)  # expected_attach_type FENTRY
    ctypes.memmove(a + 108, (ctypes.c_uint32 * 1)(1), 4)  # attach_btf_id
    fd = _libc.syscall(_SYSCALLS["bpf"], 5, attr, 128)
    err = ctypes.get_errno()
    if fd >= 0:
        _close(fd)
        return False, "unexpected: fentry probe program loaded"
    if err == 22:  # EINVAL
        return True, "BPF_PROG_TYPE_TRACING (fentry) programs load"
    return False, "BPF_PROG_TYPE_TRACING (fentry) not available: %s" % os.strerror(err)


def probe_perf_events():
    """perf_event_open of a software cpu-clock event on CPU 0."""
    if "perf_event_open" not in _SYSCALLS:
        return False, "unknown perf_event_open syscall number"
    attr = ctypes.create_string_buffer(112)
    # type = PERF_TYPE_SOFTWARE, size = 112 (VER5), config = PERF_COUNT_SW_CPU_CLOCK,
    # flags: disabled (bit 0)
    ctypes.memmove(ctypes.addressof(attr), (ctypes.c_uint32 * 2)(1, 112), 8)
    ctypes.memmove(ctypes.addressof(attr) + 40, (ctypes.c_uint64 * 1)(1), 8)
    fd = _libc.syscall(_SYSCALLS["perf_event_open"], attr, -1, 0, -1, 0)
    if fd < 0:
        return False, "perf_event_open(cpu-clock) failed: %s" % os.strerror(ctypes.get_errno())
    _close(fd)
    return True, "perf_event_open(cpu-clock) works"


def tracefs_root():
    for d in ("/sys/kernel/tracing", "/sys/kernel/debug/tracing"):
        if os.path.isdir(os.path.join(d, "events")):
            return d
    return None


def tracefs_available():
    try:
        with open("/proc/filesystems") as f:
            return any(line.split()[-1] == "tracefs" for line in f if line.strip())
    except OSError:
        return False


features = {}


def feature(name, ok, reason):
    features[name] = ok
    if ok:
        config.available_features.add(name)
    lit_config.note("feature %-20s %-3s (%s)" % (name, "yes" if ok else "NO", reason))


is_root = os.geteuid() == 0
feature("root", is_root, "euid is 0" if is_root else "euid is %d, runtime tests need root" % os.geteuid())

if is_root:
    ok, why = probe_bpf()
else:
    ok, why = False, "not root"
feature("bpf", ok, why)

d = "/sys/bus/event_source/devices/uprobe"
feature("uprobes", os.path.isdir(d), "%s %s" % (d, "exists" if os.path.isdir(d) else "missing (CONFIG_UPROBE_EVENTS)"))

d = "/sys/bus/event_source/devices/kprobe"
feature("kprobes", os.path.isdir(d), "%s %s" % (d, "exists" if os.path.isdir(d) else "missing (CONFIG_KPROBE_EVENTS)"))

root = tracefs_root()
if root:
    feature("tracepoints", True, "tracefs at %s" % root)
elif is_root and tracefs_available():
    feature("tracepoints", True, "tracefs not mounted but mountable (the runtime mounts it)")
else:
    feature("tracepoints", False, "no tracefs mounted or available in /proc/filesystems")

sc = None
for r in (root or "/sys/kernel/tracing", "/sys/kernel/debug/tracing"):
    if os.path.isdir(os.path.join(r, "events", "syscalls", "sys_enter_openat")):
        sc = r
if sc:
    feature("syscall-tracepoints", True, "%s/events/syscalls exists" % sc)
elif root is None and is_root and tracefs_available():
    # Cannot look without mounting; assume the usual CONFIG_FTRACE_SYSCALLS.
    feature("syscall-tracepoints", True, "tracefs not mounted; assuming syscalls events")
else:
    feature("syscall-tracepoints", False, "no events/syscalls (CONFIG_FTRACE_SYSCALLS)")

if is_root:
    ok, why = probe_perf_events()
else:
    ok, why = False, "not root"
feature("perf-events", ok, why)

libc_dbg = os.path.isdir("/usr/share/doc/libc6-dbg")
feature("libc6-dbg", libc_dbg, "glibc's separate debug info %s" %
        ("is installed" if libc_dbg else "is missing (apt-get install libc6-dbg)"))


def bpffs_mounted():
    try:
        with open("/proc/mounts") as f:
            return any(l.split()[1] == "/sys/fs/bpf" and l.split()[2] == "bpf" for l in f)
    except (OSError, IndexError):
        return False


ok = bpffs_mounted()
feature("bpffs", ok, "bpffs %s at /sys/fs/bpf" % ("mounted" if ok else "not mounted (mount -t bpf bpf /sys/fs/bpf)"))

bt = shutil.which("bpftool")
feature("bpftool", bt is not None, bt or "bpftool not installed")

btf = os.path.exists("/sys/kernel/btf/vmlinux")
feature("btf", btf, "/sys/kernel/btf/vmlinux %s" % ("exists" if btf else "missing"))

if not btf:
    feature("fentry", False, "no kernel BTF")
elif not is_root:
    feature("fentry", False, "not root")
else:
    ok, why = probe_fentry()
    feature("fentry", ok, why)

bt = shutil.which("bpftrace")
feature("bpftrace", bt is not None, bt or "bpftrace not installed (only for comparisons)")

# Debian's own binaries (no frame pointers, .eh_frame only) for stacks checked
# against gdb's bt (scripts/setup.sh installs both).
gdb = shutil.which("gdb")
feature("gdb", gdb is not None, gdb or "gdb not installed")
py311 = "/usr/bin/python3.11"
feature("python3.11", os.access(py311, os.X_OK), py311 if os.access(py311, os.X_OK)
        else "Debian's python3.11 not installed")

