#!/usr/bin/env python3
"""wait_for_pid.py FILE... : waits (up to 10 s) until every FILE holds the pid
of a running process (test/programs/ticker writes its pid first thing)."""
import os
import sys
import time

deadline = time.time() + 10
for path in sys.argv[1:]:
    while True:
        try:
            with open(path) as f:
                text = f.read().strip()
            if text:
                os.kill(int(text), 0)
                break
        except (OSError, ValueError):
            pass
        if time.time() > deadline:
            sys.exit("timed out waiting for a pid in %s" % path)
        time.sleep(0.01)
