// Runs the unwinder harness (test/stdlib/unwind_harness.bpf.c) on a live
// process and prints the stack it recorded, symbolized:
//
//   gt_unwind_loader OBJ MODE FUNC [--tracepoint | --perf | --bench] [--no-entry] [--vmas]
//                    [--table FILE=ROWS[:fp]]... [--module FILE:fp]... -- TARGET [ARGS...]
//   gt_unwind_loader --verify OBJ MAX_INSNS
//
// --verify loads every program of OBJ and prints how many instructions the
// verifier processed for each; it fails when one needed more than MAX_INSNS.
//
// MODE is fp, auto or dwarf. The loader starts TARGET, attaches the harness's
// uprobe entry to FUNC in TARGET for that process only, and lets it run. The
// harness's body program stops the process with SIGSTOP after the first
// event, so that its mappings are still there to symbolize the frames.
// With --tracepoint, FUNC is a syscall tracepoint (CATEGORY:NAME) instead:
// the harness's tracepoint entry unwinds from the process's user registers
// (gt_unwind_begin_current).
// With --perf, FUNC is HZ:WARMUP_MS:RUN_MS: the harness's perf_event entry
// samples TARGET (cpu-clock, HZ per second; in an interrupt, where
// bpf_find_vma works once per sample) and the loader reports the samples of
// the RUN_MS after the first WARMUP_MS (see report_samples), then kills it.
// With --bench, the uprobe runs on every call of FUNC until TARGET exits
// (no SIGSTOP); the loader reports the samples and the BPF run time per event.
// --vmas checks the unwinder's per-process VMA cache (gt_unwind_vmas) against
// /proc/PID/maps at the end (see report_vmas).
// --table loads a module's rows (a file written by cfi_rows.py) into
// gt_unwind_rows/gt_unwind_modules; --module registers a module without rows.
// Output (for FileCheck):
//   events: N
//   frames: N
//   #I SYMBOL               (or #I BASENAME+0xFILEOFFSET without a symbol)
//   stop: REASON
//   request: BASENAME       (one per gt_unwind_requests record)
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <linux/perf_event.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <algorithm>
#include <chrono>
#include <map>
#include <thread>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "stdlib/unwind_abi.h"

namespace {

[[noreturn]] void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  std::fprintf(stderr, "gt_unwind_loader: ");
  std::vfprintf(stderr, fmt, ap);
  std::fprintf(stderr, "\n");
  va_end(ap);
  std::exit(1);
}

// Must match unwind_harness.bpf.c.
struct HarnessCfg {
  uint32_t flags;
  uint32_t stop_signal;
  uint32_t pid;
  uint32_t reserved;
};
struct HarnessOut {
  uint64_t id;
  uint64_t events;
};

const char *stop_name(uint32_t stop) {
  static const char *const names[] = {"none",       "complete",  "depth",     "no-cfi",
                                      "unsupported", "read-error", "no-module", "no-mapping",
                                      "vma-busy"};
  return stop < sizeof names / sizeof names[0] ? names[stop] : "?";
}

gt_module_key key_of(const std::string &path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) die("stat %s: %s", path.c_str(), strerror(errno));
  // The kernel's internal dev_t (MKDEV), as inode->i_sb->s_dev holds it.
  gt_module_key key{};
  key.dev = (uint64_t(major(st.st_dev)) << 20) | minor(st.st_dev);
  key.ino = st.st_ino;
  return key;
}

std::string basename_of(const std::string &path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// Rows file: one row a line, "pc cfa_kind bp_kind cfa_off bp_off ra_off"
// (pc in hex, the rest decimal), sorted by pc.
std::vector<gt_unwind_row> read_rows(const std::string &file) {
  std::ifstream in(file);
  if (!in) die("cannot read %s", file.c_str());
  std::vector<gt_unwind_row> rows;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream s(line);
    unsigned long pc;
    int kind, bp_kind, cfa_off, bp_off, ra_off;
    if (!(s >> std::hex >> pc >> std::dec >> kind >> bp_kind >> cfa_off >> bp_off >> ra_off))
      die("%s: bad row: %s", file.c_str(), line.c_str());
    gt_unwind_row r{};
    r.pc = uint32_t(pc);
    r.cfa_kind = uint8_t(kind);
    r.bp_kind = uint8_t(bp_kind);
    r.cfa_off = int16_t(cfa_off);
    r.bp_off = int16_t(bp_off);
    r.ra_off = int16_t(ra_off);
    if (!rows.empty() && rows.back().pc > r.pc) die("%s: rows not sorted", file.c_str());
    rows.push_back(r);
  }
  return rows;
}

void add_module(bpf_object *obj, const std::string &path, const std::vector<gt_unwind_row> &rows,
                bool has_fp) {
  gt_module_key key = key_of(path);
  gt_module_info info{uint32_t(rows.size()), has_fp ? GT_MODULE_HAS_FP : 0u};
  if (!rows.empty()) {
    // Inner maps take their length from the table: BPF_F_INNER_MAP lets any
    // max_entries match the template.
    LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_INNER_MAP);
    int inner = bpf_map_create(BPF_MAP_TYPE_ARRAY, "gt_rows", sizeof(uint32_t), sizeof(gt_unwind_row),
                               uint32_t(rows.size()), &opts);
    if (inner < 0) die("creating the rows of %s: %s", path.c_str(), strerror(errno));
    for (uint32_t i = 0; i < rows.size(); i++)
      if (bpf_map_update_elem(inner, &i, &rows[i], BPF_ANY) != 0) die("row %u: %s", i, strerror(errno));
    int outer = bpf_object__find_map_fd_by_name(obj, "gt_unwind_rows");
    if (bpf_map_update_elem(outer, &key, &inner, BPF_ANY) != 0)
      die("gt_unwind_rows[%s]: %s", path.c_str(), strerror(errno));
    close(inner);  // the outer map holds it
  }
  int modules = bpf_object__find_map_fd_by_name(obj, "gt_unwind_modules");
  if (bpf_map_update_elem(modules, &key, &info, BPF_ANY) != 0)
    die("gt_unwind_modules[%s]: %s", path.c_str(), strerror(errno));
}

struct Mapping {
  uint64_t start, end, offset;
  uint64_t dev, ino;  // kernel encoding, as in gt_module_key
  std::string path;
};

std::vector<Mapping> read_maps(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/maps");
  std::vector<Mapping> maps;
  std::string line;
  while (std::getline(in, line)) {
    Mapping m{};
    unsigned maj, min;
    char perms[8];
    int path_at = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx %7s %lx %x:%x %lu %n", &m.start, &m.end, perms, &m.offset,
                    &maj, &min, &m.ino, &path_at) < 7)
      continue;
    m.dev = (uint64_t(maj) << 20) | min;
    if (path_at > 0) m.path = line.substr(path_at);
    maps.push_back(m);
  }
  return maps;
}

// Function symbols and loadable segments of one ELF file.
class Symbols {
 public:
  explicit Symbols(const std::string &path) {
    int fd = open(path.c_str(), O_RDONLY);
    if (fd < 0) return;
    Elf *elf = elf_begin(fd, ELF_C_READ, nullptr);
    if (elf) {
      size_t n = 0;
      elf_getphdrnum(elf, &n);
      for (size_t i = 0; i < n; i++) {
        GElf_Phdr ph;
        if (gelf_getphdr(elf, int(i), &ph) && ph.p_type == PT_LOAD) loads_.push_back(ph);
      }
      for (Elf_Scn *scn = nullptr; (scn = elf_nextscn(elf, scn));) {
        GElf_Shdr sh;
        if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_SYMTAB) continue;
        Elf_Data *data = elf_getdata(scn, nullptr);
        for (size_t i = 0; data && i < sh.sh_size / sh.sh_entsize; i++) {
          GElf_Sym sym;
          if (!gelf_getsym(data, int(i), &sym) || GELF_ST_TYPE(sym.st_info) != STT_FUNC || !sym.st_value)
            continue;
          const char *name = elf_strptr(elf, sh.sh_link, sym.st_name);
          if (name) funcs_[sym.st_value] = {sym.st_size, name};
        }
      }
      elf_end(elf);
    }
    close(fd);
  }

  // The function that contains file offset `off`, or "".
  std::string lookup(uint64_t off) const {
    for (const GElf_Phdr &ph : loads_) {
      if (off < ph.p_offset || off >= ph.p_offset + ph.p_filesz) continue;
      uint64_t vaddr = off - ph.p_offset + ph.p_vaddr;
      auto it = funcs_.upper_bound(vaddr);
      if (it == funcs_.begin()) return "";
      --it;
      if (vaddr < it->first + it->second.first) return it->second.second;
      return "";
    }
    return "";
  }

 private:
  std::vector<GElf_Phdr> loads_;
  std::map<uint64_t, std::pair<uint64_t, std::string>> funcs_;
};

std::string symbolize(uint64_t pc, const std::vector<Mapping> &maps,
                      std::map<std::string, std::unique_ptr<Symbols>> &cache) {
  for (const Mapping &m : maps) {
    if (pc < m.start || pc >= m.end) continue;
    if (m.path.empty() || m.path[0] != '/') {
      char buf[64];
      std::snprintf(buf, sizeof buf, "[anon]+0x%lx", (unsigned long)(pc - m.start));
      return buf;
    }
    uint64_t off = pc - m.start + m.offset;
    auto &syms = cache[m.path];
    if (!syms) syms = std::make_unique<Symbols>(m.path);
    std::string name = syms->lookup(off);
    if (!name.empty()) return name;
    char buf[64];
    std::snprintf(buf, sizeof buf, "+0x%lx", (unsigned long)off);
    return basename_of(m.path) + buf;
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "[unmapped]0x%lx", (unsigned long)pc);
  return buf;
}

struct RequestCtx {
  pid_t pid;
  const std::vector<Mapping> *maps;
};

int on_request(void *ctx, void *data, size_t size) {
  auto *rc = static_cast<RequestCtx *>(ctx);
  if (size < sizeof(gt_unwind_request)) return 0;
  gt_unwind_request req;
  std::memcpy(&req, data, sizeof req);
  // The key must name the file mapped at the frame's pc.
  std::string name = "?";
  for (const Mapping &m : *rc->maps)
    if (m.dev == req.key.dev && m.ino == req.key.ino && req.pc >= m.start && req.pc < m.end)
      name = basename_of(m.path);
  std::printf("request: %s%s\n", name.c_str(), req.pid == uint32_t(rc->pid) ? "" : " (wrong pid)");
  return 0;
}

// Must match struct gt_vma, gt_vma_set and gt_vma_owner in stdlib/unwind.bpf.c
// (not part of the ABI: report_vmas finds entries that differ).
struct Vma {
  uint64_t start, end, pgoff, ino;
  uint32_t dev, file;
  uint64_t time, check;
};
constexpr int kVmaSlots = 8;
struct VmaSet {
  uint64_t busy;
  uint32_t count, next;
  Vma slot[kVmaSlots];
};
struct VmaOwner {
  uint64_t mm, tgid;
};

// gt_vma_check in stdlib/unwind.bpf.c.
uint64_t vma_check(const Vma &v) {
  uint64_t h = v.start * 0x9e3779b97f4a7c15ull + v.end * 0xc2b2ae3d27d4eb4full +
               v.pgoff * 0x165667b19e3779f9ull + v.ino * 0xff51afd7ed558ccdull +
               (uint64_t(v.dev) << 32 | v.file) * 0xc4ceb9fe1a85ec53ull + v.time * 0x27d4eb2f165667c5ull;
  return (h ^ (h >> 31)) | 1;
}

// The VMAs the unwinder keeps for `pid`: each valid entry must be a mapping
// of /proc/PID/maps as it is now (same range, offset, device and inode).
//   vmas: N                 (valid entries; a line per entry follows)
//   vma: BASENAME            (sorted, [anon] for anonymous mappings)
//   vmas not in maps: N
//   vmas busy: yes|no        (bpf_find_vma was busy in this process)
void report_vmas(bpf_object *obj, pid_t pid, const std::vector<Mapping> &maps) {
  int fd = bpf_object__find_map_fd_by_name(obj, "gt_unwind_vmas");
  if (fd < 0) die("no gt_unwind_vmas map");
  std::vector<std::string> names;
  int wrong = 0;
  bool busy = false;
  VmaOwner key{}, next{};
  bool first = true;
  while (bpf_map_get_next_key(fd, first ? nullptr : &key, &next) == 0) {
    first = false;
    key = next;
    VmaSet set{};
    if (key.tgid != uint64_t(pid) || bpf_map_lookup_elem(fd, &key, &set) != 0) continue;
    busy |= set.busy != 0;
    for (const Vma &v : set.slot) {
      if (v.check != vma_check(v)) continue;
      const Mapping *found = nullptr;
      for (const Mapping &m : maps)
        if (m.start == v.start && m.end == v.end && m.offset == v.pgoff << 12 &&
            (v.file ? m.dev == v.dev && m.ino == v.ino : m.ino == 0))
          found = &m;
      if (!found) {
        wrong++;
        std::printf("vma not in maps: %lx-%lx pgoff %lx dev %x ino %lu\n", (unsigned long)v.start,
                    (unsigned long)v.end, (unsigned long)v.pgoff, v.dev, (unsigned long)v.ino);
        continue;
      }
      names.push_back(v.file ? basename_of(found->path) : "[anon]");
    }
  }
  std::sort(names.begin(), names.end());
  std::printf("vmas: %zu\n", names.size());
  for (const std::string &n : names) std::printf("vma: %s\n", n.c_str());
  std::printf("vmas not in maps: %d\n", wrong);
  std::printf("vmas busy: %s\n", busy ? "yes" : "no");
}

std::map<uint64_t, uint64_t> read_counts(bpf_object *obj) {
  int fd = bpf_object__find_map_fd_by_name(obj, "gt_harness_counts");
  std::map<uint64_t, uint64_t> counts;
  uint64_t key = 0, next = 0, value = 0;
  bool first = true;
  while (bpf_map_get_next_key(fd, first ? nullptr : &key, &next) == 0) {
    first = false;
    key = next;
    if (bpf_map_lookup_elem(fd, &key, &value) == 0) counts[key] = value;
  }
  return counts;
}

// The events counted between two read_counts, by how their stacks ended:
//   samples: N
//   complete: P%            (of N, rounded down)
//   stop REASON: N          (one line per reason met, "none" for no stack)
//   complete stacks: N      (distinct)
// Before them (with maps): each distinct incomplete stack (REASON: FRAMES...)
// and each complete one that is wrong (complete but not from _start through
// main: FRAMES...).
// Without maps (the target has exited), the frames are not checked.
void report_samples(bpf_object *obj, const std::map<uint64_t, uint64_t> &before,
                    const std::map<uint64_t, uint64_t> &after, const std::vector<Mapping> &maps) {
  int ustacks = bpf_object__find_map_fd_by_name(obj, "gt_ustacks");
  std::map<std::string, std::unique_ptr<Symbols>> cache;
  std::map<uint32_t, uint64_t> by_stop;
  uint64_t total = 0, complete_stacks = 0;
  for (const auto &[id, n] : after) {
    auto it = before.find(id);
    uint64_t delta = n - (it == before.end() ? 0 : it->second);
    if (!delta) continue;
    total += delta;
    gt_ustack stack{};
    if (id == 0 || bpf_map_lookup_elem(ustacks, &id, &stack) != 0) {
      by_stop[GT_STOP_NONE] += delta;
      continue;
    }
    by_stop[stack.stop] += delta;
    if (maps.empty()) continue;
    if (stack.stop != GT_STOP_COMPLETE) {
      std::printf("%s:", stop_name(stack.stop));
      for (uint32_t f = 0; f < stack.len && f < GT_UNWIND_MAX_FRAMES; f++)
        std::printf(" %s", symbolize(stack.frames[f], maps, cache).c_str());
      std::printf("\n");
      continue;
    }
    complete_stacks++;
    std::vector<std::string> frames;
    bool has_main = false;
    for (uint32_t f = 0; f < stack.len && f < GT_UNWIND_MAX_FRAMES; f++) {
      frames.push_back(symbolize(stack.frames[f], maps, cache));
      has_main |= frames.back() == "main";
    }
    if (!has_main || frames.empty() || frames.back() != "_start") {
      std::printf("complete but not from _start through main:");
      for (const std::string &f : frames) std::printf(" %s", f.c_str());
      std::printf("\n");
    }
  }
  std::printf("samples: %lu\n", (unsigned long)total);
  std::printf("complete: %lu%%\n", (unsigned long)(total ? by_stop[GT_STOP_COMPLETE] * 100 / total : 0));
  for (const auto &[stop, n] : by_stop) std::printf("stop %s: %lu\n", stop_name(stop), (unsigned long)n);
  std::printf("complete stacks: %lu\n", (unsigned long)complete_stacks);
}

int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap) {
  return level == LIBBPF_WARN ? std::vfprintf(stderr, fmt, ap) : 0;
}

int verify(const char *path, unsigned long max_insns) {
  bpf_object *obj = bpf_object__open_file(path, nullptr);
  if (!obj) die("open %s: %s", path, strerror(errno));
  if (bpf_object__load(obj) != 0) die("load %s: %s", path, strerror(errno));
  int rc = 0;
  bpf_program *prog;
  bpf_object__for_each_program(prog, obj) {
    bpf_prog_info info{};
    uint32_t len = sizeof info;
    if (bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len) != 0)
      die("prog info: %s", strerror(errno));
    bool over = info.verified_insns > max_insns;
    std::printf("%s: %u insns verified%s\n", bpf_program__name(prog), info.verified_insns,
                over ? " (over the budget)" : "");
    if (over) rc = 1;
  }
  bpf_object__close(obj);
  return rc;
}

}  // namespace

int main(int argc, char **argv) {
  if (argc == 4 && std::strcmp(argv[1], "--verify") == 0) {
    libbpf_set_print(libbpf_quiet);
    return verify(argv[2], std::strtoul(argv[3], nullptr, 0));
  }
  if (argc < 5) die("usage: %s OBJ fp|auto|dwarf FUNC [options] -- TARGET [ARGS...]", argv[0]);
  std::string obj_path = argv[1], mode_name = argv[2], func = argv[3];
  uint32_t flags = GT_UNWIND_AT_ENTRY;
  if (mode_name == "fp") flags |= GT_UNWIND_FP;
  else if (mode_name == "dwarf") flags |= GT_UNWIND_DWARF;
  else if (mode_name != "auto") die("bad mode %s", mode_name.c_str());

  struct ModuleArg {
    std::string path, rows;
    bool fp;
  };
  std::vector<ModuleArg> modules;
  bool tracepoint = false, perf = false, bench = false, vmas = false;
  int i = 4;
  for (; i < argc && std::strcmp(argv[i], "--") != 0; i++) {
    std::string a = argv[i];
    if (a == "--tracepoint") {
      tracepoint = true;
    } else if (a == "--perf") {
      perf = true;
    } else if (a == "--bench") {
      bench = true;
    } else if (a == "--vmas") {
      vmas = true;
    } else if (a == "--no-entry") {
      flags &= ~GT_UNWIND_AT_ENTRY;
    } else if ((a == "--table" || a == "--module") && i + 1 < argc) {
      std::string v = argv[++i];
      ModuleArg m{};
      if (v.size() > 3 && v.compare(v.size() - 3, 3, ":fp") == 0) {
        m.fp = true;
        v.resize(v.size() - 3);
      }
      if (a == "--table") {
        size_t eq = v.find('=');
        if (eq == std::string::npos) die("--table FILE=ROWS[:fp]");
        m.rows = v.substr(eq + 1);
        v.resize(eq);
      }
      m.path = v;
      modules.push_back(m);
    } else {
      die("unknown option %s", a.c_str());
    }
  }
  if (i + 1 >= argc) die("no target after --");
  if (tracepoint + perf + bench > 1) die("--tracepoint, --perf and --bench exclude each other");
  unsigned long hz = 0, warmup_ms = 0, run_ms = 0;
  if (perf) {
    if (std::sscanf(func.c_str(), "%lu:%lu:%lu", &hz, &warmup_ms, &run_ms) != 3 || !hz)
      die("--perf: FUNC is HZ:WARMUP_MS:RUN_MS");
    flags &= ~GT_UNWIND_AT_ENTRY;
  }
  char **target_argv = argv + i + 1;

  libbpf_set_print(libbpf_quiet);
  elf_version(EV_CURRENT);
  bpf_object *obj = bpf_object__open_file(obj_path.c_str(), nullptr);
  if (!obj) die("open %s: %s", obj_path.c_str(), strerror(errno));
  if (bpf_object__load(obj) != 0) die("load %s: %s", obj_path.c_str(), strerror(errno));

  uint32_t zero = 0;
  for (const ModuleArg &m : modules)
    add_module(obj, m.path, m.rows.empty() ? std::vector<gt_unwind_row>{} : read_rows(m.rows), m.fp);

  // The child waits on a pipe until the uprobe is attached for its pid.
  int go[2];
  if (pipe(go) != 0) die("pipe: %s", strerror(errno));
  pid_t child = fork();
  if (child < 0) die("fork: %s", strerror(errno));
  if (child == 0) {
    close(go[1]);
    char c;
    if (read(go[0], &c, 1) != 1) _exit(127);
    close(go[0]);
    int null = open("/dev/null", O_WRONLY);
    if (null >= 0) dup2(null, STDOUT_FILENO);
    execv(target_argv[0], target_argv);
    _exit(127);
  }
  close(go[0]);

  HarnessCfg cfg{flags, perf || bench ? 0u : uint32_t(SIGSTOP), uint32_t(child), 0};
  if (bpf_map_update_elem(bpf_object__find_map_fd_by_name(obj, "gt_harness_cfg"), &zero, &cfg, BPF_ANY))
    die("gt_harness_cfg: %s", strerror(errno));
  bpf_link *link;
  int stats_fd = -1;
  if (perf) {
    perf_event_attr attr{};
    attr.size = sizeof attr;
    attr.type = PERF_TYPE_SOFTWARE;
    attr.config = PERF_COUNT_SW_CPU_CLOCK;
    attr.freq = 1;
    attr.sample_freq = hz;
    int pfd = int(syscall(SYS_perf_event_open, &attr, child, -1, -1, PERF_FLAG_FD_CLOEXEC));
    if (pfd < 0) {
      kill(child, SIGKILL);
      die("perf_event_open: %s", strerror(errno));
    }
    link = bpf_program__attach_perf_event(bpf_object__find_program_by_name(obj, "gt_harness_perf_event"), pfd);
  } else if (tracepoint) {
    size_t colon = func.find(':');
    if (colon == std::string::npos) die("--tracepoint: FUNC is CATEGORY:NAME");
    link = bpf_program__attach_tracepoint(bpf_object__find_program_by_name(obj, "gt_harness_tracepoint"),
                                          func.substr(0, colon).c_str(), func.substr(colon + 1).c_str());
  } else {
    LIBBPF_OPTS(bpf_uprobe_opts, uopts, .func_name = func.c_str());
    link = bpf_program__attach_uprobe_opts(bpf_object__find_program_by_name(obj, "gt_harness_uprobe"), child,
                                           target_argv[0], 0, &uopts);
  }
  if (!link) {
    kill(child, SIGKILL);
    die("attach %s: %s", func.c_str(), strerror(errno));
  }
  if (bench) {
    stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
    if (stats_fd < 0) die("bpf_enable_stats: %s", strerror(errno));
  }
  if (write(go[1], "x", 1) != 1) die("pipe write: %s", strerror(errno));
  close(go[1]);

  int status = 0;
  if (perf || bench) {
    std::map<uint64_t, uint64_t> before;
    std::vector<Mapping> maps;
    if (perf) {
      std::this_thread::sleep_for(std::chrono::milliseconds(warmup_ms));
      before = read_counts(obj);
      std::this_thread::sleep_for(std::chrono::milliseconds(run_ms));
      if (waitpid(child, &status, WNOHANG) != 0) die("the target ended (status 0x%x) while sampled", status);
      maps = read_maps(child);
    } else {
      if (waitpid(child, &status, 0) != child) die("waitpid: %s", strerror(errno));
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) die("the target failed (status 0x%x)", status);
    }
    // Symbolizing needs the live process: --bench only counts.
    report_samples(obj, before, read_counts(obj), maps);
    if (bench) {
      HarnessOut out{};
      bpf_map_lookup_elem(bpf_object__find_map_fd_by_name(obj, "gt_harness_out"), &zero, &out);
      uint64_t ns = 0, runs = 0;
      for (const char *name : {"gt_harness_uprobe", "gt_harness_stage", "gt_harness_body"}) {
        bpf_prog_info info{};
        uint32_t len = sizeof info;
        if (bpf_obj_get_info_by_fd(bpf_program__fd(bpf_object__find_program_by_name(obj, name)), &info, &len))
          die("prog info: %s", strerror(errno));
        ns += info.run_time_ns;
        runs += info.run_cnt;
      }
      std::printf("events: %lu\n", (unsigned long)out.events);
      std::printf("programs run: %lu\n", (unsigned long)runs);
      std::printf("ns/event: %lu\n", (unsigned long)(out.events ? ns / out.events : 0));
      close(stats_fd);
    }
    if (vmas) {
      if (perf)
        report_vmas(obj, child, maps);
      else
        std::printf("--vmas: the target has exited\n");
    }
    kill(child, SIGKILL);
    waitpid(child, &status, 0);
    bpf_link__destroy(link);
    bpf_object__close(obj);
    return 0;
  }

  if (waitpid(child, &status, WUNTRACED) != child) die("waitpid: %s", strerror(errno));
  if (!WIFSTOPPED(status)) die("the target ended (status 0x%x) without hitting %s", status, func.c_str());

  HarnessOut out{};
  bpf_map_lookup_elem(bpf_object__find_map_fd_by_name(obj, "gt_harness_out"), &zero, &out);
  std::printf("events: %lu\n", (unsigned long)out.events);
  std::vector<Mapping> maps = read_maps(child);
  if (out.id == 0) {
    std::printf("no stack\n");
  } else {
    gt_ustack stack{};
    if (bpf_map_lookup_elem(bpf_object__find_map_fd_by_name(obj, "gt_ustacks"), &out.id, &stack) != 0)
      die("gt_ustacks[%lx]: %s", (unsigned long)out.id, strerror(errno));
    std::printf("frames: %u\n", stack.len);
    std::map<std::string, std::unique_ptr<Symbols>> cache;
    for (uint32_t f = 0; f < stack.len && f < GT_UNWIND_MAX_FRAMES; f++)
      std::printf("#%u %s\n", f, symbolize(stack.frames[f], maps, cache).c_str());
    std::printf("stop: %s\n", stop_name(stack.stop));
    // Frames past len must be zero (no stale data from earlier unwinds).
    for (uint32_t f = stack.len; f < GT_UNWIND_MAX_FRAMES; f++)
      if (stack.frames[f]) std::printf("stale frame %u\n", f);
  }

  RequestCtx rc{child, &maps};
  ring_buffer *rb = ring_buffer__new(bpf_object__find_map_fd_by_name(obj, "gt_unwind_requests"),
                                     on_request, &rc, nullptr);
  if (!rb) die("ring buffer: %s", strerror(errno));
  ring_buffer__consume(rb);
  ring_buffer__free(rb);
  if (vmas) report_vmas(obj, child, maps);

  kill(child, SIGKILL);
  waitpid(child, &status, 0);
  bpf_link__destroy(link);
  bpf_object__close(obj);
  return 0;
}
