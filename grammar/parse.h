// Entry point of the grammar library: text -> AST.
#pragma once

#include <optional>

#include "frontend/ast.h"
#include "frontend/source.h"

namespace gt::grammar {

// Returns the AST, or nullopt after reporting syntax errors to `diags`.
std::optional<ast::Program> parse(const SourceFile &file, Diagnostics &diags);

}  // namespace gt::grammar
