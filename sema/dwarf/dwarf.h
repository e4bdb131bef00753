// Reading DWARF of a user-space binary (via libdw): functions and their
// parameters at every place their code runs, variables visible at an
// address, FILE:LINE -> addresses, and variable locations decoded into the
// DWARF-independent form of location.h. Types come out in the model of
// types.h. x86-64 only (register numbers, pt_regs, calling convention).
//
// All addresses are link-time virtual addresses of the binary (st_value
// style); the consumer converts them to file offsets / runtime addresses.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sema/dwarf/location.h"
#include "sema/dwarf/types.h"

namespace gt::dwarf {

struct AddressRange {
  uint64_t low = 0, high = 0;  // [low, high)
  bool contains(uint64_t a) const { return a >= low && a < high; }
};

struct Variable {
  enum class Kind { Parameter, Local, Global };
  std::string name;
  const Type *type = nullptr;
  Kind kind = Kind::Local;
  std::string decl_file;  // as in the line table / DW_AT_decl_file
  int decl_line = 0;
  Location location;      // at the address the variable was asked for
  // "int n", "char *name", "int (*cb)(int)".
  std::string declaration() const { return type ? type->declare(name) : name; }
};

struct FunctionInstance {
  enum class Kind {
    OutOfLine,  // the function's own body (symbol == name)
    Inlined,    // a DW_TAG_inlined_subroutine copy inside `caller`
    SplitPart,  // gcc's fnsplit tail: `f.part.N`
    Clone,      // an ipa clone entered by real calls: `f.isra.N`, `f.constprop.N`
    Cold,       // a `.cold` range: reached by jumps from the body, never an entry
  };
  Kind kind = Kind::OutOfLine;
  std::string name;          // qualified source name: "checked_sum", "ns::Cls::get"
  std::string linkage_name;  // mangled name when the DWARF has one
  std::string symbol;        // ELF symbol at `entry` ("checked_sum.part.0"), may be ""
  uint64_t entry = 0;        // where a uprobe for "the code starts running" goes
  std::vector<AddressRange> ranges;  // all code of this copy
  // Inlined: the function it was inlined into, and the call's source position.
  std::string caller;
  std::string call_file;
  int call_line = 0;
  // True when every call of this copy that the DWARF describes
  // (DW_TAG_call_site) comes from another copy of the same function: it only
  // continues a call that already started elsewhere (gcc's .part.N entered
  // from the inlined fast path; .cold). Such a copy must not count as a call.
  bool continuation = false;
  // Identifies the source function (shared by all its copies; differs between
  // overloads and between same-named static functions of different files).
  uint64_t function_id = 0;
  const Type *return_type = nullptr;  // void type when it returns nothing
  bool variadic = false;
  // Parameters in source order with their location at `entry`. A parameter
  // that this copy lost is listed with location.error "optimized out ...".
  std::vector<Variable> params;

  // "long checked_sum(long *buf, int n)".
  std::string signature() const;
};

struct LineAddress {
  uint64_t address = 0;
  std::string file;          // the line table's file name (full path when known)
  int line = 0;
  std::string function;      // innermost function containing the address
  bool in_inlined_copy = false;  // `function` is an inlined copy there
};

// The CFA (canonical frame address) at an address, from CFI: register + offset.
struct CfaRule {
  unsigned regno = 0;
  int64_t offset = 0;
};

class DebugInfo {
public:
  // Opens `path` and finds its DWARF: in the file itself, else by build-id
  // (/usr/lib/debug/.build-id/xx/yyyy.debug), else by .gnu_debuglink (next to
  // the file, in .debug/, in /usr/lib/debug/<dir>/). On failure returns
  // nullptr and sets `error`, e.g. "no DWARF in /bin/x (not built with -g,
  // and no separate debug info found at /usr/lib/debug/.build-id/ab/cd.debug)".
  static std::unique_ptr<DebugInfo> open(const std::string &path, std::string &error);
  ~DebugInfo();
  DebugInfo(const DebugInfo &) = delete;
  DebugInfo &operator=(const DebugInfo &) = delete;

  const std::string &path() const;        // the binary
  const std::string &debug_path() const;  // where the DWARF was read (== path() if embedded)
  const std::string &build_id() const;    // of the binary, lowercase hex, may be ""

  // Every place the code of function `name` runs. `name` is a C name, a
  // C++ qualified name ("ns::Cls::method"; overloads give several
  // function_ids), a linkage (mangled) name, or an ELF symbol that aliases a
  // function (glibc's malloc -> __libc_malloc). Empty if none.
  std::vector<FunctionInstance> find_functions(const std::string &name);
  // Qualified names of the functions that have code (for `-l`), sorted, unique.
  std::vector<std::string> function_names();

  // FILE:LINE -> addresses: the first address of each run of is_stmt rows
  // for that line (one per inlined copy / unrolled copy / split part),
  // sorted. `file` matches a line-table file by basename (no '/') or by
  // path suffix on a '/' boundary. Empty with `error` set when none.
  std::vector<LineAddress> line_addresses(const std::string &file, int line, std::string &error);

  // Variables visible at `address`, innermost first: the locals of each
  // enclosing lexical block, then the parameters and locals of the function
  // (or inlined copy) the address is in, then the statics/globals of the
  // compilation unit. Inner names shadow outer ones. Each has its location
  // at `address`. Empty with `error` set when no function contains it.
  std::vector<Variable> variables_at(uint64_t address, std::string &error);
  // One variable by name (same rules); nullopt with `error` "no variable
  // 'x' in scope at 0x..." when absent. A found variable may still have a
  // failed location (location.error).
  std::optional<Variable> find_variable(uint64_t address, const std::string &name, std::string &error);

  // A named type: "struct req", "union u", "enum color", a typedef name, a
  // base type name, or a C++ qualified name ("ns::Cls"). Definitions are
  // preferred over declarations. nullptr if unknown.
  const Type *find_type(const std::string &name);

  // CFA at `address` from .eh_frame (or .debug_frame).
  std::optional<CfaRule> cfa_at(uint64_t address, std::string &error);

  struct Impl;

private:
  DebugInfo();
  std::unique_ptr<Impl> impl_;
};

}  // namespace gt::dwarf
