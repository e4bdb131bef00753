// Kernel types from BTF (/sys/kernel/btf/vmlinux), imported into the same
// type model as the DWARF reader (sema/dwarf/types.h).
//
// Import is lazy and memoized by BTF id: opening costs one read of the BTF
// blob (libbpf's btf__parse_raw); a type is built only when it is asked for.
// vmlinux holds ~126k types, and struct task_struct reaches most of them
// through pointers, so the importer stops at pointers:
//
//   * a type returned by find_type() / type_by_id() / a prototype is
//     complete: its members, and every aggregate embedded in it by value
//     (directly, in an array, through typedefs / cv-qualifiers, anonymous
//     members included) have their members;
//   * a struct/union reached only through a pointer (or as a function
//     parameter) is a "stub": name, size and kind are right, `members` is
//     empty and `is_declaration` is true until complete() is called on it.
//
// So before reading `members` of a type reached through a pointer, call
// complete(t) (or use Btf::find_member, which does it). complete() of a type
// that is already complete, or of a real forward declaration without a
// definition (BTF_KIND_FWD), does nothing.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sema/dwarf/types.h"

struct btf;

namespace gt::btf {

using gt::dwarf::Member;
using gt::dwarf::MemberLookup;
using gt::dwarf::Type;
using gt::dwarf::TypeArena;
using gt::dwarf::TypeKind;

inline constexpr const char *kVmlinuxPath = "/sys/kernel/btf/vmlinux";

struct Param {
  std::string name;           // "" when BTF has no name for it
  const Type *type = nullptr; // never null
  std::string declaration() const { return type->declare(name); }  // "const char *filename"
};

// A kernel function (BTF_KIND_FUNC) or a raw tracepoint's arguments.
struct Prototype {
  std::string name;                 // "do_sys_openat2", "sched_switch"
  uint32_t btf_id = 0;              // the FUNC (or btf_trace_ typedef) id
  const Type *return_type = nullptr;  // Void type for void; never null
  std::vector<Param> params;
  bool variadic = false;
  bool is_static = false;           // FUNC linkage (BTF_FUNC_STATIC)
  // "int do_sys_openat2(int dfd, const char *filename, struct open_how *how)"
  std::string signature() const;
};

// A named enumerator: value and the enum it belongs to.
struct EnumValue {
  const Type *enum_type = nullptr;
  int64_t value = 0;  // the bits; read as uint64_t when !enum_type->is_signed
};

class Btf {
public:
  // Opens raw BTF (a /sys/kernel/btf/* file) or an ELF file with a .BTF
  // section. Empty path: /sys/kernel/btf/vmlinux. nullptr + error on failure
  // ("kernel BTF not available: /sys/kernel/btf/vmlinux does not exist (...)").
  static std::unique_ptr<Btf> open(const std::string &path, std::string &error);
  static std::unique_ptr<Btf> open_vmlinux(std::string &error) { return open("", error); }
  ~Btf();
  Btf(const Btf &) = delete;
  Btf &operator=(const Btf &) = delete;

  const std::string &path() const { return path_; }
  uint32_t type_count() const;      // BTF ids are 1 .. type_count()-1 (0 = void)
  size_t imported_count() const;    // types built so far (for measuring laziness)

  // By name: "struct task_struct", "union bpf_attr", "enum pid_type", a
  // typedef ("pid_t"), a base type ("unsigned int", "char"), or a bare tag
  // name ("task_struct": typedef first, as in C, then struct, union, enum).
  // Trailing '*' make pointers ("struct file *"); a leading "const" is
  // accepted. nullptr when there is no such type. The result is complete.
  const Type *find_type(std::string_view name);
  // The type with this BTF id (complete); 0 is void; nullptr if out of range.
  const Type *type_by_id(uint32_t id);

  // Fills the members of a stub (see above). Looks through typedefs and
  // cv-qualifiers. Returns the resolved aggregate (or t's resolve()).
  const Type *complete(const Type *t);
  // complete() then gt::dwarf::find_member().
  std::optional<MemberLookup> find_member(const Type *t, std::string_view name);
  // A pointer to `t` (memoized per target).
  const Type *pointer_to(const Type *t);

  // BTF_KIND_FUNC `name` and its FUNC_PROTO: parameter names and types, the
  // return type. For fentry/fexit/kprobe argument typing.
  std::optional<Prototype> find_function(std::string_view name, std::string &error);
  // A raw tracepoint's arguments (the BPF context of raw_tp / tp_btf
  // programs), without the leading `void *__data`: types from the
  // `btf_trace_<name>` typedef (pointer to FUNC_PROTO), names from the
  // `__bpf_trace_<name>` function when BTF has it. return_type is void.
  std::optional<Prototype> find_raw_tracepoint(std::string_view name, std::string &error);
  // An enumerator of any enum, by name ("PIDTYPE_PID").
  std::optional<EnumValue> find_enumerator(std::string_view name);

  // All BTF_KIND_FUNC names (BTF order), and the raw tracepoint names (the
  // `btf_trace_` typedefs without the prefix). For `-l`.
  std::vector<std::string> function_names() const;
  std::vector<std::string> raw_tracepoint_names() const;

  TypeArena &arena() { return arena_; }
  const struct ::btf *raw() const { return btf_; }

private:
  Btf() = default;
  struct Impl;
  std::string path_;
  struct ::btf *btf_ = nullptr;
  TypeArena arena_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gt::btf
