// DebugInfo (sema/dwarf/dwarf.h) against real binaries: test/programs/
// dwarf_target.c and dwarf_cxx.cpp built here with gcc / clang-19 (g++ /
// clang++-19) at -O0..-O3, and glibc with its separate debug info
// (libc6-dbg).
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "runtime/elf_file.h"
#include "sema/dwarf/dwarf.h"

using namespace gt::dwarf;

namespace {

std::string programs_dir() {
  if (const char *s = getenv("GT_SOURCE_DIR")) return std::string(s) + "/test/programs";
  std::string f = __FILE__;
  return f.substr(0, f.rfind("/unit/")) + "/programs";
}

std::string scratch_dir() {
  static std::string dir = [] {
    char t[] = "/tmp/gt_dwarf_reader_XXXXXX";
    const char *d = mkdtemp(t);
    return std::string(d ? d : "/tmp");
  }();
  return dir;
}

struct ScratchCleanup : ::testing::Environment {
  void TearDown() override {
    std::string d = scratch_dir();
    if (d.rfind("/tmp/gt_dwarf_reader_", 0) == 0) (void)!system(("rm -rf '" + d + "'").c_str());
  }
};
[[maybe_unused]] ::testing::Environment *const kCleanup = ::testing::AddGlobalTestEnvironment(new ScratchCleanup);

bool have_tool(const std::string &t) { return system(("command -v " + t + " >/dev/null 2>&1").c_str()) == 0; }

// Builds programs/<src> with `cc -<opt> <flags>`; "" and `why` on failure.
std::string build(const std::string &cc, const std::string &opt, const std::string &src, std::string &why,
                  const std::string &flags = "-g") {
  static std::map<std::string, std::string> cache;
  std::string key = cc + "|" + opt + "|" + src + "|" + flags;
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  if (!have_tool(cc)) {
    why = cc + " is not installed";
    return "";
  }
  std::string base = src.substr(0, src.rfind('.'));
  std::string out = scratch_dir() + "/" + base + "_" + cc + "_" + opt + (flags == "-g" ? "" : "_nog");
  std::string cmd = cc + " -" + opt + " " + flags + " -fno-lto -U_FORTIFY_SOURCE -I" + programs_dir() + " -o " +
                    out + " " + programs_dir() + "/" + src + " > " + out + ".log 2>&1";
  if (system(cmd.c_str()) != 0) {
    why = "build failed: " + cmd;
    return "";
  }
  cache[key] = out;
  return out;
}

// Line number of the line holding "MARK:<name>" in programs/<src>.
int mark_line(const std::string &src, const std::string &name) {
  std::ifstream in(programs_dir() + "/" + src);
  std::string line;
  for (int n = 1; std::getline(in, line); n++)
    if (line.find("MARK:" + name + " ") != std::string::npos) return n;
  return 0;
}

uint64_t elf_symbol(const std::string &bin, const std::string &name) {
  std::string err;
  auto elf = gt::elf::ElfFile::open(bin, err);
  if (!elf) return 0;
  auto s = elf->find_symbol(name);
  return s ? s->address : 0;
}

// The constant a location holds, if it is one (DW_OP_lit/const + stack_value,
// or an implicit value / DW_AT_const_value).
std::optional<int64_t> constant_of(const Location &l) {
  if (!l.ok() || l.pieces.size() != 1) return std::nullopt;
  const Piece &p = l.pieces[0];
  if (p.kind == Piece::Kind::Value && p.expr.size() == 1 && p.expr[0].code == ExprOp::Const) return p.expr[0].value;
  if (p.kind == Piece::Kind::Implicit && !p.bytes.empty() && p.bytes.size() <= 8) {
    uint64_t v = 0;
    for (size_t i = 0; i < p.bytes.size(); i++) v |= uint64_t(p.bytes[i]) << (8 * i);
    int shift = int(64 - 8 * p.bytes.size());
    return int64_t(v << shift) >> shift;
  }
  return std::nullopt;
}

bool is_register(const Location &l, unsigned reg) {
  return l.ok() && l.pieces.size() == 1 && l.pieces[0].kind == Piece::Kind::Register && l.pieces[0].regno == reg;
}

bool is_memory_at(const Location &l, unsigned reg, int64_t off) {
  unsigned r;
  int64_t o;
  return l.ok() && l.pieces.size() == 1 && l.pieces[0].kind == Piece::Kind::Memory &&
         l.pieces[0].reg_plus_offset(r, o) && r == reg && o == off;
}

struct Build {
  std::string cc, opt;
};
[[maybe_unused]] void PrintTo(const Build &b, std::ostream *os) { *os << b.cc << " -" << b.opt; }
std::string build_name(const ::testing::TestParamInfo<Build> &i) {
  std::string n = i.param.cc + "_" + i.param.opt;
  for (char &c : n)
    if (!isalnum((unsigned char)c)) c = '_';
  return n;
}

class CTarget : public ::testing::TestWithParam<Build> {
protected:
  void SetUp() override {
    std::string why;
    bin_ = build(GetParam().cc, GetParam().opt, "dwarf_target.c", why);
    if (bin_.empty()) GTEST_SKIP() << why;
    std::string err;
    di_ = DebugInfo::open(bin_, err);
    ASSERT_TRUE(di_) << err;
  }
  bool O0() const { return GetParam().opt == "O0"; }
  bool gcc() const { return GetParam().cc == "gcc"; }
  bool optimized_well() const { return GetParam().opt == "O2" || GetParam().opt == "O3"; }
  std::string bin_;
  std::unique_ptr<DebugInfo> di_;
};

INSTANTIATE_TEST_SUITE_P(AllLevels, CTarget,
                         ::testing::Values(Build{"gcc", "O0"}, Build{"gcc", "O1"}, Build{"gcc", "O2"},
                                           Build{"gcc", "O3"}, Build{"clang-19", "O0"}, Build{"clang-19", "O1"},
                                           Build{"clang-19", "O2"}, Build{"clang-19", "O3"}),
                         build_name);

TEST_P(CTarget, ProcessParametersAtEntry) {
  auto fs = di_->find_functions("process");
  ASSERT_EQ(fs.size(), 1u);
  const FunctionInstance &f = fs[0];
  EXPECT_EQ(f.kind, FunctionInstance::Kind::OutOfLine);
  EXPECT_EQ(f.name, "process");
  EXPECT_EQ(f.symbol, "process");
  EXPECT_FALSE(f.continuation);
  EXPECT_EQ(f.entry, elf_symbol(bin_, "process"));
  EXPECT_EQ(f.signature(), "int process(struct req *r, int flags, const char *tag)");
  ASSERT_EQ(f.params.size(), 3u);
  const unsigned regs[3] = {kRegRdi, kRegRsi, kRegRdx};
  for (int i = 0; i < 3; i++) {
    EXPECT_EQ(f.params[i].kind, Variable::Kind::Parameter);
    EXPECT_TRUE(is_register(f.params[i].location, regs[i])) << f.params[i].name << ": " << f.params[i].location.describe();
    // -O0 DWARF says "on the stack", which the prologue has not written yet at
    // the entry: the location comes from the calling convention instead.
    EXPECT_EQ(f.params[i].location.from_calling_convention, O0()) << f.params[i].name;
  }
  EXPECT_EQ(f.params[0].type->display(), "struct req *");
  EXPECT_EQ(f.params[1].type->display(), "int");
  EXPECT_EQ(f.params[2].type->display(), "const char *");
  EXPECT_EQ(f.params[2].declaration(), "const char *tag");

  std::string err;
  auto cfa = di_->cfa_at(f.entry, err);
  ASSERT_TRUE(cfa) << err;
  EXPECT_EQ(cfa->regno, kRegRsp);
  EXPECT_EQ(cfa->offset, 8);
}

TEST_P(CTarget, StackPassedArguments) {
  auto fs = di_->find_functions("many_args");
  ASSERT_EQ(fs.size(), 1u);
  const auto &p = fs[0].params;
  ASSERT_EQ(p.size(), 8u);
  const unsigned regs[6] = {kRegRdi, kRegRsi, kRegRdx, kRegRcx, kRegR8, kRegR9};
  for (int i = 0; i < 6; i++) EXPECT_TRUE(is_register(p[i].location, regs[i])) << p[i].location.describe();
  // The 7th and 8th: in the caller's frame, right above the return address.
  EXPECT_TRUE(is_memory_at(p[6].location, kRegRsp, 8)) << p[6].location.describe();
  EXPECT_TRUE(is_memory_at(p[7].location, kRegRsp, 16)) << p[7].location.describe();
  EXPECT_EQ(p[7].declaration(), gcc() ? "long int h" : "long h");
}

TEST_P(CTarget, StaticInlineCopies) {
  auto fs = di_->find_functions("scale");
  ASSERT_FALSE(fs.empty());
  if (O0()) {
    ASSERT_EQ(fs.size(), 1u);
    EXPECT_EQ(fs[0].kind, FunctionInstance::Kind::OutOfLine);
    EXPECT_EQ(fs[0].symbol, "scale");
    return;
  }
  std::multiset<std::string> callers;
  for (auto &f : fs) {
    EXPECT_EQ(f.function_id, fs[0].function_id);
    EXPECT_EQ(f.name, "scale");
    ASSERT_EQ(f.params.size(), 2u);
    EXPECT_EQ(f.params[0].name, "x");
    EXPECT_EQ(f.params[1].name, "k");
    if (f.kind == FunctionInstance::Kind::Inlined) {
      callers.insert(f.caller);
      EXPECT_EQ(f.call_file.substr(f.call_file.rfind('/') + 1), "dwarf_target.c");
      bool inside = false;
      for (auto &r : f.ranges) inside |= r.contains(f.entry);
      EXPECT_TRUE(inside) << std::hex << f.entry;
      if (f.caller == "use_scale_a" && optimized_well()) {
        // scale(v, 3): k is the constant 3 in this copy.
        auto k = constant_of(f.params[1].location);
        ASSERT_TRUE(k) << f.params[1].location.describe();
        EXPECT_EQ(*k, 3);
      }
    }
  }
  if (optimized_well()) {
    EXPECT_EQ(callers, (std::multiset<std::string>{"process", "use_scale_a", "use_scale_b"}));
  }
}

TEST_P(CTarget, SplitFunctionCountsOncePerCall) {
  auto fs = di_->find_functions("checked_sum");
  ASSERT_FALSE(fs.empty());
  // The copies a call can start in: what `uprobe:BIN:checked_sum` attaches to.
  std::multiset<std::string> starts;
  int parts = 0;
  for (auto &f : fs) {
    ASSERT_EQ(f.params.size(), 2u);
    EXPECT_EQ(f.params[0].name, "buf");
    EXPECT_EQ(f.params[1].name, "n");
    if (f.kind == FunctionInstance::Kind::SplitPart) {
      parts++;
      EXPECT_EQ(f.symbol, "checked_sum.part.0");
      EXPECT_EQ(f.entry, elf_symbol(bin_, "checked_sum.part.0"));
      EXPECT_TRUE(f.continuation);
    }
    if (!f.continuation)
      starts.insert(f.kind == FunctionInstance::Kind::OutOfLine ? "(out of line)" : f.caller);
  }
  if (O0()) {
    EXPECT_EQ(starts, (std::multiset<std::string>{"(out of line)"}));
  } else if (optimized_well()) {
    EXPECT_EQ(starts, (std::multiset<std::string>{"(out of line)", "caller_a", "caller_b", "caller_c"}));
  }
  if (gcc() && GetParam().opt == "O2") {
    EXPECT_EQ(parts, 1);
  }
  if (!gcc()) {
    EXPECT_EQ(parts, 0);
  }
}

TEST_P(CTarget, LineToAddresses) {
  int line = mark_line("dwarf_target.c", "scale_body");
  ASSERT_GT(line, 0);
  std::string err;
  auto las = di_->line_addresses("dwarf_target.c", line, err);
  ASSERT_FALSE(las.empty()) << err;
  auto scales = di_->find_functions("scale");
  for (auto &la : las) {
    EXPECT_EQ(la.line, line);
    EXPECT_EQ(la.function, "scale");
    EXPECT_EQ(la.in_inlined_copy, !O0());
  }
  if (O0()) {
    ASSERT_EQ(las.size(), 1u);
    ASSERT_EQ(scales.size(), 1u);
    EXPECT_TRUE(scales[0].ranges[0].contains(las[0].address));
    EXPECT_GT(las[0].address, scales[0].entry);  // after the prologue
  }
  if (optimized_well()) {
    // One address in each inlined copy.
    std::set<std::string> callers;
    for (auto &la : las)
      for (auto &s : scales)
        for (auto &r : s.ranges)
          if (r.contains(la.address)) callers.insert(s.caller);
    EXPECT_EQ(callers, (std::set<std::string>{"process", "use_scale_a", "use_scale_b"}));
  }
  // Path suffixes match on '/' boundaries only.
  std::string e2;
  EXPECT_EQ(di_->line_addresses("programs/dwarf_target.c", line, e2).size(), las.size());
  EXPECT_TRUE(di_->line_addresses("grams/dwarf_target.c", line, e2).empty());
  std::string e3;
  EXPECT_TRUE(di_->line_addresses("nosuch.c", 10, e3).empty());
  EXPECT_EQ(e3, "no source file matching 'nosuch.c' in the line table of " + di_->path());
  std::string e4;
  EXPECT_TRUE(di_->line_addresses("dwarf_target.c", 1, e4).empty());
  EXPECT_EQ(e4.rfind("no code at dwarf_target.c:1 (next line with code: ", 0), 0u) << e4;
}

TEST_P(CTarget, VariablesInNestedScopes) {
  int line = mark_line("dwarf_target.c", "process_inner");
  std::string err;
  auto las = di_->line_addresses("dwarf_target.c", line, err);
  if (las.empty() && !O0()) GTEST_SKIP() << "the optimizer left no code for line " << line << ": " << err;
  ASSERT_FALSE(las.empty()) << err;
  uint64_t pc = las[0].address;
  auto vars = di_->variables_at(pc, err);
  ASSERT_TRUE(err.empty()) << err;
  std::vector<std::string> names;
  for (auto &v : vars) names.push_back(v.name);
  auto pos = [&](const std::string &n) {
    return size_t(std::find(names.begin(), names.end(), n) - names.begin());
  };
  if (O0()) {
    // Innermost block, then the loop's block, then the function's locals,
    // then its parameters, then the file's statics and globals.
    ASSERT_GE(names.size(), 10u);
    EXPECT_EQ(std::vector<std::string>(names.begin(), names.begin() + 7),
              (std::vector<std::string>{"inner", "sq", "i", "total", "r", "flags", "tag"}));
    EXPECT_EQ(std::set<std::string>(names.begin() + 7, names.end()),
              (std::set<std::string>{"counter", "global_total", "table"}));
    for (size_t i = 0; i < 7; i++) {
      EXPECT_EQ(vars[i].kind, i < 4 ? Variable::Kind::Local : Variable::Kind::Parameter) << names[i];
      unsigned r;
      int64_t off;
      ASSERT_TRUE(vars[i].location.ok()) << vars[i].location.error;
      EXPECT_EQ(vars[i].location.pieces[0].kind, Piece::Kind::Memory) << names[i];
      EXPECT_TRUE(vars[i].location.pieces[0].reg_plus_offset(r, off));
      EXPECT_EQ(r, kRegRbp) << names[i] << ": " << vars[i].location.describe();
      EXPECT_LT(off, 0);
    }
    EXPECT_EQ(vars[0].declaration(), gcc() ? "long int inner" : "long inner");
  } else {
    for (const char *n : {"inner", "i", "total", "r", "flags", "tag", "counter", "global_total"})
      EXPECT_LT(pos(n), names.size()) << n;
    EXPECT_LT(pos("inner"), pos("i"));
    EXPECT_LT(pos("i"), pos("r"));
    EXPECT_LT(pos("total"), pos("r"));
    EXPECT_LT(pos("tag"), pos("counter"));
  }
  // Globals: link-time addresses equal to their ELF symbols.
  for (const char *g : {"counter", "global_total"}) {
    size_t i = pos(g);
    ASSERT_LT(i, vars.size());
    const Location &l = vars[i].location;
    EXPECT_EQ(vars[i].kind, Variable::Kind::Global);
    ASSERT_TRUE(l.ok()) << l.error;
    ASSERT_EQ(l.pieces.size(), 1u);
    EXPECT_EQ(l.pieces[0].kind, Piece::Kind::Memory);
    ASSERT_EQ(l.pieces[0].expr.size(), 1u);
    EXPECT_EQ(l.pieces[0].expr[0].code, ExprOp::Addr);
    EXPECT_EQ(uint64_t(l.pieces[0].expr[0].value), elf_symbol(bin_, g)) << g;
    EXPECT_TRUE(l.uses_link_time_address());
  }
  auto missing = di_->find_variable(pc, "nope", err);
  EXPECT_FALSE(missing);
  char buf[64];
  snprintf(buf, sizeof buf, "no variable 'nope' in scope at 0x%llx", (unsigned long long)pc);
  EXPECT_EQ(err, buf);
  auto total = di_->find_variable(pc, "total", err);
  ASSERT_TRUE(total);
  EXPECT_EQ(total->type->display(), "int");
}

TEST(DwarfReader, LocalsBeforeThePrologueAreNotReadable) {
  for (const char *cc : {"gcc", "clang-19"}) {
    std::string why;
    std::string bin = build(cc, "O0", "dwarf_target.c", why);
    if (bin.empty()) GTEST_SKIP() << why;
    std::string err;
    auto di = DebugInfo::open(bin, err);
    ASSERT_TRUE(di) << err;
    auto fs = di->find_functions("process");
    ASSERT_EQ(fs.size(), 1u);
    auto total = di->find_variable(fs[0].entry, "total", err);
    ASSERT_TRUE(total) << err;
    EXPECT_FALSE(total->location.ok());
    char buf[160];
    snprintf(buf, sizeof buf,
             "not yet stored at 0x%llx (the function's prologue has not run; probe a later line)",
             (unsigned long long)fs[0].entry);
    EXPECT_EQ(total->location.error, buf) << cc;
    auto r = di->find_variable(fs[0].entry, "r", err);
    ASSERT_TRUE(r);
    EXPECT_TRUE(is_register(r->location, kRegRdi)) << cc;
    EXPECT_TRUE(r->location.from_calling_convention);
  }
}

TEST(DwarfReader, StructPassedInRegisterPieces) {
  std::string why;
  std::string bin = build("clang-19", "O2", "dwarf_target.c", why);
  if (bin.empty()) GTEST_SKIP() << why;
  std::string err;
  auto di = DebugInfo::open(bin, err);
  ASSERT_TRUE(di) << err;
  auto fs = di->find_functions("apply");
  ASSERT_EQ(fs.size(), 1u);
  ASSERT_EQ(fs[0].params.size(), 3u);
  // clang describes the 8-byte struct in rdx as two DW_OP_convert'ed pieces.
  const Location &l = fs[0].params[2].location;
  ASSERT_TRUE(l.ok()) << l.error;
  ASSERT_EQ(l.pieces.size(), 2u);
  EXPECT_EQ(l.pieces[0].size, 2u);
  EXPECT_EQ(l.pieces[1].size, 6u);
  EXPECT_EQ(l.pieces[0].kind, Piece::Kind::Value);
  EXPECT_EQ(l.pieces[0].expr, (std::vector<ExprOp>{{ExprOp::Reg, kRegRdx}, {ExprOp::Const, 0xffff}, {ExprOp::And, 0}}));
  EXPECT_EQ(l.pieces[1].expr, (std::vector<ExprOp>{{ExprOp::Reg, kRegRdx},
                                                   {ExprOp::Const, 16},
                                                   {ExprOp::Shr, 0},
                                                   {ExprOp::Const, 0xffffffffffff},
                                                   {ExprOp::And, 0}}));
}

TEST(DwarfReader, OpenErrors) {
  std::string err;
  EXPECT_FALSE(DebugInfo::open("/nonexistent/prog", err));
  EXPECT_EQ(err, "'/nonexistent/prog': No such file or directory");

  std::string why;
  std::string nog = build("gcc", "O2", "dwarf_target.c", why, "-g0");
  if (nog.empty()) GTEST_SKIP() << why;
  std::string e2;
  auto elf = gt::elf::ElfFile::open(nog, e2);
  ASSERT_TRUE(elf) << e2;
  EXPECT_FALSE(DebugInfo::open(nog, err));
  const std::string &id = elf->build_id();
  if (id.empty()) {
    EXPECT_EQ(err, "no DWARF in " + nog +
                       " (not built with -g, and no separate debug info found: it has no build-id and no "
                       ".gnu_debuglink)");
  } else {
    EXPECT_EQ(err, "no DWARF in " + nog + " (not built with -g, and no separate debug info found at " +
                       "/usr/lib/debug/.build-id/" + id.substr(0, 2) + "/" + id.substr(2) + ".debug)");
  }
}

TEST(DwarfReader, DebugLinkNextToTheBinary) {
  // objcopy --only-keep-debug + --add-gnu-debuglink: DWARF found via .gnu_debuglink.
  if (!have_tool("objcopy")) GTEST_SKIP() << "objcopy is not installed";
  std::string why;
  std::string bin = build("gcc", "O2", "dwarf_target.c", why);
  if (bin.empty()) GTEST_SKIP() << why;
  std::string dir = scratch_dir() + "/linked";
  std::string stripped = dir + "/prog", debug = dir + "/.debug/prog.dbg";
  std::string cmd = "mkdir -p " + dir + "/.debug && objcopy --only-keep-debug " + bin + " " + debug +
                    " && objcopy --strip-debug --add-gnu-debuglink=" + debug + " " + bin + " " + stripped;
  ASSERT_EQ(system(cmd.c_str()), 0) << cmd;
  std::string err;
  auto di = DebugInfo::open(stripped, err);
  ASSERT_TRUE(di) << err;
  EXPECT_EQ(di->debug_path(), debug);
  auto fs = di->find_functions("process");
  ASSERT_EQ(fs.size(), 1u);
  EXPECT_EQ(fs[0].params.size(), 3u);
  EXPECT_TRUE(is_register(fs[0].params[0].location, kRegRdi));  // CFI comes from the stripped binary
}

TEST(DwarfReader, GlibcSeparateDebugInfo) {
  const std::string libc = "/lib/x86_64-linux-gnu/libc.so.6";
  std::string err;
  auto elf = gt::elf::ElfFile::open(libc, err);
  if (!elf) GTEST_SKIP() << err;
  const std::string &id = elf->build_id();
  ASSERT_FALSE(id.empty());
  std::string debug = "/usr/lib/debug/.build-id/" + id.substr(0, 2) + "/" + id.substr(2) + ".debug";
  if (access(debug.c_str(), R_OK) != 0)
    GTEST_SKIP() << "glibc's debug info is not installed (apt-get install libc6-dbg): " << debug;
  auto di = DebugInfo::open(libc, err);
  ASSERT_TRUE(di) << err;
  EXPECT_EQ(di->debug_path(), debug);
  EXPECT_EQ(di->build_id(), id);
  // malloc is an ELF alias of __libc_malloc; glibc names the parameter `bytes`.
  auto fs = di->find_functions("malloc");
  ASSERT_FALSE(fs.empty());
  const FunctionInstance *ool = nullptr;
  for (auto &f : fs)
    if (f.kind == FunctionInstance::Kind::OutOfLine) ool = &f;
  ASSERT_TRUE(ool);
  EXPECT_EQ(ool->name, "__libc_malloc");
  EXPECT_EQ(ool->entry, elf->find_symbol("malloc")->address);
  ASSERT_EQ(ool->params.size(), 1u);
  EXPECT_EQ(ool->params[0].name, "bytes");
  EXPECT_EQ(ool->params[0].type->display(), "size_t");
  EXPECT_EQ(ool->params[0].type->resolve()->display(), "long unsigned int");
  EXPECT_TRUE(is_register(ool->params[0].location, kRegRdi)) << ool->params[0].location.describe();
  EXPECT_FALSE(ool->params[0].location.from_calling_convention);
  EXPECT_EQ(ool->signature(), "void *__libc_malloc(size_t bytes)");
  EXPECT_EQ(di->find_functions("__libc_malloc").size(), fs.size());
}

// ---------------------------------------------------------------- C++

class CxxTarget : public ::testing::TestWithParam<Build> {
protected:
  void SetUp() override {
    std::string why;
    bin_ = build(GetParam().cc, GetParam().opt, "dwarf_cxx.cpp", why);
    if (bin_.empty()) GTEST_SKIP() << why;
    std::string err;
    di_ = DebugInfo::open(bin_, err);
    ASSERT_TRUE(di_) << err;
  }
  bool gxx() const { return GetParam().cc == "g++"; }
  std::string bin_;
  std::unique_ptr<DebugInfo> di_;
};

INSTANTIATE_TEST_SUITE_P(Levels, CxxTarget,
                         ::testing::Values(Build{"g++", "O0"}, Build{"g++", "O2"}, Build{"clang++-19", "O0"},
                                           Build{"clang++-19", "O2"}),
                         build_name);

TEST_P(CxxTarget, OverloadedMethods) {
  auto fs = di_->find_functions("ns::Derived::get");
  ASSERT_EQ(fs.size(), 2u);
  EXPECT_NE(fs[0].function_id, fs[1].function_id);
  std::set<std::string> sigs;
  std::string this_type = gxx() ? "const ns::Derived *const" : "const ns::Derived *";
  for (auto &f : fs) {
    EXPECT_EQ(f.kind, FunctionInstance::Kind::OutOfLine);
    EXPECT_EQ(f.entry, elf_symbol(bin_, f.symbol));
    ASSERT_GE(f.params.size(), 2u);
    EXPECT_EQ(f.params[0].name, "this");
    EXPECT_EQ(f.params[0].type->display(), this_type);
    EXPECT_TRUE(is_register(f.params[0].location, kRegRdi)) << f.params[0].location.describe();
    EXPECT_TRUE(is_register(f.params[1].location, kRegRsi));
    sigs.insert(f.signature());
  }
  std::string this_decl = gxx() ? "const ns::Derived *const this" : "const ns::Derived *this";
  EXPECT_EQ(sigs, (std::set<std::string>{"int ns::Derived::get(" + this_decl + ", int k)",
                                         "int ns::Derived::get(" + this_decl + ", int k, int j)"}));
  // The demangled signature picks one overload; so does the mangled name.
  auto one = di_->find_functions("ns::Derived::get(int, int) const");
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].params.size(), 3u);
  EXPECT_EQ(di_->find_functions("_ZNK2ns7Derived3getEi").size(), 1u);
}

TEST_P(CxxTarget, ReferencesAndTemplates) {
  auto fs = di_->find_functions("ns::take_ref");
  ASSERT_EQ(fs.size(), 1u);
  ASSERT_EQ(fs[0].params.size(), 3u);
  EXPECT_EQ(fs[0].signature(), "int ns::take_ref(const ns::Derived &d, int &out, ns::Base &&tmp)");
  const unsigned regs[3] = {kRegRdi, kRegRsi, kRegRdx};
  for (int i = 0; i < 3; i++) EXPECT_TRUE(is_register(fs[0].params[i].location, regs[i]));
  const Type *d = fs[0].params[0].type->resolve();
  EXPECT_EQ(d->kind, TypeKind::Reference);
  EXPECT_EQ(d->target->resolve()->display(), "ns::Derived");

  auto tw = di_->find_functions("ns::twice");
  ASSERT_EQ(tw.size(), 2u);
  std::set<std::string> names{tw[0].name, tw[1].name};
  EXPECT_EQ(names, (std::set<std::string>{"ns::twice<int>", gxx() ? "ns::twice<long int>" : "ns::twice<long>"}));
  EXPECT_EQ(di_->find_functions("ns::twice<int>").size(), 1u);
}

}  // namespace
