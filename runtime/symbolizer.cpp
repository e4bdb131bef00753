#include "runtime/symbolizer.h"

#include "stdlib/unwind_abi.h"

#include <algorithm>
#include <bpf/bpf.h>
#include <cxxabi.h>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>
#include <unistd.h>

#include "runtime/dwarf_lines.h"
#include "runtime/internal.h"

namespace gt::rt {

namespace {

int64_t clock_ns(clockid_t c) {
  struct timespec ts;
  clock_gettime(c, &ts);
  return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

bool read_file(const std::string &path, std::string &out) {
  std::ifstream in(path);
  if (!in)
    return false;
  std::stringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return true;
}

}  // namespace

std::string demangle_symbol(const std::string &name) {
  // Only mangled function names: __cxa_demangle also takes bare type
  // manglings, which would turn a C function named "i" into "int".
  if (name.compare(0, 2, "_Z") != 0)
    return name;
  int status = 0;
  char *d = abi::__cxa_demangle(name.c_str(), nullptr, nullptr, &status);
  if (!d)
    return name;
  std::string out = status == 0 ? d : name;
  free(d);
  return out;
}

SessionSymbolizer::FileSyms::~FileSyms() = default;

SessionSymbolizer::SessionSymbolizer(int stacks_fd, uint32_t stack_bytes, int ustacks_fd)
    : stacks_fd_(stacks_fd), ustacks_fd_(ustacks_fd),
      stack_bytes_(stack_bytes ? stack_bytes : 127 * 8) {
  // Read the two clocks close together; the smaller gap of a few tries.
  int64_t best = INT64_MAX;
  for (int i = 0; i < 3; i++) {
    int64_t b0 = clock_ns(CLOCK_BOOTTIME);
    int64_t r = clock_ns(CLOCK_REALTIME);
    int64_t b1 = clock_ns(CLOCK_BOOTTIME);
    if (b1 - b0 < best) {
      best = b1 - b0;
      boot_to_wall_ = r - (b0 + (b1 - b0) / 2);
    }
  }
}

SessionSymbolizer::~SessionSymbolizer() = default;

void SessionSymbolizer::set_kallsyms(const std::string &text) {
  ksyms_.clear();
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    // "ffffffff81000000 T _text" or "ffffffffc0000000 t fn\t[module]"
    char *end = nullptr;
    uint64_t addr = strtoull(line.c_str(), &end, 16);
    if (!end || *end != ' ' || !addr)
      continue;
    size_t p = line.find(' ', size_t(end - line.c_str()) + 1);
    if (p == std::string::npos)
      continue;
    std::string name = line.substr(p + 1);
    size_t tab = name.find_first_of("\t ");
    if (tab != std::string::npos)
      name.resize(tab);
    if (name.empty())
      continue;
    ksyms_.push_back({addr, name});
  }
  std::stable_sort(ksyms_.begin(), ksyms_.end(),
                   [](const KSym &a, const KSym &b) { return a.addr < b.addr; });
  kallsyms_loaded_ = true;
}

void SessionSymbolizer::load_kallsyms() {
  if (kallsyms_loaded_)
    return;
  std::string text;
  read_file("/proc/kallsyms", text);
  set_kallsyms(text);
}

bool SessionSymbolizer::kernel_symbol(uint64_t addr, std::string &name, uint64_t &offset) {
  load_kallsyms();
  auto it = std::upper_bound(ksyms_.begin(), ksyms_.end(), addr,
                             [](uint64_t a, const KSym &s) { return a < s.addr; });
  if (it == ksyms_.begin())
    return false;
  --it;
  name = it->name;
  offset = addr - it->addr;
  return true;
}

std::vector<SessionSymbolizer::Mapping> SessionSymbolizer::parse_maps(const std::string &text) {
  std::vector<Mapping> maps;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    // start-end perms offset dev inode path
    unsigned long long start, end, off;
    char perms[8] = {};
    int pos = 0;
    if (sscanf(line.c_str(), "%llx-%llx %7s %llx %*s %*s %n", &start, &end, perms, &off, &pos) < 4)
      continue;
    if (!strchr(perms, 'x') || pos <= 0 || size_t(pos) >= line.size())
      continue;
    std::string path = line.substr(size_t(pos));
    if (path.empty() || path[0] != '/')
      continue;  // [vdso], anonymous code
    const char *del = " (deleted)";
    if (path.size() > strlen(del) && path.compare(path.size() - strlen(del), strlen(del), del) == 0)
      path.resize(path.size() - strlen(del));
    maps.push_back({start, end, off, path});
  }
  return maps;
}

void SessionSymbolizer::set_maps(uint32_t pid, const std::string &text) {
  Process &p = procs_[pid];
  p.text = text;
  p.maps = parse_maps(text);
  p.read_ns = uint64_t(clock_ns(CLOCK_MONOTONIC));
}

bool SessionSymbolizer::read_maps(uint32_t pid, Process &p) {
  std::string text;
  p.read_ns = uint64_t(clock_ns(CLOCK_MONOTONIC));
  if (!read_file("/proc/" + std::to_string(pid) + "/maps", text) || text.empty())
    return false;  // gone: keep what we had
  if (text != p.text) {
    p.text = std::move(text);
    p.maps = parse_maps(p.text);
  }
  return true;
}

void SessionSymbolizer::refresh(uint32_t pid) {
  if (!pid)
    return;
  // A -c child that has not exec'ed yet still has our mappings: skip it.
  char self[4096], exe[4096];
  ssize_t a = readlink("/proc/self/exe", self, sizeof self - 1);
  ssize_t b = readlink(("/proc/" + std::to_string(pid) + "/exe").c_str(), exe, sizeof exe - 1);
  if (a > 0 && b > 0 && a == b && memcmp(self, exe, size_t(a)) == 0)
    return;
  read_maps(pid, procs_[pid]);
}

SessionSymbolizer::FileSyms *SessionSymbolizer::file_symbols(const std::string &path) {
  auto it = files_.find(path);
  if (it != files_.end())
    return it->second.get();
  auto fs = std::make_unique<FileSyms>();
  std::string err;
  fs->elf = internal::elf_file(path, err);
  if (fs->elf) {
    std::vector<gt::elf::Symbol> syms = fs->elf->functions();
    if (!fs->elf->has_symtab() && fs->elf->build_id().size() > 2) {
      const std::string &id = fs->elf->build_id();
      std::string dbg = "/usr/lib/debug/.build-id/" + id.substr(0, 2) + "/" + id.substr(2) + ".debug";
      fs->debug = gt::elf::ElfFile::open(dbg, err);
      if (fs->debug) {
        std::vector<gt::elf::Symbol> more = fs->debug->functions();
        syms.insert(syms.end(), more.begin(), more.end());
      }
    }
    syms.erase(std::remove_if(syms.begin(), syms.end(),
                              [](const gt::elf::Symbol &s) { return s.address == 0; }),
               syms.end());
    // By address; at one address prefer a sized symbol, then the first name.
    std::stable_sort(syms.begin(), syms.end(), [](const gt::elf::Symbol &a, const gt::elf::Symbol &b) {
      if (a.address != b.address)
        return a.address < b.address;
      return a.size > b.size;
    });
    syms.erase(std::unique(syms.begin(), syms.end(),
                           [](const gt::elf::Symbol &a, const gt::elf::Symbol &b) {
                             return a.address == b.address;
                           }),
               syms.end());
    fs->by_addr = std::move(syms);
  }
  return (files_[path] = std::move(fs)).get();
}

bool SessionSymbolizer::user_module(uint64_t addr, uint32_t pid, std::string &path) {
  const Mapping *m = find_mapping(addr, pid);
  if (m)
    path = m->path;
  return m != nullptr;
}

const SessionSymbolizer::Mapping *SessionSymbolizer::find_mapping(uint64_t addr, uint32_t pid) {
  auto pit = procs_.find(pid);
  if (pit == procs_.end()) {
    Process p;
    read_maps(pid, p);
    pit = procs_.emplace(pid, std::move(p)).first;
  }
  Process &p = pit->second;
  auto find = [&]() -> const Mapping * {
    for (const Mapping &m : p.maps)
      if (addr >= m.start && addr < m.end)
        return &m;
    return nullptr;
  };
  const Mapping *m = find();
  if (!m && uint64_t(clock_ns(CLOCK_MONOTONIC)) - p.read_ns > 50000000) {
    read_maps(pid, p);  // something mapped since (dlopen)?
    m = find();
  }
  return m;
}

SessionSymbolizer::FileSyms *SessionSymbolizer::file_address(uint64_t addr, uint32_t pid,
                                                             uint64_t &vaddr,
                                                             const Mapping **mapping) {
  const Mapping *m = find_mapping(addr, pid);
  if (!m)
    return nullptr;
  FileSyms *fs = file_symbols(m->path);
  if (!fs || !fs->elf)
    return nullptr;
  auto v = fs->elf->offset_to_address(addr - m->start + m->offset);
  if (!v)
    return nullptr;
  vaddr = *v;
  if (mapping)
    *mapping = m;
  return fs;
}

bool SessionSymbolizer::user_symbol(uint64_t addr, uint32_t pid, std::string &name,
                                    uint64_t &offset) {
  uint64_t vaddr;
  FileSyms *fs = file_address(addr, pid, vaddr);
  if (!fs)
    return false;
  const auto &v = fs->by_addr;
  auto it = std::upper_bound(v.begin(), v.end(), vaddr,
                             [](uint64_t a, const gt::elf::Symbol &s) { return a < s.address; });
  if (it == v.begin())
    return false;
  --it;
  if (it->size && vaddr >= it->address + it->size)
    return false;
  auto dm = fs->demangled.find(size_t(it - v.begin()));
  if (dm == fs->demangled.end())
    dm = fs->demangled.emplace(size_t(it - v.begin()), demangle_symbol(it->name)).first;
  name = dm->second;
  offset = vaddr - it->address;
  return true;
}

bool SessionSymbolizer::user_source(uint64_t addr, uint32_t pid, bool call,
                                    std::vector<SourceFrame> &frames) {
  if (!stack_lines_)
    return false;
  uint64_t vaddr;
  const Mapping *m = nullptr;
  FileSyms *fs = file_address(addr, pid, vaddr, &m);
  if (!fs)
    return false;
  if (!fs->lines_tried) {
    fs->lines_tried = true;
    fs->lines = DwarfLines::open(m->path);
  }
  if (!fs->lines)
    return false;
  frames = fs->lines->lookup(call && vaddr ? vaddr - 1 : vaddr);
  return !frames.empty();
}

#define GT_STR2(x) #x
#define GT_STR(x) GT_STR2(x)

static const char *stop_reason(uint32_t stop) {
  switch (stop) {
  case GT_STOP_DEPTH: return "depth limit of " GT_STR(GT_UNWIND_MAX_FRAMES) " frames";
  case GT_STOP_NO_CFI: return "no CFI for the last address";
  case GT_STOP_UNSUPPORTED: return "a CFI rule the unwinder does not support";
  case GT_STOP_READ_ERROR: return "reading the user stack failed";
  case GT_STOP_NO_MODULE: return "the module's unwind table was not loaded yet";
  case GT_STOP_NO_MAPPING: return "the last address is not in a mapped file";
  case GT_STOP_VMA_BUSY: return "the memory map was busy (sampled in an interrupt)";
  default: return "";
  }
}

bool SessionSymbolizer::stack(int64_t id, bool user, std::vector<uint64_t> &addrs,
                              std::string &incomplete) {
  incomplete.clear();
  if (user && ustacks_fd_ >= 0) {
    // The BPF unwinder's stacks: keyed by a hash, 0 meaning none was stored.
    uint64_t key = static_cast<uint64_t>(id);
    gt_ustack st;
    if (key == 0 || bpf_map_lookup_elem(ustacks_fd_, &key, &st) != 0) {
      addrs.clear();
      incomplete = "the stack was not stored (gt_ustacks is full)";
      return true;
    }
    uint32_t len = std::min<uint32_t>(st.len, GT_UNWIND_MAX_FRAMES);
    addrs.assign(st.frames, st.frames + len);
    incomplete = stop_reason(st.stop);
    return true;
  }
  if (stacks_fd_ < 0 || id < 0 || id > UINT32_MAX)
    return false;
  uint32_t key = uint32_t(id);
  addrs.assign((stack_bytes_ + 7) / 8, 0);
  if (bpf_map_lookup_elem(stacks_fd_, &key, addrs.data()) != 0)
    return false;
  return true;
}

}  // namespace gt::rt
