// The BPF standard library: C sources under stdlib/ compiled to LLVM bitcode
// at build time. Codegen links a library's bitcode into the generated module
// with llvm::Linker. This header and gt_stdlib do not depend on LLVM.
#pragma once

#include <string_view>

namespace gt::stdlib {

// Bitcode of stdlib/unwind.bpf.c, the in-BPF user-stack unwinder (ABI:
// stdlib/unwind_abi.h). Global functions gt_unwind_begin,
// gt_unwind_begin_current, gt_unwind_stage, gt_unwind_body, gt_unwind_result;
// maps gt_unwind_modules, gt_unwind_rows, gt_unwind_state, gt_ustacks,
// gt_unwind_requests. Static storage, valid for the life of the process.
std::string_view unwind_bitcode();

}  // namespace gt::stdlib
