#!/bin/bash
# mkobj.sh SRC.bpf.c META.json.in OUT.o 'PROBE JSON' [clang flags...]
# Compiles a hand-written BPF program and attaches its metadata (with
# @PROBE@ replaced) as the .gt.meta section, as tracec would.
set -e
src=$1 meta=$2 out=$3 probe=$4
shift 4
clang-19 -target bpf -D__TARGET_ARCH_x86 -I/usr/include/$(uname -m)-linux-gnu -O2 -g "$@" -c "$src" -o "$out.bpf.o"
python3 - "$meta" "$out.json" "$probe" <<'PY'
import sys
s = open(sys.argv[1]).read().replace("@PROBE@", sys.argv[3])
open(sys.argv[2], "w").write(s)
PY
llvm-objcopy-19 --add-section .gt.meta="$out.json" "$out.bpf.o" "$out"
