#include "sema/dwarf/types.h"

#include <deque>

namespace gt::dwarf {

const char *Type::tag_keyword() const {
  switch (kind) {
    case TypeKind::Struct: return "struct";
    case TypeKind::Class: return "class";
    case TypeKind::Union: return "union";
    case TypeKind::Enum: return "enum";
    default: return "";
  }
}

static std::string base_name(const Type *t) {
  switch (t->kind) {
    case TypeKind::Void: return "void";
    case TypeKind::Struct:
    case TypeKind::Class:
    case TypeKind::Union:
    case TypeKind::Enum:
      if (t->is_cplusplus)
        return t->name.empty() ? std::string("(anonymous ") + t->tag_keyword() + ")" : t->name;
      return std::string(t->tag_keyword()) + " " + (t->name.empty() ? "(anonymous)" : t->name);
    default: return t->name.empty() ? "(unnamed)" : t->name;
  }
}

static bool is_ref_like(const Type *t) {
  return t && (t->kind == TypeKind::Pointer || t->kind == TypeKind::Reference ||
               t->kind == TypeKind::RvalueReference);
}

static std::string join(const std::string &a, const std::string &b) {
  if (b.empty()) return a;
  if (a.empty()) return b;
  return a + " " + b;
}

// Builds the C declarator inside-out: `inner` is what has been declared so far.
static std::string decl(const Type *t, const std::string &inner) {
  if (!t) return join("void", inner);
  switch (t->kind) {
    case TypeKind::Pointer:
    case TypeKind::Reference:
    case TypeKind::RvalueReference: {
      const char *sym = t->kind == TypeKind::Pointer ? "*" : t->kind == TypeKind::Reference ? "&" : "&&";
      std::string s = sym + inner;
      const Type *tg = t->target;
      if (tg && (tg->kind == TypeKind::Array || tg->kind == TypeKind::Function)) s = "(" + s + ")";
      return decl(tg, s);
    }
    case TypeKind::Const:
    case TypeKind::Volatile:
    case TypeKind::Restrict: {
      const char *q = t->kind == TypeKind::Const ? "const" : t->kind == TypeKind::Volatile ? "volatile" : "restrict";
      if (is_ref_like(t->target)) return decl(t->target, join(q, inner));
      return std::string(q) + " " + decl(t->target, inner);
    }
    case TypeKind::Array: {
      std::string dim = "[" + (t->count_known ? std::to_string(t->count) : std::string()) + "]";
      return decl(t->target, inner + dim);
    }
    case TypeKind::Function: {
      std::string ps;
      for (size_t i = 0; i < t->params.size(); i++) {
        if (i) ps += ", ";
        ps += t->params[i] ? t->params[i]->display() : "void";
      }
      if (t->variadic) ps += ps.empty() ? "..." : ", ...";
      if (ps.empty() && !t->is_cplusplus) ps = "void";
      return decl(t->target, inner + "(" + ps + ")");
    }
    default: return join(base_name(t), inner);
  }
}

std::string Type::declare(const std::string &n) const { return decl(this, n); }

const Type *Type::resolve() const {
  const Type *t = this;
  while (t && (t->kind == TypeKind::Typedef || t->kind == TypeKind::Const ||
               t->kind == TypeKind::Volatile || t->kind == TypeKind::Restrict) && t->target)
    t = t->target;
  return t;
}

std::optional<MemberLookup> find_member(const Type *type, std::string_view name) {
  if (!type || name.empty()) return std::nullopt;
  struct Node {
    const Type *type;
    uint64_t offset;
    std::vector<const Member *> path;
  };
  std::deque<Node> queue;
  queue.push_back({type->resolve(), 0, {}});
  int guard = 0;
  while (!queue.empty() && guard++ < 10000) {
    Node n = std::move(queue.front());
    queue.pop_front();
    if (!n.type || !n.type->is_aggregate()) continue;
    for (const Member &m : n.type->members) {
      if (!m.is_base && m.name == name) {
        MemberLookup r;
        r.type = m.type;
        r.offset = n.offset + m.offset;
        r.bit_offset = m.bit_offset;
        r.bit_size = m.bit_size;
        r.path = n.path;
        r.path.push_back(&m);
        return r;
      }
    }
    for (const Member &m : n.type->members) {
      if (m.is_base || m.is_anonymous()) {
        Node c{m.type ? m.type->resolve() : nullptr, n.offset + m.offset, n.path};
        c.path.push_back(&m);
        queue.push_back(std::move(c));
      }
    }
  }
  return std::nullopt;
}

}  // namespace gt::dwarf
