#include "sema/btf/btf.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/btf.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <unordered_map>

namespace gt::btf {

namespace {

constexpr uint32_t kNone = 0xffffffffu;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool consume_word(std::string_view &s, std::string_view word) {
  if (s.size() > word.size() && s.substr(0, word.size()) == word &&
      (s[word.size()] == ' ' || s[word.size()] == '\t')) {
    s = trim(s.substr(word.size()));
    return true;
  }
  return false;
}

}  // namespace

std::string Prototype::signature() const {
  std::string ps;
  for (size_t i = 0; i < params.size(); i++) {
    if (i) ps += ", ";
    ps += params[i].declaration();
  }
  if (variadic) ps += ps.empty() ? "..." : ", ...";
  if (ps.empty()) ps = "void";
  return return_type->declare(name + "(" + ps + ")");
}

struct Btf::Impl {
  Btf *self;
  const struct ::btf *b;
  std::vector<Type *> by_id;                    // memo: BTF id -> type (nullptr = not yet)
  std::unordered_map<const Type *, uint32_t> stubs;  // aggregates whose members are not filled
  std::unordered_map<const Type *, const Type *> pointers;
  // Name lookups scan the type section (about 1 ms for vmlinux; a full
  // index costs ~50 ms to build, more than a script's lookups). After
  // kIndexAfter scans the index is built anyway.
  static constexpr int kIndexAfter = 32;
  int scans = 0;
  bool indexed = false;
  std::unordered_multimap<std::string_view, uint32_t> names;

  const struct btf_type *bt(uint32_t id) const { return btf__type_by_id(b, id); }
  std::string_view name_of(const struct btf_type *t) const {
    const char *n = btf__name_by_offset(b, t->name_off);
    return n ? std::string_view(n) : std::string_view();
  }

  static bool indexed_kind(int k) {
    switch (k) {
      case BTF_KIND_INT: case BTF_KIND_FLOAT: case BTF_KIND_STRUCT: case BTF_KIND_UNION:
      case BTF_KIND_ENUM: case BTF_KIND_ENUM64: case BTF_KIND_FWD: case BTF_KIND_TYPEDEF:
      case BTF_KIND_FUNC:
        return true;
      default: return false;
    }
  }

  void build_index() {
    indexed = true;
    uint32_t n = btf__type_cnt(b);
    names.reserve(n);
    for (uint32_t id = 1; id < n; id++) {
      const struct btf_type *t = bt(id);
      if (t->name_off && indexed_kind(btf_kind(t))) names.emplace(name_of(t), id);
    }
  }

  // First id named `name` whose kind passes `want` (one of indexed_kind).
  // Prefers definitions over BTF_KIND_FWD.
  template <typename Pred>
  uint32_t lookup(std::string_view name, Pred want) {
    uint32_t fwd = kNone, best = kNone;
    auto consider = [&](uint32_t id, const struct btf_type *t) {
      if (btf_kind(t) == BTF_KIND_FWD) {
        if (id < fwd) fwd = id;
      } else if (id < best) {
        best = id;
      }
    };
    if (!indexed && ++scans > kIndexAfter) build_index();
    if (indexed) {
      auto range = names.equal_range(name);
      for (auto it = range.first; it != range.second; ++it) {
        const struct btf_type *t = bt(it->second);
        if (want(t)) consider(it->second, t);
      }
    } else {
      uint32_t n = btf__type_cnt(b);
      for (uint32_t id = 1; id < n && best == kNone; id++) {
        const struct btf_type *t = bt(id);
        if (!t->name_off || !want(t)) continue;
        if (name_of(t) == name) consider(id, t);
      }
    }
    return best != kNone ? best : fwd;
  }

  uint32_t find_aggregate_def(std::string_view name, bool is_union) {
    return lookup(name, [&](const struct btf_type *t) {
      return is_union ? btf_is_union(t) : btf_is_struct(t);
    });
  }

  // Builds the type for `id`; aggregates are left as stubs.
  const Type *shallow(uint32_t id) {
    if (id == 0) return self->arena_.void_type();
    if (id >= by_id.size()) return nullptr;
    if (by_id[id]) return by_id[id];
    const struct btf_type *t = bt(id);
    TypeArena &arena = self->arena_;
    Type *r = nullptr;
    switch (btf_kind(t)) {
      case BTF_KIND_INT: {
        r = arena.make(TypeKind::Int);
        r->name = std::string(name_of(t));
        r->size = t->size;
        uint8_t enc = btf_int_encoding(t);
        r->is_signed = enc & BTF_INT_SIGNED;
        r->is_bool = enc & BTF_INT_BOOL;
        r->is_char = (enc & BTF_INT_CHAR) || r->name == "char" || r->name == "signed char" ||
                     r->name == "unsigned char";
        break;
      }
      case BTF_KIND_FLOAT:
        r = arena.make(TypeKind::Float);
        r->name = std::string(name_of(t));
        r->size = t->size;
        r->is_signed = true;
        break;
      case BTF_KIND_PTR:
        r = arena.make(TypeKind::Pointer);
        r->size = 8;
        by_id[id] = r;
        r->target = shallow(t->type);
        return r;
      case BTF_KIND_CONST:
      case BTF_KIND_VOLATILE:
      case BTF_KIND_RESTRICT:
      case BTF_KIND_TYPEDEF: {
        int k = btf_kind(t);
        r = arena.make(k == BTF_KIND_CONST      ? TypeKind::Const
                       : k == BTF_KIND_VOLATILE ? TypeKind::Volatile
                       : k == BTF_KIND_RESTRICT ? TypeKind::Restrict
                                                : TypeKind::Typedef);
        if (k == BTF_KIND_TYPEDEF) r->name = std::string(name_of(t));
        by_id[id] = r;
        r->target = shallow(t->type);
        r->size = r->target ? r->target->size : 0;
        return r;
      }
      case BTF_KIND_TYPE_TAG: {  // __user, __rcu, __percpu...: transparent
        const Type *tg = shallow(t->type);
        by_id[id] = const_cast<Type *>(tg);
        return tg;
      }
      case BTF_KIND_ARRAY: {
        const struct btf_array *a = btf_array(t);
        r = arena.make(TypeKind::Array);
        by_id[id] = r;
        r->target = shallow(a->type);
        r->count = a->nelems;
        r->count_known = a->nelems != 0;  // `x[]` and `x[0]` both have 0 elements in BTF
        r->size = r->target ? r->count * r->target->size : 0;
        return r;
      }
      case BTF_KIND_STRUCT:
      case BTF_KIND_UNION:
        r = arena.make(btf_is_union(t) ? TypeKind::Union : TypeKind::Struct);
        r->name = std::string(name_of(t));
        r->size = t->size;
        r->is_declaration = true;  // until complete()
        stubs.emplace(r, id);
        break;
      case BTF_KIND_FWD: {
        bool is_union = btf_kflag(t);
        uint32_t def = find_aggregate_def(name_of(t), is_union);
        if (def != kNone && !btf_is_fwd(bt(def))) {
          const Type *d = shallow(def);
          by_id[id] = const_cast<Type *>(d);
          return d;
        }
        r = arena.make(is_union ? TypeKind::Union : TypeKind::Struct);
        r->name = std::string(name_of(t));
        r->is_declaration = true;
        break;
      }
      case BTF_KIND_ENUM:
      case BTF_KIND_ENUM64: {
        r = arena.make(TypeKind::Enum);
        r->name = std::string(name_of(t));
        r->size = t->size;
        r->is_signed = btf_kflag(t);
        uint16_t n = btf_vlen(t);
        r->enumerators.reserve(n);
        if (btf_is_enum(t)) {
          const struct btf_enum *e = btf_enum(t);
          for (uint16_t i = 0; i < n; i++) {
            gt::dwarf::Enumerator en;
            en.name = btf__name_by_offset(b, e[i].name_off);
            en.value = r->is_signed ? int64_t(e[i].val) : int64_t(uint32_t(e[i].val));
            r->enumerators.push_back(std::move(en));
          }
        } else {
          const struct btf_enum64 *e = btf_enum64(t);
          for (uint16_t i = 0; i < n; i++) {
            gt::dwarf::Enumerator en;
            en.name = btf__name_by_offset(b, e[i].name_off);
            en.value = int64_t(btf_enum64_value(&e[i]));
            r->enumerators.push_back(std::move(en));
          }
        }
        break;
      }
      case BTF_KIND_FUNC_PROTO: {
        r = arena.make(TypeKind::Function);
        by_id[id] = r;
        r->target = shallow(t->type);
        const struct btf_param *p = btf_params(t);
        uint16_t n = btf_vlen(t);
        for (uint16_t i = 0; i < n; i++) {
          if (i + 1 == n && p[i].type == 0 && p[i].name_off == 0) {
            r->variadic = true;
            break;
          }
          r->params.push_back(shallow(p[i].type));
        }
        return r;
      }
      case BTF_KIND_FUNC: {  // not a type of a value; its prototype stands for it
        const Type *tg = shallow(t->type);
        by_id[id] = const_cast<Type *>(tg);
        return tg;
      }
      default:  // VAR, DATASEC, DECL_TAG, unknown kinds
        r = arena.make(TypeKind::Void);
        r->name = "<unsupported BTF kind " + std::to_string(btf_kind(t)) + ">";
        break;
    }
    by_id[id] = r;
    return r;
  }

  // Fills the members of `t` if it is a stub, and of everything embedded in
  // it by value.
  void fill(const Type *t) {
    // Look through typedefs, qualifiers and arrays: all are embedded by value.
    while (t && (t->kind == TypeKind::Typedef || t->kind == TypeKind::Const ||
                 t->kind == TypeKind::Volatile || t->kind == TypeKind::Restrict ||
                 t->kind == TypeKind::Array))
      t = t->target;
    if (!t || !t->is_aggregate()) return;
    auto it = stubs.find(t);
    if (it == stubs.end()) return;
    uint32_t id = it->second;
    stubs.erase(it);
    Type *r = const_cast<Type *>(t);  // owned by our arena
    const struct btf_type *bt_ = bt(id);
    uint16_t n = btf_vlen(bt_);
    const struct btf_member *m = btf_members(bt_);
    r->members.reserve(n);
    for (uint16_t i = 0; i < n; i++) {
      Member mem;
      mem.name = btf__name_by_offset(b, m[i].name_off);
      mem.type = shallow(m[i].type);
      uint64_t bit_pos = btf_member_bit_offset(bt_, i);
      uint32_t bits = btf_member_bitfield_size(bt_, i);
      if (!btf_kflag(bt_)) {
        // Old encoding: a bitfield is an INT member whose nr_bits is smaller
        // than its size, with the extra offset in the INT itself.
        const struct btf_type *mt = bt(m[i].type);
        while (mt && (btf_is_mod(mt) || btf_is_typedef(mt))) mt = bt(mt->type);
        if (mt && btf_is_int(mt) && btf_int_bits(mt) != mt->size * 8) {
          bits = btf_int_bits(mt);
          bit_pos += btf_int_offset(mt);
        }
      }
      mem.offset = bit_pos / 8;
      if (bits) {
        mem.bit_offset = uint32_t(bit_pos % 8);
        mem.bit_size = bits;
      }
      r->members.push_back(std::move(mem));
    }
    r->is_declaration = false;
    for (const Member &mem : r->members) fill(mem.type);
  }

  const Type *full(uint32_t id) {
    const Type *t = shallow(id);
    fill(t);
    return t;
  }

  const Type *find_base(std::string_view name) {
    uint32_t id = lookup(name, [](const struct btf_type *t) { return btf_is_int(t) || btf_is_float(t); });
    return id == kNone ? nullptr : full(id);
  }
};

std::unique_ptr<Btf> Btf::open(const std::string &path_in, std::string &error) {
  std::string path = path_in.empty() ? kVmlinuxPath : path_in;
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    int e = errno;
    if (path_in.empty() && e == ENOENT)
      error = std::string("kernel BTF not available: ") + path +
              " does not exist (kernel built without CONFIG_DEBUG_INFO_BTF)";
    else
      error = "cannot open BTF " + path + ": " + std::strerror(e);
    return nullptr;
  }
  // Raw BTF (what /sys/kernel/btf/* holds) starts with the BTF magic;
  // anything else is tried as an ELF file with a .BTF section.
  struct ::btf *b = nullptr;
  FILE *f = std::fopen(path.c_str(), "rb");
  uint16_t magic = 0;
  if (f) {
    if (std::fread(&magic, 1, sizeof magic, f) != sizeof magic) magic = 0;
    std::fclose(f);
  }
  errno = 0;
  if (magic == 0xeB9F || magic == 0x9FeB)
    b = btf__parse_raw(path.c_str());
  else
    b = btf__parse_elf(path.c_str(), nullptr);
  int e = libbpf_get_error(b);
  if (!b || e) {
    error = "cannot read BTF from " + path + ": " + std::strerror(e < 0 ? -e : (errno ? errno : EINVAL));
    return nullptr;
  }
  std::unique_ptr<Btf> r(new Btf());
  r->path_ = path;
  r->btf_ = b;
  r->impl_ = std::make_unique<Impl>();
  r->impl_->self = r.get();
  r->impl_->b = b;
  r->impl_->by_id.assign(btf__type_cnt(b), nullptr);
  return r;
}

Btf::~Btf() {
  if (btf_) btf__free(btf_);
}

uint32_t Btf::type_count() const { return btf__type_cnt(btf_); }
size_t Btf::imported_count() const { return arena_.size(); }

const Type *Btf::type_by_id(uint32_t id) {
  if (id >= impl_->by_id.size()) return nullptr;
  return impl_->full(id);
}

const Type *Btf::complete(const Type *t) {
  impl_->fill(t);
  return t ? t->resolve() : nullptr;
}

std::optional<MemberLookup> Btf::find_member(const Type *t, std::string_view name) {
  complete(t);
  return gt::dwarf::find_member(t, name);
}

const Type *Btf::pointer_to(const Type *t) {
  auto it = impl_->pointers.find(t);
  if (it != impl_->pointers.end()) return it->second;
  Type *p = arena_.make(TypeKind::Pointer);
  p->size = 8;
  p->target = t;
  impl_->pointers.emplace(t, p);
  return p;
}

const Type *Btf::find_type(std::string_view name_in) {
  std::string_view name = trim(name_in);
  int stars = 0;
  while (!name.empty() && name.back() == '*') {
    stars++;
    name = trim(name.substr(0, name.size() - 1));
  }
  bool is_const = consume_word(name, "const");
  const Type *t = nullptr;
  Impl &I = *impl_;
  auto by_kind = [&](std::string_view n, auto pred) -> const Type * {
    uint32_t id = I.lookup(n, pred);
    return id == kNone ? nullptr : I.full(id);
  };
  if (consume_word(name, "struct")) {
    t = by_kind(name, [](const struct btf_type *b) { return btf_is_struct(b) || (btf_is_fwd(b) && !btf_kflag(b)); });
  } else if (consume_word(name, "union")) {
    t = by_kind(name, [](const struct btf_type *b) { return btf_is_union(b) || (btf_is_fwd(b) && btf_kflag(b)); });
  } else if (consume_word(name, "enum")) {
    t = by_kind(name, [](const struct btf_type *b) { return btf_is_any_enum(b); });
  } else if (name == "void") {
    t = arena_.void_type();
  } else {
    t = by_kind(name, [](const struct btf_type *b) { return btf_is_typedef(b); });
    if (!t) t = I.find_base(name);
    if (!t) t = by_kind(name, [](const struct btf_type *b) { return btf_is_struct(b) || (btf_is_fwd(b) && !btf_kflag(b)); });
    if (!t) t = by_kind(name, [](const struct btf_type *b) { return btf_is_union(b) || (btf_is_fwd(b) && btf_kflag(b)); });
    if (!t) t = by_kind(name, [](const struct btf_type *b) { return btf_is_any_enum(b); });
  }
  if (!t) return nullptr;
  if (is_const) {
    Type *c = arena_.make(TypeKind::Const);
    c->target = t;
    c->size = t->size;
    t = c;
  }
  for (int i = 0; i < stars; i++) t = pointer_to(t);
  return t;
}

std::optional<Prototype> Btf::find_function(std::string_view name, std::string &error) {
  Impl &I = *impl_;
  uint32_t id = I.lookup(name, [](const struct btf_type *t) { return btf_is_func(t); });
  if (id == kNone) {
    error = "no kernel function '" + std::string(name) + "' in BTF (" + path_ + ")";
    return std::nullopt;
  }
  const struct btf_type *fn = I.bt(id);
  const struct btf_type *proto = I.bt(fn->type);
  if (!proto || !btf_is_func_proto(proto)) {
    error = "BTF function '" + std::string(name) + "' has no prototype";
    return std::nullopt;
  }
  Prototype p;
  p.name = std::string(name);
  p.btf_id = id;
  p.is_static = btf_vlen(fn) == BTF_FUNC_STATIC;
  p.return_type = I.full(proto->type);
  const struct btf_param *ps = btf_params(proto);
  uint16_t n = btf_vlen(proto);
  for (uint16_t i = 0; i < n; i++) {
    if (i + 1 == n && ps[i].type == 0 && ps[i].name_off == 0) {
      p.variadic = true;
      break;
    }
    Param par;
    par.name = btf__name_by_offset(I.b, ps[i].name_off);
    par.type = I.full(ps[i].type);
    p.params.push_back(std::move(par));
  }
  return p;
}

std::optional<Prototype> Btf::find_raw_tracepoint(std::string_view name, std::string &error) {
  Impl &I = *impl_;
  std::string tname = "btf_trace_" + std::string(name);
  uint32_t id = I.lookup(tname, [](const struct btf_type *t) { return btf_is_typedef(t); });
  const struct btf_type *proto = nullptr;
  if (id != kNone) {
    const struct btf_type *ptr = I.bt(I.bt(id)->type);
    if (ptr && btf_is_ptr(ptr)) proto = I.bt(ptr->type);
  }
  if (!proto || !btf_is_func_proto(proto) || btf_vlen(proto) == 0) {
    error = "no raw tracepoint '" + std::string(name) + "' in kernel BTF (no " + tname + " typedef in " +
            path_ + ")";
    return std::nullopt;
  }
  // Parameter names: the typedef's prototype has none; the __bpf_trace_
  // stub that the kernel generates for each tracepoint has them.
  const struct btf_type *named = nullptr;
  uint32_t fid = I.lookup("__bpf_trace_" + std::string(name), [](const struct btf_type *t) { return btf_is_func(t); });
  if (fid != kNone) {
    const struct btf_type *fp = I.bt(I.bt(fid)->type);
    if (fp && btf_is_func_proto(fp) && btf_vlen(fp) == btf_vlen(proto)) named = fp;
  }
  Prototype p;
  p.name = std::string(name);
  p.btf_id = id;
  p.return_type = arena_.void_type();
  const struct btf_param *ps = btf_params(proto);
  uint16_t n = btf_vlen(proto);
  for (uint16_t i = 1; i < n; i++) {  // [0] is void *__data
    if (i + 1 == n && ps[i].type == 0) {
      p.variadic = true;
      break;
    }
    Param par;
    par.name = named ? btf__name_by_offset(I.b, btf_params(named)[i].name_off) : "";
    if (par.name.empty()) par.name = "arg" + std::to_string(i - 1);
    par.type = I.full(ps[i].type);
    p.params.push_back(std::move(par));
  }
  return p;
}

std::optional<EnumValue> Btf::find_enumerator(std::string_view name) {
  Impl &I = *impl_;
  uint32_t n = btf__type_cnt(btf_);
  for (uint32_t id = 1; id < n; id++) {
    const struct btf_type *t = I.bt(id);
    if (btf_is_enum(t)) {
      const struct btf_enum *e = btf_enum(t);
      for (uint16_t i = 0; i < btf_vlen(t); i++)
        if (name == btf__name_by_offset(btf_, e[i].name_off)) {
          EnumValue v;
          v.enum_type = I.full(id);
          v.value = btf_kflag(t) ? int64_t(e[i].val) : int64_t(uint32_t(e[i].val));
          return v;
        }
    } else if (btf_is_enum64(t)) {
      const struct btf_enum64 *e = btf_enum64(t);
      for (uint16_t i = 0; i < btf_vlen(t); i++)
        if (name == btf__name_by_offset(btf_, e[i].name_off)) {
          EnumValue v;
          v.enum_type = I.full(id);
          v.value = int64_t(btf_enum64_value(&e[i]));
          return v;
        }
    }
  }
  return std::nullopt;
}

std::vector<std::string> Btf::function_names() const {
  std::vector<std::string> r;
  uint32_t n = btf__type_cnt(btf_);
  for (uint32_t id = 1; id < n; id++) {
    const struct btf_type *t = btf__type_by_id(btf_, id);
    if (btf_is_func(t)) r.emplace_back(btf__name_by_offset(btf_, t->name_off));
  }
  return r;
}

std::vector<std::string> Btf::raw_tracepoint_names() const {
  std::vector<std::string> r;
  uint32_t n = btf__type_cnt(btf_);
  for (uint32_t id = 1; id < n; id++) {
    const struct btf_type *t = btf__type_by_id(btf_, id);
    if (!btf_is_typedef(t)) continue;
    const char *nm = btf__name_by_offset(btf_, t->name_off);
    if (nm && std::strncmp(nm, "btf_trace_", 10) == 0) r.emplace_back(nm + 10);
  }
  return r;
}

}  // namespace gt::btf
