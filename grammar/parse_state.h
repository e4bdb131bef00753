// State shared by the Flex scanner and the Bison parser for one parse.
#pragma once

#include "frontend/ast.h"
#include "frontend/source.h"
#include "grammar/parser.hh"

namespace gt::grammar {

struct ParseState {
  const SourceFile &file;
  Diagnostics &diags;
  ast::Program program;
  void *scanner = nullptr;  // yyscan_t
  // Scanner position and context.
  uint32_t line = 1, col = 1;
  int brace_depth = 0;
  bool in_predicate = false;
  // Inside a top-level struct definition: braces open in it (0 at the end,
  // until its ';').
  bool in_struct_def = false;
  int struct_depth = 0;
  // Open #if/#ifdef/#ifndef blocks. Only BPFTRACE_HAVE_BTF is understood
  // (its branches condition struct definitions); other blocks keep both
  // branches, as when every # line was ignored.
  std::vector<ast::StructDef::Condition> conditionals;
  ast::StructDef::Condition condition() const {
    for (auto it = conditionals.rbegin(); it != conditionals.rend(); ++it)
      if (*it != ast::StructDef::Condition::Always)
        return *it;
    return ast::StructDef::Condition::Always;
  }
  ParseState(const SourceFile &f, Diagnostics &d) : file(f), diags(d) {}
};

}  // namespace gt::grammar

#define YY_DECL gt::grammar::Parser::symbol_type gt_yylex(gt::grammar::ParseState &state, void *yyscanner)
YY_DECL;
inline gt::grammar::Parser::symbol_type yylex(gt::grammar::ParseState &state) {
  return gt_yylex(state, state.scanner);
}
