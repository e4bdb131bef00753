// Typed AST -> LLVM IR -> BPF ELF object (with BTF and the ".gt.meta" section).
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "frontend/ast.h"
#include "frontend/source.h"
#include "runtime/metadata.h"
#include "sema/sema.h"

namespace gt::codegen {

struct Options {
  std::ostream *ir_out = nullptr;  // -d ir: the optimized IR goes here
  uint32_t ringbuf_size = 4u << 20;
};

struct Output {
  std::vector<char> object;  // the BPF ELF object
  meta::Program metadata;    // what was stored in its ".gt.meta" section
};

// Returns false after reporting errors (internal codegen errors only: every
// user error is caught by sema).
bool generate(const ast::Program &program, const sema::Analysis &analysis,
              const SourceFile &source, Diagnostics &diags, const Options &opts, Output &out);

}  // namespace gt::codegen
