#!/usr/bin/env bash
# Benchmarks tracerun against bpftrace 0.17 in one run (see bench/run.py).
# Usage: ./bench/run.sh [--runs N] [--quick] [--only tracerun|bpftrace] [--build-dir DIR]
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
exec "$PY" "$HERE/run.py" "$@"
