#!/usr/bin/env bash
# Builds and runs every test: the GoogleTest unit tests (through ctest) and
# the lit suites (parse, sema, codegen, runtime). Installs missing
# dependencies first (quick when everything is installed). Exits non-zero on
# any failure and prints one summary line at the end.
#
# Usage: ./scripts/test.sh [lit arguments...]   (from any directory)
#   e.g. ./scripts/test.sh --filter runtime/
# Environment: BUILD_DIR (default <repo>/build).
set -uo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$REPO/build}"
LIT=/usr/lib/llvm-19/build/utils/lit/lit.py
PYTHON=/usr/bin/python3
[ -x "$PYTHON" ] || PYTHON=python3

# Dependencies (quick when installed), build, mounts: shared with setup.sh.
if ! BUILD_DIR="$BUILD_DIR" "$REPO/scripts/setup.sh" --no-demo; then
  echo "test.sh: setup or build FAILED"
  echo "0 passed, 1 failed"
  exit 1
fi

unit_rc=0
lit_rc=0
unit_summary="no unit tests"

echo
echo "==> Unit tests (ctest -L unit)"
ctest_log="$BUILD_DIR/ctest-unit.log"
(cd "$BUILD_DIR" && ctest -L unit --output-on-failure -j "$(nproc)") 2>&1 | tee "$ctest_log"
unit_rc=${PIPESTATUS[0]}
if grep -q "No tests were found" "$ctest_log"; then
  unit_rc=0
  unit_pass=0 unit_fail=0
else
  unit_pass=$(sed -n 's/.*tests passed, \([0-9]*\) tests failed out of \([0-9]*\).*/\2-\1/p' "$ctest_log" | tail -1)
  unit_fail=$(sed -n 's/.*tests passed, \([0-9]*\) tests failed out of.*/\1/p' "$ctest_log" | tail -1)
  unit_pass=$(( ${unit_pass:-0} ))
  unit_fail=${unit_fail:-0}
  [ "$unit_rc" -ne 0 ] && [ "$unit_fail" -eq 0 ] && unit_fail=1
fi
unit_summary="unit: $unit_pass passed, $unit_fail failed"

echo
echo "==> lit suites"
lit_log="$BUILD_DIR/lit.log"
"$PYTHON" "$LIT" -sv "$@" "$BUILD_DIR/test/lit" 2>&1 | tee "$lit_log"
lit_rc=${PIPESTATUS[0]}
count() { sed -n "s/^ *$1 *: *\([0-9]*\).*/\1/p" "$lit_log" | tail -1; }
lit_pass=$(( $(count Passed) + 0 ))
lit_xfail=$(( $(count "Expectedly Failed") + 0 ))
lit_fail=$(( $(count Failed) + $(count "Unexpectedly Passed") + $(count Unresolved) + $(count "Timed Out") + 0 ))
lit_unsup=$(( $(count Unsupported) + 0 ))
[ "$lit_rc" -ne 0 ] && [ "$lit_fail" -eq 0 ] && lit_fail=1

pass=$(( unit_pass + lit_pass + lit_xfail ))
fail=$(( unit_fail + lit_fail ))
echo
echo "$unit_summary; lit: $((lit_pass + lit_xfail)) passed, $lit_fail failed, $lit_unsup unsupported"
echo "$pass passed, $fail failed, $lit_unsup skipped"
if [ "$unit_rc" -ne 0 ] || [ "$lit_rc" -ne 0 ]; then
  exit 1
fi
exit 0
