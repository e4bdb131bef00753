#include "sema/ctypes.h"

#include <algorithm>
#include <map>
#include <sstream>

namespace gt::sema {

namespace {

struct IntInfo {
  uint32_t size = 0;
  bool is_signed = false;
  bool is_char = false;
  bool is_bool = false;
  bool is_void = false;
};

// Named integer types that are not C keyword sequences.
const std::map<std::string, IntInfo> &alias_table() {
  static const std::map<std::string, IntInfo> table = [] {
    std::map<std::string, IntInfo> t;
    for (uint32_t bits : {8u, 16u, 32u, 64u}) {
      std::string b = std::to_string(bits);
      for (const std::string &u : {"u" + b, "__u" + b, "uint" + b + "_t", "uint" + b})
        t[u] = {bits / 8, false, false, false, false};
      for (const std::string &s : {"s" + b, "__s" + b, "int" + b + "_t", "int" + b})
        t[s] = {bits / 8, true, false, false, false};
    }
    t["bool"] = {1, false, false, true, false};
    t["size_t"] = {8, false, false, false, false};
    t["uintptr_t"] = {8, false, false, false, false};
    t["ssize_t"] = {8, true, false, false, false};
    t["intptr_t"] = {8, true, false, false, false};
    return t;
  }();
  return table;
}

const char *const kCWords[] = {"unsigned", "signed", "char", "short", "int",
                               "long",     "void",   "_Bool", "float", "double"};

// A sequence of C type keywords: its type and canonical name, or an error.
bool parse_c_words(const std::string &name, IntInfo &out, std::string &canonical,
                   std::string &error) {
  std::map<std::string, int> n;
  std::istringstream in(name);
  std::string w;
  while (in >> w) {
    if (std::find(std::begin(kCWords), std::end(kCWords), w) == std::end(kCWords))
      return false;  // not C keywords: maybe a typedef
    n[w]++;
  }
  if (n.empty())
    return false;
  if (n["float"] || n["double"]) {
    error = "floating-point types are not supported ('" + name + "')";
    return true;
  }
  int sign = n["signed"] + n["unsigned"];
  int words = 0;
  for (const auto &kv : n)
    words += kv.second;
  auto bad = [&] {
    error = "'" + name + "' is not a C type";
    return true;
  };
  if (sign > 1 || n["char"] > 1 || n["short"] > 1 || n["int"] > 1 || n["long"] > 2)
    return bad();
  bool is_unsigned = n["unsigned"] > 0;
  if (n["void"] || n["_Bool"]) {
    if (words != 1)
      return bad();
    out = n["void"] ? IntInfo{0, false, false, false, true} : IntInfo{1, false, false, true, false};
    canonical = n["void"] ? "void" : "_Bool";
    return true;
  }
  if (n["char"]) {
    if (n["short"] || n["long"] || n["int"])
      return bad();
    // Plain char is signed on x86-64.
    out = {1, !is_unsigned, true, false, false};
    canonical = is_unsigned ? "unsigned char" : n["signed"] ? "signed char" : "char";
    return true;
  }
  if (n["short"]) {
    if (n["long"])
      return bad();
    out = {2, !is_unsigned, false, false, false};
    canonical = is_unsigned ? "unsigned short" : "short";
    return true;
  }
  if (n["long"]) {
    out = {8, !is_unsigned, false, false, false};
    std::string l = n["long"] == 2 ? "long long" : "long";
    canonical = is_unsigned ? "unsigned " + l : l;
    return true;
  }
  // int, signed, unsigned, and their combinations.
  out = {4, !is_unsigned, false, false, false};
  canonical = is_unsigned ? "unsigned int" : "int";
  return true;
}

uint64_t round_up(uint64_t v, uint64_t a) { return a ? (v + a - 1) / a * a : v; }

}  // namespace

const dwarf::Type *c_integer_type(const std::string &name, dwarf::TypeArena &arena,
                                  std::string &error) {
  IntInfo info;
  std::string canonical;
  auto a = alias_table().find(name);
  if (a != alias_table().end()) {
    info = a->second;
    canonical = name;
  } else if (!parse_c_words(name, info, canonical, error) || !error.empty()) {
    return nullptr;
  }
  if (info.is_void)
    return arena.void_type();
  dwarf::Type *t = arena.make(dwarf::TypeKind::Int);
  t->name = canonical;
  t->size = info.size;
  t->is_signed = info.is_signed;
  t->is_char = info.is_char;
  t->is_bool = info.is_bool;
  return t;
}

uint64_t c_alignment(const dwarf::Type *t) {
  t = t ? t->resolve() : nullptr;
  if (!t)
    return 1;
  switch (t->kind) {
  case dwarf::TypeKind::Int:
  case dwarf::TypeKind::Enum:
  case dwarf::TypeKind::Float:
    return std::clamp<uint64_t>(t->size, 1, 16);
  case dwarf::TypeKind::Pointer:
  case dwarf::TypeKind::Reference:
  case dwarf::TypeKind::RvalueReference:
    return 8;
  case dwarf::TypeKind::Array:
    return c_alignment(t->target);
  case dwarf::TypeKind::Struct:
  case dwarf::TypeKind::Class:
  case dwarf::TypeKind::Union: {
    uint64_t align = 1;
    for (const auto &m : t->members) {
      uint64_t a = c_alignment(m.type);
      if (!m.is_bitfield() && m.offset % a != 0)
        return 1;
      align = std::max(align, a);
    }
    return align;
  }
  default:
    return 1;
  }
}

bool c_layout(dwarf::Type *record, const std::vector<MemberSpec> &members, std::string &error,
              size_t &bad) {
  const bool is_union = record->kind == dwarf::TypeKind::Union;
  const std::string what = record->display();
  uint64_t bit_pos = 0;  // next free bit (structs)
  uint64_t size = 0;     // largest member (unions)
  uint64_t align = 1;
  record->members.clear();
  for (size_t i = 0; i < members.size(); i++) {
    const MemberSpec &ms = members[i];
    bad = i;
    const dwarf::Type *r = ms.type ? ms.type->resolve() : nullptr;
    std::string label = ms.name.empty() ? std::string("an unnamed member") : "'" + ms.name + "'";
    if (!r || r->kind == dwarf::TypeKind::Void) {
      error = "member " + label + " of " + what + " has type void";
      return false;
    }
    if (r->kind == dwarf::TypeKind::Function) {
      error = "member " + label + " of " + what + " is a function (use a function pointer)";
      return false;
    }
    if (r->is_aggregate() && r->is_declaration) {
      error = "member " + label + " of " + what + " has incomplete type '" + r->display() + "'";
      return false;
    }
    dwarf::Member m;
    m.name = ms.name;
    m.type = ms.type;
    uint64_t a = c_alignment(ms.type);
    if (ms.bit_width >= 0) {
      uint64_t unit = r->size * 8;
      if (!r->is_integer()) {
        error = "bitfield " + label + " of " + what + " has type '" + ms.type->display() +
                "', not an integer type";
        return false;
      }
      if (static_cast<uint64_t>(ms.bit_width) > unit) {
        error = "bitfield " + label + " of " + what + " is " + std::to_string(ms.bit_width) +
                " bits wide, more than its type '" + ms.type->display() + "' holds";
        return false;
      }
      if (ms.bit_width == 0) {
        if (!ms.name.empty()) {
          error = "bitfield '" + ms.name + "' of " + what + " has zero width";
          return false;
        }
        if (!is_union)
          bit_pos = round_up(bit_pos, unit);
        continue;
      }
      uint64_t start = is_union ? 0 : bit_pos;
      if (start / unit != (start + ms.bit_width - 1) / unit)
        start = round_up(start, unit);  // a bitfield does not straddle its unit
      m.offset = start / 8;
      m.bit_offset = static_cast<uint32_t>(start % 8);
      m.bit_size = static_cast<uint32_t>(ms.bit_width);
      if (is_union)
        size = std::max(size, round_up(ms.bit_width, 8) / 8);
      else
        bit_pos = start + ms.bit_width;
      if (ms.name.empty())
        continue;  // padding only; it does not align the record either
      align = std::max(align, a);
      record->members.push_back(m);
      continue;
    }
    if (is_union) {
      m.offset = 0;
      size = std::max(size, r->size);
    } else {
      m.offset = round_up(round_up(bit_pos, 8) / 8, a);
      bit_pos = (m.offset + r->size) * 8;
    }
    align = std::max(align, a);
    record->members.push_back(m);
  }
  uint64_t end = is_union ? size : round_up(bit_pos, 8) / 8;
  record->size = round_up(end, align);
  record->is_declaration = false;
  return true;
}

}  // namespace gt::sema
