// Runs the unwinder harness (test/stdlib/unwind_harness.bpf.c) on a live
// process and prints the stack it recorded, symbolized:
//
//   gt_unwind_loader OBJ MODE FUNC [--tracepoint] [--no-entry] [--table FILE=ROWS[:fp]]...
//                    [--module FILE:fp]... -- TARGET [ARGS...]
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
#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
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
                                      "unsupported", "read-error", "no-module", "no-mapping"};
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
  bool tracepoint = false;
  int i = 4;
  for (; i < argc && std::strcmp(argv[i], "--") != 0; i++) {
    std::string a = argv[i];
    if (a == "--tracepoint") {
      tracepoint = true;
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

  HarnessCfg cfg{flags, SIGSTOP, uint32_t(child), 0};
  if (bpf_map_update_elem(bpf_object__find_map_fd_by_name(obj, "gt_harness_cfg"), &zero, &cfg, BPF_ANY))
    die("gt_harness_cfg: %s", strerror(errno));
  bpf_link *link;
  if (tracepoint) {
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
  if (write(go[1], "x", 1) != 1) die("pipe write: %s", strerror(errno));
  close(go[1]);

  int status = 0;
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

  kill(child, SIGKILL);
  waitpid(child, &status, 0);
  bpf_link__destroy(link);
  bpf_object__close(obj);
  return 0;
}
