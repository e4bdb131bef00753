// User symbols on real files: C++ demangling (SessionSymbolizer) and the
// source lines and inlined functions of --stack-lines (DwarfLines), checked
// on the test programs and on Debian's libc with libc6-dbg.
#include <gtest/gtest.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unistd.h>

#include "runtime/dwarf_lines.h"
#include "runtime/elf_file.h"
#include "runtime/symbolizer.h"

using namespace gt::rt;

namespace {

const char *const kLibc = "/usr/lib/x86_64-linux-gnu/libc.so.6";

std::string programs_dir() {
  if (const char *s = getenv("GT_PROGRAMS_DIR"))
    return s;
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  std::string exe(buf, n > 0 ? size_t(n) : 0);
  return exe.substr(0, exe.rfind('/')) + "/programs";
}

bool ends_with(const std::string &s, const std::string &tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

std::string describe(const std::vector<SourceFrame> &v) {
  std::string s;
  for (const SourceFrame &f : v)
    s += f.function + " " + f.file + ":" + std::to_string(f.line) + (f.inlined ? " [inlined]" : "") +
         "\n";
  return s;
}

// A symbol's address range in `path` (.symtab or .dynsym).
bool symbol_range(const std::string &path, const std::string &name, uint64_t &lo, uint64_t &hi) {
  std::string err;
  auto elf = gt::elf::ElfFile::open(path, err);
  if (!elf)
    return false;
  auto s = elf->find_symbol(name);
  if (!s || !s->size)
    return false;
  lo = s->address;
  hi = s->address + s->size;
  return true;
}

// The first address in [lo, hi) whose lookup satisfies `pred`.
template <class Pred>
bool find_address(DwarfLines &d, uint64_t lo, uint64_t hi, Pred pred,
                  std::vector<SourceFrame> &found) {
  for (uint64_t a = lo; a < hi; a++) {
    const auto &v = d.lookup(a);
    if (pred(v)) {
      found = v;
      return true;
    }
  }
  return false;
}

}  // namespace

TEST(Symbolize, Demangle) {
  EXPECT_EQ(demangle_symbol("_ZNK2ns7Derived3getEi"), "ns::Derived::get(int) const");
  EXPECT_EQ(demangle_symbol("_ZN2ns5twiceIlEET_S1_"), "long ns::twice<long>(long)");
  EXPECT_EQ(demangle_symbol("_Z3foov.cold"), "foo() [clone .cold]");
  // C names stay, even those that are also type manglings ("i" is int).
  EXPECT_EQ(demangle_symbol("main"), "main");
  EXPECT_EQ(demangle_symbol("i"), "i");
  EXPECT_EQ(demangle_symbol("msort_with_tmp.part.0"), "msort_with_tmp.part.0");
  // Not a valid mangling: as is.
  EXPECT_EQ(demangle_symbol("_Zfoo"), "_Zfoo");
  EXPECT_EQ(demangle_symbol(""), "");
}

TEST(Symbolize, UserSymbolsAreDemangledKernelSymbolsAreNot) {
  std::string path = programs_dir() + "/dwarf_cxx_O0";
  std::string err;
  auto elf = gt::elf::ElfFile::open(path, err);
  ASSERT_TRUE(elf) << err;
  auto get = elf->find_symbol("_ZNK2ns7Derived3getEi");
  ASSERT_TRUE(get);
  auto off = elf->address_to_offset(get->address + 3);
  ASSERT_TRUE(off);

  SessionSymbolizer s;
  // The whole file mapped at 0x100000 in a process that does not exist.
  s.set_maps(999999999, "100000-200000 r-xp 00000000 08:01 1234 " + path + "\n");
  std::string name;
  uint64_t o = 0;
  ASSERT_TRUE(s.user_symbol(0x100000 + *off, 999999999, name, o));
  EXPECT_EQ(name, "ns::Derived::get(int) const");
  EXPECT_EQ(o, 3u);
  EXPECT_EQ(format_usym(0x100000 + *off, 999999999, &s, true), "ns::Derived::get(int) const+3");

  s.set_kallsyms("ffffffff81000000 T _ZN3foo3barEv\n");
  EXPECT_EQ(format_ksym(0xffffffff81000002, &s, true), "_ZN3foo3barEv+2");
}

TEST(Symbolize, SourceLinesOfAFunction) {
  std::string path = programs_dir() + "/unwind_gcc";
  auto d = DwarfLines::open(path);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->debug_path(), path);
  uint64_t lo, hi;
  ASSERT_TRUE(symbol_range(path, "on_compare", lo, hi));
  const auto &v = d->lookup(lo);
  ASSERT_EQ(v.size(), 1u) << describe(v);
  EXPECT_EQ(v[0].function, "on_compare");
  EXPECT_TRUE(ends_with(v[0].file, "/test/programs/unwind_target.c")) << v[0].file;
  EXPECT_EQ(v[0].file[0], '/');  // compiled by absolute path
  EXPECT_EQ(v[0].line, 21u);     // the function's first statement, as gdb's breakpoint
  EXPECT_FALSE(v[0].inlined);
  // An address no compile unit covers.
  EXPECT_TRUE(d->lookup(1).empty());
}

TEST(Symbolize, InlinedFunctionInTheProgram) {
  // main's atoi(argv[1]) is stdlib.h's inline atoi calling strtol: the call
  // of strtol is in atoi, inlined into main at line 51.
  std::string path = programs_dir() + "/unwind_gcc";
  auto d = DwarfLines::open(path);
  ASSERT_TRUE(d);
  uint64_t lo, hi;
  ASSERT_TRUE(symbol_range(path, "main", lo, hi));
  std::vector<SourceFrame> v;
  ASSERT_TRUE(find_address(*d, lo, hi,
                           [](const std::vector<SourceFrame> &f) {
                             return f.size() == 2 && f[0].inlined && f[1].line == 51;
                           },
                           v));
  EXPECT_EQ(v[0].function, "atoi");
  EXPECT_EQ(v[0].file, "/usr/include/stdlib.h");
  EXPECT_GT(v[0].line, 0u);
  EXPECT_EQ(v[1].function, "main");
  EXPECT_TRUE(ends_with(v[1].file, "/test/programs/unwind_target.c")) << v[1].file;
  EXPECT_FALSE(v[1].inlined);
}

TEST(Symbolize, ClangProgramWithoutAranges) {
  // clang writes no .debug_aranges: the compile units' ranges are indexed.
  std::string path = programs_dir() + "/unwind_clang";
  if (access(path.c_str(), R_OK) != 0)
    GTEST_SKIP() << "no " << path << " (clang-19 not installed)";
  auto d = DwarfLines::open(path);
  ASSERT_TRUE(d);
  uint64_t lo, hi;
  ASSERT_TRUE(symbol_range(path, "compare_values", lo, hi));
  const auto &v = d->lookup(lo);
  ASSERT_FALSE(v.empty());
  EXPECT_EQ(v.back().function, "compare_values");
  EXPECT_TRUE(ends_with(v.back().file, "unwind_target.c")) << v.back().file;
  EXPECT_GE(v.back().line, 24u);
  EXPECT_LE(v.back().line, 28u);
}

TEST(Symbolize, LibcFromItsDebugFile) {
  // Debian's libc has no DWARF; libc6-dbg's file is found by build-id. In
  // qsort_r, msort_with_tmp is inlined at msort.c:296 and calls its
  // out-of-line part at msort.c:44, as gdb shows:
  //   #3 0x... in msort_with_tmp (n=2, ...) at ./stdlib/msort.c:44
  //   #4 __GI___qsort_r (...) at ./stdlib/msort.c:296
  auto d = DwarfLines::open(kLibc);
  if (!d)
    GTEST_SKIP() << "no DWARF for " << kLibc << " (libc6-dbg not installed)";
  EXPECT_NE(d->debug_path(), kLibc);
  EXPECT_EQ(d->debug_path().rfind("/usr/lib/debug/.build-id/", 0), 0u) << d->debug_path();
  uint64_t lo, hi;
  ASSERT_TRUE(symbol_range(kLibc, "qsort_r", lo, hi));
  std::vector<SourceFrame> v;
  ASSERT_TRUE(find_address(*d, lo, hi,
                           [](const std::vector<SourceFrame> &f) {
                             return f.size() == 2 && f[0].inlined && f[0].line == 44 &&
                                    f[1].line == 296;
                           },
                           v));
  EXPECT_EQ(v[0].function, "msort_with_tmp");
  EXPECT_EQ(v[0].file, "./stdlib/msort.c");
  EXPECT_EQ(v[1].file, "./stdlib/msort.c");
  EXPECT_FALSE(v[1].inlined);
}

TEST(Symbolize, UserSourceLooksUpTheCallOfAReturnAddress) {
  std::string path = programs_dir() + "/unwind_gcc";
  std::string err;
  auto elf = gt::elf::ElfFile::open(path, err);
  ASSERT_TRUE(elf) << err;
  auto d = DwarfLines::open(path);
  ASSERT_TRUE(d);
  uint64_t lo, hi;
  ASSERT_TRUE(symbol_range(path, "main", lo, hi));
  // An address of main whose line differs from the byte before it.
  uint64_t at = 0;
  auto line = [&](uint64_t a) { return d->lookup(a).empty() ? 0 : d->lookup(a).back().line; };
  for (uint64_t a = lo + 1; a < hi && !at; a++)
    if (line(a) && line(a - 1) && line(a) != line(a - 1))
      at = a;
  ASSERT_NE(at, 0u);
  auto off = elf->address_to_offset(at);
  ASSERT_TRUE(off);

  SessionSymbolizer s;
  s.set_maps(999999999, "100000-200000 r-xp 00000000 08:01 1234 " + path + "\n");
  std::vector<SourceFrame> v;
  EXPECT_FALSE(s.user_source(0x100000 + *off, 999999999, false, v));  // off by default
  s.set_stack_lines(true);
  ASSERT_TRUE(s.user_source(0x100000 + *off, 999999999, false, v));
  EXPECT_EQ(v.back().line, line(at));
  ASSERT_TRUE(s.user_source(0x100000 + *off, 999999999, true, v));
  EXPECT_EQ(v.back().line, line(at - 1));
  // Outside every mapping.
  EXPECT_FALSE(s.user_source(0x300000, 999999999, false, v));
}

TEST(Symbolize, NoDwarf) {
  // A file without DWARF and without a debug file: nothing, not an error.
  char tmpl[] = "/tmp/gt_symbolize_XXXXXX";
  int fd = mkstemp(tmpl);
  ASSERT_GE(fd, 0);
  close(fd);
  std::string cmd = std::string("strip -g -o ") + tmpl + " " + programs_dir() + "/unwind_gcc";
  // strip keeps the build-id, which has no debug file in /usr/lib/debug.
  ASSERT_EQ(system(cmd.c_str()), 0);
  EXPECT_FALSE(DwarfLines::open(tmpl));
  unlink(tmpl);
  EXPECT_FALSE(DwarfLines::open("/nonexistent/file"));
}
