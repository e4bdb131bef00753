// Types of expressions, as sema assigns them to the AST.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace gt {
namespace dwarf {
struct Type;  // C types from DWARF (sema/dwarf/types.h)
}

struct Type {
  enum class Kind {
    None,       // not typed yet
    Void,       // statements-only calls: printf, exit, delete
    Int,        // integers and pointers (pointers are 64-bit unsigned)
    Str,        // NUL-padded char[size]
    Tuple,      // map keys with several parts
    Args,       // the `args` object of a tracepoint; only `.field` is allowed on it
    Aggregate,  // count(), sum(), hist(), ...: only assignable to a map
    // Values the runtime prints specially (layouts in runtime/metadata.h):
    Ksym, Usym, Kstack, Ustack, Inet, Timestamp, Buf,
    Record,     // a struct/union in user memory, reached through `ctype`; only
                // its members can be read
  };
  enum class AddrSpace { None, User, Kernel };

  Kind kind = Kind::None;
  uint32_t size = 0;  // Int: 1, 2, 4, 8; Str: buffer size including the NUL
  bool is_signed = false;
  bool is_pointer = false;                // Int that points somewhere
  AddrSpace addr_space = AddrSpace::None; // where a pointer points
  std::string aggregate;                  // Aggregate: "count", "sum", "hist", ...
  std::vector<Type> elems;                // Tuple
  std::string format;                     // Timestamp: strftime format
  uint32_t stack_frames = 0;              // Kstack/Ustack: frame limit (0: all)
  uint32_t stack_mode = 0;                // Kstack/Ustack: meta::Type::StackMode
  // The C type behind a value read through DWARF: a pointer type for
  // pointers (so `->` can follow it), the aggregate for Record.
  const dwarf::Type *ctype = nullptr;

  static Type void_type() { return make(Kind::Void, 0); }
  static Type integer(uint32_t size = 8, bool is_signed = true) {
    Type t = make(Kind::Int, size);
    t.is_signed = is_signed;
    return t;
  }
  static Type pointer(AddrSpace as) {
    Type t = integer(8, false);
    t.is_pointer = true;
    t.addr_space = as;
    return t;
  }
  static Type string(uint32_t size) { return make(Kind::Str, size); }
  static Type aggregate_of(const std::string &fn) {
    Type t = make(Kind::Aggregate, 0);
    t.aggregate = fn;
    return t;
  }
  static Type special(Kind k, uint32_t size) { return make(k, size); }
  static Type make_stack(bool user, uint32_t frames, uint32_t mode = 0) {
    Type t = make(user ? Kind::Ustack : Kind::Kstack, 16);
    t.stack_frames = frames;
    t.stack_mode = mode;
    return t;
  }
  // Values that can be map keys, map values, variables and printf arguments.
  bool is_storable() const {
    return kind == Kind::Int || kind == Kind::Str || kind == Kind::Tuple ||
           (kind >= Kind::Ksym && kind != Kind::Record);
  }
  bool is_int() const { return kind == Kind::Int; }
  bool is_str() const { return kind == Kind::Str; }
  std::string str() const;

private:
  static Type make(Kind k, uint32_t size) {
    Type t;
    t.kind = k;
    t.size = size;
    return t;
  }
};

}  // namespace gt
