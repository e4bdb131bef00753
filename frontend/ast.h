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
  Update,    // $x++, --@m[k] as a value: children[0] is the variable or map
             // element; binary_op Add (++) or Sub (--); `prefix` for ++x
};

enum class BinaryOp {
  Add, Sub, Mul, Div, Mod, And, Or, Xor, Shl, Shr,
  Eq, Ne, Lt, Le, Gt, Ge, LogicalAnd, LogicalOr,
};
enum class UnaryOp { Neg, Not, BitNot, Deref };  // Deref: *p

const char *to_string(BinaryOp op);
const char *to_string(UnaryOp op);

struct Expr {
  ExprKind kind;
  SourceRange loc;
  Type type;  // filled in by sema

  // Integer; Field on a tuple: the element index
  uint64_t int_value = 0;
  bool arrow = false;  // Field written with "->"
  bool prefix = false; // Update: ++x / --x (the value after the update)
  // String literal value, Builtin / Variable / Map / Call / Field name
  std::string name;
  // Map keys, Call arguments, Binary (lhs, rhs), Unary (operand),
  // Field (object), Ternary (cond, then, else)
  ExprList children;
  BinaryOp binary_op = BinaryOp::Add;
  UnaryOp unary_op = UnaryOp::Neg;
  // Call sizeof(TYPE) / offsetof(TYPE, a.b): the type as written ("struct
  // qstr", "unsigned long *"); empty for sizeof(expr). Sema folds both to an
  // Integer.
  std::string type_operand;
  std::vector<std::string> member_path;  // offsetof: {"a", "b"}

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
  ForMap,      // for ($kv : @m) { ... }: target = $kv, expr = the map
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
  // ForMap (set by sema): the variables assigned before the loop that its
  // body uses; the body runs in a callback that reaches them by pointer.
  std::vector<std::string> captures;
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

struct StructDef;

// The type specifier of a member declaration, as written: "unsigned int",
// "u32", "pid_t", "struct path", or an inline `struct { ... }`.
struct TypeSpec {
  std::string name;                       // "" for an inline definition
  std::shared_ptr<StructDef> inline_def;  // `struct { ... } m;` (shared by `, n`)
  SourceRange loc;
};

// One declarator of a member declaration: `*name[4][2]`, `name : 3`.
struct StructMember {
  TypeSpec type;
  std::string name;            // "" for an anonymous struct/union or an unnamed bitfield
  uint32_t pointers = 0;       // number of '*'
  std::vector<uint64_t> dims;  // array dimensions, outermost first
  int64_t bit_width = -1;      // bitfields: the width; -1 otherwise
  bool function_pointer = false;  // `ret (*name)(...)`: type, pointers: the return type
  SourceRange loc;             // the declarator (or the type of an anonymous member)
};

// A C struct/union defined in the script (`struct qstr { u32 hash; ... };`).
struct StructDef {
  // bpftrace defines BPFTRACE_HAVE_BTF when the kernel has BTF; tools put
  // definitions for kernels without BTF under `#ifndef BPFTRACE_HAVE_BTF`.
  enum class Condition { Always, WithoutBtf, WithBtf };
  bool is_union = false;
  std::string name;  // "" for an anonymous inline definition
  std::vector<StructMember> members;
  Condition condition = Condition::Always;
  SourceRange loc;   // the name (the keyword when anonymous)
  std::string tag() const { return (is_union ? "union " : "struct ") + name; }
};

struct Program {
  std::vector<StructDef> structs;  // top-level definitions, in source order
  std::vector<Probe> probes;
};

// Indented, one node per line; used by `-d ast` and the parser tests.
std::string dump(const Program &p);

}  // namespace gt::ast
