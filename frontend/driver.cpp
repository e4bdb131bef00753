#include "frontend/driver.h"

#include "codegen/codegen.h"
#include "grammar/parse.h"
#include "sema/sema.h"

namespace gt {

bool compile(const CompileOptions &opts, std::vector<char> &object, std::ostream &diag,
             std::ostream &dump) {
  SourceFile file(opts.filename, opts.source);
  Diagnostics diags(file, diag);
  auto program = grammar::parse(file, diags);
  if (!program)
    return false;
  sema::Options sopts;
  sopts.params = opts.params;
  auto analysis = sema::analyze(*program, diags, sopts);
  if (opts.dump_ast)
    dump << ast::dump(*program);
  if (!analysis)
    return false;
  codegen::Options copts;
  if (opts.dump_ir)
    copts.ir_out = &dump;
  codegen::Output out;
  if (!codegen::generate(*program, *analysis, file, diags, copts, out))
    return false;
  object = std::move(out.object);
  return true;
}

}  // namespace gt
