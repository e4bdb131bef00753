// The compiler pipeline: source -> AST -> typed AST -> BPF object.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace gt {

struct CompileOptions {
  std::string source;
  std::string filename;              // for diagnostics
  std::vector<std::string> params;   // $1..$N
  bool dump_ast = false;             // print the typed AST to `dump`
  bool dump_ir = false;              // print the optimized LLVM IR to `dump`
};

// Returns true and fills `object` on success. Diagnostics go to `diag`.
bool compile(const CompileOptions &opts, std::vector<char> &object, std::ostream &diag,
             std::ostream &dump);

}  // namespace gt
