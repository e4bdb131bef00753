#include "codegen/codegen.h"

#include <llvm/Bitcode/BitcodeReader.h>
#include <llvm/IR/DIBuilder.h>
#include <llvm/IR/DiagnosticInfo.h>
#include <llvm/IR/DiagnosticPrinter.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Linker/Linker.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_os_ostream.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/Target/TargetOptions.h>

#include <functional>
#include <map>
#include <mutex>
#include <set>

#include "codegen/bpf_abi.h"
#include "sema/btf/btf.h"
#include "stdlib/stdlib.h"
#include "stdlib/unwind_abi.h"

namespace gt::codegen {

using ast::BinaryOp;
using ast::Expr;
using ast::ExprKind;
using ast::Stmt;
using ast::StmtKind;
using llvm::BasicBlock;
using llvm::Value;

namespace {

// Saved uretprobe entries per probe (calls in flight over all threads). LRU
// maps are preallocated, so this is also their memory bound.
constexpr uint32_t kEntryStates = 8192;
constexpr uint32_t kUnwindAtEntry = GT_UNWIND_AT_ENTRY;

// Holds what one map needs at code generation time.
struct MapDef {
  const sema::MapInfo *info = nullptr;  // null for the fixed maps
  llvm::GlobalVariable *var = nullptr;
  meta::Map meta;
};

// A scratch variable's storage in the current function: an alloca, or in a
// for-loop callback a pointer to the probe's alloca that the loop shares.
struct Var {
  Type type;
  llvm::Value *slot = nullptr;
};

class Generator {
public:
  Generator(const ast::Program &prog, const sema::Analysis &an, const SourceFile &src,
            Diagnostics &diags, const Options &opts)
      : prog_(prog), an_(an), src_(src), diags_(diags), opts_(opts),
        mod_(std::make_unique<llvm::Module>("gt", ctx_)), b_(ctx_), dib_(*mod_) {}

  bool run(Output &out);

private:
  // Module-level objects.
  void create_debug_unit();
  llvm::DIType *di_type(const meta::Type &t);
  llvm::DIType *di_int(uint32_t bytes, bool is_signed);
  llvm::DIType *di_struct(const std::string &name, uint32_t size,
                          const std::vector<std::pair<std::string, llvm::DIType *>> &members,
                          const std::vector<uint32_t> &offsets);
  llvm::GlobalVariable *define_map(const std::string &name, int bpf_type, uint32_t max_entries,
                                   llvm::DIType *key, llvm::DIType *value, uint32_t flags = 0);
  void define_maps();
  void define_config();
  void define_license();
  // With `body_name`, the program is tail-called under that name, not attached.
  void emit_probe(const sema::ProbeInfo &probe, const sema::AttachPoint &ap, uint32_t index,
                  const std::string &body_name = "");

  // Statements and expressions.
  void emit_stmts(const ast::StmtList &stmts);
  void emit_stmt(const Stmt &s);
  Value *emit_int(const Expr &e);
  void emit_str_into(const Expr &e, Value *dst, uint32_t dst_size);
  // Writes any value (integer, string, tuple) into dst laid out as `layout`.
  void emit_into(const Expr &e, Value *dst, const meta::Type &layout);
  void emit_ternary_in_place(const Expr &e, const std::function<void(const Expr &)> &emit_branch);
  // Copies a value stored with layout `from` to dst with layout `to`
  // (tuples of the same shape whose strings may differ in size).
  void convert_copy(Value *src, const meta::Type &from, Value *dst, const meta::Type &to);
  // Where a tuple-valued expression's bytes are, and their layout.
  Value *emit_tuple_ptr(const Expr &e, meta::Type &layout);
  void emit_special_into(const Expr &e, Value *dst, const meta::Type &layout);
  void emit_event(uint32_t kind, uint32_t id, const meta::Printf *payload, const Expr *call,
                  const Expr *value, const meta::Type *value_type);
  uint32_t map_index(const std::string &name) const;
  void emit_join(const Expr &call);
  void emit_loop(const Stmt &s);
  Value *emit_usdt_arg(const sema::UsdtArg &arg);
  // DWARF-typed values (uprobe args.NAME and member chains).
  Value *emit_dwarf_expr(const std::vector<dwarf::ExprOp> &ops);
  const dwarf::Variable &param(const std::string &name, bool is_vars) const;
  Value *emit_read_user(Value *addr, uint32_t size, bool is_signed, bool user = true);
  // A bpf_probe_read_* call whose failure (on a non-NULL address) is counted
  // per probe and flagged for the printf argument being built.
  Value *read_memory(int helper, Value *dst, uint64_t size, Value *src);
  bool may_read_memory(const Expr &e) const;
  // The struct/union whose member `e` (a Field) reads.
  const dwarf::Type *member_aggregate(const Expr &e);
  Value *emit_address_of(const Expr &e);  // a Record, or a member/param in memory
  bool is_dwarf_field(const Expr &e) const;
  Value *emit_bool(const Expr &e);
  Value *emit_binary(const Expr &e);
  Value *emit_update(const Expr &e);
  Value *emit_strcontains(const Expr &hay, const Expr &needle);
  // A static subprogram `long name(params)` (each param: name, is a pointer).
  llvm::Function *new_subprogram(const std::string &name, const SourceRange &loc,
                                 const std::vector<std::pair<const char *, bool>> &params);
  // bpf_for_each_map_elem callbacks: long cb(map, key, value, ctx).
  llvm::Function *new_callback(const std::string &name, const SourceRange &loc);
  llvm::Function *count_callback();  // visits every element, changes nothing
  Value *emit_str_compare(const Expr &a, const Expr &b);
  Value *strings_equal(Value *a, Value *b, uint32_t n);
  Value *emit_field_int(const Expr &e);
  void emit_printf(const Expr &call);
  void emit_exit();
  void emit_map_assign(const Stmt &s);
  void emit_aggregate(const Expr &map, const Expr &call, const MapDef &def);
  Value *emit_key(const Expr &map, const MapDef &def, Value *bucket);
  Value *emit_map_lookup(const MapDef &def, Value *key);
  void emit_count_lost();
  Value *reserve_record(uint32_t kind, uint32_t id, uint64_t size, BasicBlock *&done);
  void emit_count_slot(llvm::GlobalVariable *map);
  void emit_pid_filter();
  // uretprobe args/duration: an entry program saves them per call in flight;
  // the return program takes them (recursion-safe, LRU-bounded).
  llvm::GlobalVariable *entry_map(const sema::ProbeInfo &probe);
  Value *emit_entry_key(uint64_t sp_adjust);
  void begin_program(const std::string &name, const std::string &section, const SourceRange &loc);
  // User stacks unwound in BPF (stdlib/unwind.bpf.c): the attached program
  // starts the unwinder, which tail-calls itself per stage, then the body.
  struct TailArray {
    llvm::GlobalVariable *map = nullptr;
    std::string section;  // of the stage program: the same program type
    uint32_t next_slot = 1;
  };
  TailArray *tail_array(meta::ProbeKind kind);
  void emit_unwind_start(const sema::ProbeInfo &probe, const sema::AttachPoint &ap,
                         uint32_t index, const std::string &body, TailArray &tails);
  void emit_unwind_stages();
  llvm::FunctionCallee stdlib_fn(const std::string &name, llvm::Type *ret,
                                 llvm::ArrayRef<llvm::Type *> params);
  bool link_stdlib();
  void emit_entry_program(const sema::ProbeInfo &probe, const sema::AttachPoint &ap,
                          uint32_t index);
  void emit_pop_entry(const sema::ProbeInfo &probe);
  Value *emit_param(const dwarf::Variable &v, uint32_t size, bool is_signed);

  // Helpers.
  Value *call_helper(int id, llvm::Type *ret, llvm::ArrayRef<Value *> args);
  llvm::AllocaInst *entry_alloca(llvm::Type *t, const std::string &name);
  llvm::AllocaInst *entry_buffer(uint32_t size, const std::string &name);
  // A buffer live only until the end of the current statement; lifetime
  // markers let LLVM reuse its stack slot (BPF has 512 bytes of stack).
  llvm::AllocaInst *temp_buffer(uint32_t size, const std::string &name);
  void end_temporaries();
  void set_loc(const SourceRange &loc);
  Value *ptr_add(Value *p, uint64_t off) {
    return off ? b_.CreateConstInBoundsGEP1_64(b_.getInt8Ty(), p, off) : p;
  }
  void store_const_str(const std::string &s, Value *dst, uint32_t dst_size);
  void copy_str(Value *src, uint32_t src_size, Value *dst, uint32_t dst_size);
  Value *log2_bucket(Value *v);
  Value *lhist_bucket(Value *v, int64_t lo, int64_t hi, int64_t step);
  Value *pid_tgid() { return call_helper(bpf::kGetCurrentPidTgid, b_.getInt64Ty(), {}); }
  const MapDef &map_def(const std::string &name) { return maps_.at(name); }
  void new_block_after_return();
  // The variables assigned in `stmts` (only those in `only` when given);
  // for-map bodies contribute only the variables they share.
  void collect_vars(const ast::StmtList &stmts, const std::set<std::string> *only = nullptr);
  void emit_for_map(const Stmt &s);
  llvm::Function *emit_for_callback(const Stmt &s, const MapDef &def);
  Value *emit_percpu_value(const MapDef &def, Value *key);
  llvm::Function *percpu_callback(const MapDef &def);
  // Ends the probe: `ret 0`, or in a for-map callback: stop the iteration
  // and tell the caller to return as well.
  void emit_end_probe();
  const sema::TracepointField &field(const std::string &name) const;

  const ast::Program &prog_;
  const sema::Analysis &an_;
  const SourceFile &src_;
  Diagnostics &diags_;
  const Options &opts_;

  llvm::LLVMContext ctx_;
  std::unique_ptr<llvm::Module> mod_;
  llvm::IRBuilder<> b_;
  llvm::DIBuilder dib_;
  llvm::DICompileUnit *cu_ = nullptr;
  llvm::DIFile *file_ = nullptr;

  std::map<std::string, MapDef> maps_;
  llvm::GlobalVariable *events_ = nullptr;
  llvm::GlobalVariable *lost_ = nullptr;
  llvm::GlobalVariable *config_ = nullptr;
  llvm::GlobalVariable *stacks_ = nullptr;
  llvm::GlobalVariable *unpaired_ = nullptr;
  std::map<const sema::ProbeInfo *, llvm::GlobalVariable *> entry_maps_;
  std::map<std::string, TailArray> tails_;  // by program type
  uint32_t nprobes_ = 0;
  bool unwinding_ = false;  // the current program runs after the BPF unwinder

  // Per-program state.
  llvm::Function *fn_ = nullptr;
  llvm::DISubprogram *sp_ = nullptr;
  Value *ctx_arg_ = nullptr;
  const sema::AttachPoint *ap_ = nullptr;
  const sema::ProbeInfo *probe_ = nullptr;
  uint32_t probe_index_ = 0;
  Value *entry_state_ = nullptr;  // uretprobe: {u64 ts; u64 args[]} saved at entry
  llvm::AllocaInst *read_failed_ = nullptr;  // 1 once a read of this printf argument failed
  llvm::GlobalVariable *read_errors_ = nullptr;
  std::map<uint32_t, bool> printf_masks_;  // printf id -> its records carry an error mask
  std::map<std::string, Var> vars_;
  std::vector<llvm::AllocaInst *> temps_;
  struct Loop {
    BasicBlock *continue_bb, *break_bb;
  };
  std::vector<Loop> loops_;
  Value *for_ctx_ = nullptr;  // in a for-map callback: the shared struct (see emit_for_map)
  uint32_t for_callbacks_ = 0;
  meta::Program meta_;
};

llvm::AllocaInst *Generator::temp_buffer(uint32_t size, const std::string &name) {
  auto *a = entry_buffer(size, name);
  b_.CreateLifetimeStart(a, b_.getInt64((size + 7) / 8 * 8));
  temps_.push_back(a);
  return a;
}

void Generator::end_temporaries() {
  for (auto *a : temps_)
    b_.CreateLifetimeEnd(a, b_.getInt64(a->getAllocationSize(mod_->getDataLayout())->getFixedValue()));
  temps_.clear();
}

void Generator::set_loc(const SourceRange &loc) {
  if (sp_)
    b_.SetCurrentDebugLocation(llvm::DILocation::get(ctx_, loc.line, loc.col, sp_));
}

Value *Generator::call_helper(int id, llvm::Type *ret, llvm::ArrayRef<Value *> args) {
  std::vector<llvm::Type *> types;
  for (Value *a : args)
    types.push_back(a->getType());
  auto *ft = llvm::FunctionType::get(ret, types, false);
  Value *fn = llvm::ConstantExpr::getIntToPtr(b_.getInt64(id), b_.getPtrTy());
  return b_.CreateCall(ft, fn, args);
}

llvm::AllocaInst *Generator::entry_alloca(llvm::Type *t, const std::string &name) {
  llvm::IRBuilder<> eb(&fn_->getEntryBlock(), fn_->getEntryBlock().begin());
  auto *a = eb.CreateAlloca(t, nullptr, name);
  a->setAlignment(llvm::Align(8));
  return a;
}

llvm::AllocaInst *Generator::entry_buffer(uint32_t size, const std::string &name) {
  return entry_alloca(llvm::ArrayType::get(b_.getInt8Ty(), (size + 7) / 8 * 8), name);
}

// ---------------------------------------------------------------------------
// Debug info and BTF. The BPF backend turns debug info into BTF: map
// definitions need it (libbpf reads .maps through BTF), and line info lets the
// verifier log name the script line of a rejected instruction.

void Generator::create_debug_unit() {
  std::string name = src_.name();
  std::string dir = ".";
  file_ = dib_.createFile(name, dir, std::nullopt, src_.text());
  cu_ = dib_.createCompileUnit(llvm::dwarf::DW_LANG_C, file_, "tracec", true, "", 0);
  mod_->addModuleFlag(llvm::Module::Warning, "Debug Info Version", llvm::DEBUG_METADATA_VERSION);
  mod_->addModuleFlag(llvm::Module::Warning, "Dwarf Version", 5);
}

llvm::DIType *Generator::di_int(uint32_t bytes, bool is_signed) {
  static const char *snames[] = {"", "s8", "s16", "", "s32", "", "", "", "s64"};
  static const char *unames[] = {"", "u8", "u16", "", "u32", "", "", "", "u64"};
  return dib_.createBasicType(is_signed ? snames[bytes] : unames[bytes], bytes * 8,
                              is_signed ? llvm::dwarf::DW_ATE_signed : llvm::dwarf::DW_ATE_unsigned);
}

llvm::DIType *Generator::di_struct(const std::string &name, uint32_t size,
                                   const std::vector<std::pair<std::string, llvm::DIType *>> &members,
                                   const std::vector<uint32_t> &offsets) {
  std::vector<llvm::Metadata *> elems;
  for (size_t i = 0; i < members.size(); i++)
    elems.push_back(dib_.createMemberType(cu_, members[i].first, file_, 0,
                                          members[i].second->getSizeInBits(), 0, offsets[i] * 8,
                                          llvm::DINode::FlagZero, members[i].second));
  return dib_.createStructType(cu_, name, file_, 0, size * 8, 64, llvm::DINode::FlagZero, nullptr,
                               dib_.getOrCreateArray(elems));
}

llvm::DIType *Generator::di_type(const meta::Type &t) {
  switch (t.kind) {
  case meta::Type::Kind::Int:
    return di_int(t.size, t.is_signed);
  case meta::Type::Kind::Str: {
    auto *ch = dib_.createBasicType("char", 8, llvm::dwarf::DW_ATE_signed_char);
    auto *range = dib_.getOrCreateSubrange(0, t.size);
    return dib_.createArrayType(t.size * 8, 8, ch, dib_.getOrCreateArray({range}));
  }
  case meta::Type::Kind::Tuple: {
    std::vector<std::pair<std::string, llvm::DIType *>> members;
    for (size_t i = 0; i < t.elems.size(); i++)
      members.push_back({"f" + std::to_string(i), di_type(t.elems[i])});
    return di_struct("", t.size, members, t.offsets);
  }
  case meta::Type::Kind::None:
    break;
  default: {
    // Printable values (stacks, symbols, addresses, ...): opaque bytes of
    // their layout's size; the BTF size must be the key/value size.
    if (t.size == 8)
      return di_int(8, false);
    auto *byte = di_int(1, false);
    auto *range = dib_.getOrCreateSubrange(0, t.size);
    return dib_.createArrayType(t.size * 8, 8, byte, dib_.getOrCreateArray({range}));
  }
  }
  return di_int(8, false);
}

// A BTF-defined map: struct { int (*type)[T]; int (*max_entries)[N];
// int (*map_flags)[F]; K *key; V *value; }, as libbpf's __uint()/__type() write it.
llvm::GlobalVariable *Generator::define_map(const std::string &name, int bpf_type,
                                            uint32_t max_entries, llvm::DIType *key,
                                            llvm::DIType *value, uint32_t flags) {
  auto *int_ty = dib_.createBasicType("int", 32, llvm::dwarf::DW_ATE_signed);
  auto array_ptr = [&](uint32_t n) {
    auto *range = dib_.getOrCreateSubrange(0, n);
    auto *arr = dib_.createArrayType(n * 32, 32, int_ty, dib_.getOrCreateArray({range}));
    return dib_.createPointerType(arr, 64);
  };
  std::vector<std::pair<std::string, llvm::DIType *>> members = {
      {"type", array_ptr(bpf_type)}, {"max_entries", array_ptr(max_entries)}};
  if (flags)
    members.push_back({"map_flags", array_ptr(flags)});
  if (key)
    members.push_back({"key", dib_.createPointerType(key, 64)});
  if (value)
    members.push_back({"value", dib_.createPointerType(value, 64)});
  std::vector<uint32_t> offsets;
  for (size_t i = 0; i < members.size(); i++)
    offsets.push_back(static_cast<uint32_t>(i * 8));
  auto *st = di_struct("", static_cast<uint32_t>(members.size() * 8), members, offsets);

  std::vector<llvm::Type *> fields(members.size(), b_.getPtrTy());
  auto *ty = llvm::StructType::get(ctx_, fields);
  auto *gv = new llvm::GlobalVariable(*mod_, ty, false, llvm::GlobalValue::ExternalLinkage,
                                      llvm::ConstantAggregateZero::get(ty), name);
  gv->setSection(".maps");
  gv->setAlignment(llvm::Align(8));
  auto *gve = dib_.createGlobalVariableExpression(cu_, name, name, file_, 0, st, false);
  gv->addDebugInfo(gve);
  return gv;
}

static std::string bpf_map_name(const std::string &name) {
  // "@" -> "m_", "@lat" -> "m_lat": ELF/BTF names must be C identifiers.
  return "m_" + name.substr(1);
}

void Generator::define_maps() {
  for (const auto &info : an_.maps) {
    MapDef def;
    def.info = &info;
    meta::Map &m = def.meta;
    m.name = info.name;
    m.bpf_name = bpf_map_name(info.name);
    m.kind = info.kind;
    m.key = sema::to_meta(info.key);
    m.max_entries = 4096;
    m.per_cpu = info.is_aggregate;
    uint32_t user_key = info.key.kind == Type::Kind::None ? 0 : m.key.size;
    bool bucketed = info.kind == meta::MapKind::Hist || info.kind == meta::MapKind::Lhist;
    m.key_size = user_key + (bucketed || user_key == 0 ? 8 : 0);
    if (bucketed && user_key)
      m.key_size = (user_key + 7) / 8 * 8 + 8;
    llvm::DIType *value_di;
    switch (info.kind) {
    case meta::MapKind::Value:
      m.value = sema::to_meta(info.value);
      m.value_size = m.value.size;
      value_di = di_type(m.value);
      break;
    case meta::MapKind::Min:
    case meta::MapKind::Max:
    case meta::MapKind::Avg:
    case meta::MapKind::Stats: {
      m.value = meta::Type::integer(8, true);
      m.value_size = 16;
      bool minmax = info.kind == meta::MapKind::Min || info.kind == meta::MapKind::Max;
      value_di = di_struct("", 16,
                           {{minmax ? "value" : "sum", di_int(8, true)},
                            {minmax ? "valid" : "count", di_int(8, false)}},
                           {0, 8});
      break;
    }
    default:
      m.value = meta::Type::integer(8, info.kind == meta::MapKind::Sum);
      m.value_size = 8;
      value_di = di_int(8, m.value.is_signed);
      break;
    }
    if (info.kind == meta::MapKind::Lhist) {
      m.lhist_min = info.lhist_min;
      m.lhist_max = info.lhist_max;
      m.lhist_step = info.lhist_step;
    }
    // The BTF key type must have exactly key_size bytes.
    llvm::DIType *key_di;
    if (user_key == 0) {
      key_di = di_int(8, false);
    } else if (!bucketed) {
      key_di = di_type(m.key);
    } else {
      key_di = di_struct("", m.key_size, {{"key", di_type(m.key)}, {"bucket", di_int(8, false)}},
                         {0, m.key_size - 8});
    }
    if (info.kind == meta::MapKind::Count && user_key == 0) {
      // A keyless count() is one per-CPU slot: the verifier inlines the
      // array lookup and the add happens in place (no hashing, no update
      // call). An untouched slot reads 0, which is how bpftrace prints an
      // empty keyless count() anyway.
      m.key_size = 4;
      m.max_entries = 1;
      def.var = define_map(m.bpf_name, bpf::kMapPercpuArray, 1, di_int(4, false), value_di);
    } else {
      // Not preallocated: creating 4096 preallocated per-CPU entries costs
      // ~5 ms per map at startup; elements are allocated on first use instead.
      def.var = define_map(m.bpf_name, m.per_cpu ? bpf::kMapPercpuHash : bpf::kMapHash,
                           m.max_entries, key_di, value_di, bpf::kNoPrealloc);
    }
    meta_.maps.push_back(m);
    maps_[info.name] = std::move(def);
  }
  uint32_t nprobes = 0;
  bool has_entries = false;
  for (const auto &p : an_.probes) {
    nprobes += static_cast<uint32_t>(p.attach_points.size()) * (p.needs_entry() ? 2 : 1);
    has_entries |= p.needs_entry();
  }
  nprobes_ = nprobes;
  if (has_entries)
    unpaired_ = define_map(meta::kUnpairedMap, bpf::kMapPercpuArray, nprobes, di_int(4, false),
                           di_int(8, false));
  events_ = define_map(meta::kEventsMap, bpf::kMapRingbuf, opts_.ringbuf_size, nullptr, nullptr);
  lost_ = define_map(meta::kLostMap, bpf::kMapPercpuArray, std::max(nprobes, 1u), di_int(4, false),
                     di_int(8, false));
  if (an_.needs_stacks) {
    auto *u64 = di_int(8, false);
    auto *range = dib_.getOrCreateSubrange(0, bpf::kMaxStackFrames);
    auto *frames = dib_.createArrayType(bpf::kMaxStackFrames * 64, 64, u64,
                                        dib_.getOrCreateArray({range}));
    stacks_ = define_map("gt_stacks", bpf::kMapStackTrace, 4096, di_int(4, false), frames);
  }
}

void Generator::define_config() {
  auto *ty = llvm::StructType::get(ctx_, {b_.getInt32Ty(), b_.getInt32Ty(), b_.getInt64Ty()});
  // Not constant for LLVM (so it is not folded), read-only for the kernel:
  // libbpf freezes .rodata and the verifier prunes branches on its value.
  config_ = new llvm::GlobalVariable(*mod_, ty, false, llvm::GlobalValue::ExternalLinkage,
                                     llvm::ConstantAggregateZero::get(ty), meta::kConfigVar);
  config_->setSection(".rodata");
  config_->setAlignment(llvm::Align(8));
  auto *di = di_struct("gt_config", 16,
                       {{"target_pid", di_int(4, false)}, {"reserved", di_int(4, false)},
                        {"start_ns", di_int(8, false)}},
                       {0, 4, 8});
  auto *cdi = dib_.createQualifiedType(llvm::dwarf::DW_TAG_const_type,
                                       dib_.createQualifiedType(llvm::dwarf::DW_TAG_volatile_type, di));
  config_->addDebugInfo(
      dib_.createGlobalVariableExpression(cu_, meta::kConfigVar, meta::kConfigVar, file_, 0, cdi, false));
}

void Generator::define_license() {
  auto *init = llvm::ConstantDataArray::getString(ctx_, "GPL", true);
  auto *gv = new llvm::GlobalVariable(*mod_, init->getType(), true,
                                      llvm::GlobalValue::ExternalLinkage, init, "_license");
  gv->setSection("license");
  gv->setAlignment(llvm::Align(1));
}

// ---------------------------------------------------------------------------
// Programs

void Generator::collect_vars(const ast::StmtList &stmts, const std::set<std::string> *only) {
  for (const auto &s : stmts) {
    if (s->kind == StmtKind::ForMap) {
      std::set<std::string> shared;
      for (const auto &name : s->captures)
        if (!only || only->count(name))
          shared.insert(name);
      collect_vars(s->then_body, &shared);
      continue;
    }
    if ((s->kind == StmtKind::AssignVar || s->kind == StmtKind::For) &&
        (!only || only->count(s->target->name))) {
      Var &v = vars_[s->target->name];
      const Type &t = s->target->type;
      if (v.type.kind == Type::Kind::None)
        v.type = t;
      else if (t.is_str())
        v.type.size = std::max(v.type.size, t.size);
      else if (t.kind == Type::Kind::Tuple)
        for (size_t i = 0; i < t.elems.size() && i < v.type.elems.size(); i++)
          if (t.elems[i].is_str())
            v.type.elems[i].size = std::max(v.type.elems[i].size, t.elems[i].size);
    }
    collect_vars(s->then_body, only);
    collect_vars(s->else_body, only);
  }
}

void Generator::begin_program(const std::string &name, const std::string &section,
                              const SourceRange &loc) {
  auto *ft = llvm::FunctionType::get(b_.getInt64Ty(), {b_.getPtrTy()}, false);
  fn_ = llvm::Function::Create(ft, llvm::GlobalValue::ExternalLinkage, name, *mod_);
  fn_->setSection(section);
  fn_->addFnAttr(llvm::Attribute::NoUnwind);  // no .eh_frame
  ctx_arg_ = fn_->getArg(0);
  ctx_arg_->setName("ctx");

  auto *long_ty = dib_.createBasicType("long", 64, llvm::dwarf::DW_ATE_signed);
  auto *ctx_ty = dib_.createPointerType(nullptr, 64);
  auto *sub_ty = dib_.createSubroutineType(dib_.getOrCreateTypeArray({long_ty, ctx_ty}));
  sp_ = dib_.createFunction(cu_, name, name, file_, loc.line, sub_ty, loc.line,
                            llvm::DINode::FlagPrototyped, llvm::DISubprogram::SPFlagDefinition);
  fn_->setSubprogram(sp_);
  // Kept so that BTF names the argument: the kernel rejects unnamed FUNC args.
  dib_.createParameterVariable(sp_, "ctx", 1, file_, loc.line, ctx_ty, true);

  auto *entry = BasicBlock::Create(ctx_, "entry", fn_);
  b_.SetInsertPoint(entry);
  read_failed_ = nullptr;
}

llvm::Function *Generator::new_subprogram(const std::string &name, const SourceRange &loc,
                                          const std::vector<std::pair<const char *, bool>> &params) {
  std::vector<llvm::Type *> types;
  llvm::DIType *long_ty = dib_.createBasicType("long", 64, llvm::dwarf::DW_ATE_signed);
  llvm::DIType *ptr_ty = dib_.createPointerType(nullptr, 64);
  std::vector<llvm::Metadata *> di_types = {long_ty};
  for (const auto &p : params) {
    types.push_back(p.second ? static_cast<llvm::Type *>(b_.getPtrTy()) : b_.getInt64Ty());
    di_types.push_back(p.second ? ptr_ty : long_ty);
  }
  auto *ft = llvm::FunctionType::get(b_.getInt64Ty(), types, false);
  // Static: the verifier checks it with the caller's arguments.
  auto *f = llvm::Function::Create(ft, llvm::GlobalValue::InternalLinkage, name, *mod_);
  f->addFnAttr(llvm::Attribute::NoUnwind);
  auto *sub_ty = dib_.createSubroutineType(dib_.getOrCreateTypeArray(di_types));
  auto *sp = dib_.createFunction(cu_, name, name, file_, loc.line, sub_ty, loc.line,
                                 llvm::DINode::FlagPrototyped,
                                 llvm::DISubprogram::SPFlagDefinition |
                                     llvm::DISubprogram::SPFlagLocalToUnit);
  f->setSubprogram(sp);
  // The kernel rejects BTF functions with unnamed arguments.
  for (unsigned i = 0; i < params.size(); i++) {
    f->getArg(i)->setName(params[i].first);
    dib_.createParameterVariable(sp, params[i].first, i + 1, file_, loc.line,
                                 params[i].second ? ptr_ty : long_ty, true);
  }
  BasicBlock::Create(ctx_, "entry", f);
  return f;
}

llvm::Function *Generator::new_callback(const std::string &name, const SourceRange &loc) {
  return new_subprogram(name, loc, {{"map", true}, {"key", true}, {"value", true}, {"ctx", true}});
}

llvm::Function *Generator::count_callback() {
  if (llvm::Function *f = mod_->getFunction("gt_count_elem"))
    return f;
  llvm::Function *f = new_callback("gt_count_elem", SourceRange{});
  llvm::IRBuilder<> eb(&f->getEntryBlock());
  eb.CreateRet(eb.getInt64(0));
  return f;
}

static std::string section_of(const meta::Probe &p) {
  switch (p.kind) {
  case meta::ProbeKind::Begin: return "raw_tp/gt_begin";
  case meta::ProbeKind::End: return "raw_tp/gt_end";
  case meta::ProbeKind::Uprobe: return "uprobe";
  case meta::ProbeKind::Uretprobe: return "uretprobe";
  case meta::ProbeKind::Tracepoint: return "tracepoint/" + p.category + "/" + p.event;
  case meta::ProbeKind::Profile:
  case meta::ProbeKind::Interval:
  case meta::ProbeKind::Software: return "perf_event";
  case meta::ProbeKind::Kprobe: return "kprobe/" + p.symbol;
  case meta::ProbeKind::Kretprobe: return "kretprobe/" + p.symbol;
  case meta::ProbeKind::Fentry: return "fentry/" + p.symbol;
  case meta::ProbeKind::Fexit: return "fexit/" + p.symbol;
  case meta::ProbeKind::RawTracepoint: return "raw_tp/" + p.event;
  case meta::ProbeKind::Usdt: return "usdt";
  }
  return "";
}

void Generator::emit_probe(const sema::ProbeInfo &probe, const sema::AttachPoint &ap,
                           uint32_t index, const std::string &body_name) {
  ap_ = &ap;
  probe_ = &probe;
  probe_index_ = index;
  entry_state_ = nullptr;
  unwinding_ = !body_name.empty();
  std::string name = unwinding_ ? body_name : "probe_" + std::to_string(index);
  std::string section = section_of(ap.probe);
  begin_program(name, section, probe.ast->loc);
  set_loc(ap.loc);

  vars_.clear();
  collect_vars(probe.ast->body);
  for (auto &[vname, v] : vars_)
    v.slot = v.type.is_int() ? entry_alloca(b_.getInt64Ty(), vname)
                             : entry_buffer(sema::storage_size(v.type), vname);

  if (probe.needs_entry())
    emit_pop_entry(probe);
  emit_pid_filter();
  if (probe.ast->predicate) {
    set_loc(probe.ast->predicate->loc);
    Value *ok = emit_bool(*probe.ast->predicate);
    end_temporaries();
    auto *body = BasicBlock::Create(ctx_, "body", fn_);
    auto *skip = BasicBlock::Create(ctx_, "skip", fn_);
    b_.CreateCondBr(ok, body, skip);
    b_.SetInsertPoint(skip);
    b_.CreateRet(b_.getInt64(0));
    b_.SetInsertPoint(body);
  }
  emit_stmts(probe.ast->body);
  set_loc(probe.ast->loc);
  b_.CreateRet(b_.getInt64(0));

  if (!unwinding_) {
    meta::Probe p = ap.probe;
    p.index = index;
    p.prog_name = name;
    meta_.probes.push_back(p);
  }
  sp_ = nullptr;
  unwinding_ = false;
}

llvm::GlobalVariable *Generator::entry_map(const sema::ProbeInfo &probe) {
  auto it = entry_maps_.find(&probe);
  if (it != entry_maps_.end())
    return it->second;
  uint32_t state_size = 8 * (1 + static_cast<uint32_t>(probe.entry_args.size()));
  std::vector<std::pair<std::string, llvm::DIType *>> fields = {{"ts", di_int(8, false)}};
  std::vector<uint32_t> offsets = {0};
  for (const auto &a : probe.entry_args) {
    fields.push_back({a.name, di_int(8, false)});
    offsets.push_back(static_cast<uint32_t>(offsets.size() * 8));
  }
  auto *key = di_struct("", 16, {{"sp", di_int(8, false)}, {"tid", di_int(8, false)}}, {0, 8});
  // LRU: entries of calls that never return (longjmp, thread exit, the
  // kernel's uretprobe nesting limit of 64) age out instead of filling the map.
  auto *map = define_map("gt_entry_" + std::to_string(entry_maps_.size()), bpf::kMapLruHash,
                         kEntryStates, key, di_struct("", state_size, fields, offsets));
  return entry_maps_[&probe] = map;
}

// The key of a call in flight: its thread and the stack pointer at entry,
// where the return address is. Unique per frame even in recursion, and
// pairs exactly the calls whose return the kernel reports.
Value *Generator::emit_entry_key(uint64_t sp_adjust) {
  auto *i64 = b_.getInt64Ty();
  auto *key = entry_alloca(llvm::ArrayType::get(i64, 2), "entry_key");
  Value *sp = b_.CreateLoad(i64, ptr_add(ctx_arg_, bpf::kPtRegsSp));
  b_.CreateStore(b_.CreateSub(sp, b_.getInt64(sp_adjust)), key);
  b_.CreateStore(b_.CreateAnd(pid_tgid(), b_.getInt64(0xffffffff)), ptr_add(key, 8));
  return key;
}

// The uprobe half of a uretprobe that uses args or duration: save them.
void Generator::emit_entry_program(const sema::ProbeInfo &probe, const sema::AttachPoint &ap,
                                   uint32_t index) {
  ap_ = &ap;
  probe_ = &probe;
  probe_index_ = index;
  llvm::GlobalVariable *map = entry_map(probe);
  std::string name = "probe_" + std::to_string(index) + "_entry";
  begin_program(name, "uprobe", probe.ast->loc);
  set_loc(ap.loc);
  auto *i64 = b_.getInt64Ty();
  uint32_t n = 1 + static_cast<uint32_t>(probe.entry_args.size());
  auto *state = entry_alloca(llvm::ArrayType::get(i64, n), "entry_state");
  b_.CreateStore(call_helper(bpf::kKtimeGetNs, i64, {}), state);
  for (uint32_t i = 0; i + 1 < n; i++) {
    const auto &a = probe.entry_args[i];
    const dwarf::Variable *v = nullptr;
    for (const auto &p : ap.params)
      if (p.name == a.name)
        v = &p;
    if (!v)
      throw std::logic_error("sema let an unknown parameter through: " + a.name);
    b_.CreateStore(emit_param(*v, a.type.size, a.type.is_signed), ptr_add(state, 8 * (i + 1)));
  }
  call_helper(bpf::kMapUpdateElem, i64, {map, emit_entry_key(0), state, b_.getInt64(bpf::kAny)});
  b_.CreateRet(b_.getInt64(0));

  meta::Probe p = ap.probe;
  p.kind = meta::ProbeKind::Uprobe;
  p.index = index;
  p.prog_name = name;
  p.spec = "entry of " + ap.probe.spec;
  p.internal = true;
  meta_.probes.push_back(p);
  sp_ = nullptr;
}

// The return half: take this call's saved entry into entry_state_. At the
// return, `ret` has popped the return address: the entry's sp is sp - 8.
// A return without one (evicted) is counted, not guessed.
void Generator::emit_pop_entry(const sema::ProbeInfo &probe) {
  llvm::GlobalVariable *map = entry_map(probe);
  auto *i64 = b_.getInt64Ty();
  Value *key = emit_entry_key(8);
  Value *sp = call_helper(bpf::kMapLookupElem, b_.getPtrTy(), {map, key});
  auto *unpaired = BasicBlock::Create(ctx_, "unpaired", fn_);
  auto *found = BasicBlock::Create(ctx_, "entry_found", fn_);
  b_.CreateCondBr(b_.CreateIsNull(sp), unpaired, found);

  b_.SetInsertPoint(unpaired);
  emit_count_slot(unpaired_);
  b_.CreateRet(b_.getInt64(0));

  b_.SetInsertPoint(found);
  uint32_t n = 1 + static_cast<uint32_t>(probe.entry_args.size());
  auto *state = entry_alloca(llvm::ArrayType::get(i64, n), "entry_state");
  for (uint32_t i = 0; i < n; i++)
    b_.CreateStore(b_.CreateLoad(i64, ptr_add(sp, 8 * i)), ptr_add(state, 8 * i));
  call_helper(bpf::kMapDeleteElem, i64, {map, key});
  entry_state_ = state;
}

// Tail calls need the caller and callee of one program type, so each type
// gets its own PROG_ARRAY: slot 0 is the unwinder stage, then the bodies.
Generator::TailArray *Generator::tail_array(meta::ProbeKind kind) {
  using K = meta::ProbeKind;
  std::string type, section;
  switch (kind) {
  case K::Uprobe:
  case K::Uretprobe:
  case K::Usdt:
  case K::Kprobe:
  case K::Kretprobe: type = "kprobe"; section = "uprobe"; break;
  case K::Tracepoint: type = "tracepoint"; section = "tracepoint/gt/unwind"; break;
  case K::Profile:
  case K::Interval:
  case K::Software: type = "perf_event"; section = "perf_event"; break;
  default: return nullptr;  // no user context (BEGIN/END), or no tail calls
  }
  auto it = tails_.find(type);
  if (it != tails_.end())
    return &it->second;
  TailArray t;
  t.map = define_map("gt_tails_" + type, bpf::kMapProgArray, 1 + nprobes_, di_int(4, false),
                     di_int(4, false));
  t.section = section;
  meta_.tail_calls.push_back({"gt_tails_" + type, 0, "gt_unwind_stage_" + type});
  return &(tails_[type] = t);
}

llvm::FunctionCallee Generator::stdlib_fn(const std::string &name, llvm::Type *ret,
                                          llvm::ArrayRef<llvm::Type *> params) {
  return mod_->getOrInsertFunction(name, llvm::FunctionType::get(ret, params, false));
}

// The attached half of a probe that uses ustack: capture the user registers,
// then tail-call the unwinder, which ends by tail-calling `body`.
void Generator::emit_unwind_start(const sema::ProbeInfo &probe, const sema::AttachPoint &ap,
                                  uint32_t index, const std::string &body, TailArray &tails) {
  ap_ = &ap;
  probe_ = &probe;
  probe_index_ = index;
  std::string name = "probe_" + std::to_string(index);
  begin_program(name, section_of(ap.probe), probe.ast->loc);
  set_loc(ap.loc);
  emit_pid_filter();
  auto *i64 = b_.getInt64Ty();
  auto *i32 = b_.getInt32Ty();
  uint32_t slot = tails.next_slot++;
  meta_.tail_calls.push_back({tails.map->getName().str(), slot, body});
  Value *mode = b_.CreateLoad(i32, ptr_add(config_, 4), true, "unwind_mode");
  using K = meta::ProbeKind;
  if (ap.probe.kind == K::Uprobe || ap.probe.kind == K::Uretprobe || ap.probe.kind == K::Usdt) {
    // At a function's first instruction the return address is at [sp].
    bool at_entry = ap.at_function_entry && ap.probe.kind == K::Uprobe;
    Value *flags = b_.CreateOr(mode, b_.getInt32(at_entry ? kUnwindAtEntry : 0));
    auto reg = [&](uint64_t off) { return b_.CreateLoad(i64, ptr_add(ctx_arg_, off)); };
    b_.CreateCall(stdlib_fn("gt_unwind_begin", i32, {i64, i64, i64, i32, i32}),
                  {reg(bpf::kPtRegsIp), reg(bpf::kPtRegsSp), reg(bpf::kPtRegsBp), flags,
                   b_.getInt32(slot)});
  } else {
    // Kernel or perf context: the registers user space had on kernel entry.
    b_.CreateCall(stdlib_fn("gt_unwind_begin_current", i32, {i32, i32}), {mode, b_.getInt32(slot)});
  }
  call_helper(bpf::kTailCall, i64, {ctx_arg_, tails.map, b_.getInt64(0)});
  emit_count_lost();  // reached only when the tail call failed: the hit is lost
  b_.CreateRet(b_.getInt64(0));

  meta::Probe p = ap.probe;
  p.index = index;
  p.prog_name = name;
  meta_.probes.push_back(p);
  sp_ = nullptr;
}

// One stage program per program type: walk some frames, then tail-call
// itself again, or the body whose slot gt_unwind_begin recorded.
void Generator::emit_unwind_stages() {
  auto *i64 = b_.getInt64Ty();
  auto *i32 = b_.getInt32Ty();
  for (auto &[type, tails] : tails_) {
    SourceRange loc;
    loc.line = 1;
    begin_program("gt_unwind_stage_" + type, tails.section, loc);
    b_.SetCurrentDebugLocation(llvm::DILocation::get(ctx_, 1, 1, sp_));
    Value *more = b_.CreateCall(stdlib_fn("gt_unwind_stage", i32, {}));
    auto *again = BasicBlock::Create(ctx_, "again", fn_);
    auto *done = BasicBlock::Create(ctx_, "done", fn_);
    b_.CreateCondBr(b_.CreateICmpNE(more, b_.getInt32(0)), again, done);
    b_.SetInsertPoint(again);
    call_helper(bpf::kTailCall, i64, {ctx_arg_, tails.map, b_.getInt64(0)});
    b_.CreateBr(done);  // out of tail calls: run the body with the frames walked so far
    b_.SetInsertPoint(done);
    Value *body = b_.CreateCall(stdlib_fn("gt_unwind_body", i32, {}));
    call_helper(bpf::kTailCall, i64, {ctx_arg_, tails.map, b_.CreateZExt(body, i64)});
    b_.CreateRet(b_.getInt64(0));
    sp_ = nullptr;
  }
}

// Links the BPF standard library's bitcode for the stdlib_fn declarations
// made so far, then lets the optimizer inline it: stdlib functions become
// part of each program instead of BPF-to-BPF calls.
bool Generator::link_stdlib() {
  if (tails_.empty())
    return true;
  std::string_view bc = stdlib::unwind_bitcode();
  auto lib = llvm::parseBitcodeFile(
      llvm::MemoryBufferRef(llvm::StringRef(bc.data(), bc.size()), "unwind.bc"), ctx_);
  if (!lib) {
    diags_.error("internal error: cannot read the BPF standard library: " +
                 llvm::toString(lib.takeError()));
    return false;
  }
  (*lib)->setTargetTriple(mod_->getTargetTriple());
  (*lib)->setDataLayout(mod_->getDataLayout());
  if (llvm::Linker::linkModules(*mod_, std::move(*lib), llvm::Linker::Flags::LinkOnlyNeeded)) {
    diags_.error("internal error: cannot link the BPF standard library");
    return false;
  }
  for (llvm::Function &f : *mod_)
    if (!f.isDeclaration() && f.getName().starts_with("gt_unwind_") &&
        !f.getName().starts_with("gt_unwind_stage_")) {
      f.setLinkage(llvm::GlobalValue::InternalLinkage);
      f.removeFnAttr(llvm::Attribute::NoInline);
      f.removeFnAttr(llvm::Attribute::OptimizeNone);
      f.addFnAttr(llvm::Attribute::AlwaysInline);
    }
  return true;
}

void Generator::emit_pid_filter() {
  using K = meta::ProbeKind;
  auto kind = ap_->probe.kind;
  // Uprobes are filtered by the kernel at attach time; BEGIN, END and
  // interval run in no particular process.
  if (kind == K::Begin || kind == K::End || kind == K::Interval || kind == K::Uprobe ||
      kind == K::Uretprobe || kind == K::Usdt)
    return;
  auto *load = b_.CreateLoad(b_.getInt32Ty(), config_, true, "target_pid");
  Value *target = b_.CreateZExt(load, b_.getInt64Ty());
  auto *check = BasicBlock::Create(ctx_, "pid_check", fn_);
  auto *skip = BasicBlock::Create(ctx_, "other_pid", fn_);
  auto *cont = BasicBlock::Create(ctx_, "pid_ok", fn_);
  b_.CreateCondBr(b_.CreateICmpEQ(target, b_.getInt64(0)), cont, check);
  b_.SetInsertPoint(check);
  Value *pid = b_.CreateLShr(pid_tgid(), 32);
  b_.CreateCondBr(b_.CreateICmpEQ(pid, target), cont, skip);
  b_.SetInsertPoint(skip);
  b_.CreateRet(b_.getInt64(0));
  b_.SetInsertPoint(cont);
}

void Generator::new_block_after_return() {
  b_.SetInsertPoint(BasicBlock::Create(ctx_, "after_exit", fn_));
}

void Generator::emit_stmts(const ast::StmtList &stmts) {
  for (const auto &s : stmts) {
    emit_stmt(*s);
    end_temporaries();
  }
}

void Generator::emit_stmt(const Stmt &s) {
  set_loc(s.loc);
  switch (s.kind) {
  case StmtKind::Expr: {
    const Expr &call = *s.expr;
    if (call.kind == ExprKind::Update) {
      emit_update(call);
      return;
    }
    if (call.name == "printf" || call.name == "system" || call.name == "cat") {
      emit_printf(call);
    } else if (call.name == "print" || call.name == "clear" || call.name == "zero") {
      auto it = an_.print_value_ids.find(&call);
      auto limited = an_.map_print_ids.find(&call);
      if (limited != an_.map_print_ids.end()) {
        emit_event(meta::kEventPrintMapLimited, limited->second, nullptr, nullptr, nullptr,
                   nullptr);
      } else if (it != an_.print_value_ids.end()) {
        emit_event(meta::kEventPrintValue, it->second, nullptr, nullptr, call.children[0].get(),
                   &an_.print_values.at(it->second).type);
      } else {
        uint32_t kind = call.name == "print" ? meta::kEventPrintMap
                        : call.name == "clear" ? meta::kEventClearMap
                                               : meta::kEventZeroMap;
        emit_event(kind, map_index(call.children[0]->name), nullptr, nullptr, nullptr, nullptr);
      }
    } else if (call.name == "join") {
      emit_join(call);
    } else if (call.name == "time") {
      emit_event(meta::kEventTime, an_.time_ids.at(&call), nullptr, nullptr, nullptr, nullptr);
    } else if (call.name == "signal") {
      call_helper(bpf::kSendSignal, b_.getInt64Ty(),
                  {b_.getInt32(static_cast<uint32_t>(call.children[0]->int_value))});
    } else if (call.name == "exit") {
      emit_exit();
    } else if (call.name == "delete") {
      const Expr &m = *call.children[0];
      const MapDef &def = map_def(m.name);
      Value *key = emit_key(m, def, nullptr);
      call_helper(bpf::kMapDeleteElem, b_.getInt64Ty(), {def.var, key});
    }
    return;
  }
  case StmtKind::AssignVar: {
    Var &v = vars_.at(s.target->name);
    if (v.type.is_int())
      b_.CreateStore(emit_int(*s.expr), v.slot);
    else
      emit_into(*s.expr, v.slot, sema::to_meta(v.type));
    return;
  }
  case StmtKind::AssignMap:
    emit_map_assign(s);
    return;
  case StmtKind::While:
  case StmtKind::For:
  case StmtKind::Unroll:
    emit_loop(s);
    return;
  case StmtKind::Break:
  case StmtKind::Continue:
    b_.CreateBr(s.kind == StmtKind::Break ? loops_.back().break_bb : loops_.back().continue_bb);
    b_.SetInsertPoint(BasicBlock::Create(ctx_, "after_jump", fn_));
    return;
  case StmtKind::Return:
    emit_end_probe();
    b_.SetInsertPoint(BasicBlock::Create(ctx_, "after_return", fn_));
    return;
  case StmtKind::ForMap:
    emit_for_map(s);
    return;
  case StmtKind::If: {
    Value *c = emit_bool(*s.expr);
    end_temporaries();
    auto *then_bb = BasicBlock::Create(ctx_, "then", fn_);
    auto *else_bb = BasicBlock::Create(ctx_, "else", fn_);
    auto *done = BasicBlock::Create(ctx_, "endif", fn_);
    b_.CreateCondBr(c, then_bb, else_bb);
    b_.SetInsertPoint(then_bb);
    emit_stmts(s.then_body);
    b_.CreateBr(done);
    b_.SetInsertPoint(else_bb);
    emit_stmts(s.else_body);
    b_.CreateBr(done);
    b_.SetInsertPoint(done);
    return;
  }
  }
}

// A USDT argument: a register, user memory at register + displacement, or a
// constant; then narrowed to its size and extended by its signedness.
Value *Generator::emit_usdt_arg(const sema::UsdtArg &arg) {
  auto *i64 = b_.getInt64Ty();
  Value *v = nullptr;
  switch (arg.kind) {
  case sema::UsdtArg::Kind::Constant:
    return b_.getInt64(static_cast<uint64_t>(arg.value));
  case sema::UsdtArg::Kind::Register:
    v = b_.CreateLoad(i64, ptr_add(ctx_arg_, arg.reg_offset));
    break;
  case sema::UsdtArg::Kind::Memory: {
    Value *base = b_.CreateLoad(i64, ptr_add(ctx_arg_, arg.reg_offset));
    Value *addr = b_.CreateAdd(base, b_.getInt64(static_cast<uint64_t>(arg.value)));
    auto *slot = entry_alloca(i64, "usdt_arg");
    b_.CreateStore(b_.getInt64(0), slot);
    read_memory(bpf::kProbeReadUser, slot, arg.size, b_.CreateIntToPtr(addr, b_.getPtrTy()));
    v = b_.CreateLoad(i64, slot);
    break;
  }
  }
  if (arg.size == 8)
    return v;
  Value *t = b_.CreateTrunc(v, b_.getIntNTy(arg.size * 8));
  return arg.is_signed ? b_.CreateSExt(t, i64) : b_.CreateZExt(t, i64);
}

// The value of a parameter or variable at the probe's address, extended to 64 bits.
Value *Generator::emit_param(const dwarf::Variable &v, uint32_t size, bool is_signed) {
  auto *i64 = b_.getInt64Ty();
  const dwarf::Piece &piece = v.location.pieces[0];
  switch (piece.kind) {
  case dwarf::Piece::Kind::Register: {
    Value *r = b_.CreateLoad(i64, ptr_add(ctx_arg_, dwarf::pt_regs_offset(piece.regno)));
    if (size >= 8)
      return r;
    Value *t = b_.CreateTrunc(r, b_.getIntNTy(size * 8));
    return is_signed ? b_.CreateSExt(t, i64) : b_.CreateZExt(t, i64);
  }
  case dwarf::Piece::Kind::Memory:
    return emit_read_user(emit_dwarf_expr(piece.expr), size, is_signed);
  case dwarf::Piece::Kind::Value:
    return emit_dwarf_expr(piece.expr);
  case dwarf::Piece::Kind::Implicit: {
    uint64_t bits = 0;
    memcpy(&bits, piece.bytes.data(), std::min<size_t>(8, piece.bytes.size()));
    return b_.getInt64(bits);
  }
  case dwarf::Piece::Kind::Undefined:
    break;
  }
  throw std::logic_error("sema let an unreadable parameter through");
}

bool Generator::is_dwarf_field(const Expr &e) const {
  if (e.kind != ExprKind::Field)
    return false;
  const Type &o = e.children[0]->type;
  return (o.kind == Type::Kind::Args && (ap_->probe.kind == meta::ProbeKind::Uprobe ||
                                         ap_->probe.kind == meta::ProbeKind::Uretprobe)) ||
         o.kind == Type::Kind::Record || (o.is_int() && o.ctype);
}

const dwarf::Variable &Generator::param(const std::string &name, bool is_vars) const {
  for (const auto &v : is_vars ? ap_->vars : ap_->params)
    if (v.name == name)
      return v;
  throw std::logic_error("sema let an unknown parameter through: " + name);
}

// Reads `size` bytes of user memory (zero when the read fails) and extends
// them to 64 bits.
Value *Generator::emit_read_user(Value *addr, uint32_t size, bool is_signed, bool user) {
  auto *i64 = b_.getInt64Ty();
  auto *slot = entry_alloca(i64, "user_value");
  b_.CreateStore(b_.getInt64(0), slot);
  read_memory(user ? bpf::kProbeReadUser : bpf::kProbeReadKernel, slot, size,
              b_.CreateIntToPtr(addr, b_.getPtrTy()));
  Value *v = b_.CreateLoad(i64, slot);
  if (size >= 8)
    return v;
  Value *t = b_.CreateTrunc(v, b_.getIntNTy(size * 8));
  return is_signed ? b_.CreateSExt(t, i64) : b_.CreateZExt(t, i64);
}

Value *Generator::read_memory(int helper, Value *dst, uint64_t size, Value *src) {
  auto *i64 = b_.getInt64Ty();
  Value *rc = call_helper(helper, i64, {dst, b_.getInt64(size), src});
  Value *failed = b_.CreateICmpSLT(rc, b_.getInt64(0));
  // str(0) is "" in bpftrace, the usual test for a missing string: not an error.
  if (helper == bpf::kProbeReadUserStr || helper == bpf::kProbeReadKernelStr)
    failed = b_.CreateAnd(failed, b_.CreateIsNotNull(src));
  auto *bad = BasicBlock::Create(ctx_, "read_failed", fn_);
  auto *done = BasicBlock::Create(ctx_, "read_done", fn_);
  b_.CreateCondBr(failed, bad, done);
  b_.SetInsertPoint(bad);
  if (!read_errors_)
    read_errors_ = define_map(meta::kReadErrorsMap, bpf::kMapPercpuArray, std::max(nprobes_, 1u),
                              di_int(4, false), di_int(8, false));
  emit_count_slot(read_errors_);
  if (read_failed_)
    b_.CreateStore(b_.getInt64(1), read_failed_);
  b_.CreateBr(done);
  b_.SetInsertPoint(done);
  return rc;
}

// Whether evaluating `e` may read memory that can fault: str(), buf(),
// members and parameters read through DWARF or BTF.
bool Generator::may_read_memory(const Expr &e) const {
  if (e.kind == ExprKind::Call && (e.name == "str" || e.name == "buf" || e.name == "ntop"))
    return true;
  if (is_dwarf_field(e))
    return true;
  for (const auto &c : e.children)
    if (c && may_read_memory(*c))
      return true;
  return false;
}

// A DWARF expression (location.h) over the probe's registers.
Value *Generator::emit_dwarf_expr(const std::vector<dwarf::ExprOp> &ops) {
  auto *i64 = b_.getInt64Ty();
  std::vector<Value *> st;
  auto pop = [&]() {
    if (st.empty())
      throw std::logic_error("malformed DWARF expression");
    Value *v = st.back();
    st.pop_back();
    return v;
  };
  for (const auto &op : ops) {
    using C = dwarf::ExprOp::Code;
    switch (op.code) {
    case C::Const: st.push_back(b_.getInt64(static_cast<uint64_t>(op.value))); break;
    case C::Reg:
      st.push_back(b_.CreateLoad(i64, ptr_add(ctx_arg_, dwarf::pt_regs_offset(
                                                            static_cast<unsigned>(op.value)))));
      break;
    case C::Deref: st.push_back(emit_read_user(pop(), static_cast<uint32_t>(op.value), false)); break;
    case C::Neg: st.push_back(b_.CreateNeg(pop())); break;
    case C::Not: st.push_back(b_.CreateNot(pop())); break;
    case C::Dup: st.push_back(st.back()); break;
    case C::Drop: pop(); break;
    case C::Swap: { Value *a = pop(), *b = pop(); st.push_back(a); st.push_back(b); break; }
    case C::Over: st.push_back(st.at(st.size() - 2)); break;
    case C::Addr: {
      // A link-time address in the probed module: add the load bias, the
      // probe's run-time ip minus its link-time address.
      Value *ip = b_.CreateLoad(i64, ptr_add(ctx_arg_, bpf::kPtRegsIp));
      Value *bias = b_.CreateSub(ip, b_.getInt64(ap_->link_address));
      st.push_back(b_.CreateAdd(b_.getInt64(static_cast<uint64_t>(op.value)), bias));
      break;
    }
    case C::EntryReg:
      throw std::logic_error("sema let an unsupported DWARF operation through");
    default: {
      Value *b = pop(), *a = pop();
      switch (op.code) {
      case C::Add: st.push_back(b_.CreateAdd(a, b)); break;
      case C::Sub: st.push_back(b_.CreateSub(a, b)); break;
      case C::Mul: st.push_back(b_.CreateMul(a, b)); break;
      case C::And: st.push_back(b_.CreateAnd(a, b)); break;
      case C::Or: st.push_back(b_.CreateOr(a, b)); break;
      case C::Xor: st.push_back(b_.CreateXor(a, b)); break;
      case C::Shl: st.push_back(b_.CreateShl(a, b_.CreateAnd(b, b_.getInt64(63)))); break;
      case C::Shr: st.push_back(b_.CreateLShr(a, b_.CreateAnd(b, b_.getInt64(63)))); break;
      case C::Shra: st.push_back(b_.CreateAShr(a, b_.CreateAnd(b, b_.getInt64(63)))); break;
      default: throw std::logic_error("unhandled DWARF operation");
      }
    }
    }
  }
  return pop();
}

const dwarf::Type *Generator::member_aggregate(const Expr &e) {
  const Type &o = e.children[0]->type;
  const dwarf::Type *agg = o.kind == Type::Kind::Record ? o.ctype : o.ctype->target->resolve();
  if (o.addr_space == Type::AddrSpace::Kernel)
    agg = an_.btf->complete(agg);
  return agg;
}

// The user-memory address of a parameter that lives in memory, of a struct
// value, or of a member reached through a pointer or a struct.
Value *Generator::emit_address_of(const Expr &e) {
  const Expr &obj = *e.children[0];
  if (e.kind == ExprKind::Unary)  // *p of a struct: it is at p
    return emit_int(obj);
  if (obj.type.kind == Type::Kind::Args)
    return emit_dwarf_expr(param(e.name, obj.name == "vars").location.pieces[0].expr);
  auto m = dwarf::find_member(member_aggregate(e), e.name);
  Value *base = obj.type.kind == Type::Kind::Record ? emit_address_of(obj) : emit_int(obj);
  return b_.CreateAdd(base, b_.getInt64(m->offset));
}

// for ($kv : @m) { body }: bpf_for_each_map_elem(@m, callback, &shared, 0),
// the body compiled into the callback. `shared` is {u64 stop; ctx; entry
// state; pointers to the captured variables}: the callback reads the
// probe's context and variables through it and sets `stop` when the body
// ends the probe (exit(), return).
void Generator::emit_for_map(const Stmt &s) {
  const MapDef &def = map_def(s.expr->name);
  auto *i64 = b_.getInt64Ty();
  auto *ptr = b_.getPtrTy();
  auto *shared = entry_buffer(8 * (3 + static_cast<uint32_t>(s.captures.size())), "for_shared");
  b_.CreateStore(b_.getInt64(0), shared);
  b_.CreateStore(ctx_arg_, ptr_add(shared, 8));
  b_.CreateStore(entry_state_ ? entry_state_ : llvm::ConstantPointerNull::get(ptr),
                 ptr_add(shared, 16));
  for (size_t i = 0; i < s.captures.size(); i++)
    b_.CreateStore(vars_.at(s.captures[i]).slot, ptr_add(shared, 24 + 8 * i));
  llvm::Function *cb = emit_for_callback(s, def);
  call_helper(bpf::kForEachMapElem, i64, {def.var, cb, shared, b_.getInt64(0)});
  auto *stop = BasicBlock::Create(ctx_, "for_stop", fn_);
  auto *done = BasicBlock::Create(ctx_, "for_done", fn_);
  b_.CreateCondBr(b_.CreateICmpNE(b_.CreateLoad(i64, shared), b_.getInt64(0)), stop, done);
  b_.SetInsertPoint(stop);
  emit_end_probe();
  b_.SetInsertPoint(done);
}

llvm::Function *Generator::emit_for_callback(const Stmt &s, const MapDef &def) {
  // The callback is a function of its own: save the probe's state.
  llvm::Function *saved_fn = fn_;
  llvm::DISubprogram *saved_sp = sp_;
  Value *saved_ctx = ctx_arg_, *saved_entry = entry_state_, *saved_for = for_ctx_;
  std::map<std::string, Var> outer = std::move(vars_);
  std::vector<Loop> saved_loops = std::move(loops_);
  std::vector<llvm::AllocaInst *> saved_temps = std::move(temps_);
  auto saved_ip = b_.saveIP();
  llvm::DebugLoc saved_dl = b_.getCurrentDebugLocation();

  auto *i64 = b_.getInt64Ty();
  auto *ptr = b_.getPtrTy();
  fn_ = new_callback("gt_for_" + std::to_string(probe_index_) + "_" +
                         std::to_string(for_callbacks_++),
                     s.loc);
  sp_ = fn_->getSubprogram();
  b_.SetInsertPoint(&fn_->getEntryBlock());
  set_loc(s.loc);
  Value *key = fn_->getArg(1), *value = fn_->getArg(2), *shared = fn_->getArg(3);
  for_ctx_ = shared;
  ctx_arg_ = b_.CreateLoad(ptr, ptr_add(shared, 8), "probe_ctx");
  entry_state_ = saved_entry ? b_.CreateLoad(ptr, ptr_add(shared, 16), "entry_state") : nullptr;
  vars_.clear();
  loops_.clear();
  temps_.clear();
  collect_vars(s.then_body);
  for (size_t i = 0; i < s.captures.size(); i++)
    vars_[s.captures[i]] = {outer.at(s.captures[i]).type,
                            b_.CreateLoad(ptr, ptr_add(shared, 24 + 8 * i), s.captures[i])};
  for (auto &[vname, v] : vars_)
    if (!v.slot)
      v.slot = v.type.is_int() ? entry_alloca(i64, vname)
                               : entry_buffer(sema::storage_size(v.type), vname);
  // $kv = (key, value), copied out of the map element.
  const Type &pair = s.target->type;
  meta::Type layout = sema::to_meta(pair);
  Var &kv = vars_[s.target->name];
  kv.type = pair;
  kv.slot = entry_buffer(layout.size, s.target->name);
  b_.CreateMemCpy(ptr_add(kv.slot, layout.offsets[0]), llvm::MaybeAlign(1), key,
                  llvm::MaybeAlign(1), layout.elems[0].size);
  if (def.meta.per_cpu)
    b_.CreateStore(emit_percpu_value(def, ptr_add(kv.slot, layout.offsets[0])),
                   ptr_add(kv.slot, layout.offsets[1]));
  else
    b_.CreateMemCpy(ptr_add(kv.slot, layout.offsets[1]), llvm::MaybeAlign(1), value,
                    llvm::MaybeAlign(1), std::min(layout.elems[1].size, def.meta.value_size));
  // break stops the iteration, continue goes on with the next element.
  auto *next = BasicBlock::Create(ctx_, "for_next", fn_);
  auto *stop = BasicBlock::Create(ctx_, "for_break", fn_);
  loops_.push_back({next, stop});
  emit_stmts(s.then_body);
  b_.CreateBr(next);
  b_.SetInsertPoint(next);
  b_.CreateRet(b_.getInt64(0));
  b_.SetInsertPoint(stop);
  b_.CreateRet(b_.getInt64(1));
  llvm::Function *cb = fn_;

  fn_ = saved_fn;
  sp_ = saved_sp;
  ctx_arg_ = saved_ctx;
  entry_state_ = saved_entry;
  for_ctx_ = saved_for;
  vars_ = std::move(outer);
  loops_ = std::move(saved_loops);
  temps_ = std::move(saved_temps);
  b_.restoreIP(saved_ip);
  b_.SetCurrentDebugLocation(saved_dl);
  return cb;
}

// The value of an aggregation's element merged over the CPUs, as the
// runtime prints it: count/sum add up, min/max take the best valid value,
// avg is the total over the count. bpf_loop visits the CPUs (its callback
// is verified once, whatever the number of CPUs): {total, count, key}.
Value *Generator::emit_percpu_value(const MapDef &def, Value *key) {
  // Past nr_cpu_ids the lookup fails and ends the loop; this only bounds it.
  constexpr uint32_t kMaxCpus = 8192;
  auto *i64 = b_.getInt64Ty();
  uint32_t key_size = def.meta.key_size;
  auto *state = entry_buffer(16 + key_size, "percpu_state");
  // min/max start from the other extreme: a branch on a known first value
  // would make the verifier walk every possible CPU.
  int64_t start = def.meta.kind == meta::MapKind::Min   ? INT64_MAX
                  : def.meta.kind == meta::MapKind::Max ? INT64_MIN
                                                        : 0;
  b_.CreateStore(b_.getInt64(static_cast<uint64_t>(start)), state);
  b_.CreateStore(b_.getInt64(0), ptr_add(state, 8));
  b_.CreateMemCpy(ptr_add(state, 16), llvm::MaybeAlign(8), key, llvm::MaybeAlign(1), key_size);
  call_helper(bpf::kLoop, i64,
              {b_.getInt32(kMaxCpus), percpu_callback(def), state, b_.getInt64(0)});
  Value *sum = b_.CreateLoad(i64, state);
  if (def.meta.kind == meta::MapKind::Min || def.meta.kind == meta::MapKind::Max)
    return b_.CreateSelect(b_.CreateICmpEQ(b_.CreateLoad(i64, ptr_add(state, 8)), b_.getInt64(0)),
                           b_.getInt64(0), sum);
  if (def.meta.kind != meta::MapKind::Avg)
    return sum;
  // Signed total / count (BPF before v4 has no signed division).
  Value *samples = b_.CreateLoad(i64, ptr_add(state, 8));
  Value *safe = b_.CreateSelect(b_.CreateICmpEQ(samples, b_.getInt64(0)), b_.getInt64(1), samples);
  Value *negative = b_.CreateICmpSLT(sum, b_.getInt64(0));
  Value *q = b_.CreateUDiv(b_.CreateSelect(negative, b_.CreateNeg(sum), sum), safe);
  return b_.CreateSelect(negative, b_.CreateNeg(q), q);
}

// bpf_loop callback for one map: adds CPU `index`'s value to the state.
llvm::Function *Generator::percpu_callback(const MapDef &def) {
  std::string name = "gt_percpu_" + def.meta.bpf_name;
  if (llvm::Function *f = mod_->getFunction(name))
    return f;
  llvm::Function *f = new_subprogram(name, SourceRange{}, {{"index", false}, {"state", true}});
  auto saved_ip = b_.saveIP();
  llvm::DebugLoc saved_dl = b_.getCurrentDebugLocation();
  b_.SetInsertPoint(&f->getEntryBlock());
  b_.SetCurrentDebugLocation(llvm::DILocation::get(ctx_, 0, 0, f->getSubprogram()));
  auto *i64 = b_.getInt64Ty();
  Value *state = f->getArg(1);
  Value *p = call_helper(bpf::kMapLookupPercpuElem, b_.getPtrTy(),
                         {def.var, ptr_add(state, 16), b_.CreateTrunc(f->getArg(0), b_.getInt32Ty())});
  auto *read = BasicBlock::Create(ctx_, "read", f);
  auto *stop = BasicBlock::Create(ctx_, "stop", f);
  b_.CreateCondBr(b_.CreateIsNull(p), stop, read);
  b_.SetInsertPoint(stop);
  b_.CreateRet(b_.getInt64(1));
  b_.SetInsertPoint(read);
  meta::MapKind kind = def.meta.kind;
  Value *v = b_.CreateLoad(i64, p);
  Value *total = b_.CreateLoad(i64, state);
  Value *count = b_.CreateLoad(i64, ptr_add(state, 8));
  if (kind == meta::MapKind::Min || kind == meta::MapKind::Max) {
    // {value, valid}: `count` is the number of valid values seen. No branch
    // on the running extreme: the verifier would then tell every iteration
    // apart. Signed a < b is the sign of (a - b) ^ ((a ^ b) & ((a - b) ^ a)).
    // `valid` is 0 or 1 (emit_aggregate); a comparison would be a branch too.
    Value *valid = b_.CreateAnd(b_.CreateLoad(i64, ptr_add(p, 8)), b_.getInt64(1));
    Value *a = kind == meta::MapKind::Min ? v : total;
    Value *bv = kind == meta::MapKind::Min ? total : v;
    Value *diff = b_.CreateSub(a, bv);
    Value *less = b_.CreateAShr(
        b_.CreateXor(diff, b_.CreateAnd(b_.CreateXor(a, bv), b_.CreateXor(diff, a))), 63);
    Value *mask = b_.CreateAnd(less, b_.CreateNeg(valid));
    b_.CreateStore(b_.CreateXor(total, b_.CreateAnd(b_.CreateXor(v, total), mask)), state);
    b_.CreateStore(b_.CreateAdd(count, valid), ptr_add(state, 8));
  } else {
    b_.CreateStore(b_.CreateAdd(total, v), state);
    if (kind == meta::MapKind::Avg)
      b_.CreateStore(b_.CreateAdd(count, b_.CreateLoad(i64, ptr_add(p, 8))), ptr_add(state, 8));
  }
  b_.CreateRet(b_.getInt64(0));
  b_.restoreIP(saved_ip);
  b_.SetCurrentDebugLocation(saved_dl);
  return f;
}

// Loops the verifier can prove bounded: the kernel (5.3+) follows every
// iteration, so large trip counts fail verification with its own message.
void Generator::emit_loop(const Stmt &s) {
  if (s.kind == StmtKind::Unroll) {
    for (uint64_t i = 0; i < s.count; i++) {
      auto *next = BasicBlock::Create(ctx_, "unroll_next", fn_);
      loops_.push_back({next, next});  // break/continue in unroll end this copy
      emit_stmts(s.then_body);
      loops_.pop_back();
      b_.CreateBr(next);
      b_.SetInsertPoint(next);
    }
    return;
  }
  auto *cond_bb = BasicBlock::Create(ctx_, "loop_cond", fn_);
  auto *body_bb = BasicBlock::Create(ctx_, "loop_body", fn_);
  auto *step_bb = BasicBlock::Create(ctx_, "loop_step", fn_);
  auto *done_bb = BasicBlock::Create(ctx_, "loop_done", fn_);
  Value *end = nullptr;
  Value *counter = nullptr;
  if (s.kind == StmtKind::For) {
    counter = vars_.at(s.target->name).slot;
    b_.CreateStore(emit_int(*s.expr), counter);
    // The end is evaluated once, before the first iteration.
    auto *end_slot = entry_alloca(b_.getInt64Ty(), "for_end");
    b_.CreateStore(emit_int(*s.expr2), end_slot);
    end = end_slot;
    end_temporaries();
  }
  b_.CreateBr(cond_bb);
  b_.SetInsertPoint(cond_bb);
  Value *c;
  if (s.kind == StmtKind::For)
    c = b_.CreateICmpSLT(b_.CreateLoad(b_.getInt64Ty(), counter),
                         b_.CreateLoad(b_.getInt64Ty(), end));
  else
    c = emit_bool(*s.expr);
  end_temporaries();
  b_.CreateCondBr(c, body_bb, done_bb);
  b_.SetInsertPoint(body_bb);
  loops_.push_back({step_bb, done_bb});
  emit_stmts(s.then_body);
  loops_.pop_back();
  b_.CreateBr(step_bb);
  b_.SetInsertPoint(step_bb);
  if (s.kind == StmtKind::For)
    b_.CreateStore(b_.CreateAdd(b_.CreateLoad(b_.getInt64Ty(), counter), b_.getInt64(1)), counter);
  b_.CreateBr(cond_bb);
  b_.SetInsertPoint(done_bb);
}

void Generator::emit_count_lost() { emit_count_slot(lost_); }

// Adds one to this probe's slot of a per-CPU counter array.
void Generator::emit_count_slot(llvm::GlobalVariable *map) {
  auto *slot = entry_alloca(b_.getInt32Ty(), "counter_key");
  b_.CreateStore(b_.getInt32(probe_index_), slot);
  Value *p = call_helper(bpf::kMapLookupElem, b_.getPtrTy(), {map, slot});
  auto *inc = BasicBlock::Create(ctx_, "counter_inc", fn_);
  auto *done = BasicBlock::Create(ctx_, "counter_done", fn_);
  b_.CreateCondBr(b_.CreateIsNull(p), done, inc);
  b_.SetInsertPoint(inc);
  // Per-CPU slot: a plain add cannot race with another CPU.
  b_.CreateStore(b_.CreateAdd(b_.CreateLoad(b_.getInt64Ty(), p), b_.getInt64(1)), p);
  b_.CreateBr(done);
  b_.SetInsertPoint(done);
}

void Generator::emit_printf(const Expr &call) {
  uint32_t id = an_.printf_ids.at(&call);
  uint32_t kind = call.name == "system" ? meta::kEventSystem
                  : call.name == "cat"  ? meta::kEventCat
                                        : meta::kEventPrintf;
  emit_event(kind, id, &an_.printfs.at(id), &call, nullptr, nullptr);
}

// join(argv): up to `count` strings of a NULL-terminated pointer array, read
// into the record; the first empty string ends the list.
void Generator::emit_join(const Expr &call) {
  uint32_t id = an_.join_ids.at(&call);
  const meta::Join &j = an_.joins.at(id);
  auto *i64 = b_.getInt64Ty();
  uint64_t size = 8 + uint64_t(j.count) * j.size;
  BasicBlock *done;
  Value *rec = reserve_record(meta::kEventJoin, id, size, done);
  auto *submit = BasicBlock::Create(ctx_, "join_submit", fn_);
  const Expr &arr = *call.children[0];
  bool user = arr.type.is_pointer ? arr.type.addr_space == Type::AddrSpace::User
                                  : ap_->pointer_space == Type::AddrSpace::User;
  Value *base = emit_int(arr);
  auto *slot = entry_alloca(i64, "join_ptr");
  for (uint32_t i = 0; i < j.count; i++) {
    Value *dst = ptr_add(rec, 8 + uint64_t(i) * j.size);
    b_.CreateStore(b_.getInt8(0), dst);
    b_.CreateStore(b_.getInt64(0), slot);
    read_memory(user ? bpf::kProbeReadUser : bpf::kProbeReadKernel, slot, 8,
                b_.CreateIntToPtr(b_.CreateAdd(base, b_.getInt64(8 * i)), b_.getPtrTy()));
    Value *p = b_.CreateLoad(i64, slot);
    auto *read = BasicBlock::Create(ctx_, "join_read", fn_);
    b_.CreateCondBr(b_.CreateICmpEQ(p, b_.getInt64(0)), submit, read);
    b_.SetInsertPoint(read);
    call_helper(user ? bpf::kProbeReadUserStr : bpf::kProbeReadKernelStr, i64,
                {dst, b_.getInt64(j.size), b_.CreateIntToPtr(p, b_.getPtrTy())});
  }
  b_.CreateBr(submit);
  b_.SetInsertPoint(submit);
  call_helper(bpf::kRingbufSubmit, b_.getVoidTy(), {rec, b_.getInt64(bpf::kRingbufNoWakeup)});
  b_.CreateBr(done);
  b_.SetInsertPoint(done);
}

uint32_t Generator::map_index(const std::string &name) const {
  for (size_t i = 0; i < meta_.maps.size(); i++)
    if (meta_.maps[i].name == name)
      return static_cast<uint32_t>(i);
  throw std::logic_error("no map " + name);
}

// One ring buffer record: the header, then printf-style arguments or one
// value. Arguments are written straight into the reserved record.
void Generator::emit_event(uint32_t kind, uint32_t id, const meta::Printf *pf, const Expr *call,
                           const Expr *value, const meta::Type *value_type) {
  uint64_t payload_size = pf ? pf->payload_size : value_type ? (value_type->size + 7) / 8 * 8 : 0;
  bool mask = false;
  if (pf) {
    for (size_t i = 0; i < pf->args.size() && i < 64; i++)
      mask |= may_read_memory(*call->children[i + 1]);
    printf_masks_[id] = mask;
  }
  BasicBlock *done;
  Value *rec = reserve_record(kind, id, 8 + payload_size + (mask ? 8 : 0), done);
  Value *payload = ptr_add(rec, 8);
  if (pf) {
    // Bit i of the mask after the arguments: reading argument i failed.
    llvm::AllocaInst *failed = mask ? entry_alloca(b_.getInt64Ty(), "read_failed") : nullptr;
    Value *bits = b_.getInt64(0);
    for (size_t i = 0; i < pf->args.size(); i++) {
      const Expr &arg = *call->children[i + 1];
      bool track = mask && i < 64 && may_read_memory(arg);
      if (track) {
        b_.CreateStore(b_.getInt64(0), failed);
        read_failed_ = failed;
      }
      emit_into(arg, ptr_add(payload, pf->offsets[i]), pf->args[i]);
      read_failed_ = nullptr;
      if (track)
        bits = b_.CreateOr(bits, b_.CreateShl(b_.CreateLoad(b_.getInt64Ty(), failed), i));
    }
    if (mask)
      b_.CreateStore(bits, ptr_add(payload, pf->payload_size));
  }
  if (value) {
    if (value_type->kind != meta::Type::Kind::Int)
      b_.CreateMemSet(payload, b_.getInt8(0), payload_size, llvm::MaybeAlign(8));
    emit_into(*value, payload, *value_type);
  }
  // Plain output is batched by the reader; control events are handled at once.
  uint64_t flags = kind == meta::kEventPrintf || kind == meta::kEventPrintValue
                       ? bpf::kRingbufNoWakeup
                       : bpf::kRingbufForceWakeup;
  call_helper(bpf::kRingbufSubmit, b_.getVoidTy(), {rec, b_.getInt64(flags)});
  b_.CreateBr(done);
  b_.SetInsertPoint(done);
}

// Reserves a ring buffer record of `size` bytes with its {kind, id} header
// written, and leaves the builder where it is filled. A full ring counts the
// event as lost and jumps to `done`, where the caller continues after submit.
Value *Generator::reserve_record(uint32_t kind, uint32_t id, uint64_t size, BasicBlock *&done) {
  Value *rec = call_helper(bpf::kRingbufReserve, b_.getPtrTy(),
                           {events_, b_.getInt64(size), b_.getInt64(0)});
  auto *fill = BasicBlock::Create(ctx_, "event_fill", fn_);
  auto *lost = BasicBlock::Create(ctx_, "event_lost", fn_);
  done = BasicBlock::Create(ctx_, "event_done", fn_);
  b_.CreateCondBr(b_.CreateIsNull(rec), lost, fill);
  b_.SetInsertPoint(lost);
  emit_count_lost();
  b_.CreateBr(done);
  b_.SetInsertPoint(fill);
  b_.CreateStore(b_.getInt32(kind), rec);
  b_.CreateStore(b_.getInt32(id), ptr_add(rec, 4));
  return rec;
}

void Generator::emit_exit() {
  emit_event(meta::kEventExit, 0, nullptr, nullptr, nullptr, nullptr);
  // Nothing after exit() runs.
  emit_end_probe();
  new_block_after_return();
}

void Generator::emit_end_probe() {
  if (!for_ctx_) {
    b_.CreateRet(b_.getInt64(0));
    return;
  }
  b_.CreateStore(b_.getInt64(1), for_ctx_);
  b_.CreateRet(b_.getInt64(1));
}

// Builds the BPF key of `map` in a zeroed stack buffer (hash keys compare
// every byte, padding included). Hist maps append the bucket.
Value *Generator::emit_key(const Expr &map, const MapDef &def, Value *bucket) {
  auto *buf = temp_buffer(def.meta.key_size, "key");
  b_.CreateMemSet(buf, b_.getInt8(0), def.meta.key_size, llvm::MaybeAlign(8));
  const meta::Type &kt = def.meta.key;
  if (!map.children.empty()) {
    if (map.children.size() == 1) {
      emit_into(*map.children[0], buf, kt);
    } else {
      for (size_t i = 0; i < map.children.size(); i++)
        emit_into(*map.children[i], ptr_add(buf, kt.offsets[i]), kt.elems[i]);
    }
  }
  if (bucket)
    b_.CreateStore(bucket, ptr_add(buf, def.meta.key_size - 8));
  return buf;
}

Value *Generator::emit_map_lookup(const MapDef &def, Value *key) {
  return call_helper(bpf::kMapLookupElem, b_.getPtrTy(), {def.var, key});
}

void Generator::emit_map_assign(const Stmt &s) {
  const Expr &map = *s.target;
  const MapDef &def = map_def(map.name);
  if (def.info->is_aggregate) {
    emit_aggregate(map, *s.expr, def);
    return;
  }
  // Evaluate the value before the key: `@m[k] = @m[k] + 1` reads then writes.
  auto *val = temp_buffer(def.meta.value_size, "value");
  if (def.meta.value.kind == meta::Type::Kind::Int) {
    b_.CreateStore(emit_int(*s.expr), val);
  } else {
    b_.CreateMemSet(val, b_.getInt8(0), def.meta.value_size, llvm::MaybeAlign(8));
    emit_into(*s.expr, val, def.meta.value);
  }
  Value *key = emit_key(map, def, nullptr);
  call_helper(bpf::kMapUpdateElem, b_.getInt64Ty(),
              {def.var, key, val, b_.getInt64(bpf::kAny)});
}

void Generator::emit_aggregate(const Expr &map, const Expr &call, const MapDef &def) {
  meta::MapKind kind = def.meta.kind;
  Value *x = call.children.empty() ? nullptr : emit_int(*call.children[0]);
  Value *bucket = nullptr;
  if (kind == meta::MapKind::Hist)
    bucket = log2_bucket(x);
  else if (kind == meta::MapKind::Lhist)
    bucket = lhist_bucket(x, def.meta.lhist_min, def.meta.lhist_max, def.meta.lhist_step);
  Value *key = emit_key(map, def, bucket);
  Value *p = emit_map_lookup(def, key);
  auto *found = BasicBlock::Create(ctx_, "agg_found", fn_);
  auto *init = BasicBlock::Create(ctx_, "agg_init", fn_);
  auto *done = BasicBlock::Create(ctx_, "agg_done", fn_);
  b_.CreateCondBr(b_.CreateIsNull(p), init, found);
  auto *i64 = b_.getInt64Ty();
  Value *one = b_.getInt64(1);

  // Per-CPU values: plain read-modify-write is safe.
  b_.SetInsertPoint(found);
  Value *second = ptr_add(p, 8);
  switch (kind) {
  case meta::MapKind::Count:
  case meta::MapKind::Hist:
  case meta::MapKind::Lhist:
    b_.CreateStore(b_.CreateAdd(b_.CreateLoad(i64, p), one), p);
    break;
  case meta::MapKind::Sum:
    b_.CreateStore(b_.CreateAdd(b_.CreateLoad(i64, p), x), p);
    break;
  case meta::MapKind::Min:
  case meta::MapKind::Max: {
    Value *cur = b_.CreateLoad(i64, p);
    Value *valid = b_.CreateICmpNE(b_.CreateLoad(i64, second), b_.getInt64(0));
    Value *better = kind == meta::MapKind::Min ? b_.CreateICmpSLT(x, cur) : b_.CreateICmpSGT(x, cur);
    b_.CreateStore(b_.CreateSelect(b_.CreateAnd(valid, b_.CreateNot(better)), cur, x), p);
    b_.CreateStore(one, second);
    break;
  }
  case meta::MapKind::Avg:
  case meta::MapKind::Stats:
    b_.CreateStore(b_.CreateAdd(b_.CreateLoad(i64, p), x), p);
    b_.CreateStore(b_.CreateAdd(b_.CreateLoad(i64, second), one), second);
    break;
  case meta::MapKind::Value:
    break;
  }
  b_.CreateBr(done);

  b_.SetInsertPoint(init);
  auto *val = temp_buffer(def.meta.value_size, "agg_value");
  switch (kind) {
  case meta::MapKind::Count:
  case meta::MapKind::Hist:
  case meta::MapKind::Lhist:
    b_.CreateStore(one, val);
    break;
  case meta::MapKind::Sum:
    b_.CreateStore(x, val);
    break;
  default:  // min, max: {x, valid=1}; avg, stats: {sum=x, count=1}
    b_.CreateStore(x, val);
    b_.CreateStore(one, ptr_add(val, 8));
    break;
  }
  call_helper(bpf::kMapUpdateElem, i64, {def.var, key, val, b_.getInt64(bpf::kAny)});
  b_.CreateBr(done);
  b_.SetInsertPoint(done);
}

// bpftrace's log2 buckets: 0 for negatives, 1 for 0, 2 + floor(log2(v)) otherwise.
Value *Generator::log2_bucket(Value *v) {
  auto *i64 = b_.getInt64Ty();
  Value *n = v;
  Value *l = b_.getInt64(0);
  for (int shift : {32, 16, 8, 4, 2, 1}) {
    Value *big = b_.CreateICmpUGE(n, llvm::ConstantInt::get(i64, 1ull << shift));
    n = b_.CreateSelect(big, b_.CreateLShr(n, shift), n);
    l = b_.CreateSelect(big, b_.CreateAdd(l, b_.getInt64(shift)), l);
  }
  Value *pos = b_.CreateAdd(l, b_.getInt64(2));
  Value *r = b_.CreateSelect(b_.CreateICmpEQ(v, b_.getInt64(0)), b_.getInt64(1), pos);
  return b_.CreateSelect(b_.CreateICmpSLT(v, b_.getInt64(0)), b_.getInt64(0), r);
}

Value *Generator::lhist_bucket(Value *v, int64_t lo, int64_t hi, int64_t step) {
  Value *below = b_.CreateICmpSLT(v, b_.getInt64(lo));
  Value *above = b_.CreateICmpSGE(v, b_.getInt64(hi));
  Value *off = b_.CreateSelect(b_.CreateOr(below, above), b_.getInt64(0),
                               b_.CreateSub(v, b_.getInt64(lo)));
  Value *mid = b_.CreateAdd(b_.CreateUDiv(off, b_.getInt64(step)), b_.getInt64(1));
  Value *r = b_.CreateSelect(above, b_.getInt64(1 + (hi - lo) / step), mid);
  return b_.CreateSelect(below, b_.getInt64(0), r);
}

// ---------------------------------------------------------------------------
// Expressions

Value *Generator::emit_bool(const Expr &e) {
  return b_.CreateICmpNE(emit_int(e), b_.getInt64(0));
}

const sema::TracepointField &Generator::field(const std::string &name) const {
  for (const auto &f : ap_->fields)
    if (f.name == name)
      return f;
  throw std::logic_error("sema let an unknown tracepoint field through: " + name);
}

Value *Generator::emit_field_int(const Expr &e) {
  const sema::TracepointField &f = field(e.name);
  uint32_t size = f.kind == sema::TracepointField::Kind::Pointer ? 8 : f.size;
  if (size != 1 && size != 2 && size != 4 && size != 8)
    size = 8;
  auto *ty = b_.getIntNTy(size * 8);
  Value *v = b_.CreateLoad(ty, ptr_add(ctx_arg_, f.offset));
  return f.is_signed ? b_.CreateSExt(v, b_.getInt64Ty()) : b_.CreateZExt(v, b_.getInt64Ty());
}

Value *Generator::emit_int(const Expr &e) {
  auto *i64 = b_.getInt64Ty();
  switch (e.kind) {
  case ExprKind::Integer:
    return b_.getInt64(e.int_value);
  case ExprKind::Builtin: {
    const std::string &n = e.name;
    if (n == "pid")
      return b_.CreateLShr(pid_tgid(), 32);
    if (n == "tid")
      return b_.CreateAnd(pid_tgid(), b_.getInt64(0xffffffff));
    if (n == "uid" || n == "gid") {
      Value *v = call_helper(bpf::kGetCurrentUidGid, i64, {});
      return n == "uid" ? b_.CreateAnd(v, b_.getInt64(0xffffffff)) : b_.CreateLShr(v, 32);
    }
    if (n == "nsecs")
      return call_helper(bpf::kKtimeGetNs, i64, {});
    if (n == "cpu")
      return b_.CreateZExt(call_helper(bpf::kGetSmpProcessorId, b_.getInt32Ty(), {}), i64);
    if (n == "retval")
      return b_.CreateLoad(i64, ptr_add(ctx_arg_, bpf::kPtRegsAx));
    if (n.rfind("arg", 0) == 0) {
      unsigned idx = static_cast<unsigned>(strtoul(n.c_str() + 3, nullptr, 10));
      // Raw tracepoints get the tracepoint's arguments as a u64 array.
      if (ap_->probe.kind == meta::ProbeKind::RawTracepoint)
        return b_.CreateLoad(i64, ptr_add(ctx_arg_, 8 * idx));
      if (ap_->probe.kind == meta::ProbeKind::Usdt)
        return emit_usdt_arg(ap_->usdt_args.at(idx));
      return b_.CreateLoad(i64, ptr_add(ctx_arg_, bpf::kPtRegsArgs[idx]));
    }
    if (n == "cgroup")
      return call_helper(bpf::kGetCurrentCgroupId, i64, {});
    if (n == "rand")
      return b_.CreateZExt(call_helper(bpf::kGetPrandomU32, b_.getInt32Ty(), {}), i64);
    if (n == "curtask")
      return call_helper(bpf::kGetCurrentTask, i64, {});
    if (n == "duration") {
      Value *start = b_.CreateLoad(i64, entry_state_);
      return b_.CreateSub(call_helper(bpf::kKtimeGetNs, i64, {}), start);
    }
    if (n == "elapsed") {
      Value *start = b_.CreateLoad(i64, ptr_add(config_, 8), true, "start_ns");
      return b_.CreateSub(call_helper(bpf::kKtimeGetNs, i64, {}), start);
    }
    break;
  }
  case ExprKind::Variable: {
    const Var &v = vars_.at(e.name);
    return b_.CreateLoad(i64, v.slot);
  }
  case ExprKind::Map: {
    const MapDef &def = map_def(e.name);
    Value *key = emit_key(e, def, nullptr);
    Value *p = emit_map_lookup(def, key);
    BasicBlock *from = b_.GetInsertBlock();
    auto *found = BasicBlock::Create(ctx_, "map_found", fn_);
    auto *done = BasicBlock::Create(ctx_, "map_done", fn_);
    b_.CreateCondBr(b_.CreateIsNull(p), done, found);
    b_.SetInsertPoint(found);
    Value *v = b_.CreateLoad(i64, p);
    b_.CreateBr(done);
    b_.SetInsertPoint(done);
    auto *phi = b_.CreatePHI(i64, 2);
    phi->addIncoming(b_.getInt64(0), from);
    phi->addIncoming(v, found);
    return phi;
  }
  case ExprKind::Field:
    if (is_dwarf_field(e)) {
      const Expr &obj = *e.children[0];
      if (obj.type.kind == Type::Kind::Args) {
        bool is_vars = obj.name == "vars";
        if (!is_vars && entry_state_) {
          const auto &saved = probe_->entry_args;
          for (size_t i = 0; i < saved.size(); i++)
            if (saved[i].name == e.name)
              return b_.CreateLoad(i64, ptr_add(entry_state_, 8 * (i + 1)));
          throw std::logic_error("args." + e.name + " was not saved at entry");
        }
        return emit_param(param(e.name, is_vars), e.type.size, e.type.is_signed);
      }
      auto m = dwarf::find_member(member_aggregate(e), e.name);
      bool user = obj.type.addr_space != Type::AddrSpace::Kernel;
      Value *addr = emit_address_of(e);
      if (!m->bit_size)
        return emit_read_user(addr, e.type.size, e.type.is_signed, user);
      // Bitfield: bits [bit_offset, bit_offset + bit_size) of the bytes at addr.
      uint32_t bytes = (m->bit_offset + m->bit_size + 7) / 8;
      Value *raw = emit_read_user(addr, bytes, false, user);
      Value *v = b_.CreateLShr(raw, m->bit_offset);
      if (e.type.is_signed) {
        uint32_t shift = 64 - m->bit_size;
        return b_.CreateAShr(b_.CreateShl(v, shift), shift);
      }
      return b_.CreateAnd(v, b_.getInt64(m->bit_size >= 64 ? ~0ull : (1ull << m->bit_size) - 1));
    }
    if (e.children[0]->type.kind == Type::Kind::Tuple) {
      meta::Type layout;
      Value *p = emit_tuple_ptr(*e.children[0], layout);
      return b_.CreateLoad(i64, ptr_add(p, layout.offsets[e.int_value]));
    }
    return emit_field_int(e);
  case ExprKind::Cast: {
    Value *v = emit_int(*e.children[0]);
    if (e.name == "bool")
      return b_.CreateZExt(b_.CreateICmpNE(v, b_.getInt64(0)), i64);
    if (e.type.size >= 8)
      return v;
    Value *t = b_.CreateTrunc(v, b_.getIntNTy(e.type.size * 8));
    return e.type.is_signed ? b_.CreateSExt(t, i64) : b_.CreateZExt(t, i64);
  }
  case ExprKind::Unary: {
    if (e.unary_op == ast::UnaryOp::Deref) {
      // *p: e.type.size bytes where p points (a typed pointer says which
      // memory; a plain integer is an address in the probe's memory).
      const Expr &p = *e.children[0];
      bool user = p.type.is_pointer ? p.type.addr_space == Type::AddrSpace::User
                                    : ap_->pointer_space == Type::AddrSpace::User;
      return emit_read_user(emit_int(p), e.type.size, e.type.is_signed, user);
    }
    Value *v = emit_int(*e.children[0]);
    switch (e.unary_op) {
    case ast::UnaryOp::Neg: return b_.CreateNeg(v);
    case ast::UnaryOp::BitNot: return b_.CreateNot(v);
    case ast::UnaryOp::Not: return b_.CreateZExt(b_.CreateICmpEQ(v, b_.getInt64(0)), i64);
    case ast::UnaryOp::Deref: break;  // above
    }
    break;
  }
  case ExprKind::Binary:
    return emit_binary(e);
  case ExprKind::Update:
    return emit_update(e);
  case ExprKind::Ternary: {
    Value *c = emit_bool(*e.children[0]);
    auto *then_bb = BasicBlock::Create(ctx_, "tern_then", fn_);
    auto *else_bb = BasicBlock::Create(ctx_, "tern_else", fn_);
    auto *done = BasicBlock::Create(ctx_, "tern_done", fn_);
    b_.CreateCondBr(c, then_bb, else_bb);
    b_.SetInsertPoint(then_bb);
    Value *a = emit_int(*e.children[1]);
    BasicBlock *a_end = b_.GetInsertBlock();
    b_.CreateBr(done);
    b_.SetInsertPoint(else_bb);
    Value *bv = emit_int(*e.children[2]);
    BasicBlock *b_end = b_.GetInsertBlock();
    b_.CreateBr(done);
    b_.SetInsertPoint(done);
    auto *phi = b_.CreatePHI(i64, 2);
    phi->addIncoming(a, a_end);
    phi->addIncoming(bv, b_end);
    return phi;
  }
  case ExprKind::Call:
    if (e.name == "bswap") {
      Value *v = emit_int(*e.children[0]);
      uint32_t bits = e.type.size * 8;
      if (bits == 8)
        return b_.CreateAnd(v, b_.getInt64(0xff));
      Value *t = bits == 64 ? v : b_.CreateTrunc(v, b_.getIntNTy(bits));
      Value *r = b_.CreateUnaryIntrinsic(llvm::Intrinsic::bswap, t);
      return bits == 64 ? r : b_.CreateZExt(r, i64);
    }
    if (e.name == "kaddr")
      return b_.getInt64(e.int_value);
    if (e.name == "uaddr") {
      Value *ip = b_.CreateLoad(i64, ptr_add(ctx_arg_, bpf::kPtRegsIp));
      return b_.CreateAdd(ip, b_.getInt64(static_cast<uint64_t>(ap_->user_symbols.at(
                                  e.children[0]->name))));
    }
    if (e.name == "len") {
      // bpf_for_each_map_elem returns how many elements it visited.
      const MapDef &def = map_def(e.children[0]->name);
      return call_helper(bpf::kForEachMapElem, i64,
                         {def.var, count_callback(),
                          llvm::ConstantPointerNull::get(b_.getPtrTy()), b_.getInt64(0)});
    }
    if (e.name == "strcontains")
      return emit_strcontains(*e.children[0], *e.children[1]);
    if (e.name == "has_key") {
      const Expr &m = *e.children[0];
      const MapDef &def = map_def(m.name);
      Value *p = emit_map_lookup(def, emit_key(m, def, nullptr));
      return b_.CreateZExt(b_.CreateIsNotNull(p), i64);
    }
    if (e.name == "strncmp") {
      // 0 when the first n characters agree (stopping at a common NUL), else 1.
      const Expr &ea = *e.children[0], &eb = *e.children[1];
      uint32_t n = static_cast<uint32_t>(
          std::min<uint64_t>({e.children[2]->int_value, ea.type.size, eb.type.size}));
      auto *a = temp_buffer(ea.type.size, "ncmp_a");
      auto *bb = temp_buffer(eb.type.size, "ncmp_b");
      emit_str_into(ea, a, ea.type.size);
      emit_str_into(eb, bb, eb.type.size);
      return b_.CreateZExt(b_.CreateNot(strings_equal(a, bb, n)), i64);

    }
    break;
  case ExprKind::String:
  case ExprKind::Tuple:
    break;
  }
  throw std::logic_error("not an integer expression: " + e.name);
}

// $x++ / --@m[k]: the key is built once; a map element is updated in place
// (as bpftrace does: not atomic) or created with 0 +/- 1.
Value *Generator::emit_update(const Expr &e) {
  const Expr &t = *e.children[0];
  auto *i64 = b_.getInt64Ty();
  auto step = [&](Value *v) {
    return e.binary_op == BinaryOp::Add ? b_.CreateAdd(v, b_.getInt64(1))
                                        : b_.CreateSub(v, b_.getInt64(1));
  };
  if (t.kind == ExprKind::Variable) {
    Value *slot = vars_.at(t.name).slot;
    Value *old = b_.CreateLoad(i64, slot);
    Value *updated = step(old);
    b_.CreateStore(updated, slot);
    return e.prefix ? updated : old;
  }
  const MapDef &def = map_def(t.name);
  Value *key = emit_key(t, def, nullptr);
  Value *p = emit_map_lookup(def, key);
  auto *found = BasicBlock::Create(ctx_, "update_found", fn_);
  auto *missing = BasicBlock::Create(ctx_, "update_missing", fn_);
  auto *done = BasicBlock::Create(ctx_, "update_done", fn_);
  b_.CreateCondBr(b_.CreateIsNull(p), missing, found);
  b_.SetInsertPoint(found);
  Value *cur = b_.CreateLoad(i64, p);
  b_.CreateStore(step(cur), p);
  b_.CreateBr(done);
  b_.SetInsertPoint(missing);
  auto *val = temp_buffer(8, "update_value");
  b_.CreateStore(step(b_.getInt64(0)), val);
  call_helper(bpf::kMapUpdateElem, i64, {def.var, key, val, b_.getInt64(bpf::kAny)});
  b_.CreateBr(done);
  b_.SetInsertPoint(done);
  auto *old = b_.CreatePHI(i64, 2);
  old->addIncoming(cur, found);
  old->addIncoming(b_.getInt64(0), missing);
  return e.prefix ? step(old) : old;
}

Value *Generator::emit_binary(const Expr &e) {
  const Expr &ea = *e.children[0];
  const Expr &eb = *e.children[1];
  BinaryOp op = e.binary_op;
  auto *i64 = b_.getInt64Ty();
  if (ea.type.is_str())
    return b_.CreateZExt(op == BinaryOp::Eq ? emit_str_compare(ea, eb)
                                            : b_.CreateNot(emit_str_compare(ea, eb)),
                         i64);
  if (op == BinaryOp::LogicalAnd || op == BinaryOp::LogicalOr) {
    Value *l = emit_bool(ea);
    BasicBlock *l_end = b_.GetInsertBlock();
    auto *rhs = BasicBlock::Create(ctx_, "logic_rhs", fn_);
    auto *done = BasicBlock::Create(ctx_, "logic_done", fn_);
    if (op == BinaryOp::LogicalAnd)
      b_.CreateCondBr(l, rhs, done);
    else
      b_.CreateCondBr(l, done, rhs);
    b_.SetInsertPoint(rhs);
    Value *r = emit_bool(eb);
    BasicBlock *r_end = b_.GetInsertBlock();
    b_.CreateBr(done);
    b_.SetInsertPoint(done);
    auto *phi = b_.CreatePHI(b_.getInt1Ty(), 2);
    phi->addIncoming(b_.getInt1(op == BinaryOp::LogicalOr), l_end);
    phi->addIncoming(r, r_end);
    return b_.CreateZExt(phi, i64);
  }
  Value *a = emit_int(ea);
  Value *bv = emit_int(eb);
  // Signedness of the operation (sema's rule: literals adapt, otherwise C's).
  bool is_signed;
  if (ea.kind == ExprKind::Integer)
    is_signed = eb.type.is_signed;
  else if (eb.kind == ExprKind::Integer)
    is_signed = ea.type.is_signed;
  else
    is_signed = ea.type.is_signed && eb.type.is_signed;
  auto cmp = [&](llvm::CmpInst::Predicate s, llvm::CmpInst::Predicate u) {
    return b_.CreateZExt(b_.CreateICmp(is_signed ? s : u, a, bv), i64);
  };
  using P = llvm::CmpInst::Predicate;
  switch (op) {
  case BinaryOp::Add: return b_.CreateAdd(a, bv);
  case BinaryOp::Sub: return b_.CreateSub(a, bv);
  case BinaryOp::Mul: return b_.CreateMul(a, bv);
  case BinaryOp::And: return b_.CreateAnd(a, bv);
  case BinaryOp::Or: return b_.CreateOr(a, bv);
  case BinaryOp::Xor: return b_.CreateXor(a, bv);
  case BinaryOp::Shl: return b_.CreateShl(a, b_.CreateAnd(bv, b_.getInt64(63)));
  case BinaryOp::Shr:
    return is_signed ? b_.CreateAShr(a, b_.CreateAnd(bv, b_.getInt64(63)))
                     : b_.CreateLShr(a, b_.CreateAnd(bv, b_.getInt64(63)));
  case BinaryOp::Div:
  case BinaryOp::Mod: {
    // x / 0 is 0 and x % 0 is x, as BPF defines them; never UB in LLVM.
    Value *zero = b_.CreateICmpEQ(bv, b_.getInt64(0));
    Value *safe = b_.CreateSelect(zero, b_.getInt64(1), bv);
    Value *r;
    if (is_signed) {
      // BPF before cpu v4 has no signed division: divide magnitudes, fix the sign.
      Value *an = b_.CreateICmpSLT(a, b_.getInt64(0));
      Value *bn = b_.CreateICmpSLT(safe, b_.getInt64(0));
      Value *ua = b_.CreateSelect(an, b_.CreateNeg(a), a);
      Value *ub = b_.CreateSelect(bn, b_.CreateNeg(safe), safe);
      if (op == BinaryOp::Div) {
        Value *q = b_.CreateUDiv(ua, ub);
        r = b_.CreateSelect(b_.CreateXor(an, bn), b_.CreateNeg(q), q);
      } else {
        Value *m = b_.CreateURem(ua, ub);
        r = b_.CreateSelect(an, b_.CreateNeg(m), m);
      }
    } else {
      r = op == BinaryOp::Div ? b_.CreateUDiv(a, safe) : b_.CreateURem(a, safe);
    }
    return b_.CreateSelect(zero, op == BinaryOp::Div ? b_.getInt64(0) : a, r);
  }
  case BinaryOp::Eq: return cmp(P::ICMP_EQ, P::ICMP_EQ);
  case BinaryOp::Ne: return cmp(P::ICMP_NE, P::ICMP_NE);
  case BinaryOp::Lt: return cmp(P::ICMP_SLT, P::ICMP_ULT);
  case BinaryOp::Le: return cmp(P::ICMP_SLE, P::ICMP_ULE);
  case BinaryOp::Gt: return cmp(P::ICMP_SGT, P::ICMP_UGT);
  case BinaryOp::Ge: return cmp(P::ICMP_SGE, P::ICMP_UGE);
  case BinaryOp::LogicalAnd:
  case BinaryOp::LogicalOr:
    break;
  }
  throw std::logic_error("unhandled binary operator");
}

// Strings are equal when they agree up to and including the first NUL
// (or up to the shorter buffer's end). Unrolled: BPF has no unbounded loops.
Value *Generator::emit_str_compare(const Expr &ea, const Expr &eb) {
  uint32_t sa = ea.type.size, sb = eb.type.size;
  auto *a = temp_buffer(sa, "cmp_a");
  auto *bb = temp_buffer(sb, "cmp_b");
  emit_str_into(ea, a, sa);
  emit_str_into(eb, bb, sb);
  return strings_equal(a, bb, std::min(sa, sb));
}

// True when the buffers agree on their first n bytes or up to a common NUL.
// Unrolled: BPF has no unbounded loops.
Value *Generator::strings_equal(Value *a, Value *b, uint32_t n) {
  auto *equal = BasicBlock::Create(ctx_, "str_eq", fn_);
  auto *differ = BasicBlock::Create(ctx_, "str_ne", fn_);
  auto *done = BasicBlock::Create(ctx_, "str_cmp_done", fn_);
  for (uint32_t i = 0; i < n; i++) {
    Value *ca = b_.CreateLoad(b_.getInt8Ty(), ptr_add(a, i));
    Value *cb = b_.CreateLoad(b_.getInt8Ty(), ptr_add(b, i));
    auto *same = BasicBlock::Create(ctx_, "str_same", fn_);
    b_.CreateCondBr(b_.CreateICmpNE(ca, cb), differ, same);
    b_.SetInsertPoint(same);
    auto *next = BasicBlock::Create(ctx_, "str_next", fn_);
    b_.CreateCondBr(b_.CreateICmpEQ(ca, b_.getInt8(0)), equal, next);
    b_.SetInsertPoint(next);
  }
  b_.CreateBr(equal);
  b_.SetInsertPoint(equal);
  b_.CreateBr(done);
  b_.SetInsertPoint(differ);
  b_.CreateBr(done);
  b_.SetInsertPoint(done);
  auto *phi = b_.CreatePHI(b_.getInt1Ty(), 2);
  phi->addIncoming(b_.getInt1(true), equal);
  phi->addIncoming(b_.getInt1(false), differ);
  return phi;
}

// 1 when `needle` occurs in `hay` (an empty needle always does), else 0.
// Both are copied into zeroed buffers; the loops are bounded by their sizes.
Value *Generator::emit_strcontains(const Expr &hay_e, const Expr &needle_e) {
  auto *i64 = b_.getInt64Ty();
  uint32_t hn = hay_e.type.size, nn = needle_e.type.size;
  auto *hay = temp_buffer(hn, "hay");
  auto *needle = temp_buffer(nn, "needle");
  b_.CreateMemSet(hay, b_.getInt8(0), (hn + 7) / 8 * 8, llvm::MaybeAlign(8));
  b_.CreateMemSet(needle, b_.getInt8(0), (nn + 7) / 8 * 8, llvm::MaybeAlign(8));
  emit_str_into(hay_e, hay, hn);
  emit_str_into(needle_e, needle, nn);
  auto *i_slot = entry_alloca(i64, "hay_pos");
  auto *j_slot = entry_alloca(i64, "needle_pos");
  auto *outer = BasicBlock::Create(ctx_, "contains_outer", fn_);
  auto *inner = BasicBlock::Create(ctx_, "contains_inner", fn_);
  auto *inner_cmp = BasicBlock::Create(ctx_, "contains_cmp", fn_);
  auto *inner_next = BasicBlock::Create(ctx_, "contains_next_char", fn_);
  auto *next_start = BasicBlock::Create(ctx_, "contains_next_start", fn_);
  auto *advance = BasicBlock::Create(ctx_, "contains_advance", fn_);
  auto *found = BasicBlock::Create(ctx_, "contains_found", fn_);
  auto *absent = BasicBlock::Create(ctx_, "contains_absent", fn_);
  auto *done = BasicBlock::Create(ctx_, "contains_done", fn_);
  b_.CreateStore(b_.getInt64(0), i_slot);
  b_.CreateBr(outer);
  // Try a match starting at hay[i].
  b_.SetInsertPoint(outer);
  Value *i = b_.CreateLoad(i64, i_slot);
  b_.CreateStore(b_.getInt64(0), j_slot);
  b_.CreateCondBr(b_.CreateICmpULT(i, b_.getInt64(hn)), inner, absent);
  b_.SetInsertPoint(inner);
  Value *j = b_.CreateLoad(i64, j_slot);
  Value *in_needle = b_.CreateICmpULT(j, b_.getInt64(nn));
  auto *read_needle = BasicBlock::Create(ctx_, "contains_read", fn_);
  b_.CreateCondBr(in_needle, read_needle, found);
  b_.SetInsertPoint(read_needle);
  Value *c = b_.CreateLoad(b_.getInt8Ty(), b_.CreateGEP(b_.getInt8Ty(), needle, j));
  Value *pos = b_.CreateAdd(b_.CreateLoad(i64, i_slot), j);
  Value *needle_end = b_.CreateICmpEQ(c, b_.getInt8(0));
  auto *check_room = BasicBlock::Create(ctx_, "contains_room", fn_);
  b_.CreateCondBr(needle_end, found, check_room);
  b_.SetInsertPoint(check_room);
  b_.CreateCondBr(b_.CreateICmpULT(pos, b_.getInt64(hn)), inner_cmp, absent);
  b_.SetInsertPoint(inner_cmp);
  Value *h = b_.CreateLoad(b_.getInt8Ty(), b_.CreateGEP(b_.getInt8Ty(), hay, pos));
  b_.CreateCondBr(b_.CreateICmpEQ(h, c), inner_next, next_start);
  b_.SetInsertPoint(inner_next);
  b_.CreateStore(b_.CreateAdd(j, b_.getInt64(1)), j_slot);
  b_.CreateBr(inner);
  // No match at i: the end of the haystack ends the search.
  b_.SetInsertPoint(next_start);
  Value *start = b_.CreateLoad(b_.getInt8Ty(),
                               b_.CreateGEP(b_.getInt8Ty(), hay, b_.CreateLoad(i64, i_slot)));
  b_.CreateCondBr(b_.CreateICmpEQ(start, b_.getInt8(0)), absent, advance);
  b_.SetInsertPoint(advance);
  b_.CreateStore(b_.CreateAdd(b_.CreateLoad(i64, i_slot), b_.getInt64(1)), i_slot);
  b_.CreateBr(outer);
  b_.SetInsertPoint(found);
  b_.CreateBr(done);
  b_.SetInsertPoint(absent);
  b_.CreateBr(done);
  b_.SetInsertPoint(done);
  auto *r = b_.CreatePHI(i64, 2);
  r->addIncoming(b_.getInt64(1), found);
  r->addIncoming(b_.getInt64(0), absent);
  return r;
}

void Generator::store_const_str(const std::string &s, Value *dst, uint32_t dst_size) {
  std::string bytes = s.substr(0, dst_size - 1);
  bytes.resize(std::min<size_t>(dst_size, s.size() + 1), '\0');
  // Eight bytes at a time, then the tail.
  size_t i = 0;
  for (; i + 8 <= bytes.size(); i += 8) {
    uint64_t v;
    memcpy(&v, bytes.data() + i, 8);
    auto *st = b_.CreateStore(b_.getInt64(v), ptr_add(dst, i));
    st->setAlignment(llvm::Align(1));
  }
  for (; i < bytes.size(); i++)
    b_.CreateStore(b_.getInt8(static_cast<uint8_t>(bytes[i])), ptr_add(dst, i));
}

void Generator::copy_str(Value *src, uint32_t src_size, Value *dst, uint32_t dst_size) {
  uint32_t n = std::min(src_size, dst_size);
  b_.CreateMemCpy(dst, llvm::MaybeAlign(1), src, llvm::MaybeAlign(1), n);
  if (n == dst_size)  // truncated: keep the NUL
    b_.CreateStore(b_.getInt8(0), ptr_add(dst, dst_size - 1));
}

// Writes the string value of `e` into dst (dst_size bytes, NUL-terminated;
// bytes after the NUL are left as they are).
void Generator::emit_str_into(const Expr &e, Value *dst, uint32_t dst_size) {
  switch (e.kind) {
  case ExprKind::String:
    store_const_str(e.name, dst, dst_size);
    return;
  case ExprKind::Builtin:
    if (e.name == "comm") {
      call_helper(bpf::kGetCurrentComm, b_.getInt64Ty(),
                  {dst, b_.getInt64(std::min<uint32_t>(16, dst_size))});
      return;
    }
    if (e.name == "func") {
      store_const_str(ap_->func, dst, dst_size);
      return;
    }
    if (e.name == "probe") {
      store_const_str(ap_->probe.spec, dst, dst_size);
      return;
    }
    break;
  case ExprKind::Variable: {
    const Var &v = vars_.at(e.name);
    copy_str(v.slot, v.type.size, dst, dst_size);
    return;
  }
  case ExprKind::Map: {
    const MapDef &def = map_def(e.name);
    Value *key = emit_key(e, def, nullptr);
    Value *p = emit_map_lookup(def, key);
    auto *found = BasicBlock::Create(ctx_, "map_found", fn_);
    auto *missing = BasicBlock::Create(ctx_, "map_missing", fn_);
    auto *done = BasicBlock::Create(ctx_, "map_done", fn_);
    b_.CreateCondBr(b_.CreateIsNull(p), missing, found);
    b_.SetInsertPoint(found);
    copy_str(p, def.meta.value.size, dst, dst_size);
    b_.CreateBr(done);
    b_.SetInsertPoint(missing);
    b_.CreateStore(b_.getInt8(0), dst);
    b_.CreateBr(done);
    b_.SetInsertPoint(done);
    return;
  }
  case ExprKind::Call:
    if (e.name == "str") {
      const Expr &a = *e.children[0];
      uint32_t n = std::min(e.type.size, dst_size);
      if (a.type.is_str()) {
        auto *tmp = temp_buffer(a.type.size, "str_tmp");
        emit_str_into(a, tmp, a.type.size);
        copy_str(tmp, n, dst, n);
        return;
      }
      Value *p = emit_int(a);
      bool user = a.type.is_pointer ? a.type.addr_space == Type::AddrSpace::User
                                    : ap_->pointer_space == Type::AddrSpace::User;
      read_memory(user ? bpf::kProbeReadUserStr : bpf::kProbeReadKernelStr, dst, n,
                  b_.CreateIntToPtr(p, b_.getPtrTy()));
      return;
    }
    break;
  case ExprKind::Field: {
    if (is_dwarf_field(e)) {
      // A char array in user memory: at most size-1 characters, NUL-terminated.
      uint32_t n = std::min(e.type.size, dst_size) - 1;
      bool kernel = e.children[0]->type.addr_space == Type::AddrSpace::Kernel;
      call_helper(kernel ? bpf::kProbeReadKernelStr : bpf::kProbeReadUserStr, b_.getInt64Ty(),
                  {dst, b_.getInt64(n + 1), b_.CreateIntToPtr(emit_address_of(e), b_.getPtrTy())});
      return;
    }
    if (e.children[0]->type.kind == Type::Kind::Tuple) {
      meta::Type layout;
      Value *p = emit_tuple_ptr(*e.children[0], layout);
      copy_str(ptr_add(p, layout.offsets[e.int_value]), layout.elems[e.int_value].size, dst,
               dst_size);
      return;
    }
    const sema::TracepointField &f = field(e.name);
    if (f.kind == sema::TracepointField::Kind::CharArray) {
      uint32_t n = std::min(f.size, dst_size);
      call_helper(bpf::kProbeReadKernel, b_.getInt64Ty(),
                  {dst, b_.getInt64(n), ptr_add(ctx_arg_, f.offset)});
      b_.CreateStore(b_.getInt8(0), ptr_add(dst, n - 1));
      return;
    }
    if (f.kind == sema::TracepointField::Kind::DataLoc) {
      // __data_loc: low 16 bits offset from the record start, high 16 bits length.
      Value *loc = b_.CreateLoad(b_.getInt32Ty(), ptr_add(ctx_arg_, f.offset));
      Value *off = b_.CreateZExt(b_.CreateAnd(loc, b_.getInt32(0xffff)), b_.getInt64Ty());
      Value *src = b_.CreateGEP(b_.getInt8Ty(), ctx_arg_, off);
      call_helper(bpf::kProbeReadKernelStr, b_.getInt64Ty(), {dst, b_.getInt64(dst_size), src});
      return;
    }
    break;
  }
  case ExprKind::Ternary:
    emit_ternary_in_place(e, [&](const Expr &branch) { emit_str_into(branch, dst, dst_size); });
    return;
  default:
    break;
  }
  throw std::logic_error("not a string expression: " + e.name);
}

// c ? a : b for values written into memory: each branch writes its own.
void Generator::emit_ternary_in_place(const Expr &e,
                                      const std::function<void(const Expr &)> &emit_branch) {
  Value *c = emit_bool(*e.children[0]);
  auto *then_bb = BasicBlock::Create(ctx_, "tern_then", fn_);
  auto *else_bb = BasicBlock::Create(ctx_, "tern_else", fn_);
  auto *done = BasicBlock::Create(ctx_, "tern_done", fn_);
  b_.CreateCondBr(c, then_bb, else_bb);
  b_.SetInsertPoint(then_bb);
  emit_branch(*e.children[1]);
  b_.CreateBr(done);
  b_.SetInsertPoint(else_bb);
  emit_branch(*e.children[2]);
  b_.CreateBr(done);
  b_.SetInsertPoint(done);
}

void Generator::emit_into(const Expr &e, Value *dst, const meta::Type &layout) {
  if (e.kind == ExprKind::Ternary && layout.kind != meta::Type::Kind::Int) {
    emit_ternary_in_place(e, [&](const Expr &branch) { emit_into(branch, dst, layout); });
    return;
  }
  switch (layout.kind) {
  case meta::Type::Kind::Int:
    b_.CreateStore(emit_int(e), dst);
    return;
  case meta::Type::Kind::Str:
    emit_str_into(e, dst, layout.size);
    return;
  case meta::Type::Kind::Tuple:
    if (e.kind == ExprKind::Tuple) {
      for (size_t i = 0; i < e.children.size(); i++)
        emit_into(*e.children[i], ptr_add(dst, layout.offsets[i]), layout.elems[i]);
    } else {
      meta::Type from;
      Value *src = emit_tuple_ptr(e, from);
      convert_copy(src, from, dst, layout);
    }
    return;
  default:
    emit_special_into(e, dst, layout);
    return;
  }
}

// Values the runtime prints specially: the layouts are in runtime/metadata.h.
void Generator::emit_special_into(const Expr &e, Value *dst, const meta::Type &layout) {
  auto *i64 = b_.getInt64Ty();
  bool made_here = (e.kind == ExprKind::Call || e.kind == ExprKind::Builtin) &&
                   (e.name == "ksym" || e.name == "usym" || e.name == "kstack" ||
                    e.name == "ustack" || e.name == "ntop" || e.name == "strftime" ||
                    e.name == "buf");
  if (!made_here) {  // a variable, map value or tuple element holding one
    meta::Type from;
    Value *src = emit_tuple_ptr(e, from);
    convert_copy(src, from, dst, layout);
    return;
  }
  const std::string &fn = e.name;
  if (fn == "ksym" || fn == "strftime") {
    b_.CreateStore(emit_int(*e.children.back()), dst);
  } else if (fn == "usym") {
    b_.CreateStore(emit_int(*e.children[0]), dst);
    b_.CreateStore(b_.CreateLShr(pid_tgid(), 32), ptr_add(dst, 8));
  } else if (fn == "kstack" || fn == "ustack") {
    bool user = fn == "ustack";
    Value *id = user && unwinding_
                    ? b_.CreateCall(stdlib_fn("gt_unwind_result", i64, {}))
                    : call_helper(bpf::kGetStackid, i64,
                                  {ctx_arg_, stacks_, b_.getInt64(user ? bpf::kUserStack : 0)});
    b_.CreateStore(id, dst);
    b_.CreateStore(user ? b_.CreateLShr(pid_tgid(), 32) : b_.getInt64(0), ptr_add(dst, 8));
  } else if (fn == "ntop") {
    const Expr &addr = *e.children.back();
    bool v6 = addr.type.is_str() && addr.type.size >= 16;
    Value *family = e.children.size() == 2 ? emit_int(*e.children[0]) : b_.getInt64(v6 ? 10 : 2);
    b_.CreateStore(family, dst);
    Value *bytes = ptr_add(dst, 8);
    b_.CreateMemSet(bytes, b_.getInt8(0), 16, llvm::MaybeAlign(8));
    if (addr.type.is_int()) {
      b_.CreateStore(b_.CreateTrunc(emit_int(addr), b_.getInt32Ty()), bytes);
    } else if (is_dwarf_field(addr)) {
      // Raw address bytes of a struct member (they contain zeros): read them
      // as bytes, not as a string.
      bool kernel = addr.children[0]->type.addr_space == Type::AddrSpace::Kernel;
      read_memory(kernel ? bpf::kProbeReadKernel : bpf::kProbeReadUser, bytes, v6 ? 16 : 4,
                  b_.CreateIntToPtr(emit_address_of(addr), b_.getPtrTy()));
    } else {
      auto *tmp = temp_buffer(addr.type.size, "ntop_bytes");
      emit_str_into(addr, tmp, addr.type.size);
      b_.CreateMemCpy(bytes, llvm::MaybeAlign(1), tmp, llvm::MaybeAlign(1), v6 ? 16 : 4);
    }
  } else if (fn == "buf") {
    uint32_t n = layout.size - 8;
    const Expr &p = *e.children[0];
    bool user = p.type.is_pointer ? p.type.addr_space == Type::AddrSpace::User
                                  : ap_->pointer_space == Type::AddrSpace::User;
    Value *rc = read_memory(user ? bpf::kProbeReadUser : bpf::kProbeReadKernel, ptr_add(dst, 8),
                            n, b_.CreateIntToPtr(emit_int(p), b_.getPtrTy()));
    // A failed read leaves the buffer zeroed: report its length as 0.
    b_.CreateStore(b_.CreateSelect(b_.CreateICmpEQ(rc, b_.getInt64(0)), b_.getInt64(n),
                                   b_.getInt64(0)),
                   dst);
  }
}

void Generator::convert_copy(Value *src, const meta::Type &from, Value *dst,
                             const meta::Type &to) {
  if (from == to) {
    b_.CreateMemCpy(dst, llvm::MaybeAlign(1), src, llvm::MaybeAlign(1), to.size);
    return;
  }
  switch (to.kind) {
  case meta::Type::Kind::Int:
    b_.CreateStore(b_.CreateLoad(b_.getInt64Ty(), src), dst);
    return;
  case meta::Type::Kind::Str:
    copy_str(src, from.size, dst, to.size);
    return;
  case meta::Type::Kind::Tuple:
    for (size_t i = 0; i < to.elems.size(); i++)
      convert_copy(ptr_add(src, from.offsets[i]), from.elems[i], ptr_add(dst, to.offsets[i]),
                   to.elems[i]);
    return;
  default:
    throw std::logic_error("cannot copy this value");
  }
}

Value *Generator::emit_tuple_ptr(const Expr &e, meta::Type &layout) {
  switch (e.kind) {
  case ExprKind::Variable: {
    const Var &v = vars_.at(e.name);
    layout = sema::to_meta(v.type);
    return v.slot;
  }
  case ExprKind::Map: {
    const MapDef &def = map_def(e.name);
    layout = def.meta.value;
    auto *buf = temp_buffer(layout.size, "tuple_read");
    b_.CreateMemSet(buf, b_.getInt8(0), layout.size, llvm::MaybeAlign(8));
    Value *key = emit_key(e, def, nullptr);
    Value *p = emit_map_lookup(def, key);
    auto *found = BasicBlock::Create(ctx_, "map_found", fn_);
    auto *done = BasicBlock::Create(ctx_, "map_done", fn_);
    b_.CreateCondBr(b_.CreateIsNull(p), done, found);
    b_.SetInsertPoint(found);
    b_.CreateMemCpy(buf, llvm::MaybeAlign(8), p, llvm::MaybeAlign(1), layout.size);
    b_.CreateBr(done);
    b_.SetInsertPoint(done);
    return buf;
  }
  case ExprKind::Field: {
    meta::Type outer;
    Value *p = emit_tuple_ptr(*e.children[0], outer);
    layout = outer.elems[e.int_value];
    return ptr_add(p, outer.offsets[e.int_value]);
  }
  default: {
    layout = sema::to_meta(e.type);
    auto *buf = temp_buffer(layout.size, "tuple");
    b_.CreateMemSet(buf, b_.getInt8(0), layout.size, llvm::MaybeAlign(8));
    emit_into(e, buf, layout);
    return buf;
  }
  }
}

// ---------------------------------------------------------------------------

void init_llvm() {
  static std::once_flag once;
  std::call_once(once, [] {
    LLVMInitializeBPFTargetInfo();
    LLVMInitializeBPFTarget();
    LLVMInitializeBPFTargetMC();
    LLVMInitializeBPFAsmPrinter();
    LLVMInitializeBPFAsmParser();
  });
}

// The metadata goes into a non-allocated section through module-level
// assembly: libbpf ignores it, and no BTF or symbol is created for it.
std::string metadata_asm(const std::string &json) {
  std::string s = "\t.pushsection ";
  s += meta::kSectionName;
  s += ",\"\",@progbits\n";
  for (size_t i = 0; i < json.size(); i += 64) {
    s += "\t.byte ";
    for (size_t j = i; j < std::min(json.size(), i + 64); j++) {
      if (j > i)
        s += ",";
      s += std::to_string(static_cast<unsigned char>(json[j]));
    }
    s += "\n";
  }
  s += "\t.popsection\n";
  return s;
}

// LLVM reports problems such as an exceeded BPF stack through diagnostics;
// they become script errors at the line LLVM names.
struct LlvmDiagnostic {
  std::string message;
  SourceRange loc;
};

static void collect_llvm_diagnostic(const llvm::DiagnosticInfo *dip, void *context) {
  const llvm::DiagnosticInfo &di = *dip;
  if (di.getSeverity() != llvm::DS_Error)
    return;
  auto *out = static_cast<std::vector<LlvmDiagnostic> *>(context);
  LlvmDiagnostic d;
  llvm::raw_string_ostream os(d.message);
  llvm::DiagnosticPrinterRawOStream printer(os);
  if (auto *u = llvm::dyn_cast<llvm::DiagnosticInfoUnsupported>(&di)) {
    std::string msg = u->getMessage().str();
    if (msg.find("stack limit") != std::string::npos)
      msg = "this probe needs more than the 512 bytes of stack BPF allows; use fewer or "
            "shorter strings (str(p, N) keeps at most N characters)";
    os << msg;
    if (u->isLocationAvailable()) {
      d.loc.line = u->getLocation().getLine();
      d.loc.col = u->getLocation().getColumn();
    }
  } else {
    di.print(printer);
  }
  os.flush();
  out->push_back(d);
}

bool Generator::run(Output &out) {
  init_llvm();
  std::vector<LlvmDiagnostic> llvm_errors;
  ctx_.setDiagnosticHandlerCallBack(collect_llvm_diagnostic, &llvm_errors);
  // LLVM repeats one problem for every instruction it touches: report the first.
  auto report_llvm_errors = [&]() {
    if (llvm_errors.empty())
      return true;
    const auto &d = llvm_errors.front();
    if (d.loc.line)
      diags_.error(d.loc, d.message);
    else
      diags_.error(d.message);
    return false;
  };
  std::string err;
  llvm::Triple triple("bpfel");
  const llvm::Target *target = llvm::TargetRegistry::lookupTarget("bpfel", triple, err);
  if (!target) {
    diags_.error("LLVM has no BPF target: " + err);
    return false;
  }
  llvm::TargetOptions topts;
  std::unique_ptr<llvm::TargetMachine> tm(target->createTargetMachine(
      triple.getTriple(), "v3", "", topts, llvm::Reloc::PIC_, std::nullopt,
      llvm::CodeGenOptLevel::Aggressive));
  mod_->setTargetTriple(triple.getTriple());
  mod_->setDataLayout(tm->createDataLayout());

  create_debug_unit();
  define_license();
  define_config();
  define_maps();
  uint32_t index = 0;
  for (const auto &probe : an_.probes)
    for (const auto &ap : probe.attach_points) {
      // The entry half gets the lower index: probes attach in index order,
      // so entries are recorded before any return can look for them.
      if (probe.needs_entry())
        emit_entry_program(probe, ap, index++);
      TailArray *tails = probe.uses_ustack ? tail_array(ap.probe.kind) : nullptr;
      if (tails) {
        std::string body = "probe_" + std::to_string(index) + "_body";
        emit_unwind_start(probe, ap, index, body, *tails);
        emit_probe(probe, ap, index++, body);
      } else {
        emit_probe(probe, ap, index++);
      }
    }
  emit_unwind_stages();
  meta_.bpf_unwinder = !tails_.empty();
  dib_.finalize();
  if (!link_stdlib())
    return false;

  meta_.source_name = src_.name();
  meta_.printfs = an_.printfs;
  for (const auto &[id, mask] : printf_masks_)
    meta_.printfs.at(id).error_mask = mask;
  meta_.time_formats = an_.time_formats;
  meta_.joins = an_.joins;
  meta_.print_values = an_.print_values;
  meta_.map_prints = an_.map_prints;
  meta_.uses_system = an_.uses_system;
  meta_.needs_stacks = an_.needs_stacks;
  meta_.binaries = an_.binaries;
  meta_.ringbuf_size = opts_.ringbuf_size;
  mod_->setModuleInlineAsm(metadata_asm(meta::serialize(meta_)));

  std::string verify_msg;
  llvm::raw_string_ostream vos(verify_msg);
  if (llvm::verifyModule(*mod_, &vos)) {
    diags_.error("internal error: generated invalid IR: " + vos.str());
    return false;
  }

  // Optimize as clang -O2 would for BPF (the target adds its own passes).
  {
    llvm::LoopAnalysisManager lam;
    llvm::FunctionAnalysisManager fam;
    llvm::CGSCCAnalysisManager cgam;
    llvm::ModuleAnalysisManager mam;
    llvm::PassBuilder pb(tm.get());
    pb.registerModuleAnalyses(mam);
    pb.registerCGSCCAnalyses(cgam);
    pb.registerFunctionAnalyses(fam);
    pb.registerLoopAnalyses(lam);
    pb.crossRegisterProxies(lam, fam, cgam, mam);
    llvm::ModulePassManager mpm = pb.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O2);
    mpm.run(*mod_, mam);
  }
  if (opts_.ir_out) {
    llvm::raw_os_ostream os(*opts_.ir_out);
    mod_->print(os, nullptr);
  }

  llvm::SmallVector<char, 0> buffer;
  llvm::raw_svector_ostream os(buffer);
  llvm::legacy::PassManager pm;
  if (tm->addPassesToEmitFile(pm, os, nullptr, llvm::CodeGenFileType::ObjectFile)) {
    diags_.error("internal error: LLVM cannot emit a BPF object");
    return false;
  }
  pm.run(*mod_);
  if (!report_llvm_errors())
    return false;
  out.object.assign(buffer.begin(), buffer.end());
  out.metadata = meta_;
  return true;
}

}  // namespace

bool generate(const ast::Program &program, const sema::Analysis &analysis,
              const SourceFile &source, Diagnostics &diags, const Options &opts, Output &out) {
  Generator g(program, analysis, source, diags, opts);
  try {
    return g.run(out);
  } catch (const std::exception &e) {
    diags.error(std::string("internal compiler error: ") + e.what());
    return false;
  }
}

}  // namespace gt::codegen
