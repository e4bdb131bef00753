// Semantic analysis: resolves probes against the system (ELF symbols,
// tracepoint formats), types every expression, decides map kinds and the
// layouts of keys, values and printf payloads. Its result is what codegen
// needs; the metadata skeleton it builds is what the runtime will read.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "frontend/ast.h"
#include "sema/dwarf/dwarf.h"
#include "frontend/source.h"
#include "runtime/metadata.h"

namespace gt::btf {
class Btf;
}

namespace gt::sema {

struct TracepointField {
  enum class Kind { Int, Pointer, CharArray, DataLoc };
  std::string name;
  uint32_t offset = 0, size = 0;
  bool is_signed = false;
  Kind kind = Kind::Int;
};

// One USDT argument, from the note's spec ("-4@%edi", "8@-16(%rbp)", "4@$5").
struct UsdtArg {
  enum class Kind { Register, Memory, Constant };
  Kind kind = Kind::Register;
  uint32_t size = 8;
  bool is_signed = false;
  uint32_t reg_offset = 0;  // pt_regs offset of the register (Register, Memory base)
  int64_t value = 0;        // Memory: displacement; Constant: the value
};

// Parses one argument spec; false with `error` set on forms not supported.
bool parse_usdt_arg(const std::string &spec, UsdtArg &out, std::string &error);

// One place a probe block attaches to; each becomes one BPF program.
struct AttachPoint {
  meta::Probe probe;       // kind, target; prog_name and index are set by codegen
  std::string func;        // value of the `func` builtin
  std::vector<TracepointField> fields;     // tracepoint args
  std::vector<UsdtArg> usdt_args;          // USDT site arguments
  // Uprobes on a binary with DWARF: the function's parameters with their
  // locations at this attach point (empty without DWARF).
  std::vector<dwarf::Variable> params;
  bool has_dwarf = false;
  // Source line probes: the variables in scope at this address.
  std::vector<dwarf::Variable> vars;
  bool has_vars = false;
  std::string dwarf_error;                 // why there are no params
  // At a function's first instruction (not an inlined copy, a line or an
  // offset): the return address is at [sp] and the caller's bp is in rbp.
  bool at_function_entry = false;
  // The probed instruction's address in the binary as linked (0: unknown).
  // At run time the uprobe's ip minus this is the module's load bias, which
  // locates globals and statics (DW_OP_addr) in any process, ASLR or not.
  uint64_t link_address = 0;
  Type::AddrSpace pointer_space = Type::AddrSpace::Kernel;  // where pointers point
  // uaddr("NAME"): the symbol's link-time address minus the probed
  // instruction's; added to the run-time ip it is the run-time address.
  std::map<std::string, int64_t> user_symbols;
  SourceRange loc;
};

struct ProbeInfo {
  const ast::Probe *ast = nullptr;
  std::vector<AttachPoint> attach_points;
  // uretprobe: what a paired entry program saves per thread and call depth,
  // for `args.NAME` (in order of first use) and `duration`.
  struct SavedArg {
    std::string name;
    Type type;
  };
  std::vector<SavedArg> entry_args;
  bool uses_duration = false;
  bool needs_entry() const { return uses_duration || !entry_args.empty(); }
  bool uses_ustack = false;  // the BPF unwinder runs before the body
};

struct MapInfo {
  std::string name;
  meta::MapKind kind = meta::MapKind::Value;
  bool is_aggregate = false;
  Type key;    // Kind::None when the map has no key
  Type value;  // Value maps: the stored type; aggregations: Int
  int64_t lhist_min = 0, lhist_max = 0, lhist_step = 0;
  SourceRange first_use;
};

struct Analysis {
  std::vector<ProbeInfo> probes;
  std::vector<MapInfo> maps;                                   // in order of first use
  std::vector<meta::Printf> printfs;
  std::unordered_map<const ast::Expr *, uint32_t> printf_ids;  // printf/system/cat -> index
  std::vector<meta::PrintValue> print_values;
  std::unordered_map<const ast::Expr *, uint32_t> print_value_ids;  // print(expr) -> index
  std::vector<meta::MapPrint> map_prints;
  std::unordered_map<const ast::Expr *, uint32_t> map_print_ids;    // print(@m, top, div) -> index
  std::vector<meta::Join> joins;
  std::unordered_map<const ast::Expr *, uint32_t> join_ids;         // join(...) -> index
  std::vector<std::string> time_formats;
  std::unordered_map<const ast::Expr *, uint32_t> time_ids;         // time(fmt) -> index
  bool uses_system = false;
  bool needs_stacks = false;  // kstack/ustack: the object gets the stack trace map
  // The DWARF readers whose types (Type::ctype) the typed AST points into.
  std::vector<std::shared_ptr<dwarf::DebugInfo>> debug_infos;
  std::shared_ptr<btf::Btf> btf;  // kernel types, opened on first use
  // Pointer types made for casts ("(struct X *)p").
  std::shared_ptr<dwarf::TypeArena> cast_types = std::make_shared<dwarf::TypeArena>();
  std::vector<meta::Program::BinaryId> binaries;

  const MapInfo *find_map(const std::string &name) const;
};

struct Options {
  std::vector<std::string> params;  // $1..$N
};

// Returns nullopt after reporting errors to `diags`. The AST gets its types.
std::optional<Analysis> analyze(ast::Program &program, Diagnostics &diags, const Options &opts);

// Layout helpers shared with codegen so both agree byte for byte.
meta::Type to_meta(const Type &t);        // ints become 8 bytes
uint32_t storage_size(const Type &t);     // bytes in a key/value/payload
uint32_t storage_align(const Type &t);

// Parses a tracepoint "format" file into fields (without common_* fields).
std::vector<TracepointField> parse_tracepoint_format(const std::string &text);

// printf format checking: the conversions of `format` in order, e.g. "d", "s".
// Returns false with `error` set on a malformed specifier.
bool parse_printf_conversions(const std::string &format, std::vector<char> &convs,
                              std::string &error);

}  // namespace gt::sema
