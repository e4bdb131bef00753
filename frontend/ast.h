// The abstract syntax tree. Nodes are owned by their parent through
// unique_ptr; sema annotates expressions in place (the `type` field).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "frontend/source.h"
#include "frontend/types.h"

namespace gt::ast {

struct Expr;
struct Stmt;
using ExprPtr = std::unique_ptr<Expr>;
using StmtPtr = std::unique_ptr<Stmt>;
using ExprList = std::vector<ExprPtr>;
using StmtList = std::vector<StmtPtr>;

enum class ExprKind {
  Integer,   // 42, 0x2a
  String,    // "text"
  Builtin,   // pid, comm, arg0, ...
  Variable,  // $x
  Map,       // @m, @m[k], @m[k1, k2]
  Call,      // name(args)
  Binary,    // a + b
  Unary,     // -a, !a, ~a
  Field,     // expr.name (args.filename)
  Ternary,   // c ? a : b
  Tuple,     // (a, b, ...)
  Cast,      // (uint8)e: `name` is the type name
};

enum class BinaryOp {
  Add, Sub, Mul, Div, Mod, And, Or, Xor, Shl, Shr,
  Eq, Ne, Lt, Le, Gt, Ge, LogicalAnd, LogicalOr,
};
enum class UnaryOp { Neg, Not, BitNot };

const char *to_string(BinaryOp op);
const char *to_string(UnaryOp op);

struct Expr {
  ExprKind kind;
  SourceRange loc;
  Type type;  // filled in by sema

  // Integer; Field on a tuple: the element index
  uint64_t int_value = 0;
  bool arrow = false;  // Field written with "->"
  // String literal value, Builtin / Variable / Map / Call / Field name
  std::string name;
  // Map keys, Call arguments, Binary (lhs, rhs), Unary (operand),
  // Field (object), Ternary (cond, then, else)
  ExprList children;
  BinaryOp binary_op = BinaryOp::Add;
  UnaryOp unary_op = UnaryOp::Neg;

  Expr(ExprKind k, SourceRange l) : kind(k), loc(l) {}
};

enum class StmtKind {
  Expr,        // a call used for its effect: printf(...), exit(), delete(@m[k])
  AssignVar,   // $x = e
  AssignMap,   // @m[k] = e
  If,          // if (c) { ... } else { ... }
  While,       // while (c) { ... }
  Unroll,      // unroll (N) { ... }: `count` copies of the body
  For,         // for ($v : lo .. hi) { ... }: target = $v, expr = lo, expr2 = hi
  Break,
  Continue,
  Return,
};

struct Stmt {
  StmtKind kind;
  SourceRange loc;
  ExprPtr target;  // AssignVar: Variable; AssignMap: Map
  ExprPtr expr;    // the value, the condition of If/While, or the expression statement
  ExprPtr expr2;   // For: the end of the range (exclusive)
  uint64_t count = 0;  // Unroll
  StmtList then_body;
  StmtList else_body;
  Stmt(StmtKind k, SourceRange l) : kind(k), loc(l) {}
};

struct AttachPoint {
  std::string text;  // as written: "uprobe:./a.out:main"
  SourceRange loc;
};

struct Probe {
  std::vector<AttachPoint> attach_points;
  ExprPtr predicate;  // may be null
  StmtList body;
  SourceRange loc;
};

struct Program {
  std::vector<Probe> probes;
};

// Indented, one node per line; used by `-d ast` and the parser tests.
std::string dump(const Program &p);

}  // namespace gt::ast
