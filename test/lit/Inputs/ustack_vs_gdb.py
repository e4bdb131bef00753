#!/usr/bin/env python3
"""Compares the user stack tracerun unwinds at a function's first hit with
gdb's `bt` at the same breakpoint, frame by frame, by address.

Both run the command with ASLR off (gdb by default, tracerun through
`setarch -R`), so every module loads at the same address in both runs and the
addresses must be equal. gdb's frame 0 is the breakpoint address; the others
are return addresses, as in ustack(raw).

Usage: ustack_vs_gdb.py TRACERUN BINARY FUNCTION -- COMMAND...
Exit status 0 when the stacks are equal; otherwise both are printed."""
import re
import subprocess
import sys


def symbol_address(binary, function):
    out = subprocess.run(["nm", "-D", "--defined-only", binary], capture_output=True,
                         text=True, check=True).stdout
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2].split("@")[0] == function:
            return int(parts[0], 16)
    sys.exit(f"{function} is not a dynamic symbol of {binary}")


def gdb_stack(binary, address, command):
    out = subprocess.run(
        ["gdb", "-batch", "-nx", "-ex", "set pagination off", "-ex", f"break *{address:#x}",
         "-ex", "run", "-ex", "bt", "--args"] + command,
        capture_output=True, text=True, timeout=120).stdout
    frames = []
    for line in out.splitlines():
        m = re.match(r"#(\d+)\s+(0x[0-9a-f]+ in )?(\S+)", line)
        if not m:
            continue
        if m.group(2):
            frames.append((int(m.group(2).split()[0], 16), m.group(3)))
        elif int(m.group(1)) == 0:
            frames.append((address, m.group(3)))
    return frames


def tracerun_stack(tracerun, binary, function, command):
    script = f'uprobe:{binary}:{function} {{ printf("%s", ustack(raw)); exit(); }}'
    cmd = "setarch -R " + " ".join(command)
    out = subprocess.run([tracerun, "-q", "-e", script, "-c", cmd], capture_output=True,
                         text=True, timeout=120)
    if out.returncode != 0:
        sys.exit(f"tracerun failed ({out.returncode}):\n{out.stderr}")
    # The first stack: the lines after the first empty line, up to the next.
    lines = out.stdout.split("\n")
    start = lines.index("") + 1
    stack = []
    for line in lines[start:]:
        if not line:
            break
        stack.append(line)
    return stack


def main():
    tracerun, binary, function = sys.argv[1:4]
    command = sys.argv[sys.argv.index("--") + 1:]
    address = symbol_address(binary, function)
    gdb = gdb_stack(binary, address, command)
    ours = tracerun_stack(tracerun, binary, function, command)
    if not gdb:
        sys.exit("gdb printed no frames")
    expected = [f"{a:x}" for a, _ in gdb]
    if ours != expected:
        print("gdb bt:")
        for a, name in gdb:
            print(f"  {a:x} {name}")
        print("tracerun ustack(raw):")
        for line in ours:
            print(f"  {line}")
        sys.exit(1)
    print(f"{len(ours)} frames equal to gdb's: " + " ".join(name for _, name in gdb))


if __name__ == "__main__":
    main()
