#!/usr/bin/env python3
"""check_lost.py --expect N [--require-loss|--require-no-loss] OUT [ERR...]

Checks that every one of the N events a test generated is accounted for:
lines that are a plain integer (one printf per event, printing the event's
index) plus the sum of "Lost K events" lines (in any of the files) must be N,
delivered indexes must be distinct and in [0, N), and a final
"Lost T events in total:" summary, when printed, must equal the sum."""
import argparse
import re
import sys

ap = argparse.ArgumentParser()
ap.add_argument("--expect", type=int, required=True)
ap.add_argument("--require-loss", action="store_true")
ap.add_argument("--require-no-loss", action="store_true")
ap.add_argument("files", nargs="+")
a = ap.parse_args()

delivered = set()
dups = 0
lost = 0
total = None
other = []
for path in a.files:
    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if re.fullmatch(r"-?\d+", line):
                v = int(line)
                if v in delivered or not 0 <= v < a.expect:
                    dups += 1
                delivered.add(v)
                continue
            m = re.fullmatch(r"Lost (\d+) events", line)
            if m:
                lost += int(m.group(1))
                continue
            m = re.fullmatch(r"Lost (\d+) events in total:", line)
            if m:
                total = int(m.group(1))
                continue
            if line.strip() and not line.startswith("  "):
                other.append(line)

print("delivered=%d lost=%d sum=%d expected=%d total_line=%s duplicates_or_out_of_range=%d"
      % (len(delivered), lost, len(delivered) + lost, a.expect, total, dups))
errors = []
if dups:
    errors.append("%d duplicate or out-of-range event lines" % dups)
if len(delivered) + lost != a.expect:
    errors.append("delivered + lost = %d, expected %d" % (len(delivered) + lost, a.expect))
if total is not None and total != lost:
    errors.append("summary says %d lost, the running reports add up to %d" % (total, lost))
if a.require_loss and lost == 0:
    errors.append("expected some loss (the reader was blocked), got none")
if a.require_no_loss and lost != 0:
    errors.append("expected no loss, got %d" % lost)
if other:
    errors.append("unexpected output lines, e.g. %r" % other[:3])
if errors:
    sys.exit("FAIL: " + "; ".join(errors))
