#!/usr/bin/env bash
# One-time setup on a fresh Debian bookworm machine, as root: installs every
# dependency, builds everything, makes sure tracefs and bpffs are mounted,
# then runs the demo (examples/demo.gt tracing the demo target).
#
# Usage: ./scripts/setup.sh [--no-demo]     (works from any directory)
# Environment: BUILD_DIR (default <repo>/build).
# scripts/test.sh runs this with --no-demo: it is quick when everything is
# already installed and built.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$REPO/build}"
DEMO=1
for arg in "$@"; do
  case "$arg" in
    --no-demo) DEMO=0 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown argument '$arg'" >&2; exit 2 ;;
  esac
done

PACKAGES=(
  build-essential cmake ninja-build pkg-config bison flex
  llvm-19-dev clang-19 llvm-19-tools
  libbpf-dev libelf-dev libdw-dev zlib1g-dev libzstd-dev
  libgtest-dev nlohmann-json3-dev bpftool
  python3 python3-psutil gcc systemtap-sdt-dev
  binutils time procps libc6-dbg
  gdb python3.11 util-linux  # stacks compared with gdb's bt (util-linux: setarch)
  bpftrace  # only for its 38 tools in /usr/sbin/*.bt (compat test) and bench/
)

# ---------------------------------------------------------------- packages
missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "==> Dependencies: all ${#PACKAGES[@]} packages are installed"
else
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup.sh: missing packages, run me as root to install them: ${missing[*]}" >&2
    exit 1
  fi
  echo "==> Installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# ---------------------------------------------------------------- build
echo "==> Building in $BUILD_DIR"
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  cmake -S "$REPO" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
fi
cmake --build "$BUILD_DIR" -j "$(nproc)"

# ---------------------------------------------------------------- mounts
# tracefs (tracepoints) and bpffs (bpftool prog loadall) are mounted on most
# systems, but not on every fresh VM or container.
if [ "$(id -u)" -eq 0 ]; then
  if [ ! -d /sys/kernel/tracing/events ] && [ ! -d /sys/kernel/debug/tracing/events ] &&
     grep -qw tracefs /proc/filesystems; then
    echo "==> Mounting tracefs on /sys/kernel/tracing"
    mount -t tracefs nodev /sys/kernel/tracing ||
      echo "    could not mount tracefs: tracepoint tests will be UNSUPPORTED"
  fi
  if ! awk '$2 == "/sys/fs/bpf" && $3 == "bpf" { f = 1 } END { exit !f }' /proc/mounts; then
    echo "==> Mounting bpffs on /sys/fs/bpf"
    mount -t bpf bpf /sys/fs/bpf || echo "    could not mount bpffs"
  fi
fi

# ---------------------------------------------------------------- demo
if [ "$DEMO" = 1 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup.sh: the demo loads BPF programs: run it as root" >&2
    exit 1
  fi
  echo
  echo "==> Demo: build/bin/tracerun examples/demo.gt -c build/test/programs/demo_O0"
  cd "$REPO"
  script=examples/demo.gt
  if [ "$BUILD_DIR" != "$REPO/build" ]; then
    # The demo's probe paths say ./build/...; point them at this build.
    script="$(mktemp --suffix=.gt)"
    trap 'rm -f "$script"' EXIT
    sed "s|\./build/|$BUILD_DIR/|g" examples/demo.gt > "$script"
  fi
  "$BUILD_DIR/bin/tracerun" "$script" -c "$BUILD_DIR/test/programs/demo_O0"
fi
