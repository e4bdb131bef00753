// DebugInfo: libdw-based reader. See dwarf.h and docs/dwarf.md.
#include "sema/dwarf/dwarf.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwelf.h>
#include <fcntl.h>
#include <gelf.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cxxabi.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

namespace gt::dwarf {

namespace {

std::string hex(uint64_t v) {
  char buf[32];
  snprintf(buf, sizeof buf, "0x%llx", (unsigned long long)v);
  return buf;
}

bool file_exists(const std::string &p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string dirname_of(const std::string &p) {
  size_t s = p.rfind('/');
  if (s == std::string::npos) return ".";
  if (s == 0) return "/";
  return p.substr(0, s);
}

std::string basename_of(const std::string &p) {
  size_t s = p.rfind('/');
  return s == std::string::npos ? p : p.substr(s + 1);
}

bool has_dwarf_sections(Elf *elf) {
  size_t shstrndx;
  if (elf_getshdrstrndx(elf, &shstrndx) != 0) return false;
  Elf_Scn *scn = nullptr;
  while ((scn = elf_nextscn(elf, scn))) {
    GElf_Shdr sh;
    if (!gelf_getshdr(scn, &sh)) continue;
    const char *n = elf_strptr(elf, shstrndx, sh.sh_name);
    if (!n) continue;
    if ((strcmp(n, ".debug_info") == 0 || strcmp(n, ".zdebug_info") == 0) && sh.sh_type != SHT_NOBITS &&
        sh.sh_size > 0)
      return true;
  }
  return false;
}

const char *op_name(unsigned atom) {
  switch (atom) {
    case DW_OP_implicit_pointer: return "DW_OP_implicit_pointer";
    case DW_OP_GNU_implicit_pointer: return "DW_OP_GNU_implicit_pointer";
    case DW_OP_convert: return "DW_OP_convert";
    case DW_OP_GNU_convert: return "DW_OP_GNU_convert";
    case DW_OP_reinterpret: return "DW_OP_reinterpret";
    case DW_OP_GNU_reinterpret: return "DW_OP_GNU_reinterpret";
    case DW_OP_regval_type: return "DW_OP_regval_type";
    case DW_OP_GNU_regval_type: return "DW_OP_GNU_regval_type";
    case DW_OP_deref_type: return "DW_OP_deref_type";
    case DW_OP_GNU_deref_type: return "DW_OP_GNU_deref_type";
    case DW_OP_const_type: return "DW_OP_const_type";
    case DW_OP_GNU_const_type: return "DW_OP_GNU_const_type";
    case DW_OP_GNU_parameter_ref: return "DW_OP_GNU_parameter_ref";
    case DW_OP_GNU_variable_value: return "DW_OP_GNU_variable_value";
    case DW_OP_entry_value: return "DW_OP_entry_value";
    case DW_OP_GNU_entry_value: return "DW_OP_GNU_entry_value";
    case DW_OP_div: return "DW_OP_div";
    case DW_OP_mod: return "DW_OP_mod";
    case DW_OP_abs: return "DW_OP_abs";
    case DW_OP_bra: return "DW_OP_bra";
    case DW_OP_skip: return "DW_OP_skip";
    case DW_OP_eq: return "DW_OP_eq";
    case DW_OP_ne: return "DW_OP_ne";
    case DW_OP_lt: return "DW_OP_lt";
    case DW_OP_gt: return "DW_OP_gt";
    case DW_OP_le: return "DW_OP_le";
    case DW_OP_ge: return "DW_OP_ge";
    case DW_OP_pick: return "DW_OP_pick";
    case DW_OP_rot: return "DW_OP_rot";
    case DW_OP_xderef: return "DW_OP_xderef";
    case DW_OP_xderef_size: return "DW_OP_xderef_size";
    case DW_OP_call2: return "DW_OP_call2";
    case DW_OP_call4: return "DW_OP_call4";
    case DW_OP_call_ref: return "DW_OP_call_ref";
    case DW_OP_bit_piece: return "DW_OP_bit_piece";
    case DW_OP_form_tls_address: return "DW_OP_form_tls_address (thread-local storage)";
    case DW_OP_GNU_push_tls_address: return "DW_OP_GNU_push_tls_address (thread-local storage)";
    case DW_OP_push_object_address: return "DW_OP_push_object_address";
    case DW_OP_constx: return "DW_OP_constx";
    case DW_OP_GNU_const_index: return "DW_OP_GNU_const_index";
    default: return nullptr;
  }
}

std::string unsupported_op(unsigned atom) {
  const char *n = op_name(atom);
  char buf[64];
  if (!n) {
    snprintf(buf, sizeof buf, "DW_OP_0x%x", atom);
    n = buf;
  }
  return std::string("unsupported location operation ") + n;
}

bool is_cxx_lang(int lang) {
  return lang == DW_LANG_C_plus_plus || lang == DW_LANG_C_plus_plus_03 || lang == DW_LANG_C_plus_plus_11 ||
         lang == DW_LANG_C_plus_plus_14 || lang == 0x2a /* C_plus_plus_17 */ || lang == 0x2b /* _20 */ ||
         lang == DW_LANG_ObjC_plus_plus;
}

// Split-part suffix kinds from an ELF symbol name.
FunctionInstance::Kind kind_from_symbol(const std::string &sym) {
  if (sym.find(".part.") != std::string::npos) return FunctionInstance::Kind::SplitPart;
  if (sym.size() >= 5 && (sym.find(".cold") != std::string::npos)) return FunctionInstance::Kind::Cold;
  if (sym.find(".isra.") != std::string::npos || sym.find(".constprop.") != std::string::npos ||
      sym.find(".lto_priv.") != std::string::npos || sym.find(".localalias") != std::string::npos)
    return FunctionInstance::Kind::Clone;
  return FunctionInstance::Kind::OutOfLine;
}

// The name without gcc's clone suffixes: "f.isra.0.part.0" -> "f".
std::string strip_clone_suffix(const std::string &sym) {
  static const char *suffixes[] = {".part.", ".cold", ".isra.", ".constprop.", ".lto_priv.", ".localalias"};
  size_t cut = sym.size();
  for (const char *s : suffixes) {
    size_t p = sym.find(s);
    if (p != std::string::npos && p > 0) cut = std::min(cut, p);
  }
  return sym.substr(0, cut);
}

// "ns::twice<int>" -> "ns::twice", "A<int>::f<char>" -> "A::f"; operator<
// and friends are left alone.
std::string strip_template_args(const std::string &n) {
  if (n.find("operator") != std::string::npos) return n;
  std::string out;
  int depth = 0;
  for (char c : n) {
    if (c == '<') depth++;
    else if (c == '>' && depth > 0) depth--;
    else if (depth == 0) out += c;
  }
  return depth == 0 ? out : n;
}

}  // namespace

// ---------------------------------------------------------------- Impl

struct DebugInfo::Impl {
  std::string path, debug_path, build_id;
  int fd = -1, dfd = -1;
  Elf *elf = nullptr, *delf = nullptr;
  Dwarf *dw = nullptr;
  Dwarf_CFI *cfi_eh = nullptr;     // from the binary's .eh_frame (owned)
  Dwarf_CFI *cfi_debug = nullptr;  // .debug_frame (owned by dw)

  TypeArena arena;
  std::unordered_map<Dwarf_Off, const Type *> type_cache;

  struct Sym {
    std::string name;
    uint64_t addr, size;
  };
  std::vector<Sym> syms;
  std::multimap<uint64_t, size_t> sym_by_addr;
  std::unordered_multimap<std::string, size_t> sym_by_name;

  // Index, built on first use.
  bool indexed = false;
  std::unordered_map<Dwarf_Off, std::string> qualname;  // named scope/type/function DIEs
  struct InstRec {
    Dwarf_Off die;
    bool inlined;
    Dwarf_Off caller;    // innermost enclosing subprogram/inlined DIE (0: none)
    Dwarf_Off physical;  // innermost enclosing DW_TAG_subprogram with code (self for subprograms)
  };
  std::vector<InstRec> instances;
  std::unordered_map<std::string, std::vector<size_t>> inst_by_name;
  std::unordered_map<std::string, std::vector<Dwarf_Off>> types_by_name;
  std::unordered_map<std::string, std::vector<Dwarf_Off>> globals_by_name;
  std::unordered_map<Dwarf_Off, bool> cu_cxx;

  ~Impl() {
    if (cfi_eh) dwarf_cfi_end(cfi_eh);
    if (dw) dwarf_end(dw);
    if (delf) elf_end(delf);
    if (elf) elf_end(elf);
    if (dfd >= 0) close(dfd);
    if (fd >= 0) close(fd);
  }

  // ------------------------------------------------------------ symbols
  void read_symbols(Elf *e) {
    Elf_Scn *scn = nullptr;
    while ((scn = elf_nextscn(e, scn))) {
      GElf_Shdr sh;
      if (!gelf_getshdr(scn, &sh)) continue;
      if (sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM) continue;
      Elf_Data *data = elf_getdata(scn, nullptr);
      if (!data || sh.sh_entsize == 0) continue;
      size_t n = sh.sh_size / sh.sh_entsize;
      for (size_t i = 0; i < n; i++) {
        GElf_Sym s;
        if (!gelf_getsym(data, int(i), &s)) continue;
        int type = GELF_ST_TYPE(s.st_info);
        if (type != STT_FUNC && type != STT_GNU_IFUNC) continue;
        if (s.st_shndx == SHN_UNDEF || s.st_value == 0) continue;
        const char *name = elf_strptr(e, sh.sh_link, s.st_name);
        if (!name || !*name) continue;
        std::string nm = name;
        size_t at = nm.find('@');
        if (at != std::string::npos) nm.resize(at);
        bool dup = false;
        auto range = sym_by_name.equal_range(nm);
        for (auto it = range.first; it != range.second; ++it)
          if (syms[it->second].addr == s.st_value) dup = true;
        if (dup) continue;
        syms.push_back({nm, s.st_value, s.st_size});
        sym_by_addr.emplace(s.st_value, syms.size() - 1);
        sym_by_name.emplace(nm, syms.size() - 1);
      }
    }
  }

  std::vector<const Sym *> symbols_at(uint64_t addr) const {
    std::vector<const Sym *> r;
    auto range = sym_by_addr.equal_range(addr);
    for (auto it = range.first; it != range.second; ++it) r.push_back(&syms[it->second]);
    return r;
  }

  // ------------------------------------------------------------ DIE helpers
  bool die_at(Dwarf_Off off, Dwarf_Die *out) { return dwarf_offdie(dw, off, out) != nullptr; }

  static bool ref(Dwarf_Die *die, unsigned at, Dwarf_Die *out) {
    Dwarf_Attribute a;
    if (!dwarf_attr(die, at, &a)) return false;
    return dwarf_formref_die(&a, out) != nullptr;
  }
  static bool ref_integrate(Dwarf_Die *die, unsigned at, Dwarf_Die *out) {
    Dwarf_Attribute a;
    if (!dwarf_attr_integrate(die, at, &a)) return false;
    return dwarf_formref_die(&a, out) != nullptr;
  }
  static std::string str_integrate(Dwarf_Die *die, unsigned at) {
    Dwarf_Attribute a;
    if (!dwarf_attr_integrate(die, at, &a)) return "";
    const char *s = dwarf_formstring(&a);
    return s ? s : "";
  }
  // DW_AT_name of this DIE only (dwarf_diename follows abstract_origin and
  // specification, which would give a definition its declaration's name
  // without the declaration's scope).
  static const char *own_name(Dwarf_Die *die) {
    Dwarf_Attribute a;
    if (!dwarf_attr(die, DW_AT_name, &a)) return nullptr;
    return dwarf_formstring(&a);
  }
  static bool flag(Dwarf_Die *die, unsigned at) {
    Dwarf_Attribute a;
    bool f = false;
    if (!dwarf_attr(die, at, &a)) return false;
    dwarf_formflag(&a, &f);
    return f;
  }
  static bool udata(Dwarf_Die *die, unsigned at, Dwarf_Word &out) {
    Dwarf_Attribute a;
    if (!dwarf_attr_integrate(die, at, &a)) return false;
    return dwarf_formudata(&a, &out) == 0;
  }
  static bool has_code(Dwarf_Die *die) {
    return dwarf_hasattr(die, DW_AT_low_pc) || dwarf_hasattr(die, DW_AT_ranges) ||
           dwarf_hasattr(die, DW_AT_entry_pc);
  }

  bool is_cxx(Dwarf_Die *die) {
    Dwarf_Die cu;
    if (!dwarf_diecu(die, &cu, nullptr, nullptr)) return false;
    Dwarf_Off off = dwarf_dieoffset(&cu);
    auto it = cu_cxx.find(off);
    if (it != cu_cxx.end()) return it->second;
    bool c = is_cxx_lang(dwarf_srclang(&cu));
    cu_cxx[off] = c;
    return c;
  }

  // Name of a subprogram / inlined copy: qualified through its origins.
  std::string function_name(Dwarf_Die *die) {
    Dwarf_Die cur = *die;
    for (int i = 0; i < 8; i++) {
      auto it = qualname.find(dwarf_dieoffset(&cur));
      if (it != qualname.end()) return it->second;
      Dwarf_Die next;
      if (ref(&cur, DW_AT_abstract_origin, &next) || ref(&cur, DW_AT_specification, &next)) {
        cur = next;
        continue;
      }
      break;
    }
    std::string n = str_integrate(die, DW_AT_name);
    return n;
  }

  // The DIE all copies of one source function share.
  Dwarf_Off function_key(Dwarf_Die *die) {
    Dwarf_Die cur = *die, next;
    for (int i = 0; i < 8 && ref(&cur, DW_AT_abstract_origin, &next); i++) cur = next;
    return dwarf_dieoffset(&cur);
  }

  // ------------------------------------------------------------ index
  void build_index() {
    if (indexed) return;
    indexed = true;
    Dwarf_Off off = 0, next;
    size_t hsize;
    while (dwarf_nextcu(dw, off, &next, &hsize, nullptr, nullptr, nullptr) == 0) {
      Dwarf_Die cu;
      if (dwarf_offdie(dw, off + hsize, &cu)) {
        std::string prefix;
        walk(&cu, prefix, 0, 0, false);
      }
      off = next;
    }
    for (size_t i = 0; i < instances.size(); i++) {
      Dwarf_Die d;
      if (!die_at(instances[i].die, &d)) continue;
      std::string n = function_name(&d);
      if (!n.empty()) inst_by_name[n].push_back(i);
      std::string ln = str_integrate(&d, DW_AT_linkage_name);
      if (ln.empty()) ln = str_integrate(&d, DW_AT_MIPS_linkage_name);
      if (!ln.empty() && ln != n) {
        inst_by_name[ln].push_back(i);
        // The demangled signature selects one overload: "ns::Cls::get(int) const".
        int status = 0;
        char *dm = abi::__cxa_demangle(ln.c_str(), nullptr, nullptr, &status);
        if (dm && status == 0 && n != dm) inst_by_name[dm].push_back(i);
        free(dm);
      }
      // Template instances also answer to the name without arguments.
      std::string plain = strip_template_args(n);
      if (plain != n) inst_by_name[plain].push_back(i);
    }
  }

  void walk(Dwarf_Die *parent, const std::string &prefix, Dwarf_Off caller, Dwarf_Off physical, bool in_function) {
    Dwarf_Die child;
    if (dwarf_child(parent, &child) != 0) return;
    do {
      int tag = dwarf_tag(&child);
      Dwarf_Off off = dwarf_dieoffset(&child);
      const char *nm = own_name(&child);
      switch (tag) {
        case DW_TAG_namespace: {
          std::string q = prefix + (nm ? nm : "(anonymous namespace)");
          qualname[off] = q;
          walk(&child, q + "::", caller, physical, in_function);
          break;
        }
        case DW_TAG_structure_type:
        case DW_TAG_class_type:
        case DW_TAG_union_type:
        case DW_TAG_enumeration_type: {
          if (nm) {
            std::string q = prefix + nm;
            qualname[off] = q;
            if (!in_function) {
              const char *kw = tag == DW_TAG_union_type ? "union " : tag == DW_TAG_enumeration_type ? "enum " : "struct ";
              types_by_name[kw + q].push_back(off);
              if (tag == DW_TAG_class_type) types_by_name["class " + q].push_back(off);
              if (tag == DW_TAG_structure_type) types_by_name["class " + q].push_back(off);
              if (is_cxx(&child)) types_by_name[q].push_back(off);
            }
            if (dwarf_haschildren(&child)) walk(&child, q + "::", caller, physical, in_function);
          }
          break;
        }
        case DW_TAG_typedef:
        case DW_TAG_base_type:
          if (nm && !in_function) {
            std::string q = tag == DW_TAG_typedef ? prefix + nm : std::string(nm);
            qualname[off] = q;
            types_by_name[q].push_back(off);
          }
          break;
        case DW_TAG_subprogram: {
          if (nm) qualname[off] = prefix + nm;
          bool code = has_code(&child);
          if (code) instances.push_back({off, false, caller, off});
          if (dwarf_haschildren(&child))
            walk(&child, prefix, code ? off : caller, code ? off : physical, true);
          break;
        }
        case DW_TAG_inlined_subroutine:
          instances.push_back({off, true, caller, physical});
          walk(&child, prefix, off, physical, true);
          break;
        case DW_TAG_lexical_block:
        case DW_TAG_try_block:
        case DW_TAG_catch_block:
          walk(&child, prefix, caller, physical, true);
          break;
        case DW_TAG_variable:
          if (!in_function && (dwarf_hasattr(&child, DW_AT_location) || dwarf_hasattr(&child, DW_AT_const_value))) {
            std::string n = str_integrate(&child, DW_AT_name);
            if (!n.empty()) {
              Dwarf_Die spec;
              std::string q = prefix + n;
              if (ref(&child, DW_AT_specification, &spec)) {
                // Definition of a class static / namespace member declared elsewhere.
                q = n;
              }
              globals_by_name[q].push_back(off);
              if (q != n) globals_by_name[n].push_back(off);
            }
          }
          break;
        default: break;
      }
    } while (dwarf_siblingof(&child, &child) == 0);
  }

  // ------------------------------------------------------------ types
  const Type *type_of(Dwarf_Die *die) {
    Dwarf_Die t;
    if (!ref_integrate(die, DW_AT_type, &t)) return arena.void_type();
    return build_type(&t);
  }

  const Type *build_type(Dwarf_Die *die) {
    Dwarf_Off off = dwarf_dieoffset(die);
    auto it = type_cache.find(off);
    if (it != type_cache.end()) return it->second;
    int tag = dwarf_tag(die);
    const char *nm = dwarf_diename(die);
    Dwarf_Word sz = 0;
    bool has_size = udata(die, DW_AT_byte_size, sz);
    bool cxx = is_cxx(die);
    switch (tag) {
      case DW_TAG_base_type: {
        Dwarf_Word enc = 0;
        udata(die, DW_AT_encoding, enc);
        Type *t = arena.make(enc == DW_ATE_float || enc == DW_ATE_complex_float ? TypeKind::Float : TypeKind::Int);
        t->name = nm ? nm : "";
        t->size = sz;
        t->is_signed = enc == DW_ATE_signed || enc == DW_ATE_signed_char;
        t->is_char = enc == DW_ATE_signed_char || enc == DW_ATE_unsigned_char ||
                     (enc == DW_ATE_UTF && sz == 1);
        t->is_bool = enc == DW_ATE_boolean;
        if (enc == DW_ATE_float) t->is_signed = true;
        type_cache[off] = t;
        return t;
      }
      case DW_TAG_unspecified_type: {  // C++ decltype(nullptr)
        Type *t = arena.make(TypeKind::Int);
        t->name = nm ? nm : "void";
        t->size = has_size ? sz : 8;
        type_cache[off] = t;
        return t;
      }
      case DW_TAG_pointer_type:
      case DW_TAG_reference_type:
      case DW_TAG_rvalue_reference_type: {
        Type *t = arena.make(tag == DW_TAG_pointer_type     ? TypeKind::Pointer
                             : tag == DW_TAG_reference_type ? TypeKind::Reference
                                                            : TypeKind::RvalueReference);
        t->size = has_size ? sz : 8;
        t->is_cplusplus = cxx;
        type_cache[off] = t;
        t->target = type_of(die);
        return t;
      }
      case DW_TAG_ptr_to_member_type: {
        Type *t = arena.make(TypeKind::Int);
        t->name = "(pointer to member)";
        t->size = has_size ? sz : 8;
        type_cache[off] = t;
        return t;
      }
      case DW_TAG_const_type:
      case DW_TAG_volatile_type:
      case DW_TAG_restrict_type: {
        Type *t = arena.make(tag == DW_TAG_const_type      ? TypeKind::Const
                             : tag == DW_TAG_volatile_type ? TypeKind::Volatile
                                                           : TypeKind::Restrict);
        type_cache[off] = t;
        t->target = type_of(die);
        t->size = t->target->size;
        return t;
      }
      case DW_TAG_atomic_type:
      case DW_TAG_immutable_type: {
        const Type *t = type_of(die);
        type_cache[off] = t;
        return t;
      }
      case DW_TAG_typedef: {
        Type *t = arena.make(TypeKind::Typedef);
        auto q = qualname.find(off);
        t->name = q != qualname.end() ? q->second : (nm ? nm : "");
        type_cache[off] = t;
        t->target = type_of(die);
        t->size = t->target->size;
        return t;
      }
      case DW_TAG_array_type: {
        std::vector<std::pair<uint64_t, bool>> dims;
        Dwarf_Die c;
        if (dwarf_child(die, &c) == 0) {
          do {
            if (dwarf_tag(&c) != DW_TAG_subrange_type && dwarf_tag(&c) != DW_TAG_enumeration_type) continue;
            Dwarf_Word count = 0, upper = 0, lower = 0;
            Dwarf_Attribute a;
            bool known = false;
            if (dwarf_attr(&c, DW_AT_count, &a) && dwarf_formudata(&a, &count) == 0 &&
                dwarf_whatform(&a) != DW_FORM_exprloc) {
              known = true;
            } else if (dwarf_attr(&c, DW_AT_upper_bound, &a) && dwarf_whatform(&a) != DW_FORM_exprloc &&
                       dwarf_whatform(&a) != DW_FORM_ref4 && dwarf_formudata(&a, &upper) == 0) {
              udata(&c, DW_AT_lower_bound, lower);
              // gcc encodes `int x[0]` / flexible arrays with upper bound -1.
              if (upper == Dwarf_Word(-1) || (int64_t)upper < (int64_t)lower - 1) {
                count = 0;
                known = upper == Dwarf_Word(-1) ? true : false;
                count = 0;
              } else {
                count = upper - lower + 1;
                known = true;
              }
            }
            dims.push_back({count, known});
          } while (dwarf_siblingof(&c, &c) == 0);
        }
        if (dims.empty()) dims.push_back({0, false});
        const Type *elem = type_of(die);
        // Build innermost dimension first; the outermost is cached for the DIE.
        Type *outer = nullptr;
        const Type *cur = elem;
        for (size_t i = dims.size(); i-- > 0;) {
          Type *t = arena.make(TypeKind::Array);
          t->target = cur;
          t->count = dims[i].first;
          t->count_known = dims[i].second;
          t->size = t->count * cur->size;
          t->is_cplusplus = cxx;
          cur = t;
          outer = t;
        }
        type_cache[off] = outer;
        return outer;
      }
      case DW_TAG_structure_type:
      case DW_TAG_class_type:
      case DW_TAG_union_type: {
        if (flag(die, DW_AT_declaration)) {
          auto q = qualname.find(off);
          std::string key = std::string(tag == DW_TAG_union_type ? "union " : "struct ") +
                            (q != qualname.end() ? q->second : (nm ? nm : ""));
          auto defs = types_by_name.find(key);
          if (nm && defs != types_by_name.end()) {
            for (Dwarf_Off d : defs->second) {
              Dwarf_Die dd;
              if (d != off && die_at(d, &dd) && !flag(&dd, DW_AT_declaration) && dwarf_tag(&dd) == tag) {
                const Type *t = build_type(&dd);
                type_cache[off] = t;
                return t;
              }
            }
          }
        }
        Type *t = arena.make(tag == DW_TAG_union_type   ? TypeKind::Union
                             : tag == DW_TAG_class_type ? TypeKind::Class
                                                        : TypeKind::Struct);
        auto q = qualname.find(off);
        t->name = q != qualname.end() ? q->second : (nm ? nm : "");
        t->size = sz;
        t->is_cplusplus = cxx;
        t->is_declaration = flag(die, DW_AT_declaration);
        type_cache[off] = t;
        Dwarf_Die c;
        if (dwarf_child(die, &c) == 0) {
          do {
            int ct = dwarf_tag(&c);
            if (ct != DW_TAG_member && ct != DW_TAG_inheritance) continue;
            if (ct == DW_TAG_member && (flag(&c, DW_AT_external) || flag(&c, DW_AT_declaration)))
              continue;  // DWARF 4 static data member
            Member m;
            const char *mn = dwarf_diename(&c);
            m.name = mn ? mn : "";
            m.type = type_of(&c);
            m.is_base = ct == DW_TAG_inheritance;
            if (m.is_base) {
              if (flag(&c, DW_AT_virtuality)) continue;  // virtual base: offset only known at run time
              const Type *bt = m.type->resolve();
              m.name = bt ? bt->name : "";
            }
            Dwarf_Attribute a;
            Dwarf_Word v = 0;
            uint64_t bit_pos = 0;
            bool have_bits = false;
            if (dwarf_attr(&c, DW_AT_data_member_location, &a)) {
              if (dwarf_formudata(&a, &v) != 0) continue;  // an expression (virtual base): skip
              m.offset = v;
            }
            Dwarf_Word bsize = 0;
            if (udata(&c, DW_AT_bit_size, bsize) && bsize) {
              Dwarf_Word dbo = 0, bo = 0;
              if (udata(&c, DW_AT_data_bit_offset, dbo)) {
                bit_pos = dbo;
                have_bits = true;
              } else if (udata(&c, DW_AT_bit_offset, bo)) {
                // DWARF 2/3: big-endian numbering inside a storage unit of byte_size.
                Dwarf_Word unit = 0;
                if (!udata(&c, DW_AT_byte_size, unit)) unit = m.type->resolve()->size;
                bit_pos = m.offset * 8 + unit * 8 - bo - bsize;
                have_bits = true;
              } else {
                bit_pos = m.offset * 8;
                have_bits = true;
              }
              (void)have_bits;
              m.offset = bit_pos / 8;
              m.bit_offset = uint32_t(bit_pos % 8);
              m.bit_size = uint32_t(bsize);
            }
            t->members.push_back(std::move(m));
          } while (dwarf_siblingof(&c, &c) == 0);
        }
        return t;
      }
      case DW_TAG_enumeration_type: {
        Type *t = arena.make(TypeKind::Enum);
        auto q = qualname.find(off);
        t->name = q != qualname.end() ? q->second : (nm ? nm : "");
        t->size = sz;
        t->is_cplusplus = cxx;
        t->is_declaration = flag(die, DW_AT_declaration);
        type_cache[off] = t;
        Dwarf_Die ut;
        if (ref_integrate(die, DW_AT_type, &ut)) t->target = build_type(&ut);
        bool any_negative = false;
        Dwarf_Die c;
        if (dwarf_child(die, &c) == 0) {
          do {
            if (dwarf_tag(&c) != DW_TAG_enumerator) continue;
            Enumerator e;
            const char *en = dwarf_diename(&c);
            e.name = en ? en : "";
            Dwarf_Attribute a;
            if (dwarf_attr(&c, DW_AT_const_value, &a)) {
              unsigned form = dwarf_whatform(&a);
              if (form == DW_FORM_sdata || form == DW_FORM_implicit_const) {
                Dwarf_Sword s = 0;
                dwarf_formsdata(&a, &s);
                e.value = s;
              } else {
                Dwarf_Word u = 0;
                dwarf_formudata(&a, &u);
                e.value = int64_t(u);
                // Fixed-size forms: sign-extend when the enum is signed.
                if (t->target && t->target->resolve()->is_signed && sz && sz < 8) {
                  int shift = int(64 - sz * 8);
                  e.value = int64_t(uint64_t(e.value) << shift) >> shift;
                }
              }
            }
            if (e.value < 0) any_negative = true;
            t->enumerators.push_back(std::move(e));
          } while (dwarf_siblingof(&c, &c) == 0);
        }
        t->is_signed = t->target ? t->target->resolve()->is_signed : any_negative;
        return t;
      }
      case DW_TAG_subroutine_type: {
        Type *t = arena.make(TypeKind::Function);
        t->is_cplusplus = cxx;
        type_cache[off] = t;
        t->target = type_of(die);
        Dwarf_Die c;
        if (dwarf_child(die, &c) == 0) {
          do {
            int ct = dwarf_tag(&c);
            if (ct == DW_TAG_formal_parameter) t->params.push_back(type_of(&c));
            if (ct == DW_TAG_unspecified_parameters) t->variadic = true;
          } while (dwarf_siblingof(&c, &c) == 0);
        }
        return t;
      }
      default: {
        Type *t = arena.make(TypeKind::Void);
        t->name = nm ? nm : "<unsupported type>";
        type_cache[off] = t;
        return t;
      }
    }
  }

  // ------------------------------------------------------------ CFI
  std::optional<CfaRule> cfa_at(uint64_t pc, std::string &error) {
    Dwarf_CFI *cfis[2] = {cfi_eh, cfi_debug};
    for (Dwarf_CFI *cfi : cfis) {
      if (!cfi) continue;
      Dwarf_Frame *frame = nullptr;
      if (dwarf_cfi_addrframe(cfi, pc, &frame) != 0) continue;
      Dwarf_Op *ops = nullptr;
      size_t nops = 0;
      std::optional<CfaRule> r;
      if (dwarf_frame_cfa(frame, &ops, &nops) == 0 && nops == 1) {
        if (ops[0].atom == DW_OP_bregx) r = CfaRule{unsigned(ops[0].number), int64_t(ops[0].number2)};
        else if (ops[0].atom >= DW_OP_breg0 && ops[0].atom <= DW_OP_breg31)
          r = CfaRule{unsigned(ops[0].atom - DW_OP_breg0), int64_t(ops[0].number)};
      }
      free(frame);
      if (r) return r;
      error = "the CFA at " + hex(pc) + " is not a register plus offset (unsupported CFI rule)";
      return std::nullopt;
    }
    error = "no call frame information (CFI) covers " + hex(pc);
    return std::nullopt;
  }

  // ------------------------------------------------------------ locations
  struct FrameCtx {
    Dwarf_Die func;          // the physical DW_TAG_subprogram (frame base owner)
    bool has_func = false;
    uint64_t func_entry = 0;  // its entry address
  };

  struct Decoded {
    Location loc;
    bool from_list = false;       // the attribute is a location list
    bool frame_relative = false;  // uses DW_OP_fbreg / call_frame_cfa
    bool ends_in_deref = false;
  };

  // Converts a DWARF expression to pieces. `attr` is the attribute the ops
  // came from (for DW_OP_addrx / entry_value / implicit_value operands).
  Decoded convert(Dwarf_Attribute *attr, Dwarf_Op *ops, size_t n, uint64_t pc, FrameCtx &ctx, int depth = 0) {
    Decoded out;
    std::vector<Piece> pieces;
    std::vector<ExprOp> cur;
    enum { None, RegLoc, Addr, Stack, Implicit } st = None;
    unsigned reg = 0;
    std::vector<uint8_t> bytes;
    auto fail = [&](std::string why) {
      out.loc = Location::failure(std::move(why));
      return out;
    };
    auto need_reg = [&](unsigned r) -> bool { return pt_regs_offset(r) >= 0; };
    auto reg_error = [&](unsigned r) {
      return "the value is in register " + register_name(r) + ", which a uprobe cannot read (not in pt_regs)";
    };
    auto finish = [&](uint64_t size) -> bool {
      Piece p;
      p.size = size;
      switch (st) {
        case None:
          if (!cur.empty()) {
            p.kind = Piece::Kind::Memory;
            p.expr = cur;
          } else {
            p.kind = Piece::Kind::Undefined;
          }
          break;
        case RegLoc:
          p.kind = Piece::Kind::Register;
          p.regno = reg;
          break;
        case Addr:
          p.kind = Piece::Kind::Memory;
          p.expr = cur;
          break;
        case Stack:
          p.kind = Piece::Kind::Value;
          p.expr = cur;
          break;
        case Implicit:
          p.kind = Piece::Kind::Implicit;
          p.bytes = bytes;
          break;
      }
      pieces.push_back(std::move(p));
      cur.clear();
      bytes.clear();
      st = None;
      return true;
    };
    auto bin = [&](ExprOp::Code c) { cur.push_back({c, 0}); };
    // Appends "+ off", folding it into a preceding "+ const".
    auto add_off = [&](int64_t off) {
      size_t k = cur.size();
      if (k >= 3 && cur[k - 1].code == ExprOp::Add && cur[k - 2].code == ExprOp::Const) {
        cur[k - 2].value += off;
        if (cur[k - 2].value == 0) cur.resize(k - 2);
      } else if (off) {
        cur.push_back({ExprOp::Const, off});
        bin(ExprOp::Add);
      }
    };

    for (size_t i = 0; i < n; i++) {
      const Dwarf_Op &op = ops[i];
      unsigned a = op.atom;
      if (st == RegLoc || st == Stack || st == Implicit) {
        if (a != DW_OP_piece) return fail("malformed location expression (operation after a register/value)");
      }
      if (a >= DW_OP_reg0 && a <= DW_OP_reg31) {
        reg = a - DW_OP_reg0;
        if (!need_reg(reg)) return fail(reg_error(reg));
        st = RegLoc;
      } else if (a == DW_OP_regx) {
        reg = unsigned(op.number);
        if (!need_reg(reg)) return fail(reg_error(reg));
        st = RegLoc;
      } else if ((a >= DW_OP_breg0 && a <= DW_OP_breg31) || a == DW_OP_bregx) {
        unsigned r = a == DW_OP_bregx ? unsigned(op.number) : a - DW_OP_breg0;
        int64_t off = a == DW_OP_bregx ? int64_t(op.number2) : int64_t(op.number);
        if (!need_reg(r)) return fail(reg_error(r));
        cur.push_back({ExprOp::Reg, int64_t(r)});
        add_off(off);
      } else if (a == DW_OP_fbreg) {
        if (depth > 0) return fail("DW_OP_fbreg inside a frame base");
        std::vector<ExprOp> fb;
        std::string err;
        if (!frame_base(pc, ctx, fb, err)) return fail(err);
        cur.insert(cur.end(), fb.begin(), fb.end());
        add_off(int64_t(op.number));
        out.frame_relative = true;
      } else if (a == DW_OP_call_frame_cfa) {
        std::string err;
        auto cfa = cfa_at(pc, err);
        if (!cfa) return fail(err);
        if (!need_reg(cfa->regno)) return fail(reg_error(cfa->regno));
        cur.push_back({ExprOp::Reg, int64_t(cfa->regno)});
        add_off(cfa->offset);
        out.frame_relative = true;
      } else if (a >= DW_OP_lit0 && a <= DW_OP_lit31) {
        cur.push_back({ExprOp::Const, int64_t(a - DW_OP_lit0)});
      } else if (a == DW_OP_const1u || a == DW_OP_const2u || a == DW_OP_const4u || a == DW_OP_const8u ||
                 a == DW_OP_constu || a == DW_OP_const1s || a == DW_OP_const2s || a == DW_OP_const4s ||
                 a == DW_OP_const8s || a == DW_OP_consts) {
        cur.push_back({ExprOp::Const, int64_t(op.number)});
      } else if (a == DW_OP_addr) {
        cur.push_back({ExprOp::Addr, int64_t(op.number)});
      } else if (a == DW_OP_addrx || a == DW_OP_GNU_addr_index) {
        Dwarf_Attribute res;
        Dwarf_Addr addr;
        if (!attr || dwarf_getlocation_attr(attr, &op, &res) != 0 || dwarf_formaddr(&res, &addr) != 0)
          return fail("cannot read the address of DW_OP_addrx");
        cur.push_back({ExprOp::Addr, int64_t(addr)});
      } else if (a == DW_OP_plus_uconst) {
        if (cur.empty()) return fail("malformed location expression (DW_OP_plus_uconst on an empty stack)");
        add_off(int64_t(op.number));
      } else if (a == DW_OP_plus) bin(ExprOp::Add);
      else if (a == DW_OP_minus) bin(ExprOp::Sub);
      else if (a == DW_OP_mul) bin(ExprOp::Mul);
      else if (a == DW_OP_and) bin(ExprOp::And);
      else if (a == DW_OP_or) bin(ExprOp::Or);
      else if (a == DW_OP_xor) bin(ExprOp::Xor);
      else if (a == DW_OP_shl) bin(ExprOp::Shl);
      else if (a == DW_OP_shr) bin(ExprOp::Shr);
      else if (a == DW_OP_shra) bin(ExprOp::Shra);
      else if (a == DW_OP_neg) bin(ExprOp::Neg);
      else if (a == DW_OP_not) bin(ExprOp::Not);
      else if (a == DW_OP_dup) bin(ExprOp::Dup);
      else if (a == DW_OP_drop) bin(ExprOp::Drop);
      else if (a == DW_OP_swap) bin(ExprOp::Swap);
      else if (a == DW_OP_over) bin(ExprOp::Over);
      else if (a == DW_OP_deref) cur.push_back({ExprOp::Deref, 8});
      else if (a == DW_OP_deref_size) {
        if (op.number != 1 && op.number != 2 && op.number != 4 && op.number != 8)
          return fail("unsupported DW_OP_deref_size " + std::to_string(op.number));
        cur.push_back({ExprOp::Deref, int64_t(op.number)});
      } else if (a == DW_OP_stack_value) {
        if (cur.empty()) return fail("malformed location expression (empty DW_OP_stack_value)");
        st = Stack;
      } else if (a == DW_OP_implicit_value) {
        Dwarf_Block b;
        if (!attr || dwarf_getlocation_implicit_value(attr, &op, &b) != 0)
          return fail("cannot read DW_OP_implicit_value");
        bytes.assign(b.data, b.data + b.length);
        st = Implicit;
      } else if (a == DW_OP_entry_value || a == DW_OP_GNU_entry_value) {
        Dwarf_Attribute res;
        Dwarf_Op *sub = nullptr;
        size_t subn = 0;
        if (!attr || dwarf_getlocation_attr(attr, &op, &res) != 0 || dwarf_getlocation(&res, &sub, &subn) != 0)
          return fail("cannot read DW_OP_entry_value");
        unsigned r;
        if (subn == 1 && sub[0].atom >= DW_OP_reg0 && sub[0].atom <= DW_OP_reg31) r = sub[0].atom - DW_OP_reg0;
        else if (subn == 1 && sub[0].atom == DW_OP_regx) r = unsigned(sub[0].number);
        else return fail("unsupported location operation DW_OP_entry_value (of something other than a register)");
        if (!need_reg(r)) return fail(reg_error(r));
        bool at_entry = ctx.has_func && pc == ctx.func_entry;
        cur.push_back({at_entry ? ExprOp::Reg : ExprOp::EntryReg, int64_t(r)});
      } else if (a == DW_OP_convert || a == DW_OP_GNU_convert) {
        // Conversion to an integer base type of at most 64 bits: truncate and
        // zero- or sign-extend. Operand 0 is the generic type: nothing to do.
        if (op.number != 0) {
          Dwarf_Die bt;
          Dwarf_Word enc = 0, bsize = 0;
          if (!attr || dwarf_getlocation_die(attr, &op, &bt) != 0 || dwarf_tag(&bt) != DW_TAG_base_type ||
              !udata(&bt, DW_AT_encoding, enc) || !udata(&bt, DW_AT_byte_size, bsize))
            return fail(unsupported_op(a));
          bool is_signed = enc == DW_ATE_signed || enc == DW_ATE_signed_char;
          bool is_unsigned = enc == DW_ATE_unsigned || enc == DW_ATE_unsigned_char || enc == DW_ATE_boolean;
          if ((!is_signed && !is_unsigned) || bsize == 0 || bsize > 8)
            return fail(unsupported_op(a) + " (to a non-integer type)");
          if (bsize < 8) {
            int bits = int(bsize * 8);
            if (is_unsigned) {
              cur.push_back({ExprOp::Const, int64_t((uint64_t(1) << bits) - 1)});
              bin(ExprOp::And);
            } else {
              cur.push_back({ExprOp::Const, 64 - bits});
              bin(ExprOp::Shl);
              cur.push_back({ExprOp::Const, 64 - bits});
              bin(ExprOp::Shra);
            }
          }
        }
      } else if (a == DW_OP_piece) {
        finish(op.number);
      } else if (a == DW_OP_nop) {
      } else {
        return fail(unsupported_op(a));
      }
    }
    if (pieces.empty() || st != None || !cur.empty()) {
      if (pieces.empty() && st == None && cur.empty()) return fail("no location");
      finish(0);
    }
    out.ends_in_deref = !pieces.empty() && !pieces.back().expr.empty() && pieces.back().expr.back().code == ExprOp::Deref;
    bool all_undef = true;
    for (auto &p : pieces)
      if (p.kind != Piece::Kind::Undefined) all_undef = false;
    if (all_undef) return fail("optimized out at " + hex(pc));
    out.loc.pieces = std::move(pieces);
    return out;
  }

  bool frame_base(uint64_t pc, FrameCtx &ctx, std::vector<ExprOp> &fb, std::string &err) {
    if (!ctx.has_func) {
      err = "DW_OP_fbreg outside a function";
      return false;
    }
    Dwarf_Attribute a;
    if (!dwarf_attr_integrate(&ctx.func, DW_AT_frame_base, &a)) {
      err = "DW_OP_fbreg but the function has no DW_AT_frame_base";
      return false;
    }
    Dwarf_Op *ops;
    size_t n;
    int r = dwarf_getlocation_addr(&a, pc, &ops, &n, 1);
    if (r <= 0 || n == 0) {
      err = "the frame base is not known at " + hex(pc);
      return false;
    }
    Decoded d = convert(&a, ops, n, pc, ctx, 1);
    if (!d.loc.ok()) {
      err = "frame base: " + d.loc.error;
      return false;
    }
    if (d.loc.pieces.size() != 1) {
      err = "unsupported frame base (pieces)";
      return false;
    }
    const Piece &p = d.loc.pieces[0];
    if (p.kind == Piece::Kind::Register) fb = {{ExprOp::Reg, int64_t(p.regno)}};
    else if (p.kind == Piece::Kind::Memory) fb = p.expr;  // the "address" is the frame base value
    else {
      err = "unsupported frame base";
      return false;
    }
    return true;
  }

  Decoded location_of(Dwarf_Die *var, uint64_t pc, FrameCtx &ctx) {
    Decoded out;
    Dwarf_Attribute a;
    if (dwarf_attr_integrate(var, DW_AT_location, &a)) {
      unsigned form = dwarf_whatform(&a);
      out.from_list = !(form == DW_FORM_exprloc || form == DW_FORM_block || form == DW_FORM_block1 ||
                        form == DW_FORM_block2 || form == DW_FORM_block4);
      Dwarf_Op *ops = nullptr;
      size_t n = 0;
      int r = dwarf_getlocation_addr(&a, pc, &ops, &n, 1);
      if (r < 0) {
        out.loc = Location::failure(std::string("cannot read the location: ") + dwarf_errmsg(-1));
        return out;
      }
      if (r == 0 || n == 0) {
        out.loc = Location::failure("optimized out at " + hex(pc));
        return out;
      }
      bool fl = out.from_list;
      out = convert(&a, ops, n, pc, ctx);
      out.from_list = fl;
      return out;
    }
    if (dwarf_attr_integrate(var, DW_AT_const_value, &a)) {
      Piece p;
      p.kind = Piece::Kind::Implicit;
      unsigned form = dwarf_whatform(&a);
      const Type *t = type_of(var);
      uint64_t size = t->resolve()->size;
      if (size == 0 || size > 8) size = 8;
      if (form == DW_FORM_block || form == DW_FORM_block1 || form == DW_FORM_block2 || form == DW_FORM_block4 ||
          form == DW_FORM_exprloc) {
        Dwarf_Block b;
        if (dwarf_formblock(&a, &b) == 0) p.bytes.assign(b.data, b.data + b.length);
      } else if (form == DW_FORM_string || form == DW_FORM_strp || form == DW_FORM_line_strp ||
                 form == DW_FORM_strx || form == DW_FORM_strx1 || form == DW_FORM_strx2 ||
                 form == DW_FORM_strx3 || form == DW_FORM_strx4) {
        const char *s = dwarf_formstring(&a);
        if (s) p.bytes.assign(s, s + strlen(s) + 1);
      } else {
        uint64_t v = 0;
        if (form == DW_FORM_sdata || form == DW_FORM_implicit_const) {
          Dwarf_Sword s = 0;
          dwarf_formsdata(&a, &s);
          v = uint64_t(s);
        } else {
          Dwarf_Word u = 0;
          dwarf_formudata(&a, &u);
          v = u;
        }
        for (uint64_t i = 0; i < size; i++) p.bytes.push_back(uint8_t(v >> (8 * i)));
      }
      out.loc.pieces.push_back(std::move(p));
      return out;
    }
    out.loc = Location::failure("optimized out (no location in the debug info)");
    return out;
  }

  // ------------------------------------------------------------ instances
  bool entry_of(Dwarf_Die *d, uint64_t &out) {
    Dwarf_Attribute a;
    Dwarf_Addr v;
    if (dwarf_attr(d, DW_AT_entry_pc, &a)) {
      unsigned form = dwarf_whatform(&a);
      if (form == DW_FORM_addr || form == DW_FORM_addrx || form == DW_FORM_addrx1 || form == DW_FORM_addrx2 ||
          form == DW_FORM_addrx3 || form == DW_FORM_addrx4 || form == DW_FORM_GNU_addr_index) {
        if (dwarf_formaddr(&a, &v) == 0) {
          out = v;
          return true;
        }
      } else {
        Dwarf_Word w;
        Dwarf_Addr base;
        if (dwarf_formudata(&a, &w) == 0 && dwarf_lowpc(d, &base) == 0) {
          out = base + w;
          return true;
        }
      }
    }
    if (dwarf_lowpc(d, &v) == 0) {
      out = v;
      return true;
    }
    auto rs = ranges_of(d);
    if (!rs.empty()) {
      out = rs[0].low;
      return true;
    }
    return false;
  }

  static std::vector<AddressRange> ranges_of(Dwarf_Die *d) {
    std::vector<AddressRange> rs;
    Dwarf_Addr base, start, end;
    ptrdiff_t off = 0;
    while ((off = dwarf_ranges(d, off, &base, &start, &end)) > 0) rs.push_back({start, end});
    return rs;
  }

  std::string file_name(Dwarf_Die *die, Dwarf_Word idx) {
    Dwarf_Die cu;
    Dwarf_Files *files;
    size_t nfiles;
    if (!dwarf_diecu(die, &cu, nullptr, nullptr) || dwarf_getsrcfiles(&cu, &files, &nfiles) != 0 ||
        idx >= nfiles)
      return "";
    const char *f = dwarf_filesrc(files, idx, nullptr, nullptr);
    return f ? f : "";
  }

  Variable make_variable(Dwarf_Die *d, Variable::Kind kind) {
    Variable v;
    v.name = str_integrate(d, DW_AT_name);
    v.kind = kind;
    v.type = type_of(d);
    const char *df = dwarf_decl_file(d);
    if (df) v.decl_file = df;
    int line = 0;
    if (dwarf_decl_line(d, &line) == 0) v.decl_line = line;
    return v;
  }

  // The x86-64 SysV placement of parameters at a function's first instruction.
  void calling_convention(FunctionInstance &fi, std::vector<Decoded> &decoded) {
    static const unsigned int_regs[6] = {kRegRdi, kRegRsi, kRegRdx, kRegRcx, kRegR8, kRegR9};
    unsigned ni = 0, nsse = 0;
    int64_t stack = 8;  // first stack argument at CFA - 8 + 8 = rsp + 8 at entry
    const Type *rt = fi.return_type ? fi.return_type->resolve() : nullptr;
    if (rt && rt->is_aggregate() && rt->size > 16) ni = 1;  // hidden result pointer in rdi
    bool lost = false;
    std::function<bool(const Type *)> has_float = [&](const Type *t) {
      t = t->resolve();
      if (t->kind == TypeKind::Float) return true;
      if (t->kind == TypeKind::Array) return has_float(t->target);
      if (t->is_aggregate())
        for (auto &m : t->members)
          if (has_float(m.type)) return true;
      return false;
    };
    for (size_t i = 0; i < fi.params.size(); i++) {
      Variable &p = fi.params[i];
      Decoded &d = decoded[i];
      const Type *t = p.type ? p.type->resolve() : nullptr;
      // Replace a single-expression frame-relative location unless it is in
      // the caller's frame (a stack-passed argument at [rsp+8...] at entry).
      bool replace = d.loc.ok() && !d.from_list && d.frame_relative;
      if (replace && d.loc.pieces.size() == 1) {
        unsigned r;
        int64_t o;
        if (d.loc.pieces[0].kind == Piece::Kind::Memory && d.loc.pieces[0].reg_plus_offset(r, o) &&
            r == kRegRsp && o >= 8)
          replace = false;
      }
      Location cc;
      cc.from_calling_convention = true;
      auto stack_loc = [&](uint64_t size, uint64_t align) {
        stack = (stack + int64_t(align) - 1) / int64_t(align) * int64_t(align);
        Piece pc;
        pc.kind = Piece::Kind::Memory;
        pc.expr = {{ExprOp::Reg, kRegRsp}, {ExprOp::Const, stack}, {ExprOp::Add, 0}};
        cc.pieces.push_back(pc);
        stack += int64_t((size + 7) / 8 * 8);
      };
      if (lost || !t) {
        cc = Location::failure("cannot place this parameter at the function entry (calling convention)");
        lost = true;
      } else if (d.ends_in_deref && t->is_aggregate()) {
        // Passed by invisible reference (C++ non-trivial class): pointer in a register.
        if (ni < 6) {
          Piece pc;
          pc.kind = Piece::Kind::Memory;
          pc.expr = {{ExprOp::Reg, int64_t(int_regs[ni++])}};
          cc.pieces.push_back(pc);
        } else {
          cc = Location::failure("passed by reference on the stack: unsupported at the function entry");
        }
      } else if (t->kind == TypeKind::Int || t->kind == TypeKind::Enum || t->kind == TypeKind::Pointer ||
                 t->kind == TypeKind::Reference || t->kind == TypeKind::RvalueReference) {
        if (t->size <= 8 && ni < 6) {
          Piece pc;
          pc.kind = Piece::Kind::Register;
          pc.regno = int_regs[ni++];
          cc.pieces.push_back(pc);
        } else if (t->size <= 8) {
          stack_loc(t->size, 8);
        } else {  // __int128
          if (ni + 2 <= 6) {
            for (int k = 0; k < 2; k++) {
              Piece pc;
              pc.kind = Piece::Kind::Register;
              pc.regno = int_regs[ni++];
              pc.size = 8;
              cc.pieces.push_back(pc);
            }
          } else {
            stack_loc(16, 16);
          }
        }
      } else if (t->kind == TypeKind::Float) {
        if (t->size > 8) {  // long double: memory
          stack_loc(t->size, 16);
        } else if (nsse < 8) {
          cc = Location::failure("passed in register xmm" + std::to_string(nsse) +
                                 ", which a uprobe cannot read (not in pt_regs)");
          nsse++;
        } else {
          stack_loc(8, 8);
        }
      } else if (t->is_aggregate() || t->kind == TypeKind::Array) {
        if (t->size > 16) {
          stack_loc(t->size, 8);
        } else if (has_float(t)) {
          cc = Location::failure("a small aggregate with floating-point members: unsupported at the function entry");
          lost = true;
        } else {
          unsigned need = unsigned((t->size + 7) / 8);
          if (ni + need <= 6) {
            for (unsigned k = 0; k < need; k++) {
              Piece pc;
              pc.kind = Piece::Kind::Register;
              pc.regno = int_regs[ni++];
              pc.size = (k + 1 == need) ? t->size - 8 * k : 8;
              cc.pieces.push_back(pc);
            }
            if (need == 1) cc.pieces[0].size = 0;
          } else {
            stack_loc(t->size, 8);
          }
        }
      } else {
        cc = Location::failure("cannot place this parameter at the function entry (calling convention)");
        lost = true;
      }
      if (replace) p.location = cc;
    }
  }

  void fill_params(FunctionInstance &fi, Dwarf_Die *d, uint64_t pc, FrameCtx &ctx, bool use_cc) {
    Dwarf_Die origin;
    bool has_origin = ref(d, DW_AT_abstract_origin, &origin);
    std::unordered_map<Dwarf_Off, Dwarf_Die> concrete;
    std::vector<Dwarf_Die> extra;
    Dwarf_Die c;
    if (dwarf_child(d, &c) == 0) {
      do {
        int t = dwarf_tag(&c);
        if (t == DW_TAG_unspecified_parameters) fi.variadic = true;
        if (t != DW_TAG_formal_parameter) continue;
        Dwarf_Die o;
        if (has_origin && ref(&c, DW_AT_abstract_origin, &o)) concrete[dwarf_dieoffset(&o)] = c;
        else extra.push_back(c);
      } while (dwarf_siblingof(&c, &c) == 0);
    }
    std::vector<Decoded> decoded;
    auto add = [&](Dwarf_Die *src, Dwarf_Die *loc_die) {
      Variable v = make_variable(src, Variable::Kind::Parameter);
      Decoded dec;
      if (loc_die) {
        dec = location_of(loc_die, pc, ctx);
      } else {
        dec.loc = Location::failure("optimized out at " + hex(pc) + " (not present in this copy)");
      }
      v.location = dec.loc;
      fi.params.push_back(std::move(v));
      decoded.push_back(std::move(dec));
    };
    if (has_origin) {
      if (dwarf_child(&origin, &c) == 0) {
        do {
          int t = dwarf_tag(&c);
          if (t == DW_TAG_unspecified_parameters) fi.variadic = true;
          if (t != DW_TAG_formal_parameter) continue;
          auto it = concrete.find(dwarf_dieoffset(&c));
          add(&c, it != concrete.end() ? &it->second : nullptr);
        } while (dwarf_siblingof(&c, &c) == 0);
      }
    }
    for (Dwarf_Die &e : extra) {
      if (str_integrate(&e, DW_AT_name).empty() && has_origin) continue;  // ipa-sra artificial pieces
      add(&e, &e);
    }
    if (use_cc) calling_convention(fi, decoded);
  }

  void make_instances(const InstRec &rec, std::vector<FunctionInstance> &out) {
    Dwarf_Die d;
    if (!die_at(rec.die, &d)) return;
    FunctionInstance fi;
    fi.name = function_name(&d);
    fi.linkage_name = str_integrate(&d, DW_AT_linkage_name);
    if (fi.linkage_name.empty()) fi.linkage_name = str_integrate(&d, DW_AT_MIPS_linkage_name);
    fi.function_id = function_key(&d);
    fi.ranges = ranges_of(&d);
    fi.return_type = type_of(&d);
    if (!entry_of(&d, fi.entry)) return;

    std::vector<AddressRange> cold;
    if (!rec.inlined) {
      // Hot/cold split: the entry is the range that starts at a non-.cold symbol.
      if (fi.ranges.size() > 1 && !dwarf_hasattr(&d, DW_AT_low_pc)) {
        for (auto &r : fi.ranges) {
          for (const Sym *s : symbols_at(r.low)) {
            if (kind_from_symbol(s->name) == FunctionInstance::Kind::Cold) cold.push_back(r);
          }
        }
        for (auto &r : fi.ranges) {
          bool is_cold = false;
          for (auto &c : cold)
            if (c.low == r.low) is_cold = true;
          if (!is_cold) {
            fi.entry = r.low;
            break;
          }
        }
      }
      std::string best;
      for (const Sym *s : symbols_at(fi.entry)) {
        if (best.empty() || strip_clone_suffix(s->name) == fi.name || s->name == fi.linkage_name) best = s->name;
      }
      fi.symbol = best;
      fi.kind = best.empty() ? FunctionInstance::Kind::OutOfLine : kind_from_symbol(best);
      if (fi.kind == FunctionInstance::Kind::Cold) fi.kind = FunctionInstance::Kind::OutOfLine;
    } else {
      fi.kind = FunctionInstance::Kind::Inlined;
      Dwarf_Die caller;
      bool caller_is_self = false;
      if (rec.caller && die_at(rec.caller, &caller)) {
        fi.caller = function_name(&caller);
        caller_is_self = function_key(&caller) == fi.function_id;
      }
      Dwarf_Word v;
      if (udata(&d, DW_AT_call_file, v)) fi.call_file = file_name(&d, v);
      if (udata(&d, DW_AT_call_line, v)) fi.call_line = int(v);
      // gcc -O3: the split tail (.part) inlined back into a copy of its own
      // function; its "call" sits on the function's declaration line. (A
      // real inlined recursive call sits on the line of the call.)
      int decl_line = 0;
      if (caller_is_self && dwarf_decl_line(&d, &decl_line) == 0 && decl_line == fi.call_line)
        fi.continuation = true;
    }
    if (fi.kind == FunctionInstance::Kind::SplitPart) fi.continuation = true;

    FrameCtx ctx;
    if (rec.physical && die_at(rec.physical, &ctx.func)) {
      ctx.has_func = true;
      if (rec.physical == rec.die) ctx.func_entry = fi.entry;
      else entry_of(&ctx.func, ctx.func_entry);
    }
    bool use_cc = !rec.inlined && ctx.has_func && fi.entry == ctx.func_entry;
    fill_params(fi, &d, fi.entry, ctx, use_cc);

    for (auto &c : cold) {
      FunctionInstance ci = fi;
      ci.kind = FunctionInstance::Kind::Cold;
      ci.entry = c.low;
      ci.ranges = {c};
      ci.continuation = true;
      ci.symbol.clear();
      for (const Sym *s : symbols_at(c.low)) ci.symbol = s->name;
      ci.params.clear();
      fill_params(ci, &d, ci.entry, ctx, false);
      out.push_back(std::move(fi));
      fi = std::move(ci);
    }
    out.push_back(std::move(fi));
  }

  // ------------------------------------------------------------ scopes
  bool cu_for(uint64_t pc, Dwarf_Die *cu) {
    if (dwarf_addrdie(dw, pc, cu) && dwarf_haspc(cu, pc) == 1) return true;
    Dwarf_Off off = 0, next;
    size_t hsize;
    while (dwarf_nextcu(dw, off, &next, &hsize, nullptr, nullptr, nullptr) == 0) {
      if (dwarf_offdie(dw, off + hsize, cu) && dwarf_haspc(cu, pc) == 1) return true;
      off = next;
    }
    return false;
  }

  // Appends the chain of scopes containing pc below `parent`, outermost first.
  void scope_chain(Dwarf_Die *parent, uint64_t pc, std::vector<Dwarf_Die> &chain, int depth = 0) {
    if (depth > 64) return;
    Dwarf_Die c;
    if (dwarf_child(parent, &c) != 0) return;
    do {
      int t = dwarf_tag(&c);
      if (t == DW_TAG_namespace || ((t == DW_TAG_structure_type || t == DW_TAG_class_type) && depth < 8)) {
        size_t before = chain.size();
        scope_chain(&c, pc, chain, depth + 1);
        if (chain.size() > before) return;
      } else if (t == DW_TAG_subprogram || t == DW_TAG_inlined_subroutine || t == DW_TAG_lexical_block ||
                 t == DW_TAG_try_block || t == DW_TAG_catch_block) {
        if (dwarf_haspc(&c, pc) == 1) {
          chain.push_back(c);
          scope_chain(&c, pc, chain, depth + 1);
          return;
        }
      }
    } while (dwarf_siblingof(&c, &c) == 0);
  }

  std::vector<Variable> variables_at(uint64_t pc, std::string &error) {
    build_index();
    std::vector<Variable> out;
    Dwarf_Die cu;
    if (!cu_for(pc, &cu)) {
      error = "no debug info covers address " + hex(pc);
      return out;
    }
    std::vector<Dwarf_Die> chain;
    scope_chain(&cu, pc, chain);
    if (chain.empty()) {
      error = "no function contains address " + hex(pc);
      return out;
    }
    FrameCtx ctx;
    for (size_t i = chain.size(); i-- > 0;) {
      if (dwarf_tag(&chain[i]) == DW_TAG_subprogram) {
        ctx.func = chain[i];
        ctx.has_func = true;
        entry_of(&ctx.func, ctx.func_entry);
        break;
      }
    }
    bool at_entry = ctx.has_func && pc == ctx.func_entry;
    std::set<std::string> seen;
    auto add = [&](Dwarf_Die *src, Dwarf_Die *loc_die, Variable::Kind kind) {
      Variable v = make_variable(src, kind);
      if (v.name.empty() || seen.count(v.name)) return;
      seen.insert(v.name);
      if (!loc_die) {
        v.location = Location::failure("optimized out at " + hex(pc) + " (not present in this copy)");
      } else {
        Decoded d = location_of(loc_die, pc, ctx);
        if (at_entry && d.loc.ok() && !d.from_list && d.frame_relative && kind == Variable::Kind::Local)
          d.loc = Location::failure("not yet stored at " + hex(pc) +
                                    " (the function's prologue has not run; probe a later line)");
        v.location = d.loc;
      }
      out.push_back(std::move(v));
    };
    size_t fn_start = 0;
    for (size_t i = chain.size(); i-- > 0;) {
      Dwarf_Die &s = chain[i];
      int tag = dwarf_tag(&s);
      bool fn = tag == DW_TAG_subprogram || tag == DW_TAG_inlined_subroutine;
      if (fn) fn_start = out.size();
      Dwarf_Die origin;
      bool has_origin = ref(&s, DW_AT_abstract_origin, &origin);
      std::unordered_set<Dwarf_Off> present;
      Dwarf_Die c;
      if (dwarf_child(&s, &c) == 0) {
        do {
          int t = dwarf_tag(&c);
          if (t != DW_TAG_variable && t != DW_TAG_formal_parameter) continue;
          Dwarf_Die o;
          if (ref(&c, DW_AT_abstract_origin, &o)) present.insert(dwarf_dieoffset(&o));
          if (t == DW_TAG_variable && flag(&c, DW_AT_declaration)) {
            add_global(&c, pc, ctx, seen, out);
            continue;
          }
          add(&c, &c, t == DW_TAG_formal_parameter ? Variable::Kind::Parameter : Variable::Kind::Local);
        } while (dwarf_siblingof(&c, &c) == 0);
      }
      if (has_origin && dwarf_child(&origin, &c) == 0) {
        do {
          int t = dwarf_tag(&c);
          if (t != DW_TAG_variable && t != DW_TAG_formal_parameter) continue;
          if (present.count(dwarf_dieoffset(&c))) continue;
          if (t == DW_TAG_variable && (dwarf_hasattr(&c, DW_AT_location) || flag(&c, DW_AT_declaration))) {
            // A function-static variable lives in the abstract instance.
            add(&c, &c, Variable::Kind::Local);
            continue;
          }
          add(&c, nullptr, t == DW_TAG_formal_parameter ? Variable::Kind::Parameter : Variable::Kind::Local);
        } while (dwarf_siblingof(&c, &c) == 0);
      }
      if (fn) break;
    }
    // In the function's own scope: locals before parameters.
    std::stable_partition(out.begin() + long(fn_start), out.end(),
                          [](const Variable &v) { return v.kind != Variable::Kind::Parameter; });
    // At a function's first instruction, -O0 parameters are still in registers.
    if (at_entry && dwarf_tag(&chain.back()) == DW_TAG_subprogram) {
      FunctionInstance fi;
      fi.return_type = type_of(&chain.back());
      fill_params(fi, &chain.back(), pc, ctx, true);
      for (auto &p : fi.params)
        for (auto &v : out)
          if (v.kind == Variable::Kind::Parameter && v.name == p.name) v.location = p.location;
    }
    // Statics and globals of the compilation unit (and its namespaces).
    std::function<void(Dwarf_Die *, int)> globals = [&](Dwarf_Die *parent, int depth) {
      Dwarf_Die c;
      if (dwarf_child(parent, &c) != 0) return;
      do {
        int t = dwarf_tag(&c);
        if (t == DW_TAG_variable) add_global(&c, pc, ctx, seen, out);
        else if (t == DW_TAG_namespace && depth < 16) globals(&c, depth + 1);
      } while (dwarf_siblingof(&c, &c) == 0);
    };
    globals(&cu, 0);
    return out;
  }

  void add_global(Dwarf_Die *var, uint64_t pc, FrameCtx &ctx, std::set<std::string> &seen,
                  std::vector<Variable> &out) {
    Variable v = make_variable(var, Variable::Kind::Global);
    if (v.name.empty() || seen.count(v.name)) return;
    Dwarf_Die def = *var;
    bool found = dwarf_hasattr(var, DW_AT_location) || dwarf_hasattr(var, DW_AT_const_value);
    if (!found) {
      auto it = globals_by_name.find(v.name);
      if (it != globals_by_name.end()) {
        for (Dwarf_Off o : it->second) {
          Dwarf_Die d;
          if (die_at(o, &d)) {
            def = d;
            found = true;
            break;
          }
        }
      }
    }
    if (!found) {
      // Declared here, defined where this DWARF does not say (e.g. a library's
      // `stdout`); a global defined in this binary always has a definition DIE.
      if (flag(var, DW_AT_declaration)) {
        v.location = Location::failure("'" + v.name + "' is only declared here; its definition has no debug info");
      } else {
        v.location = Location::failure("optimized out (no location in the debug info)");
      }
    } else {
      v.location = location_of(&def, pc, ctx).loc;
    }
    seen.insert(v.name);
    out.push_back(std::move(v));
  }

  std::string innermost_function(uint64_t pc, bool &inlined) {
    inlined = false;
    Dwarf_Die cu;
    if (!cu_for(pc, &cu)) return "";
    std::vector<Dwarf_Die> chain;
    scope_chain(&cu, pc, chain);
    for (size_t i = chain.size(); i-- > 0;) {
      int t = dwarf_tag(&chain[i]);
      if (t == DW_TAG_subprogram || t == DW_TAG_inlined_subroutine) {
        inlined = t == DW_TAG_inlined_subroutine;
        return function_name(&chain[i]);
      }
    }
    return "";
  }
};

// ---------------------------------------------------------------- public

DebugInfo::DebugInfo() : impl_(new Impl) {}
DebugInfo::~DebugInfo() = default;

const std::string &DebugInfo::path() const { return impl_->path; }
const std::string &DebugInfo::debug_path() const { return impl_->debug_path; }
const std::string &DebugInfo::build_id() const { return impl_->build_id; }

std::unique_ptr<DebugInfo> DebugInfo::open(const std::string &path, std::string &error) {
  elf_version(EV_CURRENT);
  std::unique_ptr<DebugInfo> di(new DebugInfo);
  Impl &im = *di->impl_;
  char real[PATH_MAX];
  im.path = realpath(path.c_str(), real) ? std::string(real) : path;
  im.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (im.fd < 0) {
    error = "'" + path + "': " + strerror(errno);
    return nullptr;
  }
  im.elf = elf_begin(im.fd, ELF_C_READ_MMAP, nullptr);
  if (!im.elf || elf_kind(im.elf) != ELF_K_ELF) {
    error = "'" + path + "' is not an ELF file";
    return nullptr;
  }
  const void *bid = nullptr;
  ssize_t bid_len = dwelf_elf_gnu_build_id(im.elf, &bid);
  if (bid_len > 0) {
    static const char digits[] = "0123456789abcdef";
    for (ssize_t i = 0; i < bid_len; i++) {
      uint8_t b = static_cast<const uint8_t *>(bid)[i];
      im.build_id += digits[b >> 4];
      im.build_id += digits[b & 15];
    }
  }
  im.read_symbols(im.elf);
  im.cfi_eh = dwarf_getcfi_elf(im.elf);

  if (has_dwarf_sections(im.elf)) {
    im.dw = dwarf_begin_elf(im.elf, DWARF_C_READ, nullptr);
    im.debug_path = im.path;
  }
  std::vector<std::string> tried;
  auto try_debug_file = [&](const std::string &cand) -> bool {
    tried.push_back(cand);
    if (!file_exists(cand)) return false;
    int dfd = ::open(cand.c_str(), O_RDONLY | O_CLOEXEC);
    if (dfd < 0) return false;
    Elf *delf = elf_begin(dfd, ELF_C_READ_MMAP, nullptr);
    if (!delf || elf_kind(delf) != ELF_K_ELF || !has_dwarf_sections(delf)) {
      if (delf) elf_end(delf);
      close(dfd);
      return false;
    }
    // The debug file must belong to this binary.
    const void *dbid = nullptr;
    ssize_t dlen = dwelf_elf_gnu_build_id(delf, &dbid);
    if (bid_len > 0 && dlen > 0 && (dlen != bid_len || memcmp(dbid, bid, size_t(bid_len)) != 0)) {
      elf_end(delf);
      close(dfd);
      return false;
    }
    Dwarf *dw = dwarf_begin_elf(delf, DWARF_C_READ, nullptr);
    if (!dw) {
      elf_end(delf);
      close(dfd);
      return false;
    }
    im.dfd = dfd;
    im.delf = delf;
    im.dw = dw;
    im.debug_path = cand;
    im.read_symbols(delf);
    return true;
  };
  if (!im.dw && !im.build_id.empty()) {
    try_debug_file("/usr/lib/debug/.build-id/" + im.build_id.substr(0, 2) + "/" + im.build_id.substr(2) + ".debug");
  }
  if (!im.dw) {
    GElf_Word crc = 0;
    const char *link = dwelf_elf_gnu_debuglink(im.elf, &crc);
    if (link) {
      std::string dir = dirname_of(im.path);
      std::string l = link;
      if (!try_debug_file(dir + "/" + l) && !try_debug_file(dir + "/.debug/" + l))
        try_debug_file("/usr/lib/debug" + dir + "/" + l);
    }
  }
  if (!im.dw) {
    std::string where;
    for (size_t i = 0; i < tried.size(); i++) where += (i ? ", " : "") + tried[i];
    error = "no DWARF in " + im.path + " (not built with -g, and no separate debug info found" +
            (where.empty() ? std::string(": it has no build-id and no .gnu_debuglink") : " at " + where) + ")";
    return nullptr;
  }
  im.cfi_debug = dwarf_getcfi(im.dw);
  return di;
}

std::vector<FunctionInstance> DebugInfo::find_functions(const std::string &name) {
  Impl &im = *impl_;
  im.build_index();
  std::vector<size_t> recs;
  auto it = im.inst_by_name.find(name);
  if (it != im.inst_by_name.end()) recs = it->second;
  if (recs.empty()) {
    // An ELF symbol that aliases a function with another DWARF name
    // (glibc: malloc -> __libc_malloc), or a clone symbol "f.isra.0".
    std::set<uint64_t> addrs;
    auto range = im.sym_by_name.equal_range(name);
    for (auto s = range.first; s != range.second; ++s) addrs.insert(im.syms[s->second].addr);
    std::set<Dwarf_Off> keys;
    for (size_t i = 0; i < im.instances.size(); i++) {
      if (im.instances[i].inlined) continue;
      Dwarf_Die d;
      if (!im.die_at(im.instances[i].die, &d)) continue;
      for (auto &r : Impl::ranges_of(&d))
        if (addrs.count(r.low)) keys.insert(im.function_key(&d));
    }
    for (size_t i = 0; i < im.instances.size() && !keys.empty(); i++) {
      Dwarf_Die d;
      if (im.die_at(im.instances[i].die, &d) && keys.count(im.function_key(&d))) recs.push_back(i);
    }
  }
  std::vector<FunctionInstance> out;
  for (size_t r : recs) im.make_instances(im.instances[r], out);
  std::sort(out.begin(), out.end(), [](const FunctionInstance &a, const FunctionInstance &b) {
    if (a.entry != b.entry) return a.entry < b.entry;
    return int(a.kind) < int(b.kind);
  });
  out.erase(std::unique(out.begin(), out.end(),
                        [](const FunctionInstance &a, const FunctionInstance &b) {
                          return a.entry == b.entry && a.kind == b.kind && a.function_id == b.function_id;
                        }),
            out.end());
  return out;
}

std::vector<std::string> DebugInfo::function_names() {
  Impl &im = *impl_;
  im.build_index();
  std::set<std::string> names;
  for (auto &rec : im.instances) {
    Dwarf_Die d;
    if (!im.die_at(rec.die, &d)) continue;
    std::string n = im.function_name(&d);
    if (!n.empty()) names.insert(n);
  }
  return {names.begin(), names.end()};
}

static bool file_matches(const std::string &table_file, const std::string &want) {
  if (want.find('/') == std::string::npos) return basename_of(table_file) == want;
  if (table_file == want) return true;
  if (table_file.size() > want.size() && table_file.compare(table_file.size() - want.size(), want.size(), want) == 0)
    return want[0] == '/' || table_file[table_file.size() - want.size() - 1] == '/';
  return false;
}

std::vector<LineAddress> DebugInfo::line_addresses(const std::string &file, int line, std::string &error) {
  Impl &im = *impl_;
  im.build_index();
  std::map<uint64_t, LineAddress> found;
  bool file_seen = false;
  int nearest = 0;
  Dwarf_Off off = 0, next;
  size_t hsize;
  while (dwarf_nextcu(im.dw, off, &next, &hsize, nullptr, nullptr, nullptr) == 0) {
    Dwarf_Die cu;
    Dwarf_Lines *lines;
    size_t n;
    if (dwarf_offdie(im.dw, off + hsize, &cu) && dwarf_getsrclines(&cu, &lines, &n) == 0) {
      bool prev_match = false;
      for (size_t i = 0; i < n; i++) {
        Dwarf_Line *l = dwarf_onesrcline(lines, i);
        bool end = false, stmt = false;
        dwarf_lineendsequence(l, &end);
        if (end) {
          prev_match = false;
          continue;
        }
        const char *src = dwarf_linesrc(l, nullptr, nullptr);
        int ln = 0;
        dwarf_lineno(l, &ln);
        bool fmatch = src && file_matches(src, file);
        if (fmatch) {
          file_seen = true;
          if (ln > line && (nearest == 0 || ln < nearest)) nearest = ln;
        }
        bool match = fmatch && ln == line;
        dwarf_linebeginstatement(l, &stmt);
        if (match && stmt && !prev_match) {
          Dwarf_Addr a;
          dwarf_lineaddr(l, &a);
          if (!found.count(a)) {
            LineAddress la;
            la.address = a;
            la.file = src;
            la.line = ln;
            found[a] = la;
          }
        }
        if (match && stmt) prev_match = true;
        else if (!match) prev_match = false;
      }
    }
    off = next;
  }
  std::vector<LineAddress> out;
  for (auto &[a, la] : found) {
    la.function = im.innermost_function(a, la.in_inlined_copy);
    out.push_back(la);
  }
  if (out.empty()) {
    if (!file_seen) error = "no source file matching '" + file + "' in the line table of " + im.path;
    else if (nearest) error = "no code at " + file + ":" + std::to_string(line) + " (next line with code: " +
                              std::to_string(nearest) + ")";
    else error = "no code at " + file + ":" + std::to_string(line);
  }
  return out;
}

std::vector<Variable> DebugInfo::variables_at(uint64_t address, std::string &error) {
  return impl_->variables_at(address, error);
}

std::optional<Variable> DebugInfo::find_variable(uint64_t address, const std::string &name, std::string &error) {
  std::string err;
  auto vars = impl_->variables_at(address, err);
  if (!err.empty()) {
    error = err;
    return std::nullopt;
  }
  for (auto &v : vars)
    if (v.name == name) return v;
  error = "no variable '" + name + "' in scope at " + hex(address);
  return std::nullopt;
}

const Type *DebugInfo::find_type(const std::string &name) {
  Impl &im = *impl_;
  im.build_index();
  auto it = im.types_by_name.find(name);
  if (it == im.types_by_name.end()) return nullptr;
  const Type *decl = nullptr;
  for (Dwarf_Off o : it->second) {
    Dwarf_Die d;
    if (!im.die_at(o, &d)) continue;
    if (Impl::flag(&d, DW_AT_declaration)) {
      if (!decl) decl = im.build_type(&d);
      continue;
    }
    return im.build_type(&d);
  }
  return decl;
}

std::optional<CfaRule> DebugInfo::cfa_at(uint64_t address, std::string &error) {
  return impl_->cfa_at(address, error);
}

std::string FunctionInstance::signature() const {
  std::string s;
  for (size_t i = 0; i < params.size(); i++) {
    if (i) s += ", ";
    s += params[i].declaration();
  }
  if (variadic) s += params.empty() ? "..." : ", ...";
  std::string head = name + "(" + s + ")";
  return return_type ? return_type->declare(head) : "void " + head;
}

}  // namespace gt::dwarf
