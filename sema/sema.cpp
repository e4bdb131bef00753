#include "sema/sema.h"

#include "stdlib/unwind_abi.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <functional>
#include <set>
#include <sstream>

#include <dirent.h>
#include <fnmatch.h>
#include <fstream>
#include <unistd.h>

#include "runtime/elf_file.h"
#include "sema/btf/btf.h"
#include "sema/ctypes.h"
#include "runtime/tracefs.h"

namespace gt::sema {

using ast::BinaryOp;
using ast::Expr;
using ast::ExprKind;
using ast::Stmt;
using ast::StmtKind;

static constexpr uint32_t kDefaultStrSize = 64;
static constexpr uint32_t kCommSize = 16;
static constexpr uint32_t kJoinCount = 16;  // bpftrace's limits for join()
static constexpr uint32_t kJoinSize = 64;

const MapInfo *Analysis::find_map(const std::string &name) const {
  for (const auto &m : maps)
    if (m.name == name)
      return &m;
  return nullptr;
}

uint32_t storage_align(const Type &t) {
  if (t.kind == Type::Kind::Str)
    return 1;
  if (t.kind == Type::Kind::Tuple) {
    uint32_t a = 1;
    for (const auto &e : t.elems)
      a = std::max(a, storage_align(e));
    return a;
  }
  return 8;
}

static uint32_t align_to(uint32_t v, uint32_t a) { return (v + a - 1) / a * a; }

meta::Type to_meta(const Type &t) {
  switch (t.kind) {
  case Type::Kind::Int:
    return meta::Type::integer(8, t.is_signed);
  case Type::Kind::Str:
    return meta::Type::string(t.size);
  case Type::Kind::Tuple: {
    meta::Type m;
    m.kind = meta::Type::Kind::Tuple;
    uint32_t off = 0;
    for (const auto &e : t.elems) {
      off = align_to(off, storage_align(e));
      m.elems.push_back(to_meta(e));
      m.offsets.push_back(off);
      off += storage_size(e);
    }
    m.size = align_to(off, storage_align(t));
    return m;
  }
  case Type::Kind::Ksym:
  case Type::Kind::Usym:
  case Type::Kind::Kstack:
  case Type::Kind::Ustack:
  case Type::Kind::Inet:
  case Type::Kind::Timestamp:
  case Type::Kind::Buf: {
    meta::Type m;
    m.kind = static_cast<meta::Type::Kind>(static_cast<int>(meta::Type::Kind::Ksym) +
                                           (static_cast<int>(t.kind) - static_cast<int>(Type::Kind::Ksym)));
    m.size = t.size;
    m.format = t.format;
    m.stack_frames = t.stack_frames;
    m.stack_mode = static_cast<meta::Type::StackMode>(t.stack_mode);
    return m;
  }
  default:
    return meta::Type::none();
  }
}

uint32_t storage_size(const Type &t) {
  switch (t.kind) {
  case Type::Kind::Int: return 8;
  case Type::Kind::Str: return t.size;
  case Type::Kind::Tuple: return to_meta(t).size;
  default: return t.kind >= Type::Kind::Ksym ? t.size : 0;
  }
}

std::vector<TracepointField> parse_tracepoint_format(const std::string &text) {
  std::vector<TracepointField> fields;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    auto fpos = line.find("field:");
    if (fpos == std::string::npos)
      continue;
    auto semi = line.find(';', fpos);
    std::string decl = line.substr(fpos + 6, semi - fpos - 6);
    auto num = [&](const char *key) -> long {
      auto p = line.find(key);
      return p == std::string::npos ? 0 : strtol(line.c_str() + p + strlen(key), nullptr, 10);
    };
    TracepointField f;
    f.offset = static_cast<uint32_t>(num("offset:"));
    f.size = static_cast<uint32_t>(num("size:"));
    f.is_signed = num("signed:") != 0;
    // The name is the last identifier, before a trailing [N]:
    // "char comm[16]", "const char * filename", "__data_loc char[] name".
    std::string before = decl;
    while (!before.empty() && isspace(static_cast<unsigned char>(before.back())))
      before.pop_back();
    bool is_array = false;
    if (!before.empty() && before.back() == ']') {
      before.resize(before.rfind('['));
      is_array = true;
    }
    size_t start = before.size();
    while (start > 0 && (isalnum(static_cast<unsigned char>(before[start - 1])) ||
                         before[start - 1] == '_'))
      start--;
    f.name = before.substr(start);
    std::string type = before.substr(0, start);
    if (f.name.rfind("common_", 0) == 0)
      continue;
    if (decl.find("__data_loc") != std::string::npos)
      f.kind = TracepointField::Kind::DataLoc;
    else if (is_array && type.find("char") != std::string::npos)
      f.kind = TracepointField::Kind::CharArray;
    else if (type.find('*') != std::string::npos)
      f.kind = TracepointField::Kind::Pointer;
    else
      f.kind = TracepointField::Kind::Int;
    fields.push_back(f);
  }
  return fields;
}

bool parse_printf_conversions(const std::string &format, std::vector<char> &convs,
                              std::string &error) {
  for (size_t i = 0; i < format.size(); i++) {
    if (format[i] != '%')
      continue;
    size_t j = i + 1;
    if (j < format.size() && format[j] == '%') {
      i = j;
      continue;
    }
    while (j < format.size() && strchr("-+ #0", format[j]))
      j++;
    while (j < format.size() && isdigit(static_cast<unsigned char>(format[j])))
      j++;
    if (j < format.size() && format[j] == '.') {
      j++;
      while (j < format.size() && isdigit(static_cast<unsigned char>(format[j])))
        j++;
    }
    while (j < format.size() && strchr("hlzjt", format[j]))
      j++;
    if (j >= format.size() || !strchr("diuxXocspr", format[j])) {
      error = "invalid printf conversion '" + format.substr(i, j - i + (j < format.size())) + "'";
      return false;
    }
    convs.push_back(format[j]);
    i = j;
  }
  return true;
}

bool parse_usdt_arg(const std::string &spec, UsdtArg &out, std::string &error) {
  static const std::map<std::string, uint32_t> regs = [] {
    std::map<std::string, uint32_t> m;
    // x86-64 names of every width -> struct pt_regs offset.
    const struct { const char *names[4]; uint32_t off; } table[] = {
        {{"rax", "eax", "ax", "al"}, 80},   {{"rbx", "ebx", "bx", "bl"}, 40},
        {{"rcx", "ecx", "cx", "cl"}, 88},   {{"rdx", "edx", "dx", "dl"}, 96},
        {{"rsi", "esi", "si", "sil"}, 104}, {{"rdi", "edi", "di", "dil"}, 112},
        {{"rbp", "ebp", "bp", "bpl"}, 32},  {{"rsp", "esp", "sp", "spl"}, 152},
        {{"r8", "r8d", "r8w", "r8b"}, 72},  {{"r9", "r9d", "r9w", "r9b"}, 64},
        {{"r10", "r10d", "r10w", "r10b"}, 56}, {{"r11", "r11d", "r11w", "r11b"}, 48},
        {{"r12", "r12d", "r12w", "r12b"}, 24}, {{"r13", "r13d", "r13w", "r13b"}, 16},
        {{"r14", "r14d", "r14w", "r14b"}, 8},  {{"r15", "r15d", "r15w", "r15b"}, 0},
        {{"rip", "rip", "rip", "rip"}, 128}};
    for (const auto &r : table)
      for (const char *n : r.names)
        m[n] = r.off;
    return m;
  }();
  auto at = spec.find('@');
  if (at == std::string::npos) {
    error = "malformed USDT argument '" + spec + "'";
    return false;
  }
  long size = strtol(spec.substr(0, at).c_str(), nullptr, 10);
  out.is_signed = size < 0;
  out.size = static_cast<uint32_t>(size < 0 ? -size : size);
  if (out.size != 1 && out.size != 2 && out.size != 4 && out.size != 8) {
    error = "malformed USDT argument size in '" + spec + "'";
    return false;
  }
  std::string loc = spec.substr(at + 1);
  auto reg = [&](const std::string &name, uint32_t &offset) {
    auto it = regs.find(name);
    if (it == regs.end() || name == "rip") {
      error = "USDT argument '" + spec + "' uses register %" + name + ", which is not supported";
      return false;
    }
    offset = it->second;
    return true;
  };
  if (!loc.empty() && loc[0] == '$') {
    out.kind = UsdtArg::Kind::Constant;
    out.value = strtoll(loc.c_str() + 1, nullptr, 0);
    return true;
  }
  if (!loc.empty() && loc[0] == '%') {
    out.kind = UsdtArg::Kind::Register;
    return reg(loc.substr(1), out.reg_offset);
  }
  auto open = loc.find("(%");
  if (open != std::string::npos && loc.back() == ')' && loc.find(',') == std::string::npos) {
    out.kind = UsdtArg::Kind::Memory;
    std::string disp = loc.substr(0, open);
    char *end = nullptr;
    out.value = disp.empty() ? 0 : strtoll(disp.c_str(), &end, 0);
    if (!disp.empty() && (!end || *end)) {
      error = "USDT argument '" + spec + "' addresses a symbol, which is not supported yet";
      return false;
    }
    return reg(loc.substr(open + 2, loc.size() - open - 3), out.reg_offset);
  }
  error = "USDT argument '" + spec + "' has an addressing mode that is not supported yet";
  return false;
}

namespace {

class Analyzer {
public:
  Analyzer(ast::Program &prog, Diagnostics &diags, const Options &opts)
      : prog_(prog), diags_(diags), opts_(opts) {}

  std::optional<Analysis> run();

private:
  bool resolve_attach_point(const ast::AttachPoint &ap, std::vector<AttachPoint> &out);
  bool resolve_one(const ast::AttachPoint &ap, const std::string &text, AttachPoint &out);
  bool resolve_line(const ast::AttachPoint &ap, const std::vector<std::string> &parts,
                    bool is_return, AttachPoint &out);
  bool resolve_kernel(const ast::AttachPoint &ap, const std::string &provider,
                      const std::vector<std::string> &parts, std::vector<AttachPoint> &out);
  const std::vector<std::string> &kernel_functions();
  std::vector<std::string> kernel_functions_;
  std::vector<AttachPoint> extra_sites_;  // further sites of the probe just resolved
  const ast::Probe *probe_ast_ = nullptr;  // the probe whose attach points are resolved
  bool btf_tried_ = false;
  std::string btf_error_;
  dwarf::DebugInfo *debug_info(const std::string &path, std::string &error);
  std::map<std::string, dwarf::DebugInfo *> debug_infos_;  // owned by result_
  std::map<std::string, std::string> debug_errors_;
  bool resolve_uprobe(const ast::AttachPoint &ap, const std::vector<std::string> &parts,
                      bool is_return, AttachPoint &out);
  void check_probe(ProbeInfo &info);
  void check_stmts(ast::StmtList &stmts);
  void check_stmt(Stmt &s);
  void check_expr(Expr &e);
  void check_call(Expr &e, bool as_statement);
  void check_map_assign(Stmt &s);
  void check_param(Expr &e);
  void check_update(Expr &e);
  bool check_print_limits(Expr &e, const MapInfo &map);
  void check_for_map(Stmt &s);
  void check_deref(Expr &e);
  void check_symbol_address(Expr &e);
  bool kallsyms_read_ = false;
  std::map<std::string, uint64_t> kallsyms_;  // name -> address (first listed)
  void check_member(Expr &e, const Expr &obj);
  bool type_from_c(const dwarf::Type *ct, const SourceRange &loc, const std::string &what,
                   Type &out, Type::AddrSpace space = Type::AddrSpace::User);
  btf::Btf *kernel_btf(std::string &error);

  // Where the names of C types come from in the current probe: the DWARF of
  // the traced binary (uprobes, USDT) or the kernel's BTF (the others).
  struct TypeCtx {
    std::string binary;  // "" for the kernel
    bool user() const { return !binary.empty(); }
    std::string where() const {
      return user() ? "the DWARF of " + binary : std::string("the kernel's BTF");
    }
  };
  TypeCtx type_ctx() const;
  // Script struct definitions: checked once, built per TypeCtx on first use.
  void declare_structs();
  void check_struct_members(const ast::StructDef &def);
  const dwarf::Type *script_struct(const std::string &tag, const TypeCtx &ctx);
  bool build_record(const ast::StructDef &def, const TypeCtx &ctx, dwarf::Type *out);
  const dwarf::Type *member_ctype(const ast::StructMember &m, const TypeCtx &ctx);
  // A type named in the script ("struct qstr", "u32", "unsigned long",
  // "pid_t"): script structs first, then C integer names, then DWARF/BTF.
  // nullptr with `why` set when unknown.
  const dwarf::Type *named_type(const std::string &name, const TypeCtx &ctx, std::string &why);
  const dwarf::Type *int_type(const std::string &name, std::string &why);
  const dwarf::Type *ctx_type(const std::string &name, const TypeCtx &ctx, std::string &why);
  void check_sizeof(Expr &e);
  void check_offsetof(Expr &e);
  void fold(Expr &e, uint64_t value);
  std::map<std::string, const ast::StructDef *> script_structs_;  // by tag, active ones
  std::map<std::pair<std::string, std::string>, const dwarf::Type *> built_structs_;  // (binary, tag)
  std::set<std::pair<std::string, std::string>> broken_structs_;  // errors already reported
  std::map<std::string, const dwarf::Type *> int_types_;

  MapInfo *map_for(Expr &map, bool is_aggregate, meta::MapKind kind);
  bool unify(Type &have, const Type &next);
  Type key_type(Expr &map);
  void error(const SourceRange &loc, const std::string &msg) {
    if (report_)
      diags_.error(loc, msg);
    failed_ = true;
  }

  ast::Program &prog_;
  Diagnostics &diags_;
  const Options &opts_;
  Analysis result_;
  bool report_ = false;  // the first pass learns map types silently
  bool failed_ = false;
  ProbeInfo *probe_ = nullptr;
  std::map<std::string, Type> vars_;
  int loop_depth_ = 0;
  std::map<std::string, elf::ElfFile *> elves_;
  std::vector<std::unique_ptr<elf::ElfFile>> elf_store_;
};

static std::vector<std::string> split_attach(const std::string &text) {
  // Split on ':' outside quotes; quotes are removed.
  std::vector<std::string> parts(1);
  bool quoted = false;
  for (char c : text) {
    if (c == '"')
      quoted = !quoted;
    else if (c == ':' && !quoted)
      parts.emplace_back();
    else
      parts.back() += c;
  }
  return parts;
}

static bool parse_uint(const std::string &s, uint64_t &v) {
  if (s.empty())
    return false;
  char *end = nullptr;
  errno = 0;
  v = strtoull(s.c_str(), &end, 0);
  return errno == 0 && end && *end == '\0';
}

bool Analyzer::resolve_uprobe(const ast::AttachPoint &ap, const std::vector<std::string> &parts,
                              bool is_return, AttachPoint &out) {
  const char *kind = is_return ? "uretprobe" : "uprobe";
  if (parts.size() != 3 || parts[1].empty() || parts[2].empty()) {
    error(ap.loc, std::string(kind) + " needs a binary and a function: " + kind + ":BINARY:FUNCTION");
    return false;
  }
  if (parts[1].find('@') != std::string::npos)
    return resolve_line(ap, parts, is_return, out);
  const std::string &target = parts[2];
  if (parts[1].find('*') != std::string::npos || target.find('*') != std::string::npos ||
      target.find('?') != std::string::npos) {
    error(ap.loc, "wildcards in " + std::string(kind) + " probes are not supported yet");
    return false;
  }
  std::string path = elf::resolve_binary(parts[1]);
  if (path.empty()) {
    error(ap.loc, "binary '" + parts[1] + "' does not exist");
    return false;
  }
  elf::ElfFile *file = elves_[path];
  if (!file) {
    std::string err;
    auto f = elf::ElfFile::open(path, err);
    if (!f) {
      error(ap.loc, "cannot use '" + parts[1] + "': " + err);
      return false;
    }
    if (!f->is_executable_or_library()) {
      error(ap.loc, "'" + path + "' is not an executable or shared library");
      return false;
    }
    file = f.get();
    elves_[path] = file;
    elf_store_.push_back(std::move(f));
    result_.binaries.push_back({path, file->build_id()});
  }
  meta::Probe &p = out.probe;
  p.kind = is_return ? meta::ProbeKind::Uretprobe : meta::ProbeKind::Uprobe;
  p.binary = path;
  uint64_t addr;
  if (parse_uint(target, addr) && isdigit(static_cast<unsigned char>(target[0]))) {
    if (!file->address_to_offset(addr)) {
      std::ostringstream os;
      os << "address 0x" << std::hex << addr << " is not mapped by any segment of " << path;
      error(ap.loc, os.str());
      return false;
    }
    p.address = addr;
    std::ostringstream os;
    os << "0x" << std::hex << addr;
    out.func = os.str();
  } else {
    std::string sym = target;
    uint64_t off = 0;
    auto plus = target.find('+');
    if (plus != std::string::npos) {
      sym = target.substr(0, plus);
      if (!parse_uint(target.substr(plus + 1), off)) {
        error(ap.loc, "invalid offset '" + target.substr(plus + 1) + "' in " + kind + " probe");
        return false;
      }
      if (is_return && off != 0) {
        error(ap.loc, "uretprobe cannot attach at an offset inside a function");
        return false;
      }
    }
    auto s = file->find_symbol(sym);
    // With DWARF, a function attaches wherever its code runs: the body,
    // every inlined copy and .isra/.constprop clones; .part/.cold pieces
    // only continue a call that already fired (brief, section 2).
    std::vector<dwarf::FunctionInstance> instances;
    std::string dwarf_err;
    dwarf::DebugInfo *di = nullptr;
    if (off == 0) {
      if ((di = debug_info(path, dwarf_err))) {
        for (auto &inst : di->find_functions(sym)) {
          using IK = dwarf::FunctionInstance::Kind;
          if (inst.continuation || inst.kind == IK::Cold || inst.kind == IK::SplitPart)
            continue;
          if (is_return && inst.kind == IK::Inlined)
            continue;  // an inlined copy never returns
          instances.push_back(std::move(inst));
        }
      }
    }
    if ((!s || !s->is_function) && instances.empty()) {
      error(ap.loc, "could not find function '" + sym + "' in " + path);
      return false;
    }
    out.has_dwarf = dwarf_err.empty() && off == 0;
    out.dwarf_error = dwarf_err;
    out.pointer_space = Type::AddrSpace::User;
    p.spec = std::string(kind) + ":" + path + ":" + target;
    out.func = sym;
    if (!instances.empty()) {
      bool body_found = false;
      for (size_t i = 0; i < instances.size(); i++) {
        AttachPoint a = out;
        a.params = instances[i].params;
        a.at_function_entry = instances[i].kind != dwarf::FunctionInstance::Kind::Inlined;
        a.link_address = instances[i].entry;
        // vars: what is visible where this copy starts (parameters, globals).
        std::string vars_err;
        a.vars = di->variables_at(instances[i].entry, vars_err);
        a.has_vars = vars_err.empty();
        bool is_body = s && s->is_function && instances[i].entry == s->address;
        body_found |= is_body;
        if (is_body) {
          a.probe.symbol = sym;
        } else {
          a.probe.symbol.clear();
          a.probe.address = instances[i].entry;
        }
        if (i == 0)
          out = a;
        else
          extra_sites_.push_back(std::move(a));
      }
      if (!body_found && s && s->is_function) {
        // The ELF body exists but DWARF did not describe it: attach there too.
        AttachPoint a = out;
        a.params.clear();
        a.probe.address = 0;
        a.probe.symbol = sym;
        a.at_function_entry = true;
        a.link_address = s->address;
        extra_sites_.push_back(std::move(a));
      }
      return true;
    }
    if (off && s->size && off >= s->size) {
      error(ap.loc, "offset " + std::to_string(off) + " is past the end of '" + sym + "' (" +
                        std::to_string(s->size) + " bytes)");
      return false;
    }
    p.symbol = sym;
    p.offset = off;
    out.func = sym;
    out.at_function_entry = off == 0;
    out.link_address = s->address + off;
    // func+OFF: the variables visible at that instruction.
    std::string vars_err;
    if (off && (di = debug_info(path, vars_err))) {
      out.vars = di->variables_at(out.link_address, vars_err);
      out.has_vars = vars_err.empty();
    }
  }
  out.pointer_space = Type::AddrSpace::User;
  p.spec = std::string(kind) + ":" + path + ":" + target;
  return true;
}

// uprobe:BIN@FILE:LINE: one attach point per address of the line (inlined
// copies, unrolled loops), each with the variables in scope there.
bool Analyzer::resolve_line(const ast::AttachPoint &ap, const std::vector<std::string> &parts,
                            bool is_return, AttachPoint &out) {
  if (is_return) {
    error(ap.loc, "uretprobe cannot attach to a source line");
    return false;
  }
  auto at = parts[1].find('@');
  std::string bin = parts[1].substr(0, at), file = parts[1].substr(at + 1);
  uint64_t line;
  if (file.empty() || !parse_uint(parts[2], line) || line == 0) {
    error(ap.loc, "a source line probe is uprobe:BINARY@FILE:LINE");
    return false;
  }
  std::string path = elf::resolve_binary(bin);
  if (path.empty()) {
    error(ap.loc, "binary '" + bin + "' does not exist");
    return false;
  }
  std::string err;
  dwarf::DebugInfo *di = debug_info(path, err);
  if (!di) {
    error(ap.loc, "source line probes need DWARF: " + err);
    return false;
  }
  auto addrs = di->line_addresses(file, static_cast<int>(line), err);
  if (addrs.empty()) {
    error(ap.loc, err);
    return false;
  }
  bool known = false;
  for (const auto &b : result_.binaries)
    known |= b.path == path;
  if (!known)
    result_.binaries.push_back({path, di->build_id()});
  for (size_t i = 0; i < addrs.size(); i++) {
    AttachPoint a;
    a.loc = ap.loc;
    a.probe.kind = meta::ProbeKind::Uprobe;
    a.probe.binary = path;
    a.probe.address = addrs[i].address;
    a.link_address = addrs[i].address;
    a.probe.spec = "uprobe:" + path + "@" + file + ":" + parts[2];
    a.func = addrs[i].function;
    a.pointer_space = Type::AddrSpace::User;
    a.has_dwarf = true;
    a.has_vars = true;
    a.vars = di->variables_at(addrs[i].address, err);
    if (i == 0)
      out = std::move(a);
    else
      extra_sites_.push_back(std::move(a));
  }
  return true;
}

btf::Btf *Analyzer::kernel_btf(std::string &error) {
  if (!result_.btf && !btf_tried_) {
    btf_tried_ = true;
    result_.btf = btf::Btf::open_vmlinux(btf_error_);
  }
  error = btf_error_;
  return result_.btf.get();
}

dwarf::DebugInfo *Analyzer::debug_info(const std::string &path, std::string &error) {
  auto it = debug_infos_.find(path);
  if (it == debug_infos_.end()) {
    std::string err;
    std::shared_ptr<dwarf::DebugInfo> di = dwarf::DebugInfo::open(path, err);
    debug_errors_[path] = err;
    if (di)
      result_.debug_infos.push_back(di);
    it = debug_infos_.emplace(path, di.get()).first;
  }
  error = debug_errors_[path];
  return it->second;
}

static bool has_wildcard(const std::string &s) {
  return s.find_first_of("*?[") != std::string::npos;
}

static bool glob_match(const std::string &pattern, const std::string &name) {
  return fnmatch(pattern.c_str(), name.c_str(), 0) == 0;
}

static std::string canonical_provider(const std::string &p) {
  static const std::map<std::string, std::string> aliases = {
      {"u", "uprobe"},  {"ur", "uretprobe"}, {"t", "tracepoint"}, {"p", "profile"},
      {"i", "interval"}, {"k", "kprobe"},    {"kr", "kretprobe"}, {"f", "fentry"},
      {"fr", "fexit"},  {"kfunc", "fentry"}, {"kretfunc", "fexit"}, {"rt", "rawtracepoint"},
      {"s", "software"}, {"U", "usdt"},      {"h", "hardware"},   {"w", "watchpoint"}};
  auto it = aliases.find(p);
  return it == aliases.end() ? p : it->second;
}

const std::vector<std::string> &Analyzer::kernel_functions() {
  if (kernel_functions_.empty()) {
    std::ifstream in("/proc/kallsyms");
    std::string addr, type, name;
    std::set<std::string> seen;
    while (in >> addr >> type) {
      std::getline(in, name);
      size_t b = name.find_first_not_of(" \t");
      size_t e = name.find_first_of(" \t", b);
      if (b == std::string::npos)
        continue;
      name = name.substr(b, e == std::string::npos ? std::string::npos : e - b);
      if ((type == "t" || type == "T") && name.find('$') == std::string::npos &&
          name.rfind("__pfx_", 0) != 0 && seen.insert(name).second)
        kernel_functions_.push_back(name);
    }
    std::sort(kernel_functions_.begin(), kernel_functions_.end());
  }
  return kernel_functions_;
}

// kprobe:FUNC[+OFF], kretprobe:FUNC, fentry:FUNC, fexit:FUNC (an optional
// module part "MOD:FUNC" is accepted and ignored). Wildcards expand over
// /proc/kallsyms.
bool Analyzer::resolve_kernel(const ast::AttachPoint &ap, const std::string &provider,
                              const std::vector<std::string> &parts,
                              std::vector<AttachPoint> &out) {
  if (parts.size() < 2 || parts.size() > 3 || parts.back().empty()) {
    error(ap.loc, provider + " needs a kernel function: " + provider + ":FUNCTION");
    return false;
  }
  std::string target = parts.back();
  uint64_t off = 0;
  if (auto plus = target.find('+'); plus != std::string::npos) {
    if (provider != "kprobe" || !parse_uint(target.substr(plus + 1), off)) {
      error(ap.loc, "invalid offset in " + provider + " probe '" + ap.text + "'");
      return false;
    }
    target.resize(plus);
  }
  std::vector<std::string> names;
  const auto &all = kernel_functions();
  if (has_wildcard(target)) {
    for (const auto &f : all)
      if (glob_match(target, f))
        names.push_back(f);
    if (names.empty()) {
      // As for a missing name below: tools list patterns for other kernel
      // versions ("kprobe:lookup_fast, kprobe:lookup_fast.constprop.*").
      if (probe_ast_ && probe_ast_->attach_points.size() > 1) {
        if (report_)
          diags_.warning(ap.loc, "no kernel function matches '" + target + "'; skipped");
        return true;
      }
      error(ap.loc, "no kernel function matches '" + target + "'");
      return false;
    }
  } else {
    if (!all.empty() && !std::binary_search(all.begin(), all.end(), target)) {
      // Tools list several names for different kernel versions
      // ("kprobe:blk_account_io_start, kprobe:__blk_account_io_start"):
      // in such a list a missing one is skipped, as bpftrace does.
      if (probe_ast_ && probe_ast_->attach_points.size() > 1) {
        if (report_)
          diags_.warning(ap.loc, "kernel function '" + target +
                                     "' does not exist (not in /proc/kallsyms); skipped");
        return true;
      }
      error(ap.loc, "kernel function '" + target + "' does not exist (not in /proc/kallsyms)");
      return false;
    }
    names.push_back(target);
  }
  static const std::map<std::string, meta::ProbeKind> kinds = {
      {"kprobe", meta::ProbeKind::Kprobe}, {"kretprobe", meta::ProbeKind::Kretprobe},
      {"fentry", meta::ProbeKind::Fentry}, {"fexit", meta::ProbeKind::Fexit}};
  for (const auto &n : names) {
    AttachPoint a;
    a.loc = ap.loc;
    a.probe.kind = kinds.at(provider);
    a.probe.symbol = n;
    a.probe.offset = off;
    a.probe.spec = provider + ":" + n + (off ? "+" + std::to_string(off) : "");
    a.func = n;
    a.pointer_space = Type::AddrSpace::Kernel;
    out.push_back(std::move(a));
  }
  return true;
}

bool Analyzer::resolve_attach_point(const ast::AttachPoint &ap, std::vector<AttachPoint> &out) {
  auto parts = split_attach(ap.text);
  std::string provider = canonical_provider(parts[0]);
  if (provider == "kprobe" || provider == "kretprobe" || provider == "fentry" ||
      provider == "fexit")
    return resolve_kernel(ap, provider, parts, out);
  if ((provider == "uprobe" || provider == "uretprobe") && parts.size() == 3 &&
      has_wildcard(parts[2]) && !has_wildcard(parts[1])) {
    AttachPoint first;
    std::string pattern = parts[2];
    // Resolve the binary through a concrete attach point, then glob its functions.
    std::string path = elf::resolve_binary(parts[1]);
    elf::ElfFile *file = nullptr;
    if (!path.empty()) {
      std::string err;
      if (!elves_[path]) {
        auto f = elf::ElfFile::open(path, err);
        if (f) {
          elves_[path] = f.get();
          result_.binaries.push_back({path, f->build_id()});
          elf_store_.push_back(std::move(f));
        }
      }
      file = elves_[path];
    }
    if (!file)
      return resolve_one(ap, ap.text, first);  // reports the binary's problem
    size_t before = out.size();
    for (const auto &fn : file->functions())
      if (glob_match(pattern, fn.name)) {
        AttachPoint a;
        if (!resolve_one(ap, parts[0] + ":" + parts[1] + ":" + fn.name, a))
          return false;
        out.push_back(std::move(a));
      }
    if (out.size() == before) {
      error(ap.loc, "no function in " + path + " matches '" + pattern + "'");
      return false;
    }
    return true;
  }
  if (provider == "tracepoint" && parts.size() == 3 &&
      (has_wildcard(parts[1]) || has_wildcard(parts[2]))) {
    std::string err;
    std::string root = tracefs::root(err);
    if (root.empty()) {
      error(ap.loc, err);
      return false;
    }
    size_t before = out.size();
    std::vector<std::string> cats, events;
    auto list_dir = [](const std::string &dir) {
      std::vector<std::string> names;
      if (DIR *d = opendir(dir.c_str())) {
        while (dirent *e = readdir(d))
          if (e->d_name[0] != '.')
            names.push_back(e->d_name);
        closedir(d);
      }
      std::sort(names.begin(), names.end());
      return names;
    };
    for (const auto &cat : list_dir(root + "/events"))
      if (glob_match(parts[1], cat))
        for (const auto &ev : list_dir(root + "/events/" + cat))
          if (glob_match(parts[2], ev) && access((root + "/events/" + cat + "/" + ev + "/format").c_str(), R_OK) == 0) {
            AttachPoint a;
            if (!resolve_one(ap, "tracepoint:" + cat + ":" + ev, a))
              return false;
            out.push_back(std::move(a));
          }
    if (out.size() == before) {
      error(ap.loc, "no tracepoint matches '" + parts[1] + ":" + parts[2] + "'");
      return false;
    }
    return true;
  }
  AttachPoint a;
  if (!resolve_one(ap, ap.text, a))
    return false;
  out.push_back(std::move(a));
  for (auto &site : extra_sites_)
    out.push_back(std::move(site));
  extra_sites_.clear();
  return true;
}

bool Analyzer::resolve_one(const ast::AttachPoint &ap, const std::string &text, AttachPoint &out) {
  out.loc = ap.loc;
  out.probe.spec = text;
  if (text == "BEGIN" || text == "END") {
    out.probe.kind = text == "BEGIN" ? meta::ProbeKind::Begin : meta::ProbeKind::End;
    return true;
  }
  auto parts = split_attach(text);
  std::string provider = canonical_provider(parts[0]);
  if (provider == "uprobe" || provider == "uretprobe")
    return resolve_uprobe(ap, parts, provider == "uretprobe", out);
  if (provider == "tracepoint") {
    if (parts.size() != 3 || parts[1].empty() || parts[2].empty()) {
      error(ap.loc, "tracepoint needs a category and a name: tracepoint:CATEGORY:NAME");
      return false;
    }
    std::string err;
    std::string format = tracefs::read_event_format(parts[1], parts[2], err);
    if (format.empty()) {
      error(ap.loc, err);
      return false;
    }
    out.probe.kind = meta::ProbeKind::Tracepoint;
    out.probe.category = parts[1];
    out.probe.event = parts[2];
    out.probe.spec = "tracepoint:" + parts[1] + ":" + parts[2];
    out.fields = parse_tracepoint_format(format);
    out.pointer_space =
        parts[1] == "syscalls" ? Type::AddrSpace::User : Type::AddrSpace::Kernel;
    return true;
  }
  if (provider == "profile" || provider == "interval") {
    bool is_profile = provider == "profile";
    std::string unit = parts.size() == 3 ? parts[1] : "hz";
    std::string count = parts.size() == 3 ? parts[2] : (parts.size() == 2 ? parts[1] : "");
    uint64_t n;
    if (parts.size() < 2 || parts.size() > 3 || !parse_uint(count, n) || n == 0) {
      error(ap.loc, provider + " needs a unit and a positive count: " + provider +
                        ":hz:N, :s:N, :ms:N or :us:N");
      return false;
    }
    uint64_t period_ns = 0, freq = 0;
    if (unit == "hz") freq = n;
    else if (unit == "s") period_ns = n * 1000000000ull;
    else if (unit == "ms") period_ns = n * 1000000ull;
    else if (unit == "us") period_ns = n * 1000ull;
    else {
      error(ap.loc, "unknown " + provider + " unit '" + unit + "' (expected hz, s, ms or us)");
      return false;
    }
    if (is_profile) {
      out.probe.kind = meta::ProbeKind::Profile;
      if (freq) out.probe.frequency = freq;
      else out.probe.period_ns = period_ns;
    } else {
      out.probe.kind = meta::ProbeKind::Interval;
      out.probe.period_ns = freq ? 1000000000ull / freq : period_ns;
    }
    out.probe.spec = provider + ":" + unit + ":" + count;
    return true;
  }
  if (provider == "rawtracepoint") {
    if (parts.size() < 2 || parts.size() > 3 || parts.back().empty()) {
      error(ap.loc, "rawtracepoint needs a tracepoint name: rawtracepoint:NAME");
      return false;
    }
    out.probe.kind = meta::ProbeKind::RawTracepoint;
    out.probe.event = parts.back();
    out.probe.spec = "rawtracepoint:" + parts.back();
    out.pointer_space = Type::AddrSpace::Kernel;
    return true;
  }
  if (provider == "software") {
    // bpftrace's names and default sample periods.
    static const std::map<std::string, std::pair<std::string, uint64_t>> events = {
        {"cpu-clock", {"cpu-clock", 1000000}},       {"cpu", {"cpu-clock", 1000000}},
        {"task-clock", {"task-clock", 1000000}},     {"page-faults", {"page-faults", 100}},
        {"faults", {"page-faults", 100}},            {"context-switches", {"context-switches", 1000}},
        {"cs", {"context-switches", 1000}},          {"cpu-migrations", {"cpu-migrations", 1}},
        {"migrations", {"cpu-migrations", 1}},       {"minor-faults", {"minor-faults", 100}},
        {"major-faults", {"major-faults", 1}},       {"alignment-faults", {"alignment-faults", 1}},
        {"emulation-faults", {"emulation-faults", 1}}, {"dummy", {"dummy", 1}},
        {"bpf-output", {"bpf-output", 1}}};
    auto it = parts.size() >= 2 ? events.find(parts[1]) : events.end();
    uint64_t period = 0;
    if (it == events.end() || parts.size() > 3 ||
        (parts.size() == 3 && (!parse_uint(parts[2], period) || period == 0))) {
      error(ap.loc, "software needs an event and an optional count: software:EVENT[:COUNT], "
                    "EVENT one of cpu-clock, task-clock, page-faults, context-switches, "
                    "cpu-migrations, minor-faults, major-faults, alignment-faults, "
                    "emulation-faults, dummy, bpf-output");
      return false;
    }
    out.probe.kind = meta::ProbeKind::Software;
    out.probe.event = it->second.first;
    out.probe.sample_period = period ? period : it->second.second;
    out.probe.spec = "software:" + it->second.first + ":" + std::to_string(out.probe.sample_period);
    return true;
  }
  if (provider == "usdt") {
    // usdt:BIN:PROVIDER:NAME or usdt:BIN:NAME; one attach point per site.
    if (parts.size() < 3 || parts.size() > 4 || parts[1].empty() || parts.back().empty()) {
      error(ap.loc, "usdt needs a binary and a probe: usdt:BINARY:PROVIDER:NAME");
      return false;
    }
    std::string path = elf::resolve_binary(parts[1]);
    std::string err;
    auto file = path.empty() ? nullptr : elf::ElfFile::open(path, err);
    if (!file) {
      error(ap.loc, path.empty() ? "binary '" + parts[1] + "' does not exist"
                                 : "cannot use '" + parts[1] + "': " + err);
      return false;
    }
    std::string provider_name = parts.size() == 4 ? parts[2] : "";
    std::string name = parts.back();
    for (const auto &note : file->usdt_notes()) {
      if (note.name != name || (!provider_name.empty() && note.provider != provider_name))
        continue;
      AttachPoint a;
      a.loc = ap.loc;
      a.probe.kind = meta::ProbeKind::Usdt;
      a.probe.binary = path;
      a.probe.provider = note.provider;
      a.probe.event = note.name;
      a.probe.address = note.address;
      a.probe.semaphore = note.semaphore;
      a.probe.spec = "usdt:" + path + ":" + note.provider + ":" + note.name;
      a.func = note.provider + ":" + note.name;
      a.pointer_space = Type::AddrSpace::User;
      std::istringstream args(note.args);
      std::string one;
      while (args >> one) {
        UsdtArg arg;
        if (!parse_usdt_arg(one, arg, err)) {
          error(ap.loc, err);
          return false;
        }
        a.usdt_args.push_back(arg);
      }
      extra_sites_.push_back(std::move(a));
    }
    if (extra_sites_.empty()) {
      error(ap.loc, "no USDT probe " + (provider_name.empty() ? name : provider_name + ":" + name) +
                        " in " + path);
      return false;
    }
    bool known = false;
    for (const auto &b : result_.binaries)
      known |= b.path == path;
    if (!known)
      result_.binaries.push_back({path, file->build_id()});
    out = std::move(extra_sites_.front());
    extra_sites_.erase(extra_sites_.begin());
    return true;
  }
  static const std::set<std::string> later = {"hardware", "watchpoint", "asyncwatchpoint",
                                              "iter"};
  if (later.count(provider)) {
    error(ap.loc, "'" + provider + "' probes are not supported yet");
    return false;
  }
  error(ap.loc, "unknown probe type '" + provider + "'");
  return false;
}

bool Analyzer::unify(Type &have, const Type &next) {
  if (have.kind == Type::Kind::None) {
    have = next;
    return true;
  }
  if (have.kind != next.kind)
    return false;
  if (have.kind == Type::Kind::Str) {
    have.size = std::max(have.size, next.size);
    return true;
  }
  if (have.kind == Type::Kind::Tuple) {
    if (have.elems.size() != next.elems.size())
      return false;
    for (size_t i = 0; i < have.elems.size(); i++)
      if (!unify(have.elems[i], next.elems[i]))
        return false;
    return true;
  }
  return true;
}

// Ints in keys and values are stored as 64 bits; pointers as plain integers.
static Type storage_type(const Type &t) {
  if (t.kind == Type::Kind::Int) {
    Type r = Type::integer(8, t.is_signed);
    r.is_pointer = t.is_pointer;  // a typed pointer keeps its type in a variable
    r.addr_space = t.addr_space;
    r.ctype = t.ctype;
    return r;
  }
  if (t.kind == Type::Kind::Tuple) {
    Type r = t;
    for (auto &e : r.elems)
      e = storage_type(e);
    return r;
  }
  return t;
}

Type Analyzer::key_type(Expr &map) {
  if (map.children.empty())
    return Type();
  Type key;
  if (map.children.size() == 1) {
    key = storage_type(map.children[0]->type);
  } else {
    key.kind = Type::Kind::Tuple;
    for (auto &k : map.children)
      key.elems.push_back(storage_type(k->type));
  }
  return key;
}

MapInfo *Analyzer::map_for(Expr &map, bool is_aggregate, meta::MapKind kind) {
  for (auto &k : map.children) {
    check_expr(*k);
    if (!k->type.is_storable() || k->type.kind == Type::Kind::Tuple) {
      if (k->type.kind != Type::Kind::None)
        error(k->loc, "a map key must be an integer, a string or a printable value, not " +
                          k->type.str());
      return nullptr;
    }
  }
  Type key = key_type(map);
  MapInfo *info = nullptr;
  for (auto &m : result_.maps)
    if (m.name == map.name)
      info = &m;
  if (!info) {
    result_.maps.push_back(MapInfo{});
    info = &result_.maps.back();
    info->name = map.name;
    info->first_use = map.loc;
    info->key = key;
    info->is_aggregate = is_aggregate;
    info->kind = kind;
    return info;
  }
  Type merged = info->key;
  bool had_key = info->key.kind != Type::Kind::None;
  if ((had_key != (key.kind != Type::Kind::None)) || !unify(merged, key)) {
    error(map.loc, "map " + map.name + " is used with key " +
                       (key.kind == Type::Kind::None ? std::string("none") : key.str()) +
                       " here but with key " +
                       (had_key ? info->key.str() : std::string("none")) + " elsewhere");
    return nullptr;
  }
  info->key = merged;
  return info;
}

void Analyzer::check_map_assign(Stmt &s) {
  Expr &map = *s.target;
  Expr &value = *s.expr;
  if (value.kind == ExprKind::Call) {
    static const std::map<std::string, meta::MapKind> aggs = {
        {"count", meta::MapKind::Count}, {"sum", meta::MapKind::Sum},
        {"min", meta::MapKind::Min},     {"max", meta::MapKind::Max},
        {"avg", meta::MapKind::Avg},     {"stats", meta::MapKind::Stats},
        {"hist", meta::MapKind::Hist},   {"lhist", meta::MapKind::Lhist}};
    auto it = aggs.find(value.name);
    if (it != aggs.end()) {
      check_call(value, false);
      MapInfo *info = map_for(map, true, it->second);
      if (!info)
        return;
      if (!info->is_aggregate || info->kind != it->second) {
        error(map.loc, "map " + map.name + " is assigned " + value.name + "() here but " +
                           (info->is_aggregate ? std::string(meta::to_string(info->kind)) + "()"
                                               : "a " + info->value.str() + " value") +
                           " elsewhere");
        return;
      }
      info->value = Type::integer(8, true);
      if (it->second == meta::MapKind::Lhist && value.children.size() == 4) {
        info->lhist_min = static_cast<int64_t>(value.children[1]->int_value);
        info->lhist_max = static_cast<int64_t>(value.children[2]->int_value);
        info->lhist_step = static_cast<int64_t>(value.children[3]->int_value);
      }
      map.type = value.type;
      return;
    }
  }
  check_expr(value);
  if (value.type.kind == Type::Kind::None)
    return;
  if (!value.type.is_storable()) {
    error(value.loc, "cannot store a " + value.type.str() + " in a map");
    return;
  }
  MapInfo *info = map_for(map, false, meta::MapKind::Value);
  if (!info)
    return;
  if (info->is_aggregate) {
    error(map.loc, "map " + map.name + " holds " + meta::to_string(info->kind) +
                       "() elsewhere; it cannot be assigned a value");
    return;
  }
  Type merged = info->value;
  if (!unify(merged, storage_type(value.type))) {
    error(value.loc, "map " + map.name + " holds " + info->value.str() +
                         " elsewhere; it cannot be assigned a " + value.type.str());
    return;
  }
  info->value = merged;
  map.type = info->value;
}

void Analyzer::check_call(Expr &e, bool as_statement) {
  const std::string &fn = e.name;
  if (fn == "sizeof" || fn == "offsetof") {
    if (as_statement)
      error(e.loc, "this expression has no effect");
    else if (fn == "sizeof")
      check_sizeof(e);
    else
      check_offsetof(e);
    return;
  }
  auto nargs = e.children.size();
  auto want = [&](size_t lo, size_t hi) {
    if (nargs < lo || nargs > hi) {
      std::string n = lo == hi ? std::to_string(lo) : std::to_string(lo) + " to " + std::to_string(hi);
      error(e.loc, fn + "() takes " + n + " argument" + (hi == 1 ? "" : "s") + ", " +
                       std::to_string(nargs) + " given");
      return false;
    }
    return true;
  };
  auto want_int = [&](Expr &a) {
    check_expr(a);
    if (a.type.kind != Type::Kind::None && !a.type.is_int()) {
      error(a.loc, fn + "() needs an integer here, not " + a.type.str());
      return false;
    }
    return a.type.is_int();
  };
  auto aggregate_only = [&]() {
    error(e.loc, fn + "() can only be assigned to a map: @m = " + fn + "(...)");
  };

  if (fn == "count") {
    if (!as_statement && want(0, 0))
      e.type = Type::aggregate_of(fn);
    if (as_statement) aggregate_only();
  } else if (fn == "sum" || fn == "min" || fn == "max" || fn == "avg" || fn == "stats" ||
             fn == "hist") {
    if (want(1, 1) && want_int(*e.children[0]) && !as_statement)
      e.type = Type::aggregate_of(fn);
    if (as_statement) aggregate_only();
  } else if (fn == "lhist") {
    if (want(4, 4) && want_int(*e.children[0])) {
      for (size_t i = 1; i < 4; i++)
        if (e.children[i]->kind != ExprKind::Integer) {
          error(e.children[i]->loc, "lhist() min, max and step must be integer literals");
          return;
        }
      int64_t lo = e.children[1]->int_value, hi = e.children[2]->int_value,
              step = e.children[3]->int_value;
      if (step <= 0 || hi <= lo) {
        error(e.loc, "lhist() needs min < max and step > 0");
        return;
      }
      if ((hi - lo) / step > 1000) {
        error(e.loc, "lhist() would have more than 1000 buckets");
        return;
      }
      if (!as_statement)
        e.type = Type::aggregate_of(fn);
    }
    if (as_statement) aggregate_only();
  } else if (fn == "printf") {
    if (!as_statement) {
      error(e.loc, "printf() does not return a value");
      return;
    }
    if (nargs == 0 || e.children[0]->kind != ExprKind::String) {
      error(nargs ? e.children[0]->loc : e.loc, "printf() needs a format string literal first");
      return;
    }
    const std::string &format = e.children[0]->name;
    std::vector<char> convs;
    std::string err;
    if (!parse_printf_conversions(format, convs, err)) {
      error(e.children[0]->loc, err);
      return;
    }
    if (convs.size() != nargs - 1) {
      error(e.loc, "printf() format has " + std::to_string(convs.size()) + " conversion" +
                       (convs.size() == 1 ? "" : "s") + " but " + std::to_string(nargs - 1) +
                       " argument" + (nargs - 1 == 1 ? " was" : "s were") + " given");
      return;
    }
    meta::Printf pf;
    pf.format = format;
    uint32_t off = 0;
    bool ok = true;
    for (size_t i = 1; i < nargs; i++) {
      Expr &a = *e.children[i];
      check_expr(a);
      if (a.type.kind == Type::Kind::None) {
        ok = false;
        continue;
      }
      char c = convs[i - 1];
      bool printable = a.type.is_str() || (a.type.kind >= Type::Kind::Ksym &&
                                           a.type.kind != Type::Kind::Buf) ||
                       a.type.kind == Type::Kind::Tuple;
      if (c == 'r') {
        if (a.type.kind != Type::Kind::Buf) {
          error(a.loc, std::string("printf: %r needs a buffer (buf()), but argument ") +
                           std::to_string(i) + " is " + a.type.str());
          ok = false;
        }
      } else if (c == 's' && !printable) {
        error(a.loc, std::string("printf: %s needs a string, but argument ") +
                         std::to_string(i) + " is " + a.type.str());
        ok = false;
      } else if (c != 's' && !a.type.is_int()) {
        error(a.loc, std::string("printf: %") + c + " needs an integer, but argument " +
                         std::to_string(i) + " is " + a.type.str());
        ok = false;
      }
      if (!ok)
        continue;
      off = align_to(off, storage_align(a.type));
      pf.args.push_back(to_meta(storage_type(a.type)));
      pf.offsets.push_back(off);
      off += storage_size(a.type);
    }
    if (!ok)
      return;
    pf.payload_size = align_to(off, 8);
    e.type = Type::void_type();
    if (report_) {
      result_.printf_ids[&e] = static_cast<uint32_t>(result_.printfs.size());
      result_.printfs.push_back(pf);
    }
  } else if (fn == "exit") {
    if (want(0, 0))
      e.type = Type::void_type();
    if (!as_statement)
      error(e.loc, "exit() does not return a value");
  } else if (fn == "delete") {
    if (!as_statement) {
      error(e.loc, "delete() does not return a value");
      return;
    }
    if (!want(1, 1))
      return;
    Expr &m = *e.children[0];
    if (m.kind != ExprKind::Map) {
      error(m.loc, "delete() needs a map element: delete(@m[key])");
      return;
    }
    for (auto &k : m.children)
      check_expr(*k);
    const MapInfo *info = nullptr;
    for (auto &mi : result_.maps)
      if (mi.name == m.name)
        info = &mi;
    if (!info) {
      if (report_)
        error(m.loc, "map " + m.name + " is never assigned");
      return;
    }
    if (m.children.empty() != (info->key.kind == Type::Kind::None)) {
      error(m.loc, "map " + m.name + (m.children.empty() ? " has keys" : " has no keys"));
      return;
    }
    e.type = Type::void_type();
  } else if (fn == "str") {
    if (!want(1, 2))
      return;
    Expr &a = *e.children[0];
    check_expr(a);
    uint32_t size = kDefaultStrSize;
    if (nargs == 2) {
      Expr &n = *e.children[1];
      check_expr(n);  // turns a positional parameter into a literal
      if (n.kind != ExprKind::Integer || n.int_value == 0 || n.int_value > 1023) {
        error(n.loc, "str() length must be an integer literal from 1 to 1023");
        return;
      }
      // As in bpftrace: at most N characters, plus the NUL.
      size = static_cast<uint32_t>(n.int_value) + 1;
    }
    if (a.type.is_str()) {
      e.type = Type::string(std::min(size, a.type.size));
    } else if (a.type.is_int()) {
      e.type = Type::string(size);
    } else if (a.type.kind != Type::Kind::None) {
      error(a.loc, "str() needs a pointer or a string, not " + a.type.str());
    }
  } else if (fn == "bswap") {
    // Reverses the bytes of the value's own width (a __be16 port: 2 bytes).
    if (want(1, 1) && want_int(*e.children[0])) {
      const Type &a = e.children[0]->type;
      e.type = Type::integer(a.size ? a.size : 8, false);
    }
  } else if (fn == "ksym" || fn == "usym") {
    if (want(1, 1) && want_int(*e.children[0]))
      e.type = fn == "ksym" ? Type::special(Type::Kind::Ksym, 8) : Type::special(Type::Kind::Usym, 16);
  } else if (fn == "kstack" || fn == "ustack") {
    // ustack([MODE][, N]): MODE is bpftrace, perf or raw (bpftrace's names).
    if (!want(0, 2))
      return;
    uint32_t frames = 0, mode = 0;
    size_t first = 0;
    static const char *const modes[] = {"bpftrace", "perf", "raw"};
    if (nargs >= 1 && e.children[0]->kind == ExprKind::Builtin) {
      const Expr &m = *e.children[0];
      auto it = std::find(std::begin(modes), std::end(modes), m.name);
      if (it == std::end(modes)) {
        error(m.loc, fn + "() stack mode must be bpftrace, perf or raw, not '" + m.name + "'");
        return;
      }
      mode = static_cast<uint32_t>(it - std::begin(modes));
      first = 1;
    } else if (nargs == 2) {
      error(e.children[0]->loc, fn + "(MODE, N): MODE must be bpftrace, perf or raw");
      return;
    }
    if (nargs > first) {
      Expr &n = *e.children[first];
      check_expr(n);
      uint32_t max = fn == "ustack" ? GT_UNWIND_MAX_FRAMES : 127;
      if (n.kind != ExprKind::Integer || n.int_value == 0 || n.int_value > max) {
        error(n.loc, fn + "() takes a frame count from 1 to " + std::to_string(max));
        return;
      }
      frames = static_cast<uint32_t>(n.int_value);
    }
    e.type = Type::make_stack(fn == "ustack", frames, mode);
    probe_->uses_ustack |= fn == "ustack";
    result_.needs_stacks = true;
  } else if (fn == "ntop") {
    if (!want(1, 2))
      return;
    for (auto &c : e.children)
      check_expr(*c);
    Expr &addr = *e.children.back();
    if (nargs == 2 && !e.children[0]->type.is_int()) {
      error(e.children[0]->loc, "ntop() takes the address family (AF_INET 2, AF_INET6 10) first");
      return;
    }
    // Address bytes: char[4]/char[16], which read as strings of 4 or 16
    // characters (buffer sizes 5 and 17 with the NUL).
    uint32_t sz = addr.type.size;
    if (!addr.type.is_int() &&
        !(addr.type.is_str() && (sz == 4 || sz == 5 || sz == 16 || sz == 17))) {
      if (addr.type.kind != Type::Kind::None)
        error(addr.loc, "ntop() needs an IPv4 address as an integer, or 4 or 16 address bytes");
      return;
    }
    e.type = Type::special(Type::Kind::Inet, 24);
  } else if (fn == "strftime") {
    if (!want(2, 2))
      return;
    if (e.children[0]->kind != ExprKind::String) {
      error(e.children[0]->loc, "strftime() needs a format string literal first");
      return;
    }
    if (!want_int(*e.children[1]))
      return;
    e.type = Type::special(Type::Kind::Timestamp, 8);
    e.type.format = e.children[0]->name;
  } else if (fn == "buf") {
    if (!want(1, 2) || !want_int(*e.children[0]))
      return;
    uint64_t n = 64;
    if (nargs == 2) {
      Expr &len = *e.children[1];
      check_expr(len);
      if (len.kind != ExprKind::Integer || len.int_value == 0 || len.int_value > 256) {
        error(len.loc, "buf() length must be an integer literal from 1 to 256");
        return;
      }
      n = len.int_value;
    }
    e.type = Type::special(Type::Kind::Buf, static_cast<uint32_t>(8 + n));
  } else if (fn == "has_key") {
    if (!want(1, 1))
      return;
    Expr &m = *e.children[0];
    if (m.kind != ExprKind::Map || m.children.empty()) {
      error(m.loc, "has_key() needs a map element: has_key(@m[key])");
      return;
    }
    for (auto &k : m.children)
      check_expr(*k);
    if (!result_.find_map(m.name)) {
      if (report_)
        error(m.loc, "map " + m.name + " is never assigned");
      return;
    }
    e.type = Type::integer();
  } else if (fn == "strncmp") {
    if (!want(3, 3))
      return;
    check_expr(*e.children[0]);
    check_expr(*e.children[1]);
    check_expr(*e.children[2]);
    if (!e.children[0]->type.is_str() || !e.children[1]->type.is_str()) {
      error(e.loc, "strncmp() compares two strings");
      return;
    }
    if (e.children[2]->kind != ExprKind::Integer) {
      error(e.children[2]->loc, "strncmp() length must be an integer literal");
      return;
    }
    e.type = Type::integer();
  } else if (fn == "print" || fn == "clear" || fn == "zero") {
    if (!as_statement) {
      error(e.loc, fn + "() does not return a value");
      return;
    }
    if (!want(1, fn == "print" ? 3 : 1))
      return;
    Expr &a = *e.children[0];
    const MapInfo *whole = a.kind == ExprKind::Map && a.children.empty()
                               ? result_.find_map(a.name) : nullptr;
    if (whole) {
      if (nargs > 1 && !check_print_limits(e, *whole))
        return;
      e.type = Type::void_type();
      return;  // the whole map
    }
    if (fn != "print") {
      error(a.loc, fn + "() needs a map: " + fn + "(@m)");
      return;
    }
    if (a.kind == ExprKind::Map && !result_.find_map(a.name)) {
      if (report_)
        error(a.loc, "map " + a.name + " is never assigned");
      return;
    }
    if (nargs > 1) {
      error(e.loc, "print() takes top and div arguments only for maps");
      return;
    }
    check_expr(a);
    if (a.type.kind == Type::Kind::None)
      return;
    if (!a.type.is_storable()) {
      error(a.loc, "print() cannot print a " + a.type.str());
      return;
    }
    e.type = Type::void_type();
    if (report_) {
      result_.print_value_ids[&e] = static_cast<uint32_t>(result_.print_values.size());
      result_.print_values.push_back({to_meta(storage_type(a.type))});
    }
  } else if (fn == "time") {
    if (!as_statement) {
      error(e.loc, "time() does not return a value");
      return;
    }
    if (!want(0, 1))
      return;
    std::string fmt = "%H:%M:%S\n";
    if (nargs == 1) {
      if (e.children[0]->kind != ExprKind::String) {
        error(e.children[0]->loc, "time() needs a format string literal");
        return;
      }
      fmt = e.children[0]->name;
    }
    e.type = Type::void_type();
    if (report_) {
      result_.time_ids[&e] = static_cast<uint32_t>(result_.time_formats.size());
      result_.time_formats.push_back(fmt);
    }
  } else if (fn == "signal") {
    if (!as_statement) {
      error(e.loc, "signal() does not return a value");
      return;
    }
    if (!want(1, 1))
      return;
    Expr &a = *e.children[0];
    check_expr(a);
    if (a.kind == ExprKind::String) {
      static const std::map<std::string, int> sigs = {
          {"SIGHUP", 1}, {"SIGINT", 2},  {"SIGQUIT", 3}, {"SIGILL", 4},   {"SIGTRAP", 5},
          {"SIGABRT", 6}, {"SIGBUS", 7}, {"SIGFPE", 8},  {"SIGKILL", 9},  {"SIGUSR1", 10},
          {"SIGSEGV", 11}, {"SIGUSR2", 12}, {"SIGPIPE", 13}, {"SIGALRM", 14}, {"SIGTERM", 15},
          {"SIGCHLD", 17}, {"SIGCONT", 18}, {"SIGSTOP", 19}, {"SIGTSTP", 20}};
      std::string name = a.name.rfind("SIG", 0) == 0 ? a.name : "SIG" + a.name;
      auto it = sigs.find(name);
      if (it == sigs.end()) {
        error(a.loc, "unknown signal '" + a.name + "'");
        return;
      }
      a.kind = ExprKind::Integer;
      a.int_value = it->second;
      a.type = Type::integer();
    } else if (a.kind != ExprKind::Integer || a.int_value < 1 || a.int_value > 64) {
      error(a.loc, "signal() takes a signal number from 1 to 64 or a name like \"SIGKILL\"");
      return;
    }
    e.type = Type::void_type();
  } else if (fn == "join") {
    // join(argv[, sep]): the runtime prints up to kJoinCount strings of an
    // argv-style NULL-terminated array, separated by `sep`.
    if (!as_statement) {
      error(e.loc, "join() does not return a value");
      return;
    }
    if (!want(1, 2) || !want_int(*e.children[0]))
      return;
    std::string sep = " ";
    if (nargs == 2) {
      if (e.children[1]->kind != ExprKind::String) {
        error(e.children[1]->loc, "join() takes a string literal separator");
        return;
      }
      sep = e.children[1]->name;
    }
    e.type = Type::void_type();
    if (report_) {
      result_.join_ids[&e] = static_cast<uint32_t>(result_.joins.size());
      result_.joins.push_back({sep, kJoinCount, kJoinSize});
    }
  } else if (fn == "system" || fn == "cat") {
    // Formatted like printf; the runtime runs the command / prints the file.
    if (!as_statement) {
      error(e.loc, fn + "() does not return a value");
      return;
    }
    e.name = "printf";
    check_call(e, true);
    e.name = fn;
    if (report_ && e.type.kind == Type::Kind::Void)
      result_.uses_system |= fn == "system";
  } else if (fn == "len") {
    // The number of elements of a map (bpf_for_each_map_elem counts them).
    if (!want(1, 1))
      return;
    Expr &m = *e.children[0];
    if (m.kind != ExprKind::Map) {
      error(m.loc, "len() needs a map: len(@m)");
      return;
    }
    if (!m.children.empty()) {
      error(m.loc, "len() counts the elements of a whole map: len(" + m.name + "), not an element");
      return;
    }
    const MapInfo *info = result_.find_map(m.name);
    if (!info) {
      if (report_)
        error(m.loc, "map " + m.name + " is never assigned");
      return;
    }
    if (info->key.kind == Type::Kind::None) {
      error(m.loc, "len() needs a map with keys; " + m.name + " has none");
      return;
    }
    if (info->kind == meta::MapKind::Hist || info->kind == meta::MapKind::Lhist) {
      error(m.loc, "len() cannot count the keys of " + m.name + ": a " +
                       meta::to_string(info->kind) + "() map stores one element per bucket");
      return;
    }
    e.type = Type::integer();
  } else if (fn == "strcontains") {
    if (!want(2, 2))
      return;
    bool ok = true;
    for (auto &a : e.children) {
      check_expr(*a);
      if (a->type.kind == Type::Kind::None) {
        ok = false;
      } else if (!a->type.is_str()) {
        error(a->loc, "strcontains() needs a string here, not " + a->type.str());
        ok = false;
      }
    }
    if (ok)
      e.type = Type::integer();
  } else if (fn == "kaddr" || fn == "uaddr") {
    check_symbol_address(e);
  } else {
    static const std::set<std::string> later = {
        "reg", "cgroupid",
        "sizeof", "offsetof", "override", "macaddr", "path", "unwatch"};
    if (later.count(fn))
      error(e.loc, fn + "() is not supported yet");
    else
      error(e.loc, "unknown function '" + fn + "'");
  }
}

void Analyzer::check_expr(Expr &e) {
  switch (e.kind) {
  case ExprKind::Integer:
    e.type = Type::integer(8, true);
    return;
  case ExprKind::String:
    e.type = Type::string(static_cast<uint32_t>(e.name.size()) + 1);
    return;
  case ExprKind::Builtin: {
    const std::string &n = e.name;
    auto kind = probe_->attach_points.front().probe.kind;
    using K = meta::ProbeKind;
    bool has_regs = kind == K::Uprobe || kind == K::Uretprobe || kind == K::Kprobe ||
                    kind == K::Kretprobe;
    bool has_func = has_regs || kind == K::Fentry || kind == K::Fexit;
    bool is_return = kind == K::Uretprobe || kind == K::Kretprobe;
    if (n == "pid" || n == "tid" || n == "uid" || n == "gid" || n == "cpu" || n == "nsecs" ||
        n == "cgroup" || n == "rand" || n == "elapsed") {
      e.type = Type::integer(8, false);
    } else if (n == "curtask") {
      e.type = Type::pointer(Type::AddrSpace::Kernel);
    } else if (n == "kstack" || n == "ustack") {
      e.type = Type::make_stack(n == "ustack", 0);
      probe_->uses_ustack |= n == "ustack";
      result_.needs_stacks = true;
    } else if (n == "comm") {
      e.type = Type::string(kCommSize);
    } else if (n == "retval") {
      if (!is_return) {
        error(e.loc, "retval is only available in uretprobe and kretprobe probes");
        return;
      }
      e.type = Type::integer(8, true);
    } else if (n.size() >= 4 && n.rfind("arg", 0) == 0 &&
               n.find_first_not_of("0123456789", 3) == std::string::npos) {
      unsigned idx = static_cast<unsigned>(strtoul(n.c_str() + 3, nullptr, 10));
      if (kind == K::RawTracepoint) {
        e.type = Type::integer(8, false);
        return;
      }
      if (kind == K::Usdt) {
        bool is_signed = true;
        for (const auto &ap : probe_->attach_points) {
          if (idx >= ap.usdt_args.size()) {
            error(e.loc, n + ": " + ap.probe.spec + " has " + std::to_string(ap.usdt_args.size()) +
                             " argument" + (ap.usdt_args.size() == 1 ? "" : "s"));
            return;
          }
          is_signed = is_signed && ap.usdt_args[idx].is_signed;
        }
        e.type = Type::integer(8, is_signed);
        return;
      }
      if (!has_regs) {
        error(e.loc, n + " is only available in uprobe, uretprobe, kprobe, kretprobe, usdt and "
                         "rawtracepoint probes");
        return;
      }
      if (idx > 5) {
        error(e.loc, n + ": only arg0 to arg5 are passed in registers");
        return;
      }
      e.type = kind == K::Kprobe || kind == K::Kretprobe ? Type::pointer(Type::AddrSpace::Kernel)
                                                          : Type::integer(8, false);
      e.type.is_pointer = false;
    } else if (n == "duration") {
      if (kind != K::Uretprobe) {
        error(e.loc, "duration is only available in uretprobe probes (nanoseconds since the "
                     "paired entry)");
        return;
      }
      probe_->uses_duration = true;
      e.type = Type::integer(8, false);
    } else if (n == "func") {
      if (!has_func) {
        error(e.loc, "func is only available in uprobe, uretprobe, kprobe, kretprobe, fentry "
                     "and fexit probes");
        return;
      }
      size_t len = 0;
      for (const auto &ap : probe_->attach_points)
        len = std::max(len, ap.func.size());
      e.type = Type::string(static_cast<uint32_t>(len) + 1);
    } else if (n == "probe") {
      size_t len = 0;
      for (const auto &ap : probe_->attach_points)
        len = std::max(len, ap.probe.spec.size());
      e.type = Type::string(static_cast<uint32_t>(len) + 1);
    } else if (n == "vars") {
      for (const auto &ap : probe_->attach_points)
        if (!ap.has_vars) {
          error(e.loc, "vars needs DWARF for " + ap.probe.spec +
                           " (vars: uprobe:BINARY@FILE:LINE, uprobe:BINARY:FUNC[+OFF])");
          return;
        }
      e.type.kind = Type::Kind::Args;
    } else if (n == "args") {
      if (kind == K::Uprobe) {
        for (const auto &ap : probe_->attach_points)
          if (!ap.has_dwarf) {
            error(e.loc, "args needs DWARF for " + ap.probe.spec + ": " +
                             (ap.dwarf_error.empty() ? std::string("the probe is at an offset")
                                                     : ap.dwarf_error));
            return;
          }
      } else if (kind == K::Uretprobe) {
        // Read at the paired entry: the registers that held them are gone at return.
        for (const auto &ap : probe_->attach_points)
          if (!ap.has_dwarf) {
            error(e.loc, "args needs DWARF for " + ap.probe.spec + ": " + ap.dwarf_error);
            return;
          }
      } else if (kind != K::Tracepoint) {
        error(e.loc, "args is only available in tracepoint and uprobe probes");
        return;
      }
      e.type.kind = Type::Kind::Args;
    } else {
      static const std::set<std::string> later = {"username", "sarg0",
                                                  "jiffies", "numaid", "ctx", "__builtin_usermode"};
      if (later.count(n)) {
        error(e.loc, "builtin '" + n + "' is not supported yet");
        return;
      }
      // Constants: a few #defines the bpftrace tools take from kernel
      // headers (which we do not parse), then enumerators from kernel BTF.
      static const std::map<std::string, int64_t> defines = {
          {"AF_UNSPEC", 0},     {"AF_UNIX", 1},           {"AF_INET", 2},
          {"AF_INET6", 10},     {"TASK_RUNNING", 0},      {"TASK_INTERRUPTIBLE", 1},
          {"TASK_UNINTERRUPTIBLE", 2}};
      auto d = defines.find(n);
      std::string err;
      if (d != defines.end()) {
        e.kind = ExprKind::Integer;
        e.int_value = static_cast<uint64_t>(d->second);
        e.type = Type::integer();
        return;
      }
      if (btf::Btf *b = kernel_btf(err)) {
        if (auto v = b->find_enumerator(n)) {
          e.kind = ExprKind::Integer;
          e.int_value = static_cast<uint64_t>(v->value);
          e.type = Type::integer();
          return;
        }
      }
      error(e.loc, "unknown identifier '" + n + "'");
    }
    return;
  }
  case ExprKind::Variable: {
    const std::string &n = e.name;
    if (n.size() > 1 && (isdigit(static_cast<unsigned char>(n[1])) || n == "$#")) {
      // Positional parameters are substituted at compile time.
      if (n == "$#") {
        e.kind = ExprKind::Integer;
        e.int_value = opts_.params.size();
        e.type = Type::integer();
        return;
      }
      size_t idx = strtoul(n.c_str() + 1, nullptr, 10);
      if (idx == 0 || idx > opts_.params.size()) {
        error(e.loc, "positional parameter " + n + " was not given (" +
                         std::to_string(opts_.params.size()) + " given)");
        return;
      }
      const std::string &v = opts_.params[idx - 1];
      uint64_t iv;
      if (parse_uint(v, iv) || (v.size() > 1 && v[0] == '-' && parse_uint(v.substr(1), iv))) {
        e.kind = ExprKind::Integer;
        e.int_value = v[0] == '-' ? static_cast<uint64_t>(-static_cast<int64_t>(iv)) : iv;
        e.type = Type::integer();
      } else {
        e.kind = ExprKind::String;
        e.name = v;
        e.type = Type::string(static_cast<uint32_t>(v.size()) + 1);
      }
      return;
    }
    auto it = vars_.find(n);
    if (it == vars_.end()) {
      error(e.loc, "variable " + n + " is used before it is assigned");
      return;
    }
    e.type = it->second;
    return;
  }
  case ExprKind::Map: {
    for (auto &k : e.children)
      check_expr(*k);
    const MapInfo *info = result_.find_map(e.name);
    if (!info) {
      // The first pass may meet a read before the assignment that defines the
      // map (`@x++` is `@x = @x + 1`): assume an integer until pass 2.
      if (report_)
        error(e.loc, "map " + e.name + " is read but never assigned");
      else
        e.type = Type::integer();
      return;
    }
    if (info->is_aggregate) {
      error(e.loc, "map " + e.name + " holds " + meta::to_string(info->kind) +
                       "(); its value cannot be read in a probe");
      return;
    }
    Type key = key_type(e);
    Type merged = info->key;
    if ((info->key.kind == Type::Kind::None) != (key.kind == Type::Kind::None) ||
        !unify(merged, key)) {
      error(e.loc, "map " + e.name + " is read with key " +
                       (key.kind == Type::Kind::None ? std::string("none") : key.str()) +
                       " but has key " +
                       (info->key.kind == Type::Kind::None ? std::string("none")
                                                           : info->key.str()));
      return;
    }
    e.type = info->value;
    return;
  }
  case ExprKind::Call:
    check_call(e, false);
    return;
  case ExprKind::Tuple: {
    Type t;
    t.kind = Type::Kind::Tuple;
    for (auto &c : e.children) {
      check_expr(*c);
      if (c->type.kind == Type::Kind::None)
        return;
      if (!c->type.is_storable() || c->type.kind == Type::Kind::Tuple) {
        error(c->loc, "a tuple element must be an integer, a string or a printable value, not " +
                          c->type.str());
        return;
      }
      t.elems.push_back(storage_type(c->type));
    }
    e.type = t;
    return;
  }
  case ExprKind::Cast: {
    Expr &a = *e.children[0];
    check_expr(a);
    if (a.type.kind == Type::Kind::None)
      return;
    const std::string &n = e.name;
    if (n.find('*') != std::string::npos || n.rfind("struct ", 0) == 0 ||
        n.rfind("union ", 0) == 0 || n.rfind("enum ", 0) == 0) {
      // (struct X *)p: user-space probes take X from the binary's DWARF,
      // the others from the kernel's BTF. (int32 *)p, (u8 **)p: C integers.
      size_t stars = n.size() - n.find_last_not_of('*') - 1;
      std::string base = n.substr(0, n.size() - stars);
      if (!a.type.is_int()) {
        error(e.loc, "only an integer can be cast to '" + n + "', not " + a.type.str());
        return;
      }
      if (stars == 0 || base.rfind("enum ", 0) == 0) {
        error(e.loc, "casts to '" + n + "' are not supported: cast to a pointer ('struct X *', "
                     "'int32 *')");
        return;
      }
      auto kind = probe_->attach_points.front().probe.kind;
      bool user = kind == meta::ProbeKind::Uprobe || kind == meta::ProbeKind::Uretprobe ||
                  kind == meta::ProbeKind::Usdt;
      std::string err;
      const dwarf::Type *st = nullptr;
      bool tagged = base.rfind("struct ", 0) == 0 || base.rfind("union ", 0) == 0;
      if (!tagged) {
        st = int_type(base, err);
        if (!st) {
          error(e.loc, err.empty() ? "unknown type '" + base + "'" : err);
          return;
        }
      } else if (script_structs_.count(base)) {
        // A struct defined in the script hides the binary's and the kernel's.
        st = script_struct(base, type_ctx());
        if (!st)
          return;  // its definition's errors are reported
        // codegen completes kernel aggregates through the kernel's BTF.
        if (!user && !kernel_btf(err)) {
          error(e.loc, "reading '" + base + "' from kernel memory needs kernel BTF: " + err);
          return;
        }
      } else if (user) {
        dwarf::DebugInfo *di = debug_info(probe_->attach_points.front().probe.binary, err);
        if (!di) {
          error(e.loc, "the cast to '" + n + "' needs DWARF: " + err);
          return;
        }
        st = di->find_type(base);
      } else {
        btf::Btf *b = kernel_btf(err);
        if (!b) {
          error(e.loc, "the cast to '" + n + "' needs kernel BTF: " + err);
          return;
        }
        st = b->find_type(base);
      }
      if (!st || (tagged && !st->resolve()->is_aggregate())) {
        error(e.loc, "unknown type '" + base + "' in " +
                         (user ? "the DWARF of " + probe_->attach_points.front().probe.binary
                               : std::string("the kernel's BTF")));
        return;
      }
      const dwarf::Type *ptr = st;
      for (size_t i = 0; i < stars; i++) {
        auto *p = result_.cast_types->make(dwarf::TypeKind::Pointer);
        p->size = 8;
        p->target = ptr;
        ptr = p;
      }
      e.type = Type::pointer(user ? Type::AddrSpace::User : Type::AddrSpace::Kernel);
      e.type.ctype = ptr;
      return;
    }
    if (!a.type.is_int()) {
      error(e.loc, "cannot cast " + a.type.str() + " to " + n);
      return;
    }
    if (n == "bool") {
      e.type = Type::integer(1, false);
      return;
    }
    bool is_signed = n[0] == 's' || n[0] == 'i';
    uint32_t bits = static_cast<uint32_t>(strtoul(n.c_str() + n.find_first_of("0123456789"), nullptr, 10));
    e.type = Type::integer(bits / 8, is_signed);
    return;
  }
  case ExprKind::Field: {
    Expr &obj = *e.children[0];
    check_expr(obj);
    if (obj.type.kind == Type::Kind::None)
      return;
    if (obj.type.kind == Type::Kind::Tuple) {
      if (e.arrow || e.name.empty() || !isdigit(static_cast<unsigned char>(e.name[0]))) {
        error(e.loc, "a tuple's elements are read with .N (N from 0)");
        return;
      }
      if (e.int_value >= obj.type.elems.size()) {
        error(e.loc, "tuple index " + e.name + " is out of range (the tuple has " +
                         std::to_string(obj.type.elems.size()) + " elements)");
        return;
      }
      e.type = obj.type.elems[e.int_value];
      return;
    }
    auto probe_kind = probe_->attach_points.front().probe.kind;
    if (obj.type.kind == Type::Kind::Args && (probe_kind == meta::ProbeKind::Uprobe ||
                                              probe_kind == meta::ProbeKind::Uretprobe)) {
      check_param(e);
      return;
    }
    if ((obj.type.is_int() && obj.type.ctype) || obj.type.kind == Type::Kind::Record) {
      check_member(e, obj);
      return;
    }
    if (obj.type.kind != Type::Kind::Args) {
      error(e.loc, "cannot take field '" + e.name + "' of " + obj.type.str() +
                       (obj.type.is_int() ? " (its type is not known: cast it first)" : ""));
      return;
    }
    Type t;
    for (const auto &ap : probe_->attach_points) {
      auto f = std::find_if(ap.fields.begin(), ap.fields.end(),
                            [&](const TracepointField &f) { return f.name == e.name; });
      if (f == ap.fields.end()) {
        std::string names;
        for (const auto &g : ap.fields)
          names += (names.empty() ? "" : ", ") + g.name;
        error(e.loc, "tracepoint " + ap.probe.category + ":" + ap.probe.event +
                         " has no field '" + e.name + "' (fields: " + names + ")");
        return;
      }
      Type ft;
      switch (f->kind) {
      case TracepointField::Kind::Int:
        ft = Type::integer(f->size, f->is_signed);
        break;
      case TracepointField::Kind::Pointer:
        ft = Type::pointer(ap.pointer_space);
        break;
      case TracepointField::Kind::CharArray:
        ft = Type::string(f->size);
        break;
      case TracepointField::Kind::DataLoc:
        ft = Type::string(kDefaultStrSize);
        break;
      }
      if (!unify(t, ft) || (t.is_int() && t.is_signed != ft.is_signed)) {
        error(e.loc, "args." + e.name + " has different types in the probes of this block");
        return;
      }
    }
    e.type = t;
    return;
  }
  case ExprKind::Unary: {
    Expr &a = *e.children[0];
    check_expr(a);
    if (a.type.kind == Type::Kind::None)
      return;
    if (e.unary_op == ast::UnaryOp::Deref) {
      check_deref(e);
      return;
    }
    if (!a.type.is_int()) {
      error(e.loc, std::string("operator ") + ast::to_string(e.unary_op) +
                       " needs an integer, not " + a.type.str());
      return;
    }
    e.type = e.unary_op == ast::UnaryOp::Not ? Type::integer() : Type::integer(8, a.type.is_signed);
    return;
  }
  case ExprKind::Binary: {
    Expr &a = *e.children[0];
    Expr &b = *e.children[1];
    check_expr(a);
    check_expr(b);
    if (a.type.kind == Type::Kind::None || b.type.kind == Type::Kind::None)
      return;
    BinaryOp op = e.binary_op;
    if (a.type.is_str() && b.type.is_str() && (op == BinaryOp::Eq || op == BinaryOp::Ne)) {
      e.type = Type::integer();
      return;
    }
    if (!a.type.is_int() || !b.type.is_int()) {
      error(e.loc, std::string("operator ") + ast::to_string(op) + " cannot be applied to " +
                       a.type.str() + " and " + b.type.str());
      return;
    }
    bool comparison = op >= BinaryOp::Eq;
    // A literal takes the signedness of the other side; otherwise unsigned wins, as in C.
    bool is_signed;
    if (a.kind == ExprKind::Integer)
      is_signed = b.type.is_signed;
    else if (b.kind == ExprKind::Integer)
      is_signed = a.type.is_signed;
    else
      is_signed = a.type.is_signed && b.type.is_signed;
    e.type = comparison ? Type::integer() : Type::integer(8, is_signed);
    return;
  }
  case ExprKind::Update:
    check_update(e);
    return;
  case ExprKind::Ternary: {
    for (auto &c : e.children)
      check_expr(*c);
    Expr &c = *e.children[0], &a = *e.children[1], &b = *e.children[2];
    if (c.type.kind == Type::Kind::None || a.type.kind == Type::Kind::None ||
        b.type.kind == Type::Kind::None)
      return;
    if (!c.type.is_int()) {
      error(c.loc, "condition must be an integer, not " + c.type.str());
      return;
    }
    Type t = storage_type(a.type);
    if (!a.type.is_storable() || !unify(t, storage_type(b.type))) {
      error(e.loc, "the branches of ?: have different types: " + a.type.str() + " and " +
                       b.type.str());
      return;
    }
    if (t.is_int())
      t.is_signed = a.type.is_signed && b.type.is_signed;
    e.type = t;
    return;
  }
  }
}

// *p: the value p points to, typed from DWARF/BTF or a cast ((int32 *)p).
// As in bpftrace 0.17, *x of an integer without a C type reads an integer
// of x's own size (kaddr("avenrun") is such an integer).
void Analyzer::check_deref(Expr &e) {
  Expr &a = *e.children[0];
  if (!a.type.is_int()) {
    error(e.loc, "operator * needs a pointer, not " + a.type.str());
    return;
  }
  if (!a.type.ctype) {
    e.type = Type::integer(a.type.size ? a.type.size : 8, a.type.is_signed);
    return;
  }
  const dwarf::Type *ptr = a.type.ctype->resolve();
  const dwarf::Type *target = ptr && ptr->target ? ptr->target->resolve() : nullptr;
  if (!target || target->kind == dwarf::TypeKind::Void ||
      target->kind == dwarf::TypeKind::Function) {
    error(e.loc, "cannot dereference '" + a.type.ctype->display() + "': cast it to a pointer "
                 "to a type first ('(int32 *)p')");
    return;
  }
  bool kernel = a.type.addr_space == Type::AddrSpace::Kernel;
  std::string err;
  if (kernel && target->is_aggregate())
    if (btf::Btf *b = kernel_btf(err))
      target = b->complete(target);
  Type t;
  if (!type_from_c(ptr->target, e.loc, "*" + std::string(a.kind == ExprKind::Variable
                                                              ? a.name : "p"),
                   t, a.type.addr_space))
    return;
  if (t.is_str()) {
    error(e.loc, "cannot dereference '" + a.type.ctype->display() + "': reading arrays "
                 "through * is not supported yet (use str())");
    return;
  }
  if (t.kind == Type::Kind::Record)
    t.ctype = target;
  e.type = t;
}

// kaddr("sym"): a kernel symbol's address from /proc/kallsyms, fixed at
// compile time (as bpftrace does: the object is valid for this boot only).
// uaddr("sym"): a symbol of the probed binary, located at run time from the
// probe's ip, so it is right for position-independent binaries too. Its
// type points to a signed integer of the symbol's size (8 if not 1, 2, 4).
void Analyzer::check_symbol_address(Expr &e) {
  const std::string &fn = e.name;
  if (e.children.size() != 1) {
    error(e.loc, fn + "() takes 1 argument, " + std::to_string(e.children.size()) + " given");
    return;
  }
  Expr &a = *e.children[0];
  if (a.kind != ExprKind::String) {
    error(a.loc, fn + "() needs a symbol name as a string literal");
    return;
  }
  const std::string &name = a.name;
  if (fn == "kaddr") {
    if (!kallsyms_read_) {
      kallsyms_read_ = true;
      std::ifstream in("/proc/kallsyms");
      std::string line;
      while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string addr, type, sym;
        if (fields >> addr >> type >> sym)
          kallsyms_.emplace(sym, strtoull(addr.c_str(), nullptr, 16));
      }
    }
    auto it = kallsyms_.find(name);
    if (it == kallsyms_.end()) {
      error(a.loc, "kernel symbol '" + name + "' is not in /proc/kallsyms (kernels without "
                   "CONFIG_KALLSYMS_ALL list only functions)");
      return;
    }
    if (it->second == 0) {
      error(a.loc, "/proc/kallsyms hides kernel addresses from this user (kptr_restrict); "
                   "compile as root");
      return;
    }
    e.int_value = it->second;
    e.type = Type::pointer(Type::AddrSpace::Kernel);
    return;
  }
  uint64_t size = 0;
  for (auto &ap : probe_->attach_points) {
    auto kind = ap.probe.kind;
    if (kind != meta::ProbeKind::Uprobe && kind != meta::ProbeKind::Usdt) {
      error(e.loc, kind == meta::ProbeKind::Uretprobe
                       ? "uaddr() is not available in uretprobe probes: at a return the "
                         "instruction pointer does not tell where the binary is loaded"
                       : "uaddr() is only available in uprobe and usdt probes");
      return;
    }
    uint64_t here = ap.link_address ? ap.link_address : ap.probe.address;
    std::string err;
    elf::ElfFile *file = elves_[ap.probe.binary];
    if (!file) {
      auto f = elf::ElfFile::open(ap.probe.binary, err);
      if (!f) {
        error(a.loc, "cannot read symbols of " + ap.probe.binary + ": " + err);
        return;
      }
      file = f.get();
      elves_[ap.probe.binary] = file;
      elf_store_.push_back(std::move(f));
    }
    auto sym = file->find_symbol(name);
    if (!sym || !sym->address) {
      error(a.loc, "could not find symbol '" + name + "' in " + ap.probe.binary);
      return;
    }
    if (!here) {
      error(e.loc, "uaddr() needs the probe's address in " + ap.probe.binary + ", which " +
                       ap.probe.spec + " does not give");
      return;
    }
    if (size && sym->size != size) {
      error(a.loc, "symbol '" + name + "' has different sizes in the binaries of this probe");
      return;
    }
    size = sym->size;
    ap.user_symbols[name] = static_cast<int64_t>(sym->address - here);
  }
  uint32_t bytes = size == 1 || size == 2 || size == 4 ? static_cast<uint32_t>(size) : 8;
  std::string why;
  const dwarf::Type *target = int_type("int" + std::to_string(bytes * 8), why);
  auto *ptr = result_.cast_types->make(dwarf::TypeKind::Pointer);
  ptr->size = 8;
  ptr->target = target;
  e.type = Type::pointer(Type::AddrSpace::User);
  e.type.ctype = ptr;
}

// print(@m, top[, div]): integer literals, kept for the runtime (bpftrace
// takes them as u32).
bool Analyzer::check_print_limits(Expr &e, const MapInfo &map) {
  uint32_t limits[2] = {0, 1};
  for (size_t i = 1; i < e.children.size(); i++) {
    Expr &n = *e.children[i];
    check_expr(n);  // turns a positional parameter into a literal
    if (n.kind != ExprKind::Integer || n.int_value > UINT32_MAX) {
      error(n.loc, std::string("print() takes the ") + (i == 1 ? "top" : "div") +
                       " argument as an integer literal from 0 to 4294967295");
      return false;
    }
    limits[i - 1] = static_cast<uint32_t>(n.int_value);
  }
  if (!report_)
    return true;
  if (map.kind == meta::MapKind::Stats)
    diags_.warning(e.loc, "print() ignores top and div for stats() maps, as bpftrace does");
  else if (map.kind == meta::MapKind::Lhist && e.children.size() > 2)
    diags_.warning(e.children[2]->loc, "print() ignores div for lhist() maps, as bpftrace does");
  uint32_t index = static_cast<uint32_t>(&map - result_.maps.data());
  result_.map_print_ids[&e] = static_cast<uint32_t>(result_.map_prints.size());
  result_.map_prints.push_back({index, limits[0], limits[1]});
  return true;
}

// $x++, --@m[k]: an integer variable or map element, read, stepped by one
// and written back; a map element that does not exist yet counts from 0.
void Analyzer::check_update(Expr &e) {
  Expr &t = *e.children[0];
  std::string op = e.binary_op == BinaryOp::Add ? "++" : "--";
  bool positional = t.kind == ExprKind::Variable && t.name.size() > 1 &&
                    (isdigit(static_cast<unsigned char>(t.name[1])) || t.name == "$#");
  if ((t.kind != ExprKind::Variable && t.kind != ExprKind::Map) || positional) {
    error(e.loc, "operator " + op + " needs a variable or a map element" +
                     (positional ? " (" + t.name + " is a positional parameter)" : ""));
    return;
  }
  if (t.kind == ExprKind::Variable) {
    check_expr(t);
    if (t.type.kind == Type::Kind::None)
      return;
    if (!t.type.is_int()) {
      error(e.loc, "operator " + op + " needs an integer, but " + t.name + " holds " +
                       t.type.str());
      return;
    }
    e.type = Type::integer(8, t.type.is_signed);
    return;
  }
  const MapInfo *known = result_.find_map(t.name);
  if (known && known->is_aggregate) {
    error(e.loc, "map " + t.name + " holds " + meta::to_string(known->kind) +
                     "(); operator " + op + " cannot be applied to it");
    return;
  }
  MapInfo *info = map_for(t, false, meta::MapKind::Value);
  if (!info)
    return;
  if (info->value.kind == Type::Kind::None)
    info->value = Type::integer(8, true);
  if (!info->value.is_int()) {
    error(e.loc, "operator " + op + " needs an integer, but map " + t.name + " holds " +
                     info->value.str());
    return;
  }
  t.type = info->value;
  e.type = Type::integer(8, info->value.is_signed);
}

// A value of C type `ct` as the script sees it: integers, enums and bools
// are integers, pointers are integers that remember their pointee, char
// arrays are strings, structs and unions are records whose members can be
// read.
bool Analyzer::type_from_c(const dwarf::Type *ct, const SourceRange &loc, const std::string &what,
                           Type &out, Type::AddrSpace space) {
  const dwarf::Type *r = ct ? ct->resolve() : nullptr;
  if (!r) {
    error(loc, what + " has no type in the DWARF");
    return false;
  }
  using TK = dwarf::TypeKind;
  switch (r->kind) {
  case TK::Int:
  case TK::Enum:
    if (r->size != 1 && r->size != 2 && r->size != 4 && r->size != 8) {
      error(loc, what + " is a " + std::to_string(r->size) + "-byte integer, which is not supported");
      return false;
    }
    out = Type::integer(static_cast<uint32_t>(r->size), r->is_signed);
    return true;
  case TK::Pointer:
    out = Type::pointer(space);
    out.ctype = r;
    return true;
  case TK::Array: {
    const dwarf::Type *el = r->target ? r->target->resolve() : nullptr;
    if (el && el->kind == TK::Int && el->is_char && r->count_known && r->count > 0 &&
        r->count < 1024) {
      out = Type::string(static_cast<uint32_t>(r->count) + 1);
      return true;
    }
    error(loc, what + " is an array (" + ct->display() + "); only char arrays are supported yet");
    return false;
  }
  case TK::Struct:
  case TK::Class:
  case TK::Union:
    out.kind = Type::Kind::Record;
    out.size = static_cast<uint32_t>(r->size);
    out.ctype = r;
    out.addr_space = space;
    return true;
  default:
    error(loc, what + " has type " + ct->display() + ", which is not supported yet");
    return false;
  }
}

// args.NAME in a uprobe: the parameter at every attach point.
void Analyzer::check_param(Expr &e) {
  Type t;
  bool is_vars = e.children[0]->name == "vars";
  const char *what = is_vars ? "vars." : "args.";
  for (const auto &ap : probe_->attach_points) {
    const auto &list = is_vars ? ap.vars : ap.params;
    auto p = std::find_if(list.begin(), list.end(),
                          [&](const dwarf::Variable &v) { return v.name == e.name; });
    if (p == list.end()) {
      std::string names;
      for (const auto &v : list)
        names += (names.empty() ? "" : ", ") + v.declaration();
      if (is_vars)
        error(e.loc, "no variable '" + e.name + "' is in scope at " + ap.probe.spec +
                         " (in scope: " + (names.empty() ? "none" : names) + ")");
      else
        error(e.loc, "function " + ap.func + " has no parameter '" + e.name + "' (parameters: " +
                         (names.empty() ? "none" : names) + ")");
      return;
    }
    const dwarf::Location &l = p->location;
    std::ostringstream at;
    at << std::hex << "0x" << (ap.probe.address ? ap.probe.address : 0);
    if (!l.ok()) {
      error(e.loc, what + e.name + " cannot be read at " + ap.probe.spec + ": " + l.error);
      return;
    }
    if (l.pieces.size() != 1 || (l.uses_link_time_address() && !ap.link_address) ||
        l.uses_entry_value()) {
      error(e.loc, what + e.name + " at " + ap.probe.spec + " has a location that is not "
                   "supported yet (" + l.describe() + ")");
      return;
    }
    const dwarf::Piece &piece = l.pieces[0];
    if (piece.kind == dwarf::Piece::Kind::Register && dwarf::pt_regs_offset(piece.regno) < 0) {
      error(e.loc, "args." + e.name + " is in register " + dwarf::register_name(piece.regno) +
                       ", which a uprobe cannot read");
      return;
    }
    Type pt;
    if (!type_from_c(p->type, e.loc, "args." + e.name, pt))
      return;
    if (pt.kind == Type::Kind::Record && piece.kind != dwarf::Piece::Kind::Memory) {
      error(e.loc, "args." + e.name + " is a struct passed in registers (" + l.describe() +
                       "), which is not supported yet");
      return;
    }
    if (pt.is_str() && piece.kind != dwarf::Piece::Kind::Memory) {
      error(e.loc, "args." + e.name + " is not in memory (" + l.describe() + ")");
      return;
    }
    if (t.kind != Type::Kind::None && (t.kind != pt.kind || t.size != pt.size)) {
      error(e.loc, "args." + e.name + " has different types at the places " + ap.func +
                       " runs");
      return;
    }
    t = pt;
  }
  if (!is_vars && probe_->attach_points.front().probe.kind == meta::ProbeKind::Uretprobe) {
    if (!t.is_int()) {
      error(e.loc, "args." + e.name + " has type " + t.ctype->display() + ": a uretprobe saves "
                       "only integers and pointers at entry");
      return;
    }
    auto &saved = probe_->entry_args;
    if (std::none_of(saved.begin(), saved.end(), [&](const auto &a) { return a.name == e.name; }))
      saved.push_back({e.name, t});
  }
  e.type = t;
}

// p->member, record.member: a member of a struct/union in user memory.
void Analyzer::check_member(Expr &e, const Expr &obj) {
  const dwarf::Type *agg = nullptr;
  if (obj.type.kind == Type::Kind::Record) {
    if (e.arrow) {
      error(e.loc, "'" + e.name + "' is a member of a struct value: use '.', not '->'");
      return;
    }
    agg = obj.type.ctype;
  } else {
    if (!e.arrow) {
      error(e.loc, "'.' on a pointer (" + obj.type.ctype->display() + "): use '->'");
      return;
    }
    agg = obj.type.ctype->target ? obj.type.ctype->target->resolve() : nullptr;
  }
  bool kernel = obj.type.addr_space == Type::AddrSpace::Kernel;
  std::string err;
  if (kernel && agg)
    if (btf::Btf *b = kernel_btf(err))
      agg = b->complete(agg);  // BTF imports pointees lazily
  if (!agg || !agg->is_aggregate()) {
    error(e.loc, "cannot take member '" + e.name + "' of " +
                     (obj.type.ctype ? obj.type.ctype->display() : obj.type.str()));
    return;
  }
  auto m = dwarf::find_member(agg, e.name);
  if (!m) {
    error(e.loc, agg->display() + " has no member '" + e.name + "'");
    return;
  }
  Type t;
  if (!type_from_c(m->type, e.loc, e.name, t, obj.type.addr_space))
    return;
  if (m->bit_size && !t.is_int()) {
    error(e.loc, "bitfield '" + e.name + "' is not an integer");
    return;
  }
  e.type = t;
}

// ---------------------------------------------------------------- script structs

Analyzer::TypeCtx Analyzer::type_ctx() const {
  TypeCtx ctx;
  if (!probe_)
    return ctx;
  const meta::Probe &p = probe_->attach_points.front().probe;
  if (p.kind == meta::ProbeKind::Uprobe || p.kind == meta::ProbeKind::Uretprobe ||
      p.kind == meta::ProbeKind::Usdt)
    ctx.binary = p.binary;
  return ctx;
}

static bool is_tag(const std::string &name) {
  return name.rfind("struct ", 0) == 0 || name.rfind("union ", 0) == 0;
}

static std::string record_name(const ast::StructDef &def) {
  return def.name.empty() ? std::string(def.is_union ? "an anonymous union" : "an anonymous struct")
                          : def.tag();
}

void Analyzer::declare_structs() {
  using C = ast::StructDef::Condition;
  bool btf_known = false, have_btf = false;
  for (const auto &def : prog_.structs) {
    if (def.condition != C::Always) {
      // bpftrace defines BPFTRACE_HAVE_BTF when the kernel has BTF; the
      // definitions meant for the other case are left out, as its
      // preprocessor leaves them out.
      if (!btf_known) {
        std::string err;
        have_btf = kernel_btf(err) != nullptr;
        btf_known = true;
      }
      if ((def.condition == C::WithBtf) != have_btf)
        continue;
    }
    std::string other = (def.is_union ? "struct " : "union ") + def.name;
    auto clash = script_structs_.find(other);
    if (clash != script_structs_.end()) {
      diags_.error(def.loc, "'" + def.name + "' is defined both as a struct and as a union (first at line " +
                                std::to_string(clash->second->loc.line) + ")");
      continue;
    }
    auto [it, added] = script_structs_.emplace(def.tag(), &def);
    if (!added) {
      diags_.error(def.loc, def.tag() + " is defined twice (first at line " +
                                std::to_string(it->second->loc.line) + ")");
      continue;
    }
    check_struct_members(def);
  }
}

// Checks that need no types: member names are unique (counting those reached
// through anonymous members) and every declaration declares something.
void Analyzer::check_struct_members(const ast::StructDef &def) {
  std::set<std::string> seen;
  std::function<void(const ast::StructDef &)> collect = [&](const ast::StructDef &d) {
    for (const auto &m : d.members) {
      bool anonymous_record = m.type.inline_def && m.type.inline_def->name.empty();
      if (m.name.empty() && m.bit_width < 0) {
        if (anonymous_record)
          collect(*m.type.inline_def);
        else
          diags_.error(m.loc, "this declaration in " + record_name(def) + " declares no member");
        continue;
      }
      if (!m.name.empty() && !seen.insert(m.name).second)
        diags_.error(m.loc, "duplicate member '" + m.name + "' in " + record_name(def));
      if (m.type.inline_def)
        check_struct_members(*m.type.inline_def);  // a new scope for member names
    }
  };
  collect(def);
}

const dwarf::Type *Analyzer::int_type(const std::string &name, std::string &why) {
  auto it = int_types_.find(name);
  if (it != int_types_.end())
    return it->second;
  std::string err;
  const dwarf::Type *t = c_integer_type(name, *result_.cast_types, err);
  if (!err.empty()) {
    why = err;
    return nullptr;
  }
  if (t)
    int_types_[name] = t;
  return t;
}

// A type the probe's DWARF or the kernel's BTF defines.
const dwarf::Type *Analyzer::ctx_type(const std::string &name, const TypeCtx &ctx,
                                      std::string &why) {
  std::string err;
  const dwarf::Type *t = nullptr;
  if (ctx.user()) {
    dwarf::DebugInfo *di = debug_info(ctx.binary, err);
    if (!di) {
      why = "unknown type '" + name + "' (no definition in the script, and " + err + ")";
      return nullptr;
    }
    t = di->find_type(name);
  } else {
    btf::Btf *b = kernel_btf(err);
    if (!b) {
      why = "unknown type '" + name + "' (no definition in the script, and " + err + ")";
      return nullptr;
    }
    t = b->find_type(name);
  }
  // A bare name is a typedef or a base type: C needs the tag for the others.
  if (t && !is_tag(name) && name.rfind("enum ", 0) != 0 &&
      t->kind != dwarf::TypeKind::Typedef && t->kind != dwarf::TypeKind::Int &&
      t->kind != dwarf::TypeKind::Float)
    t = nullptr;
  if (!t)
    why = "unknown type '" + name + "' (not defined in the script or in " + ctx.where() + ")";
  return t;
}

const dwarf::Type *Analyzer::named_type(const std::string &name, const TypeCtx &ctx,
                                        std::string &why) {
  if (script_structs_.count(name))
    return script_struct(name, ctx);  // why stays "": the definition's errors are reported
  if (is_tag(name) || name.rfind("enum ", 0) == 0)
    return ctx_type(name, ctx, why);
  if (const dwarf::Type *t = int_type(name, why))
    return t;
  if (!why.empty())
    return nullptr;
  return ctx_type(name, ctx, why);
}

const dwarf::Type *Analyzer::script_struct(const std::string &tag, const TypeCtx &ctx) {
  auto key = std::make_pair(ctx.binary, tag);
  auto built = built_structs_.find(key);
  if (built != built_structs_.end())
    return built->second;
  if (broken_structs_.count(key)) {
    failed_ = true;
    return nullptr;
  }
  const ast::StructDef &def = *script_structs_.at(tag);
  dwarf::Type *t = result_.cast_types->make(def.is_union ? dwarf::TypeKind::Union
                                                         : dwarf::TypeKind::Struct);
  t->name = def.name;
  // Registered before its members are built: a member may point back to it
  // (and sees an incomplete type if it embeds it by value).
  t->is_declaration = true;
  built_structs_[key] = t;
  if (!build_record(def, ctx, t)) {
    built_structs_.erase(key);
    if (report_)
      broken_structs_.insert(key);
    failed_ = true;
    return nullptr;
  }
  return t;
}

bool Analyzer::build_record(const ast::StructDef &def, const TypeCtx &ctx, dwarf::Type *out) {
  std::vector<MemberSpec> specs;
  std::vector<const ast::StructMember *> from;
  bool ok = true;
  for (const auto &m : def.members) {
    const dwarf::Type *t = member_ctype(m, ctx);
    if (!t) {
      ok = false;  // go on: report every member that has an error
      continue;
    }
    specs.push_back({m.name, t, m.bit_width});
    from.push_back(&m);
  }
  if (!ok)
    return false;
  std::string err;
  size_t bad = 0;
  if (!c_layout(out, specs, err, bad)) {
    error(from[bad]->loc, err);
    return false;
  }
  return true;
}

const dwarf::Type *Analyzer::member_ctype(const ast::StructMember &m, const TypeCtx &ctx) {
  const ast::TypeSpec &spec = m.type;
  const dwarf::Type *t = nullptr;
  if (spec.inline_def) {
    dwarf::Type *r = result_.cast_types->make(spec.inline_def->is_union ? dwarf::TypeKind::Union
                                                                        : dwarf::TypeKind::Struct);
    r->name = spec.inline_def->name;
    if (!build_record(*spec.inline_def, ctx, r))
      return nullptr;
    t = r;
  } else if (m.pointers > 0 && is_tag(spec.name)) {
    // As in C, a pointer needs no definition of what it points to: without
    // one it points to a declaration, and only `->` on it is an error.
    std::string why;
    if (script_structs_.count(spec.name))
      t = script_struct(spec.name, ctx);
    else
      t = ctx_type(spec.name, ctx, why);
    if (!t) {
      bool is_union = spec.name.rfind("union ", 0) == 0;
      dwarf::Type *decl = result_.cast_types->make(is_union ? dwarf::TypeKind::Union
                                                            : dwarf::TypeKind::Struct);
      decl->name = spec.name.substr(spec.name.find(' ') + 1);
      decl->is_declaration = true;
      t = decl;
    }
  } else {
    std::string why;
    t = named_type(spec.name, ctx, why);
    if (!t) {
      if (!why.empty())
        error(spec.loc, why);
      else
        failed_ = true;
      return nullptr;
    }
  }
  auto pointer_to = [&](const dwarf::Type *target) {
    dwarf::Type *p = result_.cast_types->make(dwarf::TypeKind::Pointer);
    p->size = 8;
    p->target = target;
    return p;
  };
  for (uint32_t i = 0; i < m.pointers; i++)
    t = pointer_to(t);
  if (m.function_pointer) {
    dwarf::Type *f = result_.cast_types->make(dwarf::TypeKind::Function);
    f->target = t->kind == dwarf::TypeKind::Void ? nullptr : t;
    f->variadic = true;  // parameters are not kept
    t = pointer_to(f);
  }
  for (size_t i = m.dims.size(); i-- > 0;) {
    dwarf::Type *a = result_.cast_types->make(dwarf::TypeKind::Array);
    a->target = t;
    a->count = m.dims[i];
    a->count_known = true;
    a->size = m.dims[i] * (t->resolve() ? t->resolve()->size : 0);
    t = a;
  }
  return t;
}

// ---------------------------------------------------------------- sizeof, offsetof

void Analyzer::fold(Expr &e, uint64_t value) {
  e.kind = ExprKind::Integer;
  e.int_value = value;
  e.type = Type::integer();  // a literal from now on
  e.children.clear();
}

// Names that check_expr reads as values; sizeof(NAME) takes any other
// identifier that names a type as that type (sizeof(size_t), sizeof(pid_t)).
static bool is_builtin_value(const std::string &n) {
  static const std::set<std::string> names = {
      "pid",  "tid",    "uid",    "gid",  "cpu",    "nsecs",    "cgroup",
      "rand", "elapsed", "curtask", "kstack", "ustack", "comm", "retval",
      "duration", "func", "probe", "vars", "args"};
  if (names.count(n))
    return true;
  return n.size() > 3 && n.rfind("arg", 0) == 0 &&
         n.find_first_not_of("0123456789", 3) == std::string::npos;
}

void Analyzer::check_sizeof(Expr &e) {
  TypeCtx ctx = type_ctx();
  std::string why;
  const dwarf::Type *t = nullptr;
  if (!e.type_operand.empty()) {
    std::string base = e.type_operand;
    size_t stars = 0;
    while (!base.empty() && base.back() == '*') {
      base.pop_back();
      stars++;
    }
    if (stars) {
      // Any pointer is 8 bytes; its pointee may even be undefined, as in C.
      if (!is_tag(base) && base.rfind("enum ", 0) != 0 && !int_type(base, why)) {
        error(e.loc, why);
        return;
      }
      fold(e, 8);
      return;
    }
    t = named_type(base, ctx, why);
  } else if (e.children[0]->kind == ExprKind::Builtin && !is_builtin_value(e.children[0]->name)) {
    // sizeof(NAME): a type when NAME names one, else a value.
    const std::string &n = e.children[0]->name;
    t = int_type(n, why);
    if (!t)
      t = ctx_type(n, ctx, why);
    why.clear();  // not a type: read as a value below
  }
  if (t) {
    const dwarf::Type *r = t->resolve();
    if (r->kind == dwarf::TypeKind::Void || r->kind == dwarf::TypeKind::Function ||
        (r->is_aggregate() && r->is_declaration)) {
      error(e.loc, "'" + t->display() + "' has no size (" +
                       (r->kind == dwarf::TypeKind::Void ? "void" : "an incomplete type") + ")");
      return;
    }
    fold(e, r->size);
    return;
  }
  if (!e.type_operand.empty()) {
    if (!why.empty())
      error(e.loc, why);
    else
      failed_ = true;
    return;
  }
  Expr &a = *e.children[0];
  check_expr(a);
  if (a.type.kind == Type::Kind::None)
    return;
  // A C member has its C size: a char[16] is 16 bytes, not the 17 of its string.
  std::optional<dwarf::MemberLookup> member;
  const Expr *obj = a.kind == ExprKind::Field ? a.children[0].get() : nullptr;
  if (obj && obj->type.ctype && (obj->type.kind == Type::Kind::Record || obj->type.is_int())) {
    const dwarf::Type *agg = obj->type.kind == Type::Kind::Record ? obj->type.ctype
                                                                 : obj->type.ctype->target;
    agg = agg ? agg->resolve() : nullptr;
    if (agg && obj->type.addr_space == Type::AddrSpace::Kernel && result_.btf)
      agg = result_.btf->complete(agg);
    member = dwarf::find_member(agg, a.name);
  }
  uint64_t size;
  if (member && member->bit_size) {
    error(e.loc, "sizeof() cannot be applied to bitfield '" + a.name + "'");
    return;
  } else if (member && member->type)
    size = member->type->resolve()->size;
  else if (a.type.kind == Type::Kind::Record)
    size = a.type.ctype->size;
  else if (a.type.is_int() || a.type.is_str())
    size = a.type.size;
  else if (a.type.is_storable())
    size = storage_size(a.type);
  else {
    error(e.loc, "sizeof() cannot be applied to " + a.type.str());
    return;
  }
  // Map and variable types are complete only in the second pass.
  if (report_)
    fold(e, size);
  else
    e.type = Type::integer();
}

void Analyzer::check_offsetof(Expr &e) {
  TypeCtx ctx = type_ctx();
  const std::string &n = e.type_operand;
  if (!is_tag(n) || n.back() == '*') {
    error(e.loc, "offsetof() needs a struct or union type, not '" + n + "'");
    return;
  }
  std::string why;
  const dwarf::Type *t = named_type(n, ctx, why);
  if (!t) {
    if (!why.empty())
      error(e.loc, why);
    else
      failed_ = true;
    return;
  }
  const dwarf::Type *agg = t->resolve();
  uint64_t offset = 0;
  for (size_t i = 0; i < e.member_path.size(); i++) {
    const std::string &name = e.member_path[i];
    if (!ctx.user() && result_.btf)
      agg = result_.btf->complete(agg);
    auto m = dwarf::find_member(agg, name);
    if (!m) {
      error(e.loc, agg->display() + " has no member '" + name + "'");
      return;
    }
    if (m->bit_size) {
      error(e.loc, "offsetof() cannot take bitfield '" + name + "' of " + agg->display());
      return;
    }
    offset += m->offset;
    if (i + 1 == e.member_path.size())
      break;
    const dwarf::Type *next = m->type ? m->type->resolve() : nullptr;
    if (!next || !next->is_aggregate()) {
      error(e.loc, "member '" + name + "' of " + agg->display() + " is not a struct or union (" +
                       (m->type ? m->type->display() : std::string("no type")) + ")");
      return;
    }
    agg = next;
  }
  fold(e, offset);
}

void Analyzer::check_stmt(Stmt &s) {
  switch (s.kind) {
  case StmtKind::Expr:
    if (s.expr->kind == ExprKind::Update) {
      check_expr(*s.expr);
      return;
    }
    if (s.expr->kind != ExprKind::Call) {
      error(s.expr->loc, "this expression has no effect");
      return;
    }
    check_call(*s.expr, true);
    return;
  case StmtKind::AssignVar: {
    Expr &value = *s.expr;
    check_expr(value);
    if (value.type.kind == Type::Kind::None) {
      vars_.emplace(s.target->name, Type());  // known, untyped: no follow-up errors
      return;
    }
    if (!value.type.is_storable()) {
      error(value.loc, "cannot assign a " + value.type.str() + " to a variable");
      vars_.emplace(s.target->name, Type());
      return;
    }
    Type t = storage_type(value.type);
    auto it = vars_.find(s.target->name);
    if (it != vars_.end() && it->second.kind != Type::Kind::None) {
      Type merged = it->second;
      if (!unify(merged, t)) {
        error(s.loc, "variable " + s.target->name + " holds " + it->second.str() +
                         "; it cannot be assigned a " + value.type.str());
        return;
      }
      it->second = merged;
    } else {
      vars_[s.target->name] = t;
    }
    s.target->type = vars_[s.target->name];
    return;
  }
  case StmtKind::AssignMap:
    check_map_assign(s);
    return;
  case StmtKind::If:
  case StmtKind::While:
    check_expr(*s.expr);
    if (s.expr->type.kind != Type::Kind::None && !s.expr->type.is_int())
      error(s.expr->loc, "condition must be an integer, not " + s.expr->type.str());
    loop_depth_ += s.kind == StmtKind::While;
    check_stmts(s.then_body);
    loop_depth_ -= s.kind == StmtKind::While;
    check_stmts(s.else_body);
    return;
  case StmtKind::Unroll:
    if (s.count < 1 || s.count > 100)
      error(s.loc, "unroll count must be from 1 to 100");
    check_stmts(s.then_body);
    return;
  case StmtKind::For: {
    check_expr(*s.expr);
    check_expr(*s.expr2);
    for (const Expr *b : {s.expr.get(), s.expr2.get()})
      if (b->type.kind != Type::Kind::None && !b->type.is_int())
        error(b->loc, "a for range bound must be an integer, not " + b->type.str());
    auto it = vars_.find(s.target->name);
    if (it != vars_.end() && it->second.kind != Type::Kind::None && !it->second.is_int()) {
      error(s.target->loc, "variable " + s.target->name + " holds " + it->second.str() +
                               "; it cannot be a loop counter");
      return;
    }
    vars_[s.target->name] = Type::integer();
    s.target->type = Type::integer();
    loop_depth_++;
    check_stmts(s.then_body);
    loop_depth_--;
    return;
  }
  case StmtKind::ForMap:
    check_for_map(s);
    return;
  case StmtKind::Break:
  case StmtKind::Continue:
    if (loop_depth_ == 0)
      error(s.loc, std::string(s.kind == StmtKind::Break ? "break" : "continue") +
                       " outside of a loop");
    return;
  case StmtKind::Return:
    return;
  }
}

// Names of the scratch variables an expression or statements mention.
static void mentioned_vars(const Expr &e, std::set<std::string> &out) {
  if (e.kind == ExprKind::Variable)
    out.insert(e.name);
  for (const auto &c : e.children)
    mentioned_vars(*c, out);
}

static void mentioned_vars(const ast::StmtList &stmts, std::set<std::string> &out) {
  for (const auto &s : stmts) {
    for (const Expr *e : {s->target.get(), s->expr.get(), s->expr2.get()})
      if (e)
        mentioned_vars(*e, out);
    mentioned_vars(s->then_body, out);
    mentioned_vars(s->else_body, out);
  }
}

// for ($kv : @m) { ... }: $kv is (key, value) for each element; the body
// becomes a bpf_for_each_map_elem callback. As in bpftrace, variables
// assigned before the loop are shared with the body, and those first
// assigned in the body (and $kv) do not exist after it.
void Analyzer::check_for_map(Stmt &s) {
  Expr &map = *s.expr;
  const std::string &kv = s.target->name;
  auto shadowed = vars_.find(kv);
  if (shadowed != vars_.end()) {
    error(s.target->loc, "the loop variable " + kv + " is already a variable of this probe; "
                         "use another name");
    return;
  }
  if (!map.children.empty()) {
    error(map.loc, "a for loop iterates over a whole map: for (" + kv + " : " + map.name +
                       "), not an element");
    return;
  }
  const MapInfo *info = result_.find_map(map.name);
  if (!info && report_) {
    error(map.loc, "map " + map.name + " is never assigned");
    return;
  }
  using MK = meta::MapKind;
  if (info && info->key.kind == Type::Kind::None) {
    error(map.loc, "a for loop needs a map with keys; " + map.name + " has none");
    return;
  }
  if (info && (info->kind == MK::Stats || info->kind == MK::Hist || info->kind == MK::Lhist)) {
    error(map.loc, std::string("a for loop cannot iterate over ") + map.name + ": its " +
                       meta::to_string(info->kind) + "() values are not single integers");
    return;
  }
  // The first pass may meet the loop before the map's first assignment: the
  // body is still checked, with $kv untyped, to learn the maps it assigns.
  Type pair;
  if (info) {
    pair.kind = Type::Kind::Tuple;
    // count(), sum(), min(), max(), avg(): the value merged over the CPUs.
    Type value = info->is_aggregate ? Type::integer(8, info->kind != MK::Count) : info->value;
    pair.elems = {info->key, value};
    map.type = value;
  }
  std::map<std::string, Type> before = vars_;
  vars_[kv] = pair;
  s.target->type = pair;
  loop_depth_++;
  check_stmts(s.then_body);
  loop_depth_--;
  std::set<std::string> used;
  mentioned_vars(s.then_body, used);
  s.captures.clear();
  for (const auto &name : used)
    if (before.count(name))
      s.captures.push_back(name);
  // Variables of the body end with it; the shared ones keep what it gave them.
  for (auto it = vars_.begin(); it != vars_.end();)
    it = before.count(it->first) ? std::next(it) : vars_.erase(it);
}

void Analyzer::check_stmts(ast::StmtList &stmts) {
  for (auto &s : stmts)
    check_stmt(*s);
}

void Analyzer::check_probe(ProbeInfo &info) {
  probe_ = &info;
  vars_.clear();
  ast::Probe &p = const_cast<ast::Probe &>(*info.ast);
  if (p.predicate) {
    check_expr(*p.predicate);
    if (p.predicate->type.kind != Type::Kind::None && !p.predicate->type.is_int())
      error(p.predicate->loc, "predicate must be an integer, not " + p.predicate->type.str());
  }
  check_stmts(p.body);
}

std::optional<Analysis> Analyzer::run() {
  declare_structs();
  for (auto &p : prog_.probes) {
    ProbeInfo info;
    info.ast = &p;
    bool ok = true;
    probe_ast_ = &p;
    for (const auto &ap : p.attach_points) {
      report_ = true;
      if (!resolve_attach_point(ap, info.attach_points))
        ok = false;
    }
    if (ok && info.attach_points.empty()) {
      diags_.error(p.loc, "none of this probe's kernel functions exist");
      ok = false;
    }
    if (ok)
      result_.probes.push_back(std::move(info));
  }
  if (diags_.has_errors())
    return std::nullopt;
  // Pass 1 learns map types from every assignment (a map may be read in a
  // probe written before the one that assigns it); pass 2 reports errors.
  report_ = false;
  for (auto &info : result_.probes)
    check_probe(info);
  report_ = true;
  failed_ = false;
  // Script structs are built again so that their errors are reported once.
  built_structs_.clear();
  for (auto &info : result_.probes)
    check_probe(info);
  if (diags_.has_errors())
    return std::nullopt;
  if (result_.probes.empty()) {
    diags_.error("the script has no probes");
    return std::nullopt;
  }
  return std::move(result_);
}

}  // namespace

std::optional<Analysis> analyze(ast::Program &program, Diagnostics &diags, const Options &opts) {
  Analyzer a(program, diags, opts);
  return a.run();
}

}  // namespace gt::sema
