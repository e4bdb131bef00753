// A small C/C++ type model, independent of DWARF (a BTF importer can target
// it too). Types are immutable once built and owned by a TypeArena; they are
// referred to by `const Type *`, which stay valid as long as the arena lives.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gt::dwarf {

enum class TypeKind {
  Void,
  Int,        // integers, char, bool (see is_signed / is_char / is_bool)
  Float,
  Enum,
  Pointer,
  Reference,  // C++ T &
  RvalueReference,  // C++ T &&
  Array,      // one dimension; int [2][3] is Array(2, Array(3, int))
  Struct,
  Class,      // C++ class (same layout rules as Struct)
  Union,
  Typedef,    // kept for display; target() is the aliased type
  Const,
  Volatile,
  Restrict,
  Function,   // the pointee of a function pointer
};

struct Type;

struct Member {
  std::string name;  // "" for an anonymous struct/union member
  const Type *type = nullptr;
  uint64_t offset = 0;      // bytes from the start of the enclosing aggregate
  // Bitfields (bit_size != 0): the value is bits [bit_offset, bit_offset +
  // bit_size) of the little-endian integer that starts at `offset` (so
  // bit_offset < 8); read ceil((bit_offset + bit_size) / 8) bytes.
  uint32_t bit_offset = 0;
  uint32_t bit_size = 0;
  bool is_base = false;     // a C++ base class subobject (name = base's name)
  bool is_anonymous() const { return name.empty() && !is_base; }
  bool is_bitfield() const { return bit_size != 0; }
};

struct Enumerator {
  std::string name;
  int64_t value = 0;  // the bits; read as uint64_t when the enum is unsigned
};

struct Type {
  TypeKind kind = TypeKind::Void;
  // Int/Float: the base type name ("long unsigned int"); Struct/Class/Union/
  // Enum/Typedef: the (C++-qualified) name, "" when anonymous.
  std::string name;
  uint64_t size = 0;          // bytes (pointers and references: 8)
  bool is_signed = false;     // Int, Enum
  bool is_char = false;       // Int: char, signed char, unsigned char, char8_t...
  bool is_bool = false;       // Int: _Bool / bool
  bool is_declaration = false;  // Struct/Class/Union/Enum without a definition
  bool is_cplusplus = false;  // spelled the C++ way (no "struct " prefix)
  // Pointer/Reference: the pointee; Array: the element; Typedef/Const/
  // Volatile/Restrict: the qualified type; Enum: the underlying integer (may
  // be null); Function: the return type (null = void).
  const Type *target = nullptr;
  // Array: number of elements; count_known is false for `int x[]`.
  uint64_t count = 0;
  bool count_known = false;
  std::vector<Member> members;          // Struct/Class/Union, declaration order
  std::vector<Enumerator> enumerators;  // Enum
  std::vector<const Type *> params;     // Function
  bool variadic = false;                // Function

  // The C/C++ spelling: "const char *", "struct req *", "int [4]",
  // "ns::Cls &", "int (*)(int, char *)".
  std::string display() const { return declare(""); }
  // A declaration of `name` with this type: "char *name", "int name[4]",
  // "void (*name)(int)".
  std::string declare(const std::string &name) const;

  // Strips typedefs and const/volatile/restrict.
  const Type *resolve() const;
  bool is_integer() const { return kind == TypeKind::Int || kind == TypeKind::Enum; }
  bool is_pointer() const { return kind == TypeKind::Pointer; }
  bool is_aggregate() const {
    return kind == TypeKind::Struct || kind == TypeKind::Class || kind == TypeKind::Union;
  }
  // "struct", "class", "union", "enum" for those kinds, else "".
  const char *tag_keyword() const;
};

// Result of a member lookup through anonymous members and base classes.
struct MemberLookup {
  const Type *type = nullptr;  // the member's type
  uint64_t offset = 0;         // bytes from the start of the outer aggregate
  uint32_t bit_offset = 0;     // bitfields, as in Member
  uint32_t bit_size = 0;
  std::vector<const Member *> path;  // outermost first; last is the member
};

// Looks `name` up in `type` (typedefs and cv-qualifiers are looked through):
// direct members first, then members of anonymous members and base classes
// (breadth first, so a direct member hides a base class's). nullopt when the
// type is not an aggregate or has no such member.
std::optional<MemberLookup> find_member(const Type *type, std::string_view name);

// Owns the types. Addresses of created types are stable.
class TypeArena {
public:
  Type *make(TypeKind kind) {
    types_.emplace_back();
    types_.back().kind = kind;
    return &types_.back();
  }
  const Type *void_type() {
    if (!void_) void_ = make(TypeKind::Void);
    return void_;
  }
  size_t size() const { return types_.size(); }

private:
  std::deque<Type> types_;
  Type *void_ = nullptr;
};

}  // namespace gt::dwarf
