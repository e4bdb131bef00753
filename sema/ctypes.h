// C rules for the struct and union definitions of scripts: the integer type
// names a script may write, alignment, and the x86-64 System V layout of
// members (bitfields included). The types are built in the same model as
// DWARF and BTF types (sema/dwarf/types.h), so that casts, `->` chains,
// sizeof and codegen treat script structs exactly like the others.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sema/dwarf/types.h"

namespace gt::sema {

// The C integer (or void) type a script spells `name`: C keyword sequences in
// any order ("unsigned long", "long unsigned int", "signed char", "_Bool",
// "void"), the kernel's and bpftrace's short names (u8..u64, s8..s64,
// __u8.., __s8.., uint8..uint64, int8..int64), <stdint.h> names (uint8_t..),
// bool, size_t, ssize_t, uintptr_t, intptr_t. Each call makes a new type in
// `arena` (callers cache). nullptr when `name` is none of these; `error` is then set when
// it is made of C keywords that do not form a type ("long char", "double").
const dwarf::Type *c_integer_type(const std::string &name, dwarf::TypeArena &arena,
                                  std::string &error);

// Alignment in bytes of a complete type. Aggregates take the largest
// alignment of their members, or 1 when a member sits at an offset its own
// alignment does not allow (a packed struct).
uint64_t c_alignment(const dwarf::Type *t);

// One member to lay out: its type (complete unless it is a pointer), its
// name ("" for an anonymous struct/union or an unnamed bitfield) and, for a
// bitfield, its width.
struct MemberSpec {
  std::string name;
  const dwarf::Type *type = nullptr;
  int64_t bit_width = -1;  // -1: not a bitfield
};

// Fills `record` (a Struct or Union whose name is set) with `members` laid
// out as gcc does on x86-64: each member at the next offset its alignment
// allows, union members at 0, bitfields packed into units of their declared
// type without straddling one, `: 0` closing the current unit, the size
// rounded up to the largest alignment. Unnamed bitfields only take space.
// On a member that cannot be laid out returns false with `error` set and
// `bad` its index.
bool c_layout(dwarf::Type *record, const std::vector<MemberSpec> &members, std::string &error,
              size_t &bad);

}  // namespace gt::sema
