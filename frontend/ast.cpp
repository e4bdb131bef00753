#include "frontend/ast.h"

#include <sstream>

namespace gt {

std::string Type::str() const {
  switch (kind) {
  case Kind::None: return "untyped";
  case Kind::Void: return "void";
  case Kind::Int:
    if (is_pointer)
      return addr_space == AddrSpace::User ? "user pointer" : "kernel pointer";
    return (is_signed ? "int" : "uint") + std::to_string(size * 8);
  case Kind::Str: return "string[" + std::to_string(size) + "]";
  case Kind::Tuple: {
    std::string s = "(";
    for (size_t i = 0; i < elems.size(); i++)
      s += (i ? ", " : "") + elems[i].str();
    return s + ")";
  }
  case Kind::Args: return "args";
  case Kind::Aggregate: return aggregate + "()";
  case Kind::Ksym: return "ksym";
  case Kind::Usym: return "usym";
  case Kind::Kstack: return "kstack";
  case Kind::Ustack: return "ustack";
  case Kind::Inet: return "inet";
  case Kind::Timestamp: return "timestamp";
  case Kind::Buf: return "buffer[" + std::to_string(size - 8) + "]";
  case Kind::Record: return "struct value";
  }
  return "?";
}

namespace ast {

const char *to_string(BinaryOp op) {
  static const char *names[] = {"+", "-", "*", "/", "%", "&", "|", "^", "<<", ">>",
                                "==", "!=", "<", "<=", ">", ">=", "&&", "||"};
  return names[static_cast<int>(op)];
}

const char *to_string(UnaryOp op) {
  static const char *names[] = {"-", "!", "~", "*"};
  return names[static_cast<int>(op)];
}

static void dump_expr(std::ostream &out, const Expr &e, int depth);

static void indent(std::ostream &out, int depth) {
  for (int i = 0; i < depth; i++)
    out << "  ";
}

static void dump_expr(std::ostream &out, const Expr &e, int depth) {
  indent(out, depth);
  switch (e.kind) {
  case ExprKind::Integer: out << "int " << e.int_value; break;
  case ExprKind::String: {
    out << "string \"";
    for (char c : e.name) {
      if (c == '\n') out << "\\n";
      else if (c == '\t') out << "\\t";
      else if (c == '"') out << "\\\"";
      else out << c;
    }
    out << "\"";
    break;
  }
  case ExprKind::Builtin: out << "builtin " << e.name; break;
  case ExprKind::Variable: out << "variable " << e.name; break;
  case ExprKind::Map: out << "map " << e.name; break;
  case ExprKind::Call:
    out << "call " << e.name;
    if (!e.type_operand.empty()) {
      out << " (" << e.type_operand;
      for (const auto &m : e.member_path)
        out << (&m == &e.member_path.front() ? ", " : ".") << m;
      out << ")";
    }
    break;
  case ExprKind::Binary: out << "binary " << to_string(e.binary_op); break;
  case ExprKind::Unary: out << "unary " << to_string(e.unary_op); break;
  case ExprKind::Field: out << "field " << (e.arrow ? "->" : ".") << e.name; break;
  case ExprKind::Tuple: out << "tuple"; break;
  case ExprKind::Cast: out << "cast " << e.name; break;
  case ExprKind::Ternary: out << "ternary"; break;
  case ExprKind::Update:
    out << (e.prefix ? "pre" : "post") << (e.binary_op == BinaryOp::Add ? "increment" : "decrement");
    break;
  }
  if (e.type.kind != Type::Kind::None)
    out << " :: " << e.type.str();
  out << "\n";
  for (const auto &c : e.children)
    dump_expr(out, *c, depth + 1);
}

static void dump_stmts(std::ostream &out, const StmtList &stmts, int depth) {
  for (const auto &s : stmts) {
    indent(out, depth);
    switch (s->kind) {
    case StmtKind::Expr:
      out << "expr\n";
      dump_expr(out, *s->expr, depth + 1);
      break;
    case StmtKind::AssignVar:
    case StmtKind::AssignMap:
      out << "assign\n";
      dump_expr(out, *s->target, depth + 1);
      dump_expr(out, *s->expr, depth + 1);
      break;
    case StmtKind::While:
      out << "while\n";
      dump_expr(out, *s->expr, depth + 1);
      dump_stmts(out, s->then_body, depth + 1);
      break;
    case StmtKind::Unroll:
      out << "unroll " << s->count << "\n";
      dump_stmts(out, s->then_body, depth + 1);
      break;
    case StmtKind::For:
      out << "for " << s->target->name << "\n";
      dump_expr(out, *s->expr, depth + 1);
      dump_expr(out, *s->expr2, depth + 1);
      dump_stmts(out, s->then_body, depth + 1);
      break;
    case StmtKind::ForMap:
      out << "for " << s->target->name << " in map\n";
      dump_expr(out, *s->expr, depth + 1);
      dump_stmts(out, s->then_body, depth + 1);
      break;
    case StmtKind::Break: out << "break\n"; break;
    case StmtKind::Continue: out << "continue\n"; break;
    case StmtKind::Return: out << "return\n"; break;
    case StmtKind::If:
      out << "if\n";
      dump_expr(out, *s->expr, depth + 1);
      indent(out, depth);
      out << "then\n";
      dump_stmts(out, s->then_body, depth + 1);
      if (!s->else_body.empty()) {
        indent(out, depth);
        out << "else\n";
        dump_stmts(out, s->else_body, depth + 1);
      }
      break;
    }
  }
}

static void dump_members(std::ostream &out, const StructDef &d, int depth) {
  for (const auto &m : d.members) {
    indent(out, depth);
    out << "member " << (m.name.empty() ? "(anonymous)" : m.name) << ": ";
    if (m.type.inline_def)
      out << m.type.inline_def->tag() << (m.type.inline_def->name.empty() ? "(anonymous)" : "");
    else
      out << m.type.name;
    if (m.pointers)
      out << " " << std::string(m.pointers, '*');
    if (m.function_pointer)
      out << " (*)()";
    for (uint64_t n : m.dims)
      out << "[" << n << "]";
    if (m.bit_width >= 0)
      out << " : " << m.bit_width;
    out << "\n";
    if (m.type.inline_def)
      dump_members(out, *m.type.inline_def, depth + 1);
  }
}

static void dump_struct(std::ostream &out, const StructDef &d) {
  out << "  " << d.tag();
  if (d.condition == StructDef::Condition::WithoutBtf)
    out << " [without BTF]";
  else if (d.condition == StructDef::Condition::WithBtf)
    out << " [with BTF]";
  out << "\n";
  dump_members(out, d, 2);
}

std::string dump(const Program &p) {
  std::ostringstream out;
  out << "program\n";
  for (const auto &d : p.structs)
    dump_struct(out, d);
  for (const auto &probe : p.probes) {
    out << "  probe";
    for (const auto &ap : probe.attach_points)
      out << " " << ap.text;
    out << "\n";
    if (probe.predicate) {
      out << "   predicate\n";
      dump_expr(out, *probe.predicate, 3);
    }
    dump_stmts(out, probe.body, 2);
  }
  return out.str();
}

}  // namespace ast
}  // namespace gt
