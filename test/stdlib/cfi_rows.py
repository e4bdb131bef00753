#!/usr/bin/env python3
"""Writes the unwind rows of an x86-64 ELF file for test/stdlib/unwind_loader.

    cfi_rows.py FILE > ROWS

A small stand-in for the runtime's table builder (runtime/unwind/), for the
BPF unwinder tests only: it reads the CFI that `readelf --debug-dump=frames-interp`
decodes, which covers what gcc and clang emit for ordinary functions, and
writes one row a line, "pc cfa_kind bp_kind cfa_off bp_off ra_off" with pc a
file offset in hex (stdlib/unwind_abi.h: struct gt_unwind_row), sorted.
"""
import re
import subprocess
import sys

# enum gt_cfa_kind / gt_reg_kind
SP, BP, PLT, SIGNAL, END, UNSUPPORTED, NONE = range(7)
SAME, AT_CFA = 0, 1

HEADER = re.compile(r"^[0-9a-f]+ [0-9a-f]+ [0-9a-f]+ (CIE|FDE)\b(.*)$")
CIE_AUG = re.compile(r'"([^"]*)"')
FDE_RANGE = re.compile(r"cie=([0-9a-f]+) pc=([0-9a-f]+)\.\.([0-9a-f]+)")
OFF = re.compile(r"^c([+-]\d+)$")
REG_OFF = re.compile(r"^(rsp|rbp)([+-]\d+)$")


def run(*args):
    # readelf exits with 1 after mere warnings (e.g. a missing debug link).
    out = subprocess.run(args, capture_output=True, text=True).stdout
    if not out:
        sys.exit("cfi_rows.py: no output from %s" % " ".join(args))
    return out


def segments(path):
    """(vaddr, memsz, offset) of each PT_LOAD."""
    out = []
    for line in run("readelf", "-lW", path).splitlines():
        f = line.split()
        if f and f[0] == "LOAD":
            out.append((int(f[2], 16), int(f[5], 16), int(f[1], 16)))
    return out


def plt_ranges(path):
    out = []
    for line in run("readelf", "-SW", path).splitlines():
        m = re.search(r"\]\s+(\S+)\s+\S+\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)", line)
        if m and m.group(1).startswith(".plt"):
            out.append((int(m.group(2), 16), int(m.group(2), 16) + int(m.group(3), 16)))
    return out


def to_row(cols, values, signal, in_plt):
    """One decoded table line -> (cfa_kind, bp_kind, cfa_off, bp_off, ra_off)."""
    v = dict(zip(cols, values))
    ra = v.get("ra", "u")
    if ra == "u":
        return (END, SAME, 0, 0, 0)
    cfa = v["CFA"]
    if cfa == "exp":
        if signal:
            return (SIGNAL, SAME, 0, 0, 0)
        if in_plt:
            kind, cfa_off = PLT, 0
        else:
            return (UNSUPPORTED, SAME, 0, 0, 0)
    else:
        m = REG_OFF.match(cfa)
        if not m:
            return (UNSUPPORTED, SAME, 0, 0, 0)
        kind, cfa_off = (SP if m.group(1) == "rsp" else BP), int(m.group(2))
    m = OFF.match(ra)
    if not m:
        return (UNSUPPORTED, SAME, 0, 0, 0)
    ra_off = int(m.group(1))
    bp = v.get("rbp", "u")
    if bp == "u":
        bp_kind, bp_off = SAME, 0
    else:
        m = OFF.match(bp)
        if not m:
            return (UNSUPPORTED, SAME, 0, 0, 0)
        bp_kind, bp_off = AT_CFA, int(m.group(1))
    return (kind, bp_kind, cfa_off, bp_off, ra_off)


def main():
    path = sys.argv[1]
    segs = segments(path)
    plts = plt_ranges(path)

    def offset(vaddr):
        for start, size, off in segs:
            if start <= vaddr < start + size:
                return vaddr - start + off
        return None

    cies = {}  # offset -> (signal, cols, first values)
    fdes = []  # (start, end, signal, cols, [(loc, values)], cie)
    cur = None
    for line in run("readelf", "--debug-dump=frames-interp", path).splitlines():
        m = HEADER.match(line)
        if m:
            hdr_off = line.split()[0]
            if m.group(1) == "CIE":
                aug = CIE_AUG.search(m.group(2))
                cur = {"kind": "CIE", "off": hdr_off, "signal": bool(aug and "S" in aug.group(1)),
                       "cols": None, "rows": []}
                cies[hdr_off] = cur
            else:
                r = FDE_RANGE.search(m.group(2))
                cur = {"kind": "FDE", "cie": r.group(1), "start": int(r.group(2), 16),
                       "end": int(r.group(3), 16), "cols": None, "rows": []}
                fdes.append(cur)
            continue
        f = line.split()
        if not f or cur is None:
            continue
        if f[0] == "LOC":
            cur["cols"] = f[1:]
        elif cur["cols"] and re.match(r"^[0-9a-f]{16}$", f[0]):
            cur["rows"].append((int(f[0], 16), f[1:]))

    rows = {}
    for fde in sorted(fdes, key=lambda d: d["start"]):
        cie = cies.get(fde["cie"])
        signal = bool(cie and cie["signal"])
        if fde["rows"]:
            cols, lines = fde["cols"], fde["rows"]
        elif cie and cie["rows"]:  # no instructions: the CIE's initial row
            cols, lines = cie["cols"], [(fde["start"], cie["rows"][0][1])]
        else:
            continue
        in_plt = any(a <= fde["start"] < b for a, b in plts)
        for loc, values in lines:
            off = offset(loc)
            if off is not None:
                rows[off] = to_row(cols, values, signal, in_plt)
        end = offset(fde["end"])
        if end is not None and end not in rows:
            rows[end] = (NONE, SAME, 0, 0, 0)  # until the next FDE, if any
    for pc in sorted(rows):
        print("%x %d %d %d %d %d" % ((pc,) + rows[pc]))


if __name__ == "__main__":
    main()
