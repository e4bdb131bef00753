// The userspace side of the BPF user-stack unwinder (runtime/unwind/):
// tables checked row by row against readelf, module discovery, the BPF maps
// it fills, and the reference walker on real stacks (this process's own, and
// the unwind_* test programs stopped under ptrace at on_compare).
#include <bpf/bpf.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <limits.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>

#include "runtime/elf_file.h"
#include "runtime/symbolizer.h"
#include "runtime/unwind/unwind_tables.h"

using namespace gt::unwind;

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

std::string source_dir() {
  if (const char *s = getenv("GT_SOURCE_DIR"))
    return s;
  std::string f = __FILE__;
  return f.substr(0, f.rfind("/test/unit/"));
}

std::string scratch_dir() {
  static std::string dir = [] {
    char t[] = "/tmp/gt_unwind_test_XXXXXX";
    const char *d = mkdtemp(t);
    return std::string(d ? d : "/tmp");
  }();
  return dir;
}

std::string program(const std::string &name) {
  return programs_dir() + "/" + name;
}

// stdout of a shell command; `status` gets its exit status.
std::string run(const std::string &cmd, int *status = nullptr) {
  std::string out;
  FILE *p = popen(cmd.c_str(), "r");
  if (!p)
    return out;
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0)
    out.append(buf, n);
  int st = pclose(p);
  if (status)
    *status = st;
  return out;
}

std::vector<std::string> tokens(const std::string &line) {
  std::istringstream in(line);
  std::vector<std::string> t;
  std::string s;
  while (in >> s)
    t.push_back(s);
  return t;
}

uint64_t hex(const std::string &s) {
  return strtoull(s.c_str(), nullptr, 16);
}

// ------------------------------------------------------------ readelf

struct Load {
  uint64_t offset, vaddr, filesz;
};

std::vector<Load> readelf_loads(const std::string &path) {
  std::vector<Load> loads;
  std::istringstream in(run("readelf -lW '" + path + "'"));
  std::string line;
  while (std::getline(in, line)) {
    auto t = tokens(line);
    if (t.size() >= 5 && t[0] == "LOAD")
      loads.push_back({hex(t[1]), hex(t[2]), hex(t[4])});
  }
  return loads;
}

uint64_t to_offset(const std::vector<Load> &loads, uint64_t vaddr) {
  for (const auto &l : loads)
    if (vaddr >= l.vaddr && vaddr < l.vaddr + l.filesz)
      return vaddr - l.vaddr + l.offset;
  ADD_FAILURE() << "vaddr 0x" << std::hex << vaddr << " is in no PT_LOAD";
  return 0;
}

uint64_t readelf_symbol(const std::string &path, const std::string &name) {
  std::istringstream in(run("readelf -sW '" + path + "'"));
  std::string line;
  while (std::getline(in, line)) {
    auto t = tokens(line);
    if (t.size() >= 8 && t[3] == "FUNC" && t[7] == name)
      return hex(t[1]);
  }
  ADD_FAILURE() << "no symbol " << name << " in " << path;
  return 0;
}

struct Section {
  uint64_t addr = 0, size = 0;
};

Section readelf_section(const std::string &path, const std::string &name) {
  std::istringstream in(run("readelf -SW '" + path + "'"));
  std::string line;
  while (std::getline(in, line)) {
    auto t = tokens(line);
    for (size_t i = 0; i + 4 < t.size(); ++i)
      if (t[i] == name)
        return {hex(t[i + 2]), hex(t[i + 4])};
  }
  return {};
}

struct CfiRow {
  uint64_t loc;
  std::string cfa, rbp, ra;
};
struct Fde {
  uint64_t start, end;
  bool signal;
  std::vector<CfiRow> rows;
};

// The CFI tables readelf interprets (--debug-dump=frames-interp), .eh_frame
// then .debug_frame. An FDE whose instructions change nothing prints no
// rows: it gets its CIE's.
std::vector<Fde> readelf_fdes(const std::string &path) {
  std::vector<Fde> fdes;
  std::map<std::pair<int, uint64_t>, std::pair<bool, CfiRow>> cies;  // (section, offset)
  int section = 0;
  std::istringstream in(run("readelf --debug-dump=frames-interp '" + path + "' 2>/dev/null"));
  std::string line;
  std::vector<std::string> columns;
  std::pair<bool, CfiRow> *cie = nullptr;
  std::vector<std::pair<size_t, std::pair<int, uint64_t>>> rowless;  // fde index, cie
  bool in_frames = false;
  while (std::getline(in, line)) {
    if (line.rfind("Contents of the ", 0) == 0) {
      in_frames = line.find(".eh_frame section") != std::string::npos ||
                  line.find(".debug_frame section") != std::string::npos;
      ++section;
      continue;
    }
    if (!in_frames)
      continue;
    auto t = tokens(line);
    if (t.size() >= 4 && t[3] == "CIE") {
      cie = &cies[{section, hex(t[0])}];
      cie->first = t.size() > 4 && t[4].find('S') != std::string::npos;
      cie->second = {0, "", "u", "u"};
      columns.clear();
    } else if (t.size() >= 6 && t[3] == "FDE") {
      std::pair<int, uint64_t> cie_key{section, hex(t[4].substr(4))};
      std::string range = t[5].substr(3);
      size_t dots = range.find("..");
      fdes.push_back({hex(range.substr(0, dots)), hex(range.substr(dots + 2)), cies[cie_key].first, {}});
      rowless.push_back({fdes.size() - 1, cie_key});
      cie = nullptr;
      columns.clear();
    } else if (!t.empty() && t[0] == "LOC") {
      columns = t;
    } else if (!t.empty() && t[0].size() == 16 && !columns.empty()) {
      // "r9 (r9)": a register rule prints its name in parentheses too.
      std::vector<std::string> values;
      for (const auto &v : t) {
        if (v[0] == '(' && !values.empty())
          values.back() += " " + v;
        else
          values.push_back(v);
      }
      t = values;
      if (t.size() != columns.size()) {
        ADD_FAILURE() << "cannot parse readelf's row: " << line;
        continue;
      }
      CfiRow row{hex(t[0]), "", "u", "u"};
      for (size_t i = 1; i < t.size(); ++i) {
        if (columns[i] == "CFA")
          row.cfa = t[i];
        else if (columns[i] == "rbp")
          row.rbp = t[i];
        else if (columns[i] == "ra")
          row.ra = t[i];
      }
      if (cie)
        cie->second = row;
      else if (!fdes.empty())
        fdes.back().rows.push_back(row);
    }
  }
  for (const auto &[index, cie_key] : rowless) {
    Fde &f = fdes[index];
    if (f.rows.empty()) {
      CfiRow r = cies[cie_key].second;
      r.loc = f.start;
      f.rows.push_back(r);
    }
  }
  return fdes;
}

bool parse_offset(const std::string &s, const char *prefix, int64_t &off) {
  size_t n = strlen(prefix);
  if (s.compare(0, n, prefix) != 0)
    return false;
  char *end;
  off = strtoll(s.c_str() + n, &end, 10);
  return *end == '\0';
}

bool fits16(int64_t v) {
  return v >= INT16_MIN && v <= INT16_MAX;
}

// The row readelf's rules call for. `in_plt`: the row is in .plt, whose
// "exp" CFA is binutils' standard expression with threshold 11.
gt_unwind_row expected_row(const Fde &f, const CfiRow &r, bool in_plt) {
  gt_unwind_row e{};
  e.cfa_kind = GT_CFA_UNSUPPORTED;
  if (f.signal) {
    e.cfa_kind = GT_CFA_SIGNAL;
    return e;
  }
  int64_t ra, bp = 0, cfa;
  if (r.ra == "u") {
    e.cfa_kind = GT_CFA_END;
    return e;
  }
  if (!parse_offset(r.ra, "c", ra) || !fits16(ra))
    return e;
  uint8_t bp_kind = GT_REG_SAME;
  if (parse_offset(r.rbp, "c", bp)) {
    if (!fits16(bp))
      return e;
    bp_kind = GT_REG_AT_CFA;
  } else if (r.rbp != "u" && r.rbp != "s") {
    return e;
  }
  uint8_t kind;
  if (parse_offset(r.cfa, "rsp+", cfa))
    kind = GT_CFA_SP;
  else if (parse_offset(r.cfa, "rbp+", cfa))
    kind = GT_CFA_BP;
  else if (r.cfa == "exp" && in_plt)
    kind = GT_CFA_PLT, cfa = 0;
  else
    return e;
  if (!fits16(cfa))
    return e;
  e.cfa_kind = kind;
  e.cfa_off = int16_t(cfa);
  e.bp_kind = bp_kind;
  e.bp_off = int16_t(bp);
  e.ra_off = int16_t(ra);
  return e;
}

std::string row_text(const gt_unwind_row *r) {
  if (!r)
    return "(none)";
  static const char *kinds[] = {"SP", "BP", "PLT", "SIGNAL", "END", "UNSUPPORTED", "NONE"};
  char buf[128];
  snprintf(buf, sizeof buf, "pc=0x%x %s%+d bp=%s%+d ra%+d", r->pc, r->cfa_kind < 7 ? kinds[r->cfa_kind] : "?",
           r->cfa_off, r->bp_kind ? "cfa" : "same", r->bp_off, r->ra_off);
  return buf;
}

bool same_rule(const gt_unwind_row &a, const gt_unwind_row &b) {
  return a.cfa_kind == b.cfa_kind && a.bp_kind == b.bp_kind && a.cfa_off == b.cfa_off && a.bp_off == b.bp_off &&
         a.ra_off == b.ra_off;
}

// Checks every CFI row readelf shows (at its first and last byte), every gap
// between FDEs, and the table's shape. Returns the number of FDEs checked.
size_t check_against_readelf(const std::string &path, const ModuleTable &table) {
  const auto &rows = table.rows;
  EXPECT_FALSE(rows.empty());
  if (rows.empty())
    return 0;
  for (size_t i = 1; i < rows.size(); ++i) {
    EXPECT_LT(rows[i - 1].pc, rows[i].pc) << path << " row " << i;
    EXPECT_FALSE(same_rule(rows[i - 1], rows[i])) << path << " unmerged rows at " << row_text(&rows[i]);
  }
  EXPECT_EQ(rows.back().cfa_kind, GT_CFA_NONE);

  auto loads = readelf_loads(path);
  Section plt = readelf_section(path, ".plt");
  auto fdes = readelf_fdes(path);
  // Empty FDEs, and FDEs of code the linker discarded (address 0), are not rows.
  auto loaded = [&](uint64_t vaddr) {
    return std::any_of(loads.begin(), loads.end(),
                       [&](const Load &l) { return vaddr >= l.vaddr && vaddr < l.vaddr + l.filesz; });
  };
  fdes.erase(std::remove_if(fdes.begin(), fdes.end(),
                            [&](const Fde &f) { return f.end <= f.start || !loaded(f.start); }),
             fdes.end());
  // .eh_frame's FDEs come first in readelf's output and win over overlapping
  // .debug_frame ones, as in the table.
  std::stable_sort(fdes.begin(), fdes.end(), [](const Fde &a, const Fde &b) { return a.start < b.start; });
  size_t distinct = 0;
  for (size_t i = 0, end = 0; i < fdes.size(); ++i)
    if (fdes[i].start >= end || i == 0)
      ++distinct, end = fdes[i].end;
  EXPECT_EQ(table.fdes, distinct) << path;
  size_t mismatches = 0;
  uint64_t covered_to = 0;
  for (size_t fi = 0; fi < fdes.size(); ++fi) {
    const Fde &f = fdes[fi];
    if (f.start < covered_to)
      continue;  // overlapping FDE: the first one wins
    if (fi > 0 && f.start > covered_to) {
      for (uint64_t probe : {to_offset(loads, covered_to - 1) + 1, to_offset(loads, f.start) - 1}) {
        const gt_unwind_row *r = find_row(rows, probe);
        if (!r || r->cfa_kind != GT_CFA_NONE) {
          if (mismatches++ < 10)
            ADD_FAILURE() << path << ": gap offset 0x" << std::hex << probe << " has " << row_text(r);
        }
      }
    }
    covered_to = f.end;
    for (size_t i = 0; i < f.rows.size(); ++i) {
      uint64_t from = f.rows[i].loc, to = i + 1 < f.rows.size() ? f.rows[i + 1].loc : f.end;
      if (to <= from)
        continue;
      bool in_plt = from >= plt.addr && from < plt.addr + plt.size;
      gt_unwind_row want = expected_row(f, f.rows[i], in_plt);
      for (uint64_t vaddr : {from, to - 1}) {
        uint64_t off = to_offset(loads, vaddr);
        const gt_unwind_row *got = find_row(rows, off);
        bool ok = got && got->cfa_kind == want.cfa_kind;
        if (ok && (want.cfa_kind == GT_CFA_SP || want.cfa_kind == GT_CFA_BP || want.cfa_kind == GT_CFA_PLT))
          ok = same_rule(*got, want);
        if (!ok && mismatches++ < 10)
          ADD_FAILURE() << path << ": vaddr 0x" << std::hex << vaddr << " (offset 0x" << off << ") CFA "
                        << f.rows[i].cfa << " rbp " << f.rows[i].rbp << " ra " << f.rows[i].ra << ": want "
                        << row_text(&want) << ", got " << row_text(got);
      }
    }
  }
  const gt_unwind_row *after = find_row(rows, to_offset(loads, covered_to - 1) + 1);
  EXPECT_TRUE(after && after->cfa_kind == GT_CFA_NONE) << path << " after the last FDE: " << row_text(after);
  EXPECT_EQ(mismatches, 0u) << path;
  return distinct;
}

ModuleTable build(const std::string &path) {
  ModuleTable t;
  std::string error;
  EXPECT_TRUE(build_module_table(path, t, error)) << error;
  return t;
}

const gt_unwind_row *row_at_vaddr(const std::string &path, const ModuleTable &t, uint64_t vaddr) {
  return find_row(t.rows, to_offset(readelf_loads(path), vaddr));
}

// Compiles unwind_target.c (or `source`) with extra flags into the scratch
// directory; returns the output path or "" (with a test failure).
std::string compile(const std::string &name, const std::string &flags,
                    const std::string &source = source_dir() + "/test/programs/unwind_target.c") {
  std::string out = scratch_dir() + "/" + name;
  int status = 0;
  std::string log = run("cc " + flags + " -o '" + out + "' '" + source + "' 2>&1", &status);
  EXPECT_EQ(status, 0) << log;
  return status == 0 ? out : "";
}

// ------------------------------------------------------------ stacks

// Tables for the modules of a process, as the BPF side would see them.
class ProcessTables {
public:
  explicit ProcessTables(int pid) : maps_(process_mappings(pid)) {
    for (const auto &m : maps_) {
      auto key = std::make_pair(m.key.dev, m.key.ino);
      if (tables_.count(key))
        continue;
      ModuleTable t;
      std::string error;
      char map_file[96];
      snprintf(map_file, sizeof map_file, "/proc/%d/map_files/%llx-%llx", pid, (unsigned long long)m.start,
               (unsigned long long)m.end);
      if (!build_module_table(m.path, t, error) && !build_module_table(map_file, t, error))
        ADD_FAILURE() << error;
      tables_.emplace(key, std::move(t));
    }
  }

  FrameModule find(uint64_t pc) const {
    FrameModule fm;
    for (const auto &m : maps_) {
      if (pc < m.start || pc >= m.end)
        continue;
      auto it = tables_.find({m.key.dev, m.key.ino});
      if (it == tables_.end()) {
        fm.status = FrameModule::kNotLoaded;
        return fm;
      }
      fm.status = FrameModule::kFound;
      fm.rows = &it->second.rows;
      fm.flags = it->second.has_frame_pointers ? GT_MODULE_HAS_FP : 0;
      fm.file_offset = pc - m.start + m.offset;
      return fm;
    }
    return fm;
  }

  const ModuleTable *table_for(uint64_t pc) const {
    FrameModule fm = find(pc);
    for (const auto &[key, t] : tables_)
      if (&t.rows == fm.rows)
        return &t;
    return nullptr;
  }

private:
  std::vector<Mapping> maps_;
  std::map<std::pair<uint64_t, uint64_t>, ModuleTable> tables_;
};

// Function names of a walked stack. Return addresses are symbolized at
// pc - 1 (the call); frame 0, a signal trampoline (its CFI starts a byte
// early for that reason) and the frame a signal interrupted at pc.
std::vector<std::string> frame_names(const WalkResult &w, int pid, const ProcessTables &tables) {
  gt::rt::SessionSymbolizer sym;
  std::vector<std::string> names;
  bool exact = true;
  for (uint64_t pc : w.frames) {
    bool signal = false;
    FrameModule fm = tables.find(pc);
    if (!exact && fm.rows && fm.file_offset > 0) {
      const gt_unwind_row *r = find_row(*fm.rows, fm.file_offset - 1);
      signal = r && r->cfa_kind == GT_CFA_SIGNAL;
    }
    std::string name;
    uint64_t off;
    if (!sym.user_symbol(exact || signal ? pc : pc - 1, uint32_t(pid), name, off))
      name = "?";
    names.push_back(name);
    exact = signal;
  }
  return names;
}

std::string join(const std::vector<std::string> &v) {
  std::string s;
  for (const auto &x : v)
    s += (s.empty() ? "" : " ") + x;
  return s;
}

size_t count(const std::vector<std::string> &v, const std::string &name) {
  return size_t(std::count(v.begin(), v.end(), name));
}

// The frames Debian's libc (glibc 2.36, merge sort) puts between a qsort
// comparator and qsort's caller, named as SessionSymbolizer names them from
// libc6-dbg (an alias where there are several). qsort itself tail-calls
// __qsort_r ("jmp"), so it has no frame of its own.
const std::vector<std::string> kQsortFrames = {"msort_with_tmp.part.0", "qsort_r"};
// The frames from main to the outermost one.
const std::vector<std::string> kStartFrames = {"main", "__libc_start_call_main", "__libc_start_main", "_start"};

// A snapshot of this process's stack, taken inside a comparator.
struct Snapshot {
  Registers regs;
  uint64_t base = 0;
  std::vector<uint8_t> bytes;
  bool read(uint64_t addr, uint64_t &v) const {
    if (addr < base || addr + 8 > base + bytes.size())
      return false;
    memcpy(&v, bytes.data() + (addr - base), 8);
    return true;
  }
};
Snapshot g_snapshot;

// End of the mapping that contains `addr` (the stack), from /proc/self/maps.
uint64_t mapping_end(uint64_t addr) {
  std::ifstream in("/proc/self/maps");
  std::string line;
  while (std::getline(in, line)) {
    uint64_t start = strtoull(line.c_str(), nullptr, 16);
    uint64_t end = strtoull(line.c_str() + line.find('-') + 1, nullptr, 16);
    if (addr >= start && addr < end)
      return end;
  }
  return 0;
}

__attribute__((noinline)) void take_snapshot(uint64_t ip, uint64_t sp, uint64_t bp) {
  g_snapshot.regs = {ip, sp, bp};
  g_snapshot.base = sp;
  uint64_t end = mapping_end(sp);
  g_snapshot.bytes.assign(reinterpret_cast<const uint8_t *>(sp), reinterpret_cast<const uint8_t *>(end));
}

}  // namespace

// The functions this process's stack is walked through: without frame
// pointers (so the walk needs their CFI), not inlined, C names.
#if defined(__GNUC__) && !defined(__clang__)
#define GT_UNWIND_TEST_FN extern "C" __attribute__((noinline, optimize("omit-frame-pointer")))
#else
#define GT_UNWIND_TEST_FN extern "C" __attribute__((noinline))
#endif

// ip is the address after the lea; rsp does not change within the asm, so
// the row at ip describes exactly the captured sp.
#define GT_CAPTURE_REGS(ip, sp, bp) \
  __asm__ volatile("lea 0(%%rip), %0\n\tmov %%rsp, %1\n\tmov %%rbp, %2" : "=r"(ip), "=r"(sp), "=r"(bp))

GT_UNWIND_TEST_FN int gt_unwind_test_compare(const void *a, const void *b) {
  uint64_t ip, sp, bp;
  GT_CAPTURE_REGS(ip, sp, bp);
  take_snapshot(ip, sp, bp);
  int x = *static_cast<const int *>(a), y = *static_cast<const int *>(b);
  return (x > y) - (x < y);
}

GT_UNWIND_TEST_FN int gt_unwind_test_sort() {
  int v[2] = {2, 1};
  qsort(v, 2, sizeof v[0], gt_unwind_test_compare);
  return v[0];
}

// Reading `keep` after each call keeps every call a real call (no tail call),
// so the stack has exactly depth + 1 of these frames.
GT_UNWIND_TEST_FN int gt_unwind_test_recurse(int depth) {
  volatile int keep = depth;
  if (depth == 0)
    return gt_unwind_test_sort() + (keep & 1);
  int r = gt_unwind_test_recurse(depth - 1);
  return r + (keep & 1);
}

GT_UNWIND_TEST_FN void gt_unwind_test_handler(int) {
  uint64_t ip, sp, bp;
  GT_CAPTURE_REGS(ip, sp, bp);
  take_snapshot(ip, sp, bp);
}

GT_UNWIND_TEST_FN int gt_unwind_test_raise(int depth) {
  volatile int keep = depth;
  if (depth == 0)
    return raise(SIGUSR1) + (keep & 1);
  int r = gt_unwind_test_raise(depth - 1);
  return r + (keep & 1);
}

namespace {

// ------------------------------------------------------------ ptrace

// A child running `path args`, stopped at the first instruction of `func`.
class StoppedChild {
public:
  StoppedChild(const std::string &path, const std::vector<std::string> &args, const std::string &func) {
    std::string error;
    auto elf = gt::elf::ElfFile::open(path, error);
    if (!elf) {
      ADD_FAILURE() << error;
      return;
    }
    auto sym = elf->find_symbol(func);
    auto file_off = sym ? elf->address_to_offset(sym->address) : std::nullopt;
    if (!file_off) {
      ADD_FAILURE() << "no " << func << " in " << path;
      return;
    }
    // Built before fork: the child of a threaded process must not allocate.
    std::vector<char *> argv{const_cast<char *>(path.c_str())};
    for (const auto &a : args)
      argv.push_back(const_cast<char *>(a.c_str()));
    argv.push_back(nullptr);
    pid_ = fork();
    if (pid_ == 0) {
      ptrace(PTRACE_TRACEME, 0, nullptr, nullptr);
      int devnull = open("/dev/null", O_WRONLY);
      dup2(devnull, 1);
      execv(path.c_str(), argv.data());
      _exit(127);
    }
    int status;
    if (waitpid(pid_, &status, 0) != pid_ || !WIFSTOPPED(status)) {
      ADD_FAILURE() << "the child did not stop at exec";
      return;
    }
    gt_module_key exe_key;
    if (!module_key_for_path(path, exe_key, error)) {
      ADD_FAILURE() << error;
      return;
    }
    uint64_t addr = 0;
    for (const auto &m : process_mappings(pid_))
      if (m.key.dev == exe_key.dev && m.key.ino == exe_key.ino && *file_off >= m.offset &&
          *file_off < m.offset + (m.end - m.start))
        addr = m.start + (*file_off - m.offset);
    if (!addr) {
      ADD_FAILURE() << func << " is not mapped";
      return;
    }
    errno = 0;
    long word = ptrace(PTRACE_PEEKTEXT, pid_, addr, nullptr);
    if (errno || ptrace(PTRACE_POKETEXT, pid_, addr, (word & ~0xffL) | 0xcc) != 0 ||
        ptrace(PTRACE_CONT, pid_, nullptr, nullptr) != 0) {
      ADD_FAILURE() << "cannot set a breakpoint: " << strerror(errno);
      return;
    }
    if (waitpid(pid_, &status, 0) != pid_ || !WIFSTOPPED(status) || WSTOPSIG(status) != SIGTRAP) {
      ADD_FAILURE() << "the child did not reach " << func;
      return;
    }
    user_regs_struct regs;
    ptrace(PTRACE_GETREGS, pid_, nullptr, &regs);
    if (regs.rip != addr + 1) {
      ADD_FAILURE() << "stopped at 0x" << std::hex << regs.rip << ", not after 0x" << addr;
      return;
    }
    // As the CPU was before the int3: at the function's first instruction.
    regs_ = {addr, regs.rsp, regs.rbp};
    ok_ = true;
  }
  ~StoppedChild() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  bool ok() const { return ok_; }
  int pid() const { return pid_; }
  const Registers &regs() const { return regs_; }
  bool read(uint64_t addr, uint64_t &v) const {
    errno = 0;
    long w = ptrace(PTRACE_PEEKDATA, pid_, addr, nullptr);
    if (errno)
      return false;
    v = uint64_t(w);
    return true;
  }

private:
  int pid_ = -1;
  bool ok_ = false;
  Registers regs_;
};

// Walks the child's stack; `names` gets the frames' functions.
WalkResult walk_child(const StoppedChild &c, uint32_t mode_flags, std::vector<std::string> &names) {
  ProcessTables tables(c.pid());
  WalkResult w = walk_stack(
      c.regs(), mode_flags, [&](uint64_t pc) { return tables.find(pc); },
      [&](uint64_t a, uint64_t &v) { return c.read(a, v); });
  names = frame_names(w, c.pid(), tables);
  return w;
}

// on_compare ... sort_values, recurse x (depth + 1), run, main ... _start.
std::vector<std::string> expected_target_stack(int depth) {
  std::vector<std::string> want = {"on_compare", "compare_values"};
  want.insert(want.end(), kQsortFrames.begin(), kQsortFrames.end());
  want.push_back("sort_values");
  for (int i = 0; i <= depth; ++i)
    want.push_back("recurse");
  want.push_back("run");
  want.insert(want.end(), kStartFrames.begin(), kStartFrames.end());
  return want;
}

// ------------------------------------------------------------ BPF maps

struct TestMaps {
  int modules = -1, rows = -1, inner_template = -1;
  std::string error;
  explicit TestMaps(uint32_t max_rows = 64, uint32_t max_modules = 64) {
    LIBBPF_OPTS(bpf_map_create_opts, inner_opts, .map_flags = BPF_F_INNER_MAP);
    inner_template = bpf_map_create(BPF_MAP_TYPE_ARRAY, "gt_t_inner", sizeof(uint32_t),
                                    sizeof(gt_unwind_row), 1, &inner_opts);
    LIBBPF_OPTS(bpf_map_create_opts, outer_opts, .inner_map_fd = uint32_t(inner_template));
    if (inner_template >= 0)
      rows = bpf_map_create(BPF_MAP_TYPE_HASH_OF_MAPS, "gt_t_rows", sizeof(gt_module_key), sizeof(uint32_t),
                            max_rows, &outer_opts);
    modules = bpf_map_create(BPF_MAP_TYPE_HASH, "gt_t_modules", sizeof(gt_module_key), sizeof(gt_module_info),
                             max_modules, nullptr);
    if (inner_template < 0 || rows < 0 || modules < 0)
      error = std::string("cannot create BPF maps: ") + strerror(errno);
  }
  ~TestMaps() {
    for (int fd : {modules, rows, inner_template})
      if (fd >= 0)
        close(fd);
  }
  bool info(const gt_module_key &key, gt_module_info &out) const {
    return bpf_map_lookup_elem(modules, &key, &out) == 0;
  }
  // The inner map's rows, through its id as BPF user space sees it.
  bool inner_rows(const gt_module_key &key, std::vector<gt_unwind_row> &out, bpf_map_info &info) const {
    uint32_t id;
    if (bpf_map_lookup_elem(rows, &key, &id) != 0)
      return false;
    int fd = bpf_map_get_fd_by_id(id);
    if (fd < 0)
      return false;
    memset(&info, 0, sizeof info);
    uint32_t len = sizeof info;
    bool ok = bpf_obj_get_info_by_fd(fd, &info, &len) == 0;
    out.assign(info.max_entries, gt_unwind_row{});
    for (uint32_t i = 0; ok && i < info.max_entries; ++i)
      ok = bpf_map_lookup_elem(fd, &i, &out[i]) == 0;
    close(fd);
    return ok;
  }
};

gt_module_key key_of(const std::string &path) {
  gt_module_key key{};
  std::string error;
  EXPECT_TRUE(module_key_for_path(path, key, error)) << error;
  return key;
}

// A static executable whose only code has no CFI at all.
std::string compile_no_cfi() {
  std::string src = scratch_dir() + "/no_cfi.c";
  std::ofstream(src) << "void _start(void) { for (;;) __asm__ volatile(\"pause\"); }\n";
  return compile("no_cfi",
                 "-O2 -static -nostdlib -fno-asynchronous-unwind-tables -fno-unwind-tables "
                 "-Wl,--no-ld-generated-unwind-info -Wl,--build-id=none",
                 src);
}

}  // namespace

// ============================================================ tables

TEST(UnwindTables, ProgramsMatchReadelfRowByRow) {
  for (const char *name : {"unwind_gcc", "unwind_clang", "unwind_fp"}) {
    std::string path = program(name);
    if (access(path.c_str(), R_OK) != 0) {
      ADD_FAILURE() << path << " is missing (build gt_test_programs)";
      continue;
    }
    ModuleTable t = build(path);
    EXPECT_EQ(t.source, ".eh_frame");
    EXPECT_EQ(t.unsupported_rows, 0u) << name;
    EXPECT_GT(check_against_readelf(path, t), 5u) << name;

    // on_compare's first instruction: the call just pushed the return address.
    const gt_unwind_row *r = row_at_vaddr(path, t, readelf_symbol(path, "on_compare"));
    ASSERT_TRUE(r) << name;
    EXPECT_EQ(r->cfa_kind, GT_CFA_SP) << name;
    EXPECT_EQ(r->cfa_off, 8) << name;
    EXPECT_EQ(r->ra_off, -8) << name;
    EXPECT_EQ(r->bp_kind, GT_REG_SAME) << name;

    // _start: the return address is undefined there.
    r = row_at_vaddr(path, t, readelf_symbol(path, "_start"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->cfa_kind, GT_CFA_END) << name;

    // The lazy .plt: PLT0 at sp+16 then sp+24, the entries GT_CFA_PLT.
    Section plt = readelf_section(path, ".plt");
    ASSERT_GE(plt.size, 32u);
    r = row_at_vaddr(path, t, plt.addr);
    EXPECT_TRUE(r && r->cfa_kind == GT_CFA_SP && r->cfa_off == 16) << row_text(r);
    r = row_at_vaddr(path, t, plt.addr + 6);
    EXPECT_TRUE(r && r->cfa_kind == GT_CFA_SP && r->cfa_off == 24) << row_text(r);
    r = row_at_vaddr(path, t, plt.addr + 16);
    EXPECT_TRUE(r && r->cfa_kind == GT_CFA_PLT && r->ra_off == -8) << row_text(r);
    r = row_at_vaddr(path, t, plt.addr + plt.size - 1);
    EXPECT_TRUE(r && r->cfa_kind == GT_CFA_PLT) << row_text(r);
  }
}

TEST(UnwindTables, FramePointerHeuristic) {
  EXPECT_TRUE(build(program("unwind_fp")).has_frame_pointers);
  EXPECT_FALSE(build(program("unwind_gcc")).has_frame_pointers);
  EXPECT_FALSE(build(program("unwind_clang")).has_frame_pointers);
  EXPECT_FALSE(build(kLibc).has_frame_pointers);
}

TEST(UnwindTables, FramePointerRowsOfUnwindFp) {
  std::string path = program("unwind_fp");
  ModuleTable t = build(path);
  // compare_values: "push %rbp" (1 byte), then CFA rsp+16 with rbp at
  // cfa-16; once "mov %rsp,%rbp" ran, CFA rbp+16. (gcc gives the leaf
  // on_compare no frame at all.)
  uint64_t fn = readelf_symbol(path, "compare_values");
  const gt_unwind_row *r = row_at_vaddr(path, t, fn + 1);
  EXPECT_TRUE(r && r->cfa_kind == GT_CFA_SP && r->cfa_off == 16 && r->bp_kind == GT_REG_AT_CFA &&
              r->bp_off == -16)
      << row_text(r);
  std::string code = run("objdump -d --no-show-raw-insn '" + path + "' | awk '/<compare_values>:/,/ret/'");
  size_t mov = code.find("mov    %rsp,%rbp");
  ASSERT_NE(mov, std::string::npos) << code;
  uint64_t after_mov = hex(code.substr(code.find_first_not_of(' ', code.find('\n', mov) + 1)));
  r = row_at_vaddr(path, t, after_mov);
  EXPECT_TRUE(r && r->cfa_kind == GT_CFA_BP && r->cfa_off == 16 && r->bp_kind == GT_REG_AT_CFA &&
              r->bp_off == -16 && r->ra_off == -8)
      << std::hex << after_mov << ": " << row_text(r);
}

TEST(UnwindTables, NonPieOffsetsAreFileOffsets) {
  std::string path = compile("unwind_nopie", "-O2 -g -fomit-frame-pointer -fno-lto -no-pie");
  ASSERT_FALSE(path.empty());
  auto loads = readelf_loads(path);
  uint64_t on_compare = readelf_symbol(path, "on_compare");
  uint64_t off = to_offset(loads, on_compare);
  ASSERT_GE(on_compare, 0x400000u);
  ASSERT_LT(off, 0x400000u);  // vaddr != offset: the conversion is exercised
  ModuleTable t = build(path);
  check_against_readelf(path, t);
  const gt_unwind_row *r = find_row(t.rows, off);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->cfa_kind, GT_CFA_SP);
  EXPECT_EQ(r->cfa_off, 8);
  EXPECT_EQ(r->ra_off, -8);
  // No row at a vaddr: every pc is below 4 MiB (the file is small).
  EXPECT_LT(t.rows.back().pc, 0x100000u);
}

TEST(UnwindTables, LibcMatchesReadelf) {
  ModuleTable t = build(kLibc);
  EXPECT_EQ(t.source, ".eh_frame");
  EXPECT_GT(check_against_readelf(kLibc, t), 1000u);

  // Its .plt has binutils' CFI: PLT0 then GT_CFA_PLT entries.
  Section plt = readelf_section(kLibc, ".plt");
  ASSERT_GT(plt.size, 16u);
  const gt_unwind_row *r = row_at_vaddr(kLibc, t, plt.addr);
  EXPECT_TRUE(r && r->cfa_kind == GT_CFA_SP && r->cfa_off == 16) << row_text(r);
  r = row_at_vaddr(kLibc, t, plt.addr + 16);
  EXPECT_TRUE(r && r->cfa_kind == GT_CFA_PLT) << row_text(r);
  Section plt_got = readelf_section(kLibc, ".plt.got");
  if (plt_got.size) {
    r = row_at_vaddr(kLibc, t, plt_got.addr);
    EXPECT_TRUE(r && r->cfa_kind == GT_CFA_SP && r->cfa_off == 8) << row_text(r);
  }
}

TEST(UnwindTables, LibcRestoreRtIsASignalFrame) {
  // glibc's sigaction installs __restore_rt as sa_restorer; the kernel's
  // rt_sigaction reports it.
  struct sigaction sa {};
  sa.sa_handler = SIG_IGN;
  struct sigaction old {};
  ASSERT_EQ(sigaction(SIGUSR2, &sa, &old), 0);
  struct {
    void *handler;
    unsigned long flags;
    void *restorer;
    uint64_t mask;
  } kact{};
  ASSERT_EQ(syscall(SYS_rt_sigaction, SIGUSR2, nullptr, &kact, 8), 0);
  sigaction(SIGUSR2, &old, nullptr);
  uint64_t restorer = reinterpret_cast<uint64_t>(kact.restorer);
  ASSERT_NE(restorer, 0u);

  gt_module_key libc = key_of(kLibc);
  ModuleTable t = build(kLibc);
  bool found = false;
  for (const auto &m : process_mappings(getpid())) {
    if (m.key.dev != libc.dev || m.key.ino != libc.ino || restorer < m.start || restorer >= m.end)
      continue;
    found = true;
    uint64_t off = restorer - m.start + m.offset;
    // Looked up as a return address (pc - 1) and as an exact pc.
    for (uint64_t probe : {off - 1, off}) {
      const gt_unwind_row *r = find_row(t.rows, probe);
      EXPECT_TRUE(r && r->cfa_kind == GT_CFA_SIGNAL) << row_text(r);
    }
  }
  EXPECT_TRUE(found) << "__restore_rt is not in libc's mapping";
  size_t signal_rows = 0;
  for (const auto &r : t.rows)
    signal_rows += r.cfa_kind == GT_CFA_SIGNAL;
  EXPECT_EQ(signal_rows, 1u);
}

TEST(UnwindTables, DebugFrameCoversWhatEhFrameDoesNot) {
  // Only crt1's _start keeps an .eh_frame FDE (and the linker's .plt one);
  // the program's functions have .debug_frame CFI only.
  std::string path = compile("unwind_debug_frame", "-O2 -g -fomit-frame-pointer -fno-asynchronous-unwind-tables");
  ASSERT_FALSE(path.empty());
  ModuleTable t = build(path);
  EXPECT_EQ(t.source, ".eh_frame+.debug_frame");
  EXPECT_GT(check_against_readelf(path, t), 5u);
  const gt_unwind_row *r = row_at_vaddr(path, t, readelf_symbol(path, "on_compare"));
  EXPECT_TRUE(r && r->cfa_kind == GT_CFA_SP && r->cfa_off == 8 && r->ra_off == -8) << row_text(r);
  r = row_at_vaddr(path, t, readelf_symbol(path, "_start"));
  EXPECT_TRUE(r && r->cfa_kind == GT_CFA_END) << row_text(r);
}

TEST(UnwindTables, IbtPltUsesItsOwnThreshold) {
  // -z ibtplt: "endbr64; push; jmp" entries, CFA expression threshold 9.
  std::string path = compile("unwind_ibt", "-O2 -fomit-frame-pointer -Wl,-z,ibtplt");
  ASSERT_FALSE(path.empty());
  std::string frames = run("readelf --debug-dump=frames '" + path + "'");
  ASSERT_NE(frames.find("DW_OP_lit9; DW_OP_ge"), std::string::npos) << "binutils changed its IBT PLT CFI";
  ModuleTable t = build(path);
  Section plt = readelf_section(path, ".plt");
  for (uint64_t entry = plt.addr + 16; entry < plt.addr + plt.size; entry += 16) {
    for (uint64_t at = entry; at < entry + 16; ++at) {
      const gt_unwind_row *r = row_at_vaddr(path, t, at);
      int16_t want = (at & 15) >= 9 ? 16 : 8;
      EXPECT_TRUE(r && r->cfa_kind == GT_CFA_SP && r->cfa_off == want && r->ra_off == -8)
          << std::hex << "0x" << at << ": " << row_text(r);
    }
  }
}

TEST(UnwindTables, IbtPltWithoutCfiIsSynthesized) {
  std::string path = compile("unwind_ibt_no_cfi",
                             "-O2 -fomit-frame-pointer -Wl,-z,ibtplt -Wl,--no-ld-generated-unwind-info");
  ASSERT_FALSE(path.empty());
  ModuleTable t = build(path);
  Section plt = readelf_section(path, ".plt"), plt_sec = readelf_section(path, ".plt.sec");
  ASSERT_GE(plt.size, 32u);
  ASSERT_GE(plt_sec.size, 16u);
  const gt_unwind_row *r = row_at_vaddr(path, t, plt.addr);
  EXPECT_TRUE(r && r->cfa_kind == GT_CFA_SP && r->cfa_off == 16) << row_text(r);
  r = row_at_vaddr(path, t, plt.addr + 6);
  EXPECT_TRUE(r && r->cfa_kind == GT_CFA_SP && r->cfa_off == 24) << row_text(r);
  // "endbr64; push $n; jmp PLT0": the push is done from byte 9 on.
  for (uint64_t at = plt.addr + 16; at < plt.addr + plt.size; ++at) {
    r = row_at_vaddr(path, t, at);
    EXPECT_TRUE(r && r->cfa_kind == GT_CFA_SP && r->cfa_off == ((at & 15) >= 9 ? 16 : 8) && r->ra_off == -8)
        << std::hex << "0x" << at << ": " << row_text(r);
  }
  for (uint64_t at = plt_sec.addr; at < plt_sec.addr + plt_sec.size; ++at) {
    r = row_at_vaddr(path, t, at);
    EXPECT_TRUE(r && r->cfa_kind == GT_CFA_SP && r->cfa_off == 8 && r->ra_off == -8)
        << std::hex << "0x" << at << ": " << row_text(r);
  }
}

TEST(UnwindTables, PltWithoutCfiIsSynthesized) {
  std::string path = compile("unwind_noplt_cfi", "-O2 -fomit-frame-pointer -Wl,--no-ld-generated-unwind-info");
  ASSERT_FALSE(path.empty());
  Section plt = readelf_section(path, ".plt");
  ASSERT_GE(plt.size, 32u);
  // No FDE covers the .plt.
  for (const auto &f : readelf_fdes(path))
    ASSERT_FALSE(f.start < plt.addr + plt.size && plt.addr < f.end) << "the linker emitted .plt CFI anyway";
  ModuleTable t = build(path);
  const gt_unwind_row *r = row_at_vaddr(path, t, plt.addr);
  EXPECT_TRUE(r && r->cfa_kind == GT_CFA_SP && r->cfa_off == 16) << row_text(r);
  r = row_at_vaddr(path, t, plt.addr + 6);
  EXPECT_TRUE(r && r->cfa_kind == GT_CFA_SP && r->cfa_off == 24) << row_text(r);
  r = row_at_vaddr(path, t, plt.addr + 16);
  EXPECT_TRUE(r && r->cfa_kind == GT_CFA_PLT && r->ra_off == -8) << row_text(r);
  r = row_at_vaddr(path, t, plt.addr + plt.size - 1);
  EXPECT_TRUE(r && r->cfa_kind == GT_CFA_PLT) << row_text(r);
  Section plt_got = readelf_section(path, ".plt.got");
  if (plt_got.size) {
    r = row_at_vaddr(path, t, plt_got.addr);
    EXPECT_TRUE(r && r->cfa_kind == GT_CFA_SP && r->cfa_off == 8 && r->ra_off == -8) << row_text(r);
  }
  r = row_at_vaddr(path, t, readelf_symbol(path, "on_compare"));
  EXPECT_TRUE(r && r->cfa_kind == GT_CFA_SP && r->cfa_off == 8) << row_text(r);
}

TEST(UnwindTables, NoCfiIsAnEmptyTableAndBadFilesAreErrors) {
  std::string path = compile_no_cfi();
  ASSERT_FALSE(path.empty());
  ModuleTable t;
  std::string error;
  ASSERT_TRUE(build_module_table(path, t, error)) << error;
  EXPECT_TRUE(t.rows.empty());
  EXPECT_EQ(t.source, "");
  EXPECT_EQ(t.fdes, 0u);

  EXPECT_FALSE(build_module_table("/nonexistent/lib.so", t, error));
  EXPECT_EQ(error, "'/nonexistent/lib.so': No such file or directory");
  std::string text = scratch_dir() + "/not_elf.txt";
  std::ofstream(text) << "hello\n";
  EXPECT_FALSE(build_module_table(text, t, error));
  EXPECT_EQ(error, "'" + text + "' is not an ELF file");
  std::string obj = scratch_dir() + "/object.o";
  std::ofstream(scratch_dir() + "/object.c") << "int f(void) { return 1; }\n";
  ASSERT_EQ(system(("cc -c -o '" + obj + "' '" + scratch_dir() + "/object.c'").c_str()), 0);
  EXPECT_FALSE(build_module_table(obj, t, error));
  EXPECT_EQ(error, "'" + obj + "' is not an executable or a shared library");
}

// ============================================================ modules

TEST(UnwindModules, ParseMappings) {
  auto maps = parse_mappings(
      "55d0c0a00000-55d0c0a01000 r--p 00000000 fe:00 5309057 /work/a b/prog\n"
      "55d0c0a01000-55d0c0a02000 r-xp 00001000 fe:00 5309057 /work/a b/prog\n"
      "7f0000000000-7f0000026000 r-xp 00026000 103:12 332835 /usr/lib/libc.so.6 (deleted)\n"
      "7f0000100000-7f0000101000 rwxp 00000000 00:00 0 \n"
      "7ffd5e1f0000-7ffd5e1f2000 r-xp 00000000 00:00 0                          [vdso]\n");
  ASSERT_EQ(maps.size(), 2u);
  EXPECT_EQ(maps[0].start, 0x55d0c0a01000u);
  EXPECT_EQ(maps[0].end, 0x55d0c0a02000u);
  EXPECT_EQ(maps[0].offset, 0x1000u);
  EXPECT_EQ(maps[0].key.dev, (0xfeull << 20) | 0);
  EXPECT_EQ(maps[0].key.ino, 5309057u);
  EXPECT_EQ(maps[0].path, "/work/a b/prog");
  EXPECT_EQ(maps[1].key.dev, (0x103ull << 20) | 0x12);
  EXPECT_EQ(maps[1].path, "/usr/lib/libc.so.6");
}

TEST(UnwindModules, KeysMatchTheKernelsView) {
  struct stat st;
  ASSERT_EQ(stat(kLibc, &st), 0);
  gt_module_key key = key_of(kLibc);
  EXPECT_EQ(key.dev, (uint64_t(major(st.st_dev)) << 20) | minor(st.st_dev));
  EXPECT_EQ(key.ino, st.st_ino);
  bool mapped = false;
  for (const auto &m : process_mappings(getpid()))
    if (m.key.dev == key.dev && m.key.ino == key.ino)
      mapped = true;
  EXPECT_TRUE(mapped) << "libc's key is not in /proc/self/maps";
  std::string error;
  EXPECT_FALSE(module_key_for_path("/nonexistent", key, error));
  EXPECT_EQ(error, "'/nonexistent': No such file or directory");
}

TEST(UnwindModules, CommandModules) {
  std::string exe = program("unwind_gcc");
  auto mods = command_modules(exe);
  ASSERT_EQ(mods.size(), 3u) << join(mods);
  EXPECT_EQ(mods[0], exe);
  EXPECT_EQ(mods[1], "/lib64/ld-linux-x86-64.so.2");
  EXPECT_EQ(mods[2], "/lib/x86_64-linux-gnu/libc.so.6");

  // RUNPATH with $ORIGIN, and a library that needs another one.
  std::string dir = scratch_dir() + "/origin";
  ASSERT_EQ(system(("mkdir -p '" + dir + "/lib'").c_str()), 0);
  std::ofstream(dir + "/b.c") << "int b(void) { return 2; }\n";
  std::ofstream(dir + "/a.c") << "int b(void); int a(void) { return b(); }\n";
  std::ofstream(dir + "/main.c") << "int a(void); int main(void) { return a(); }\n";
  std::string cmd = "cd '" + dir + "' && cc -shared -fPIC -o lib/libgtb.so b.c && " +
                    "cc -shared -fPIC -o lib/libgta.so a.c -Llib -lgtb -Wl,-rpath,'$ORIGIN' && " +
                    "cc -o main main.c -Llib -lgta -lgtb -Wl,--enable-new-dtags,-rpath,'$ORIGIN/lib'";
  ASSERT_EQ(system(cmd.c_str()), 0);
  mods = command_modules(dir + "/main");
  // Breadth first, like ld.so: libgtb (needed by libgta only, since the
  // linker drops main's unused -lgtb or not) comes after main's own needs.
  std::vector<std::string> want = {dir + "/main", "/lib64/ld-linux-x86-64.so.2", dir + "/lib/libgta.so",
                                   "/lib/x86_64-linux-gnu/libc.so.6", dir + "/lib/libgtb.so"};
  std::string needed = run("readelf -dW '" + dir + "/main' | grep NEEDED");
  if (needed.find("libgtb.so") != std::string::npos)
    want = {dir + "/main", "/lib64/ld-linux-x86-64.so.2", dir + "/lib/libgta.so", dir + "/lib/libgtb.so",
            "/lib/x86_64-linux-gnu/libc.so.6"};
  EXPECT_EQ(mods, want);

  EXPECT_TRUE(command_modules("/nonexistent").empty());
}

// ============================================================ BPF maps

TEST(UnwindMaps, FillsModulesAndRows) {
  TestMaps maps;
  if (!maps.error.empty())
    GTEST_SKIP() << maps.error;
  UnwindMaps um(maps.modules, maps.rows, GT_UNWIND_AUTO);
  std::string error;
  std::string gcc = program("unwind_gcc"), fp = program("unwind_fp");
  ASSERT_TRUE(um.load_file(gcc, error)) << error;
  ASSERT_TRUE(um.load_file(fp, error)) << error;
  ModuleTable gcc_table = build(gcc), fp_table = build(fp);

  for (auto [path, table, flags] : {std::tuple{gcc, &gcc_table, 0u}, std::tuple{fp, &fp_table, GT_MODULE_HAS_FP}}) {
    gt_module_key key = key_of(path);
    gt_module_info info{};
    ASSERT_TRUE(maps.info(key, info)) << path;
    EXPECT_EQ(info.rows, table->rows.size());
    EXPECT_EQ(info.flags, flags) << path;
    std::vector<gt_unwind_row> rows;
    bpf_map_info minfo;
    ASSERT_TRUE(maps.inner_rows(key, rows, minfo)) << path;
    EXPECT_EQ(minfo.type, BPF_MAP_TYPE_ARRAY);
    EXPECT_EQ(minfo.map_flags, uint32_t(BPF_F_INNER_MAP));
    EXPECT_EQ(minfo.key_size, 4u);
    EXPECT_EQ(minfo.value_size, sizeof(gt_unwind_row));
    EXPECT_EQ(minfo.max_entries, table->rows.size());
    ASSERT_EQ(rows.size(), table->rows.size());
    EXPECT_EQ(memcmp(rows.data(), table->rows.data(), rows.size() * sizeof rows[0]), 0) << path;
  }
  auto s = um.stats();
  EXPECT_EQ(s.modules, 2u);
  EXPECT_EQ(s.rows, gcc_table.rows.size() + fp_table.rows.size());
  EXPECT_EQ(s.bytes, s.rows * 16);
  EXPECT_GT(s.build_ms, 0.0);

  // Idempotent per key.
  ASSERT_TRUE(um.load_file(gcc, error));
  EXPECT_EQ(um.stats().modules, 2u);
  EXPECT_TRUE(um.warnings().empty());

  // Errors are returned, and remembered.
  std::string text = scratch_dir() + "/maps_not_elf.txt";
  std::ofstream(text) << "x\n";
  EXPECT_FALSE(um.load_file(text, error));
  EXPECT_EQ(error, "'" + text + "' is not an ELF file");
  error.clear();
  EXPECT_FALSE(um.load_file(text, error));
  EXPECT_EQ(error, "'" + text + "' is not an ELF file");
  gt_module_info info{};
  ASSERT_TRUE(maps.info(key_of(text), info));
  EXPECT_EQ(info.rows, 0u);
  EXPECT_EQ(um.stats().modules, 2u);
}

TEST(UnwindMaps, ModeForcesTheFramePointerFlag) {
  TestMaps fp_maps, dwarf_maps;
  if (!fp_maps.error.empty() || !dwarf_maps.error.empty())
    GTEST_SKIP() << fp_maps.error << dwarf_maps.error;
  UnwindMaps fp_mode(fp_maps.modules, fp_maps.rows, GT_UNWIND_FP);
  UnwindMaps dwarf_mode(dwarf_maps.modules, dwarf_maps.rows, GT_UNWIND_DWARF);
  std::string error;
  for (auto *um : {&fp_mode, &dwarf_mode}) {
    ASSERT_TRUE(um->load_file(program("unwind_gcc"), error)) << error;
    ASSERT_TRUE(um->load_file(program("unwind_fp"), error)) << error;
  }
  gt_module_info info;
  ASSERT_TRUE(fp_maps.info(key_of(program("unwind_gcc")), info));
  EXPECT_EQ(info.flags, GT_MODULE_HAS_FP);
  ASSERT_TRUE(dwarf_maps.info(key_of(program("unwind_fp")), info));
  EXPECT_EQ(info.flags, 0u);
}

TEST(UnwindMaps, NoCfiModuleGetsAnInfoWithoutRows) {
  TestMaps maps;
  if (!maps.error.empty())
    GTEST_SKIP() << maps.error;
  std::string path = compile_no_cfi();
  ASSERT_FALSE(path.empty());
  UnwindMaps um(maps.modules, maps.rows, GT_UNWIND_AUTO);
  std::string error;
  ASSERT_TRUE(um.load_file(path, error)) << error;
  gt_module_key key = key_of(path);
  gt_module_info info{};
  ASSERT_TRUE(maps.info(key, info));
  EXPECT_EQ(info.rows, 0u);
  EXPECT_EQ(info.flags, 0u);
  uint32_t id;
  EXPECT_NE(bpf_map_lookup_elem(maps.rows, &key, &id), 0);
  auto w = um.warnings();
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0], "no CFI in '" + path + "': stacks stop at its frames");
}

TEST(UnwindMaps, FullOuterMapIsReported) {
  TestMaps maps(1, 64);
  if (!maps.error.empty())
    GTEST_SKIP() << maps.error;
  UnwindMaps um(maps.modules, maps.rows, GT_UNWIND_AUTO);
  std::string error;
  ASSERT_TRUE(um.load_file(program("unwind_gcc"), error)) << error;
  EXPECT_FALSE(um.load_file(program("unwind_fp"), error));
  EXPECT_EQ(error, "cannot insert the rows of '" + program("unwind_fp") +
                       "' into gt_unwind_rows: Argument list too long");
  // Marked loaded without rows, so that BPF stops requesting it.
  gt_module_info info{};
  ASSERT_TRUE(maps.info(key_of(program("unwind_fp")), info));
  EXPECT_EQ(info.rows, 0u);
  EXPECT_EQ(info.flags, 0u);
  // The error is remembered, not retried.
  EXPECT_FALSE(um.load_file(program("unwind_fp"), error));
  EXPECT_EQ(um.stats().modules, 1u);
}

TEST(UnwindMaps, LoadProcessAndRequests) {
  TestMaps maps;
  if (!maps.error.empty())
    GTEST_SKIP() << maps.error;
  UnwindMaps um(maps.modules, maps.rows, GT_UNWIND_AUTO);
  gt_module_key libc = key_of(kLibc);

  // A request from this process for libc, at a pc inside it.
  uint64_t pc = reinterpret_cast<uint64_t>(&qsort);
  um.handle_request({uint32_t(getpid()), 0, pc, libc});
  gt_module_info info{};
  ASSERT_TRUE(maps.info(libc, info));
  EXPECT_EQ(info.rows, build(kLibc).rows.size());
  EXPECT_EQ(um.stats().modules, 1u);
  um.handle_request({uint32_t(getpid()), 0, pc, libc});  // duplicate: nothing to do
  EXPECT_EQ(um.stats().modules, 1u);

  // A request from a process that is gone.
  pid_t gone = fork();
  if (gone == 0)
    _exit(0);
  waitpid(gone, nullptr, 0);
  gt_module_key other{libc.dev, libc.ino + 1};
  um.handle_request({uint32_t(gone), 0, pc, other});
  um.handle_request({uint32_t(gone), 0, pc, other});
  auto w = um.warnings();
  ASSERT_EQ(w.size(), 1u) << join(w);
  char dev[32];
  snprintf(dev, sizeof dev, "%llx:%llx", (unsigned long long)(libc.dev >> 20),
           (unsigned long long)(libc.dev & 0xfffff));
  EXPECT_EQ(w[0], "cannot load the unwind table of " + std::string(dev) + " inode " + std::to_string(other.ino) +
                      " requested by pid " + std::to_string(gone) + ": no such mapping (has the process exited?)");

  // Every executable file mapping of this process.
  um.load_process(getpid());
  for (const auto &m : process_mappings(getpid()))
    EXPECT_TRUE(maps.info(m.key, info)) << m.path;

  // A command not started yet.
  TestMaps cmd_maps;
  UnwindMaps cmd(cmd_maps.modules, cmd_maps.rows, GT_UNWIND_AUTO);
  cmd.load_command(program("unwind_gcc"));
  EXPECT_EQ(cmd.stats().modules, 3u);
  for (const auto &path : command_modules(program("unwind_gcc")))
    EXPECT_TRUE(cmd_maps.info(key_of(path), info)) << path;
  EXPECT_TRUE(cmd.warnings().empty());
}

// ============================================================ walker

TEST(UnwindWalker, ThisProcessThroughLibcQsort) {
  constexpr int kDepth = 5;
  g_snapshot = {};
  gt_unwind_test_recurse(kDepth);
  ASSERT_FALSE(g_snapshot.bytes.empty());
  ProcessTables tables(getpid());

  // The capture point runs without a frame pointer: the row is rsp-based.
  const ModuleTable *self = tables.table_for(g_snapshot.regs.ip);
  ASSERT_TRUE(self);
  FrameModule fm = tables.find(g_snapshot.regs.ip);
  const gt_unwind_row *r = find_row(*fm.rows, fm.file_offset);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->cfa_kind, GT_CFA_SP) << row_text(r);

  WalkResult w = walk_stack(
      g_snapshot.regs, GT_UNWIND_DWARF, [&](uint64_t pc) { return tables.find(pc); },
      [&](uint64_t a, uint64_t &v) { return g_snapshot.read(a, v); });
  auto names = frame_names(w, getpid(), tables);
  EXPECT_EQ(w.stop, GT_STOP_COMPLETE) << join(names);
  std::vector<std::string> head = {"gt_unwind_test_compare"};
  head.insert(head.end(), kQsortFrames.begin(), kQsortFrames.end());
  head.push_back("gt_unwind_test_sort");
  for (int i = 0; i <= kDepth; ++i)
    head.push_back("gt_unwind_test_recurse");
  ASSERT_GE(names.size(), head.size() + kStartFrames.size()) << join(names);
  EXPECT_EQ(std::vector<std::string>(names.begin(), names.begin() + head.size()), head) << join(names);
  EXPECT_EQ(std::vector<std::string>(names.end() - kStartFrames.size(), names.end()), kStartFrames)
      << join(names);
  EXPECT_EQ(count(names, "gt_unwind_test_recurse"), size_t(kDepth + 1));
  EXPECT_EQ(count(names, "?"), 0u) << join(names);
}

TEST(UnwindWalker, ThisProcessThroughASignalFrame) {
  struct sigaction sa {}, old{};
  sa.sa_handler = gt_unwind_test_handler;
  ASSERT_EQ(sigaction(SIGUSR1, &sa, &old), 0);
  g_snapshot = {};
  gt_unwind_test_raise(3);
  sigaction(SIGUSR1, &old, nullptr);
  ASSERT_FALSE(g_snapshot.bytes.empty());
  ProcessTables tables(getpid());
  WalkResult w = walk_stack(
      g_snapshot.regs, GT_UNWIND_DWARF, [&](uint64_t pc) { return tables.find(pc); },
      [&](uint64_t a, uint64_t &v) { return g_snapshot.read(a, v); });
  auto names = frame_names(w, getpid(), tables);
  EXPECT_EQ(w.stop, GT_STOP_COMPLETE) << join(names);
  ASSERT_GE(names.size(), 9u) << join(names);
  EXPECT_EQ(names[0], "gt_unwind_test_handler");
  EXPECT_EQ(names[1], "__restore_rt");
  // Then the interrupted code (tgkill's return in libc), raise (named by its
  // alias gsignal), our four callers, the test body.
  EXPECT_EQ(names[2], "__pthread_kill_implementation") << join(names);
  EXPECT_EQ(names[3], "gsignal") << join(names);
  for (int i = 4; i < 8; ++i)
    EXPECT_EQ(names[i], "gt_unwind_test_raise") << join(names);
  EXPECT_EQ(count(names, "gt_unwind_test_raise"), 4u) << join(names);
  EXPECT_NE(names[8].find("ThisProcessThroughASignalFrame"), std::string::npos) << join(names);
  EXPECT_EQ(std::vector<std::string>(names.end() - kStartFrames.size(), names.end()), kStartFrames)
      << join(names);
}

TEST(UnwindWalker, TargetProgramsStoppedAtOnCompare) {
  constexpr int kDepth = 3;
  for (const char *name : {"unwind_gcc", "unwind_clang", "unwind_fp"}) {
    StoppedChild child(program(name), {std::to_string(kDepth)}, "on_compare");
    ASSERT_TRUE(child.ok()) << name;
    for (uint32_t mode : {GT_UNWIND_DWARF, GT_UNWIND_AUTO}) {
      std::vector<std::string> names;
      WalkResult w = walk_child(child, mode | GT_UNWIND_AT_ENTRY, names);
      EXPECT_EQ(w.stop, GT_STOP_COMPLETE) << name << " mode " << mode << ": " << join(names);
      EXPECT_EQ(names, expected_target_stack(kDepth)) << name << " mode " << mode;
    }
  }
}

TEST(UnwindWalker, FramePointerModeOnUnwindFp) {
  StoppedChild child(program("unwind_fp"), {"3"}, "on_compare");
  ASSERT_TRUE(child.ok());
  // Frame pointers everywhere: right until libc, which keeps none.
  std::vector<std::string> names;
  WalkResult w = walk_child(child, GT_UNWIND_FP | GT_UNWIND_AT_ENTRY, names);
  ASSERT_GE(names.size(), 3u) << join(names);
  EXPECT_EQ(names[0], "on_compare");
  EXPECT_EQ(names[1], "compare_values");
  EXPECT_EQ(names[2], kQsortFrames[0]);
  // Without GT_UNWIND_AT_ENTRY, at on_compare's first instruction rbp is
  // still compare_values's: its caller is skipped (the probe must say so).
  w = walk_child(child, GT_UNWIND_FP, names);
  ASSERT_GE(names.size(), 2u);
  EXPECT_EQ(names[1], kQsortFrames[0]) << join(names);
}

TEST(UnwindWalker, DepthLimit) {
  StoppedChild child(program("unwind_gcc"), {"200"}, "on_compare");
  ASSERT_TRUE(child.ok());
  std::vector<std::string> names;
  WalkResult w = walk_child(child, GT_UNWIND_DWARF | GT_UNWIND_AT_ENTRY, names);
  EXPECT_EQ(w.stop, GT_STOP_DEPTH);
  ASSERT_EQ(w.frames.size(), size_t(GT_UNWIND_MAX_FRAMES));
  // on_compare, compare_values, 2 libc frames, sort_values, then recurse.
  EXPECT_EQ(count(names, "recurse"), size_t(GT_UNWIND_MAX_FRAMES) - 5) << join(names);
}

// Synthetic stacks: each stop reason and each rule, with a fake memory.
TEST(UnwindWalker, RulesAndStopReasons) {
  std::map<uint64_t, uint64_t> mem;
  auto read = [&](uint64_t a, uint64_t &v) {
    auto it = mem.find(a);
    if (it == mem.end())
      return false;
    v = it->second;
    return true;
  };
  auto row = [](uint32_t pc, uint8_t kind, int16_t cfa = 0, int16_t ra = -8, uint8_t bpk = GT_REG_SAME,
                int16_t bp = 0) {
    gt_unwind_row r{};
    r.pc = pc;
    r.cfa_kind = kind;
    r.cfa_off = cfa;
    r.ra_off = ra;
    r.bp_kind = bpk;
    r.bp_off = bp;
    return r;
  };
  // One module mapped at 0x10000 (file offset 0) holding pcs 0x100..0x500.
  std::vector<gt_unwind_row> rows = {
      row(0x100, GT_CFA_SP, 8),                        // leaf at entry
      row(0x104, GT_CFA_SP, 32, -8, GT_REG_AT_CFA, -16),  // body, rbp saved
      row(0x180, GT_CFA_BP, 16, -8, GT_REG_AT_CFA, -16),  // rbp frame
      row(0x200, GT_CFA_PLT),                          // a PLT
      row(0x240, GT_CFA_SIGNAL),                       // __restore_rt
      row(0x280, GT_CFA_END),                          // _start
      row(0x300, GT_CFA_UNSUPPORTED),                  //
      row(0x340, GT_CFA_NONE),                         // gap
      row(0x380, GT_CFA_SP, 8),                        //
      row(0x400, GT_CFA_NONE),                         // end of table
  };
  uint32_t flags = 0;
  auto find = [&](uint64_t pc) {
    FrameModule fm;
    if (pc >= 0x10000 && pc < 0x11000) {
      fm.status = FrameModule::kFound;
      fm.rows = &rows;
      fm.flags = flags;
      fm.file_offset = pc - 0x10000;
    } else if (pc >= 0x20000 && pc < 0x21000) {
      fm.status = FrameModule::kNotLoaded;
    }
    return fm;
  };
  auto walk = [&](Registers regs, uint32_t mode = GT_UNWIND_DWARF) { return walk_stack(regs, mode, find, read); };

  // Entry row -> body row (ra 0x10120, looked up at 0x11f: SP+32 with rbp)
  // -> rbp frame -> _start (END).
  mem = {{0x7000, 0x10120},                                      // frame 0: ra at sp
         {0x7008 + 32 - 8, 0x101a0}, {0x7008 + 32 - 16, 0x9000},  // frame 1: ra, saved rbp
         {0x9000 + 16 - 8, 0x10290}, {0x9000, 0x1234}};           // frame 2 (rbp 0x9000)
  WalkResult w = walk({0x10100, 0x7000, 0x5555});
  EXPECT_EQ(w.stop, GT_STOP_COMPLETE);
  EXPECT_EQ(w.frames, (std::vector<uint64_t>{0x10100, 0x10120, 0x101a0, 0x10290}));

  // pc - 1: a return address at the first byte of the next row belongs to
  // the previous one (0x10180 - 1 is in the SP+32 row, not the rbp one).
  mem = {{0x7000, 0x10180}, {0x7008 + 24, 0x10290}, {0x7008 + 16, 0x1}};
  w = walk({0x10100, 0x7000, 0});
  EXPECT_EQ(w.stop, GT_STOP_COMPLETE);
  EXPECT_EQ(w.frames, (std::vector<uint64_t>{0x10100, 0x10180, 0x10290}));

  // PLT: before byte 11 of an entry, cfa = sp+8; from it on, sp+16.
  mem = {{0x7000, 0x10290}, {0x7008, 0x10290}};
  w = walk({0x1020a, 0x7000, 0});
  EXPECT_EQ(w.frames, (std::vector<uint64_t>{0x1020a, 0x10290}));
  w = walk({0x1020b, 0x7000, 0});
  EXPECT_EQ(w.frames, (std::vector<uint64_t>{0x1020b, 0x10290}));

  // Signal frame: the handler returns to 0x10241; registers from the
  // ucontext; the interrupted pc 0x10380 is exact (no -1: 0x1037f would be
  // in the NONE gap).
  mem = {{0x7000, 0x10241},
         {0x7008 + GT_SIGFRAME_IP_OFF, 0x10380},
         {0x7008 + GT_SIGFRAME_SP_OFF, 0x8000},
         {0x7008 + GT_SIGFRAME_BP_OFF, 0x4242},
         {0x8000, 0x10290}};
  w = walk({0x10100, 0x7000, 0});
  EXPECT_EQ(w.stop, GT_STOP_COMPLETE);
  EXPECT_EQ(w.frames, (std::vector<uint64_t>{0x10100, 0x10241, 0x10380, 0x10290}));

  // Stop reasons.
  mem = {{0x7000, 0x10301}};
  EXPECT_EQ(walk({0x10100, 0x7000, 0}).stop, GT_STOP_UNSUPPORTED);
  mem = {{0x7000, 0x10341}};
  EXPECT_EQ(walk({0x10100, 0x7000, 0}).stop, GT_STOP_NO_CFI);
  mem = {{0x7000, 0x10401}};
  EXPECT_EQ(walk({0x10100, 0x7000, 0}).stop, GT_STOP_NO_CFI);
  EXPECT_EQ(walk({0x10050, 0x7000, 0}).stop, GT_STOP_NO_CFI);  // below the first row
  mem = {{0x7000, 0x20000}};
  EXPECT_EQ(walk({0x10100, 0x7000, 0}).stop, GT_STOP_NO_MODULE);
  mem = {{0x7000, 0x30000}};
  w = walk({0x10100, 0x7000, 0});
  EXPECT_EQ(w.stop, GT_STOP_NO_MAPPING);
  EXPECT_EQ(w.frames, (std::vector<uint64_t>{0x10100, 0x30000}));
  mem = {};
  EXPECT_EQ(walk({0x10100, 0x7000, 0}).stop, GT_STOP_READ_ERROR);
  mem = {{0x7000, 0}};
  w = walk({0x10100, 0x7000, 0});
  EXPECT_EQ(w.stop, GT_STOP_COMPLETE);
  EXPECT_EQ(w.frames.size(), 1u);

  // Frame pointers: AUTO follows the module flag, FP never looks modules up.
  flags = GT_MODULE_HAS_FP;
  mem = {{0x9000, 0x9100}, {0x9008, 0x10120}, {0x9100, 0}, {0x9108, 0x30000}};
  w = walk({0x10190, 0x6000, 0x9000}, GT_UNWIND_AUTO);
  EXPECT_EQ(w.frames, (std::vector<uint64_t>{0x10190, 0x10120, 0x30000}));
  EXPECT_EQ(w.stop, GT_STOP_NO_MAPPING);
  w = walk({0x10190, 0x6000, 0x9000}, GT_UNWIND_FP);
  EXPECT_EQ(w.frames, (std::vector<uint64_t>{0x10190, 0x10120, 0x30000}));
  EXPECT_EQ(w.stop, GT_STOP_COMPLETE);  // rbp 0 in the third frame: outermost
  // At entry: ra at [sp], rbp untouched.
  mem[0x6000] = 0x10120;
  w = walk({0x10100, 0x6000, 0x9000}, GT_UNWIND_FP | GT_UNWIND_AT_ENTRY);
  EXPECT_EQ(w.frames, (std::vector<uint64_t>{0x10100, 0x10120, 0x10120, 0x30000}));
  EXPECT_EQ(w.stop, GT_STOP_COMPLETE);
  // rbp pointing nowhere.
  w = walk({0x10190, 0x6000, 0x5000}, GT_UNWIND_FP);
  EXPECT_EQ(w.stop, GT_STOP_READ_ERROR);
  EXPECT_EQ(w.frames.size(), 1u);
  // A loop of frames ends at the depth limit.
  mem = {{0x9000, 0x9000}, {0x9008, 0x10120}};
  w = walk({0x10190, 0x6000, 0x9000}, GT_UNWIND_FP);
  EXPECT_EQ(w.stop, GT_STOP_DEPTH);
  EXPECT_EQ(w.frames.size(), size_t(GT_UNWIND_MAX_FRAMES));
}
