#include "sema/sema.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <set>
#include <sstream>

#include "runtime/elf_file.h"
#include "runtime/tracefs.h"

namespace gt::sema {

using ast::BinaryOp;
using ast::Expr;
using ast::ExprKind;
using ast::Stmt;
using ast::StmtKind;

static constexpr uint32_t kDefaultStrSize = 64;
static constexpr uint32_t kCommSize = 16;

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
  default:
    return meta::Type::none();
  }
}

uint32_t storage_size(const Type &t) {
  switch (t.kind) {
  case Type::Kind::Int: return 8;
  case Type::Kind::Str: return t.size;
  case Type::Kind::Tuple: return to_meta(t).size;
  default: return 0;
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
    if (j >= format.size() || !strchr("diuxXocsp", format[j])) {
      error = "invalid printf conversion '" + format.substr(i, j - i + (j < format.size())) + "'";
      return false;
    }
    convs.push_back(format[j]);
    i = j;
  }
  return true;
}

namespace {

class Analyzer {
public:
  Analyzer(ast::Program &prog, Diagnostics &diags, const Options &opts)
      : prog_(prog), diags_(diags), opts_(opts) {}

  std::optional<Analysis> run();

private:
  bool resolve_attach_point(const ast::AttachPoint &ap, AttachPoint &out);
  bool resolve_uprobe(const ast::AttachPoint &ap, const std::vector<std::string> &parts,
                      bool is_return, AttachPoint &out);
  void check_probe(ProbeInfo &info);
  void check_stmts(ast::StmtList &stmts);
  void check_stmt(Stmt &s);
  void check_expr(Expr &e);
  void check_call(Expr &e, bool as_statement);
  void check_map_assign(Stmt &s);
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
  const ProbeInfo *probe_ = nullptr;
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
    if (!s || !s->is_function) {
      error(ap.loc, "could not find function '" + sym + "' in " + path);
      return false;
    }
    if (off && s->size && off >= s->size) {
      error(ap.loc, "offset " + std::to_string(off) + " is past the end of '" + sym + "' (" +
                        std::to_string(s->size) + " bytes)");
      return false;
    }
    p.symbol = sym;
    p.offset = off;
    out.func = sym;
  }
  out.pointer_space = Type::AddrSpace::User;
  p.spec = std::string(kind) + ":" + path + ":" + target;
  return true;
}

bool Analyzer::resolve_attach_point(const ast::AttachPoint &ap, AttachPoint &out) {
  out.loc = ap.loc;
  out.probe.spec = ap.text;
  if (ap.text == "BEGIN" || ap.text == "END") {
    out.probe.kind = ap.text == "BEGIN" ? meta::ProbeKind::Begin : meta::ProbeKind::End;
    return true;
  }
  auto parts = split_attach(ap.text);
  std::string provider = parts[0];
  if (provider == "u") provider = "uprobe";
  if (provider == "ur") provider = "uretprobe";
  if (provider == "t") provider = "tracepoint";
  if (provider == "p") provider = "profile";
  if (provider == "i") provider = "interval";
  if (provider == "uprobe" || provider == "uretprobe")
    return resolve_uprobe(ap, parts, provider == "uretprobe", out);
  if (provider == "tracepoint") {
    if (parts.size() != 3 || parts[1].empty() || parts[2].empty()) {
      error(ap.loc, "tracepoint needs a category and a name: tracepoint:CATEGORY:NAME");
      return false;
    }
    if (ap.text.find('*') != std::string::npos) {
      error(ap.loc, "wildcards in tracepoint probes are not supported yet");
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
  static const std::set<std::string> later = {"kprobe", "kretprobe", "fentry", "fexit", "usdt",
                                              "rawtracepoint", "software", "hardware",
                                              "watchpoint", "k", "kr", "f", "fr", "U", "rt",
                                              "s", "h", "w"};
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
  if (t.kind == Type::Kind::Int)
    return Type::integer(8, t.is_signed);
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
    if (!k->type.is_int() && !k->type.is_str()) {
      if (k->type.kind != Type::Kind::None)
        error(k->loc, "a map key must be an integer or a string, not " + k->type.str());
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
  if (!value.type.is_int() && !value.type.is_str() && value.type.kind != Type::Kind::Tuple) {
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
      if (c == 's' && !a.type.is_str()) {
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
  } else {
    static const std::set<std::string> later = {
        "print", "clear", "zero", "time", "strftime", "join", "system", "cat", "signal",
        "ksym", "usym", "kaddr", "uaddr", "ntop", "buf", "strncmp", "reg", "cgroupid",
        "sizeof", "offsetof", "len", "has_key", "override", "macaddr", "path", "unwatch"};
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
    bool is_uprobe = kind == meta::ProbeKind::Uprobe || kind == meta::ProbeKind::Uretprobe;
    if (n == "pid" || n == "tid" || n == "uid" || n == "gid" || n == "cpu" || n == "nsecs") {
      e.type = Type::integer(8, false);
    } else if (n == "comm") {
      e.type = Type::string(kCommSize);
    } else if (n == "retval") {
      if (kind != meta::ProbeKind::Uretprobe) {
        error(e.loc, "retval is only available in uretprobe probes");
        return;
      }
      e.type = Type::integer(8, true);
    } else if (n.size() == 4 && n.rfind("arg", 0) == 0 && n[3] >= '0' && n[3] <= '9') {
      if (!is_uprobe) {
        error(e.loc, n + " is only available in uprobe and uretprobe probes");
        return;
      }
      if (n[3] > '5') {
        error(e.loc, n + ": only arg0 to arg5 are passed in registers");
        return;
      }
      e.type = Type::integer(8, false);
    } else if (n == "func") {
      if (!is_uprobe) {
        error(e.loc, "func is only available in uprobe and uretprobe probes");
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
    } else if (n == "args") {
      if (kind != meta::ProbeKind::Tracepoint) {
        error(e.loc, "args is only available in tracepoint probes here (DWARF arguments of "
                     "uprobes are not supported yet)");
        return;
      }
      e.type.kind = Type::Kind::Args;
    } else {
      static const std::set<std::string> later = {"elapsed", "cgroup", "curtask", "rand",
                                                  "kstack", "ustack", "username", "sarg0",
                                                  "jiffies", "numaid", "ctx", "__builtin_usermode"};
      if (later.count(n))
        error(e.loc, "builtin '" + n + "' is not supported yet");
      else
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
      if (!c->type.is_int() && !c->type.is_str()) {
        error(c->loc, "a tuple element must be an integer or a string, not " + c->type.str());
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
      error(e.loc, "casts to '" + n + "' need kernel (BTF) or program (DWARF) types, which are "
                   "not supported yet");
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
    if (obj.type.kind != Type::Kind::Args) {
      error(e.loc, "cannot take field '" + e.name + "' of " + obj.type.str());
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
    if ((!a.type.is_int() && !a.type.is_str() && a.type.kind != Type::Kind::Tuple) ||
        !unify(t, storage_type(b.type))) {
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

void Analyzer::check_stmt(Stmt &s) {
  switch (s.kind) {
  case StmtKind::Expr:
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
    if (!value.type.is_int() && !value.type.is_str() && value.type.kind != Type::Kind::Tuple) {
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
  for (auto &p : prog_.probes) {
    ProbeInfo info;
    info.ast = &p;
    bool ok = true;
    for (const auto &ap : p.attach_points) {
      AttachPoint out;
      report_ = true;
      if (!resolve_attach_point(ap, out)) {
        ok = false;
        continue;
      }
      if (!info.attach_points.empty() && info.attach_points.front().probe.kind != out.probe.kind &&
          (out.probe.kind == meta::ProbeKind::Tracepoint ||
           info.attach_points.front().probe.kind == meta::ProbeKind::Tracepoint)) {
        // Allowed, but `args` then has no single meaning; sema checks its uses.
      }
      info.attach_points.push_back(std::move(out));
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
