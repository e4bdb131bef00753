// Load, attach, read events, print maps: gt::rt::run().
#include <algorithm>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <cerrno>
#include <csignal>
#include <cstdarg>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <set>
#include <linux/perf_event.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <system_error>
#include <thread>
#include <vector>

#include "runtime/format.h"
#include "runtime/internal.h"
#include "runtime/map_printer.h"
#include "runtime/ring_reader.h"
#include "runtime/runtime.h"
#include "runtime/symbolizer.h"
#include "runtime/tracefs.h"
#include "runtime/unwind/unwind_tables.h"
#include "runtime/verifier_log.h"

namespace gt::rt {

namespace {

using meta::ProbeKind;

volatile sig_atomic_t g_stop = 0;

void on_signal(int) { g_stop = 1; }

// libbpf's own messages: the last warning is kept for error messages; all
// of them go to stderr when GT_LIBBPF_DEBUG is set.
std::string g_libbpf_last_warning;
bool g_libbpf_debug = false;
// From "prog 'NAME': BPF program load failed: REASON": the program libbpf
// could not load and why (libbpf unloads every program on failure, so the
// fds do not tell which one it was).
std::string g_failed_prog, g_failed_reason;

int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap) {
  if (g_libbpf_debug)
    return vfprintf(stderr, fmt, ap);
  if (level == LIBBPF_WARN) {
    char buf[512];
    vsnprintf(buf, sizeof buf, fmt, ap);
    std::string s = buf;
    while (!s.empty() && s.back() == '\n')
      s.pop_back();
    if (s.rfind("libbpf: ", 0) == 0)
      s = s.substr(8);
    g_libbpf_last_warning = s;
    const std::string marker = "': BPF program load failed: ";
    size_t m = s.find(marker);
    if (s.rfind("prog '", 0) == 0 && m != std::string::npos) {
      g_failed_prog = s.substr(6, m - 6);
      g_failed_reason = s.substr(m + marker.size());
    }
  }
  return 0;
}

std::string errstr(int err) {
  if (err < 0)
    err = -err;
  return strerror(err);
}

// The CPUs listed in a sysfs cpu list ("0-3,5").
std::vector<int> online_cpus() {
  std::vector<int> cpus;
  std::ifstream in("/sys/devices/system/cpu/online");
  std::string s;
  if (!(in >> s)) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    for (long i = 0; i < n; i++)
      cpus.push_back(int(i));
    return cpus;
  }
  size_t pos = 0;
  while (pos < s.size()) {
    size_t comma = s.find(',', pos);
    std::string part = s.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    size_t dash = part.find('-');
    int lo = atoi(part.c_str());
    int hi = dash == std::string::npos ? lo : atoi(part.c_str() + dash + 1);
    for (int c = lo; c <= hi; c++)
      cpus.push_back(c);
    if (comma == std::string::npos)
      break;
    pos = comma + 1;
  }
  return cpus;
}

int perf_event_open(struct perf_event_attr *attr, pid_t pid, int cpu) {
  return int(syscall(SYS_perf_event_open, attr, pid, cpu, -1, PERF_FLAG_FD_CLOEXEC));
}

bool is_percpu(enum bpf_map_type t) {
  return t == BPF_MAP_TYPE_PERCPU_HASH || t == BPF_MAP_TYPE_PERCPU_ARRAY ||
         t == BPF_MAP_TYPE_LRU_PERCPU_HASH;
}

class Session {
public:
  Session(const Object &obj, const RunOptions &opts) : obj_(obj), prog_(obj.program()), opts_(opts) {}
  ~Session();
  int run();

  int handle_event(const uint8_t *data, size_t size);

private:
  void open();
  void configure();
  void load();
  void dump_verifier_logs();
  [[noreturn]] void load_failed(int err);
  void setup_events();
  void run_once(const meta::Probe *probe);
  void attach(const meta::Probe &p);
  void attach_uprobe(const meta::Probe &p, bpf_program *prog);
  void attach_perf(const meta::Probe &p, bpf_program *prog, bool every_cpu);
  void attach_perf_events(bpf_program *prog, const meta::Probe &p, perf_event_attr &attr, pid_t pid,
                          const std::vector<int> &cpus);
  void attach_kprobe(const meta::Probe &p, bpf_program *prog);
  void attach_software(const meta::Probe &p, bpf_program *prog);
  void attach_usdt(const meta::Probe &p, bpf_program *prog);
  std::string binary_path(const meta::Probe &p);
  void detach_all();
  size_t drain(bool all = false);
  void flush_pending();
  void check_lost(bool final);
  void print_maps();
  // The entries of a user map as the printers take them.
  bool read_map(const meta::Map &m, meta::Map &mm, std::vector<RawEntry> &entries);
  void print_one_map(const meta::Map &m, std::string &out, const PrintLimits &limits = {});
  void clear_map(const meta::Map &m, bool zero);
  void emit_json(const char *type, const std::string &data_json);
  void run_system(const std::string &cmd);
  void cat_file(const std::string &path);
  const meta::Map *map_at(uint32_t id) { return id < prog_.maps.size() ? &prog_.maps[id] : nullptr; }
  void print_lost_summary();
  void print_problem_summary();
  void setup_unwinder();
  void serve_unwind_requests();
  void service_child();
  void report_unwind_warnings();
  void read_counters(int fd, std::vector<uint64_t> &sums);
  std::string probe_spec(size_t index) const;
  bpf_program *program_for(const meta::Probe &p);
  std::string attach_error(const meta::Probe &p, const std::string &why) {
    return "cannot attach probe " + p.spec + ": " + why;
  }

  const Object &obj_;
  const meta::Program &prog_;
  RunOptions opts_;
  FILE *out_ = stdout;
  bpf_object *bpf_ = nullptr;
  char *log_buf_ = nullptr;  // shared log buffer for rejected programs
  size_t log_size_ = 0;
  std::vector<char *> dump_bufs_;
  std::vector<bpf_link *> links_;
  RingReader ring_;
  int lost_fd_ = -1;
  int ncpus_ = 1;
  std::vector<uint64_t> lost_;
  uint64_t lost_total_ = 0;
  std::vector<PrintfFormatter> printfs_;
  std::string pending_;  // formatted events not yet written to out_
  std::unique_ptr<SessionSymbolizer> sym_;
  std::unique_ptr<unwind::UnwindMaps> unwind_;
  ring_buffer *unwind_requests_ = nullptr;
  bool child_traced_ = false;  // hold_child_exit: seized, exit not seen yet
  bool uses_usym_ = false;  // refresh the watched process's mappings while it runs
  std::string fatal_;       // an event that stops the run with this error
  int64_t last_refresh_ms_ = 0;
  bool exit_ = false;
  int pidfd_ = -1;
};

Session::~Session() {
  if (unwind_requests_)
    ring_buffer__free(unwind_requests_);
  detach_all();
  if (bpf_)
    bpf_object__close(bpf_);
  free(log_buf_);
  for (char *b : dump_bufs_)
    free(b);
  if (pidfd_ >= 0)
    close(pidfd_);
}

void Session::open() {
  g_libbpf_debug = getenv("GT_LIBBPF_DEBUG") != nullptr;
  g_failed_prog.clear();
  g_failed_reason.clear();
  libbpf_set_print(libbpf_print);
  LIBBPF_OPTS(bpf_object_open_opts, oo);
  std::string name = obj_.name();
  size_t slash = name.rfind('/');
  if (slash != std::string::npos)
    name = name.substr(slash + 1);
  oo.object_name = name.c_str();
  bpf_ = bpf_object__open_mem(obj_.data(), obj_.size(), &oo);
  if (!bpf_)
    throw Error("cannot open BPF object '" + obj_.name() + "': " +
                (g_libbpf_last_warning.empty() ? errstr(errno) : g_libbpf_last_warning));
  for (const auto &p : prog_.probes)
    if (!bpf_object__find_program_by_name(bpf_, p.prog_name.c_str()))
      throw Error("'" + obj_.name() + "' has no BPF program '" + p.prog_name + "' for probe " +
                  p.spec);
}

void Session::configure() {
  bpf_map *rodata = bpf_object__find_map_by_name(bpf_, meta::kConfigSection);
  if (rodata) {
    size_t size = 0;
    const void *init = bpf_map__initial_value(rodata, &size);
    if (init && size >= 8) {
      std::vector<char> v(static_cast<const char *>(init), static_cast<const char *>(init) + size);
      meta::Config cfg;
      cfg.target_pid = opts_.target_pid;
      cfg.unwind_mode = opts_.unwind_mode;
      struct timespec ts;
      clock_gettime(CLOCK_MONOTONIC, &ts);  // bpf_ktime_get_ns()'s clock
      cfg.start_ns = uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
      memcpy(v.data(), &cfg, std::min(size, sizeof cfg));
      int err = bpf_map__set_initial_value(rodata, v.data(), v.size());
      if (err)
        throw Error("cannot set the program configuration: " + errstr(err));
    }
  }
  // Logs: a program the verifier rejects is loaded again by libbpf at log
  // level 1 into this buffer (the kernel keeps the end of the log when it
  // is too long). Untouched pages cost nothing.
  log_size_ = 4 << 20;
  log_buf_ = static_cast<char *>(malloc(log_size_));
  bpf_program *p;
  bpf_object__for_each_program(p, bpf_) {
    if (opts_.dump_verifier) {
      size_t sz = 64 << 20;
      char *b = static_cast<char *>(malloc(sz));
      if (b) {
        b[0] = 0;
        dump_bufs_.push_back(b);
        bpf_program__set_log_buf(p, b, sz);
        bpf_program__set_log_level(p, 2);
      }
    } else if (log_buf_) {
      bpf_program__set_log_buf(p, log_buf_, log_size_);
    }
  }
  if (log_buf_)
    log_buf_[0] = 0;
}

bpf_program *Session::program_for(const meta::Probe &p) {
  bpf_program *prog = bpf_object__find_program_by_name(bpf_, p.prog_name.c_str());
  if (!prog)
    throw Error("no BPF program '" + p.prog_name + "' for probe " + p.spec);
  return prog;
}

void Session::load_failed(int err) {
  // The first program (in load order) without an fd is the one that failed.
  bpf_program *failed = nullptr;
  bpf_program *p;
  if (!g_failed_prog.empty())
    failed = bpf_object__find_program_by_name(bpf_, g_failed_prog.c_str());
  if (!failed) {
    bpf_object__for_each_program(p, bpf_) {
      if (bpf_program__autoload(p) && bpf_program__fd(p) < 0) {
        failed = p;
        break;
      }
    }
  }
  std::string log;
  if (failed) {
    size_t sz = 0;
    const char *b = bpf_program__log_buf(failed, &sz);
    if (b)
      log.assign(b, strnlen(b, sz));
  }
  if (failed && log.empty() && bpf_program__type(failed) == BPF_PROG_TYPE_TRACING) {
    // fentry/fexit: the kernel refuses the program before verifying it
    // when it cannot attach BPF trampolines (no ftrace function tracer).
    std::string name = bpf_program__name(failed);
    std::string spec = "program " + name;
    for (const auto &pr : prog_.probes)
      if (pr.prog_name == name)
        spec = pr.spec;
    std::string terr;
    std::string root = gt::tracefs::root(terr);
    bool no_ftrace = !root.empty() && access((root + "/available_filter_functions").c_str(), F_OK) != 0;
    std::string why = g_failed_reason.empty() ? errstr(err) : g_failed_reason;
    throw Error("this kernel has no BPF trampolines" +
                std::string(no_ftrace ? " (no ftrace function tracer, CONFIG_FUNCTION_TRACER)"
                                      : " for fentry/fexit (ftrace direct calls)") +
                ": cannot load " + spec + ": " + why);
  }
  if (!failed || log.empty())
    throw Error("cannot load the BPF programs of '" + obj_.name() + "': " +
                (g_libbpf_last_warning.empty() ? errstr(err) : g_libbpf_last_warning));
  std::string name = bpf_program__name(failed);
  std::string spec = "program " + name;
  for (const auto &pr : prog_.probes)
    if (pr.prog_name == name) {
      spec = pr.spec;
      break;
    }
  if (opts_.dump_verifier)
    fprintf(stderr, "--- verifier log: %s (BPF program %s) ---\n%s\n", spec.c_str(),
            name.c_str(), log.c_str());
  VerifierDiagnosis d = diagnose_verifier_log(log);
  std::string msg = "the kernel verifier rejected probe " + spec;
  if (!d.reason.empty())
    msg += ": " + d.reason;
  if (!d.location.empty())
    msg += "\n" + d.location;
  throw Error(msg);
}

void Session::load() {
  int err = bpf_object__load(bpf_);
  if (err)
    load_failed(err);
  if (opts_.dump_verifier)
    dump_verifier_logs();
}

void Session::dump_verifier_logs() {
  bpf_program *p;
  bpf_object__for_each_program(p, bpf_) {
    std::string name = bpf_program__name(p);
    std::string spec = "program " + name;
    for (const auto &pr : prog_.probes)
      if (pr.prog_name == name) {
        spec = pr.spec;
        break;
      }
    size_t sz = 0;
    const char *b = bpf_program__log_buf(p, &sz);
    fprintf(stderr, "--- verifier log: %s (BPF program %s) ---\n%s\n", spec.c_str(),
            name.c_str(), b ? b : "");
  }
  fflush(stderr);
}

void Session::setup_events() {
  int n = libbpf_num_possible_cpus();
  ncpus_ = n > 0 ? n : 1;
  for (const auto &f : prog_.printfs)
    printfs_.emplace_back(f);
  int stacks_fd = -1;
  uint32_t stack_bytes = 127 * 8;
  if (bpf_map *m = bpf_object__find_map_by_name(bpf_, "gt_stacks")) {
    stacks_fd = bpf_map__fd(m);
    stack_bytes = bpf_map__value_size(m);
  }
  int ustacks_fd = -1;
  if (prog_.bpf_unwinder)
    if (bpf_map *m = bpf_object__find_map_by_name(bpf_, "gt_ustacks"))
      ustacks_fd = bpf_map__fd(m);
  sym_ = std::make_unique<SessionSymbolizer>(stacks_fd, stack_bytes, ustacks_fd);
  sym_->set_stack_lines(opts_.stack_lines);
  std::function<bool(const meta::Type &)> has_usym = [&](const meta::Type &t) {
    if (t.kind == meta::Type::Kind::Usym || t.kind == meta::Type::Kind::Ustack)
      return true;
    for (const auto &e : t.elems)
      if (has_usym(e))
        return true;
    return false;
  };
  for (const auto &f : prog_.printfs)
    for (const auto &t : f.args)
      uses_usym_ = uses_usym_ || has_usym(t);
  for (const auto &m : prog_.maps)
    uses_usym_ = uses_usym_ || has_usym(m.key) || has_usym(m.value);
  for (const auto &v : prog_.print_values)
    uses_usym_ = uses_usym_ || has_usym(v.type);
  if (bpf_map *m = bpf_object__find_map_by_name(bpf_, meta::kEventsMap)) {
    std::string err;
    if (!ring_.open(bpf_map__fd(m), bpf_map__max_entries(m), err))
      throw Error(err);
  }
  if (bpf_map *m = bpf_object__find_map_by_name(bpf_, meta::kLostMap)) {
    lost_fd_ = bpf_map__fd(m);
    size_t slots = std::min<size_t>(prog_.probes.size(), bpf_map__max_entries(m));
    lost_.assign(slots, 0);
  }
}

// Tail-call slots, and for the BPF unwinder the unwind tables of every module
// the traced code can run in that are known before attaching: the probed
// binaries, the -c command, the -p process, each with its libraries. Modules
// met later (dlopen) are requested by BPF through gt_unwind_requests.
void Session::setup_unwinder() {
  for (const auto &t : prog_.tail_calls) {
    bpf_map *m = bpf_object__find_map_by_name(bpf_, t.map.c_str());
    bpf_program *p = bpf_object__find_program_by_name(bpf_, t.prog.c_str());
    if (!m || !p)
      throw Error("'" + obj_.name() + "' has no " + (m ? "program '" + t.prog : "map '" + t.map) +
                  "' for a tail call");
    int fd = bpf_program__fd(p);
    uint32_t index = t.index;
    if (bpf_map_update_elem(bpf_map__fd(m), &index, &fd, BPF_ANY) != 0)
      throw Error("cannot fill tail call slot " + std::to_string(index) + " of " + t.map + ": " +
                  errstr(errno));
  }
  if (!prog_.bpf_unwinder)
    return;
  bpf_map *modules = bpf_object__find_map_by_name(bpf_, "gt_unwind_modules");
  bpf_map *rows = bpf_object__find_map_by_name(bpf_, "gt_unwind_rows");
  bpf_map *requests = bpf_object__find_map_by_name(bpf_, "gt_unwind_requests");
  if (!modules || !rows || !requests)
    throw Error("'" + obj_.name() + "' uses the BPF unwinder but lacks its maps");
  unwind_ = std::make_unique<unwind::UnwindMaps>(bpf_map__fd(modules), bpf_map__fd(rows),
                                                 int(opts_.unwind_mode));
  std::set<std::string> binaries;
  for (const auto &p : prog_.probes)
    if (!p.binary.empty())
      binaries.insert(binary_path(p));
  for (const auto &b : binaries)
    unwind_->load_command(b);
  if (!opts_.command_path.empty())
    unwind_->load_command(opts_.command_path);
  else if (opts_.target_pid)
    unwind_->load_process(int(opts_.target_pid));
  unwind_requests_ = ring_buffer__new(
      bpf_map__fd(requests),
      [](void *ctx, void *data, size_t size) {
        if (size >= sizeof(gt_unwind_request))
          static_cast<Session *>(ctx)->unwind_->handle_request(
              *static_cast<const gt_unwind_request *>(data));
        return 0;
      },
      this, nullptr);
  if (!unwind_requests_)
    throw Error("cannot read gt_unwind_requests: " + errstr(errno));
  report_unwind_warnings();
}

// The -c child's ptrace stops: at its exit, read its mappings one last time
// and let it go; pass every signal on, and leave group stops in place.
void Session::service_child() {
  while (child_traced_) {
    int status;
    pid_t r = waitpid(opts_.watch_pid, &status, WNOHANG | __WALL);
    if (r <= 0 || WIFEXITED(status) || WIFSIGNALED(status)) {
      child_traced_ = r == 0;
      return;
    }
    if (!WIFSTOPPED(status))
      continue;
    int sig = WSTOPSIG(status);
    int event = status >> 16;
    if (event == PTRACE_EVENT_EXIT) {
      sym_->refresh(uint32_t(opts_.watch_pid));
      ptrace(PTRACE_DETACH, opts_.watch_pid, nullptr, nullptr);
      child_traced_ = false;
    } else if (event == PTRACE_EVENT_STOP) {
      bool group_stop = sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
      ptrace(group_stop ? PTRACE_LISTEN : PTRACE_CONT, opts_.watch_pid, nullptr, nullptr);
    } else {
      ptrace(PTRACE_CONT, opts_.watch_pid, nullptr, (void *)(long)sig);
    }
  }
}

void Session::serve_unwind_requests() {
  if (!unwind_requests_)
    return;
  ring_buffer__consume(unwind_requests_);
  report_unwind_warnings();
}

void Session::report_unwind_warnings() {
  for (const auto &w : unwind_->warnings())
    fprintf(stderr, "WARNING: %s\n", w.c_str());
  fflush(stderr);
}

void Session::emit_json(const char *type, const std::string &data_json) {
  pending_ += "{\"type\": \"";
  pending_ += type;
  pending_ += "\", \"data\": ";
  pending_ += data_json;
  pending_ += "}\n";
}

int Session::handle_event(const uint8_t *data, size_t size) {
  if (size < 8 || !fatal_.empty())
    return 0;
  uint32_t kind, id;
  memcpy(&kind, data, 4);
  memcpy(&id, data + 4, 4);
  const uint8_t *payload = data + 8;
  size_t psize = size - 8;
  switch (kind) {
  case meta::kEventPrintf:
    if (id < printfs_.size()) {
      if (opts_.json) {
        emit_json("printf", json_string(printfs_[id].format(payload, psize, sym_.get())));
      } else {
        printfs_[id].format(payload, psize, pending_, sym_.get());
      }
    }
    break;
  case meta::kEventExit:
    exit_ = true;
    break;
  case meta::kEventPrintMap:
    if (const meta::Map *m = map_at(id))
      print_one_map(*m, pending_);
    break;
  case meta::kEventPrintMapLimited:
    if (id < prog_.map_prints.size())
      if (const meta::Map *m = map_at(prog_.map_prints[id].map))
        print_one_map(*m, pending_, {prog_.map_prints[id].top, prog_.map_prints[id].div});
    break;
  case meta::kEventClearMap:
  case meta::kEventZeroMap:
    if (const meta::Map *m = map_at(id))
      clear_map(*m, kind == meta::kEventZeroMap);
    break;
  case meta::kEventTime:
    if (id < prog_.time_formats.size()) {
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      std::string t = format_wall_time(prog_.time_formats[id],
                                       int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec);
      if (opts_.json)
        emit_json("time", json_string(t));
      else
        pending_ += t;
    }
    break;
  case meta::kEventSystem:
    if (id < printfs_.size()) {
      if (!opts_.unsafe) {
        fatal_ = "system() needs --unsafe: the program wants to run '" +
                 printfs_[id].format(payload, psize, sym_.get()) + "'";
        exit_ = true;
        break;
      }
      run_system(printfs_[id].format(payload, psize, sym_.get()));
    }
    break;
  case meta::kEventCat:
    if (id < printfs_.size())
      cat_file(printfs_[id].format(payload, psize, sym_.get()));
    break;
  case meta::kEventPrintValue:
    if (id < prog_.print_values.size()) {
      const meta::Type &t = prog_.print_values[id].type;
      if (t.size > psize)
        break;
      if (opts_.json) {
        emit_json("value", value_to_json(t, payload, sym_.get()));
      } else {
        pending_ += value_to_string(t, payload, sym_.get());
        pending_ += "\n";
      }
    }
    break;
  case meta::kEventJoin:
    if (id < prog_.joins.size()) {
      const meta::Join &j = prog_.joins[id];
      std::string text;
      for (uint32_t i = 0; i < j.count && size_t(i + 1) * j.size <= psize; i++) {
        std::string part = read_str(payload + size_t(i) * j.size, j.size);
        if (part.empty())
          break;
        if (i)
          text += j.separator;
        text += part;
      }
      if (opts_.json) {
        emit_json("join", json_string(text));
      } else {
        pending_ += text;
        pending_ += "\n";
      }
    }
    break;
  default:
    break;
  }
  if (pending_.size() >= (1 << 16))
    flush_pending();
  return 0;
}

void Session::run_system(const std::string &cmd) {
  // The command's output goes where ours goes, in order with the rest.
  flush_pending();
  fflush(out_);
  std::string output;
  FILE *p = popen(cmd.c_str(), "r");
  if (!p) {
    fprintf(stderr, "ERROR: cannot run '%s': %s\n", cmd.c_str(), strerror(errno));
    return;
  }
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0)
    output.append(buf, n);
  pclose(p);
  if (opts_.json)
    emit_json("syscall", json_string(output));
  else
    pending_ += output;
}

void Session::cat_file(const std::string &path) {
  // bpftrace 0.17 prints at most 10240 bytes of the file.
  constexpr size_t kMax = 10240;
  std::string content;
  FILE *f = fopen(path.c_str(), "r");
  if (!f) {
    int e = errno;
    flush_pending();
    fflush(out_);
    fprintf(stderr, "ERROR: failed to open file '%s': %s\n", path.c_str(), strerror(e));
    fflush(stderr);
  } else {
    char buf[4096];
    size_t n;
    while (content.size() < kMax &&
           (n = fread(buf, 1, std::min(sizeof buf, kMax - content.size()), f)) > 0)
      content.append(buf, n);
    fclose(f);
  }
  if (opts_.json)
    emit_json("cat", json_string(content));
  else
    pending_ += content;
}

bool Session::read_map(const meta::Map &m, meta::Map &mm, std::vector<RawEntry> &entries) {
  bpf_map *bm = bpf_object__find_map_by_name(bpf_, m.bpf_name.c_str());
  if (!bm) {
    fprintf(stderr, "WARNING: no BPF map '%s' for %s\n", m.bpf_name.c_str(), m.name.c_str());
    return false;
  }
  int fd = bpf_map__fd(bm);
  uint32_t ksz = bpf_map__key_size(bm), vsz = bpf_map__value_size(bm);
  bool percpu = is_percpu(bpf_map__type(bm));
  size_t value_bytes = percpu ? size_t((vsz + 7) / 8 * 8) * ncpus_ : vsz;
  std::vector<uint8_t> key(ksz), next(ksz);
  bool first = true;
  while (bpf_map_get_next_key(fd, first ? nullptr : key.data(), next.data()) == 0) {
    first = false;
    RawEntry e;
    e.key = next;
    e.value.resize(value_bytes);
    if (bpf_map_lookup_elem(fd, next.data(), e.value.data()) == 0)
      entries.push_back(std::move(e));
    key.swap(next);
  }
  mm = m;
  mm.per_cpu = percpu;
  mm.value_size = vsz;
  return true;
}

void Session::print_one_map(const meta::Map &m, std::string &out, const PrintLimits &limits) {
  meta::Map mm;
  std::vector<RawEntry> entries;
  if (!read_map(m, mm, entries))
    return;
  if (opts_.json)
    print_map_json(mm, entries, unsigned(ncpus_), out, sym_.get(), limits);
  else
    print_map(mm, entries, unsigned(ncpus_), out, sym_.get(), limits);
}

// clear(): delete every element (an array map cannot delete: zeroed);
// zero(): every value set to 0, keys kept. min()/max() values become a
// valid 0, as bpftrace 0.17 prints them after zero().
void Session::clear_map(const meta::Map &m, bool zero) {
  bpf_map *bm = bpf_object__find_map_by_name(bpf_, m.bpf_name.c_str());
  if (!bm)
    return;
  int fd = bpf_map__fd(bm);
  uint32_t ksz = bpf_map__key_size(bm), vsz = bpf_map__value_size(bm);
  enum bpf_map_type type = bpf_map__type(bm);
  bool percpu = is_percpu(type);
  bool array = type == BPF_MAP_TYPE_ARRAY || type == BPF_MAP_TYPE_PERCPU_ARRAY;
  size_t stride = percpu ? size_t((vsz + 7) / 8 * 8) : vsz;
  std::vector<uint8_t> zeros(percpu ? stride * ncpus_ : vsz, 0);
  if (zero && (m.kind == meta::MapKind::Min || m.kind == meta::MapKind::Max) && vsz >= 16) {
    uint64_t one = 1;
    memcpy(zeros.data() + 8, &one, 8);
  }
  std::vector<std::vector<uint8_t>> keys;
  std::vector<uint8_t> key(ksz), next(ksz);
  bool first = true;
  while (bpf_map_get_next_key(fd, first ? nullptr : key.data(), next.data()) == 0) {
    first = false;
    keys.push_back(next);
    key.swap(next);
  }
  for (auto &k : keys) {
    if (zero || array)
      bpf_map_update_elem(fd, k.data(), zeros.data(), BPF_EXIST);
    else
      bpf_map_delete_elem(fd, k.data());
  }
}

void Session::flush_pending() {
  if (!pending_.empty())
    fwrite(pending_.data(), 1, pending_.size(), out_);
  pending_.clear();
}

// Consumes at most kDrainBatch records (so that a flood of events cannot
// keep us from noticing a signal), or everything with `all`.
size_t Session::drain(bool all) {
  if (!ring_.is_open())
    return 0;
  constexpr size_t kDrainBatch = 1 << 16;
  size_t total = 0, n;
  do {
    n = ring_.consume([this](const uint8_t *d, uint32_t size) { handle_event(d, size); },
                      kDrainBatch);
    total += n;
  } while (all && n == kDrainBatch && fatal_.empty());
  flush_pending();
  fflush(out_);
  if (!fatal_.empty())
    throw Error(fatal_);
  return total;
}

// Per-probe counters kept in a PERCPU_ARRAY (one u64 slot per probe), summed over CPUs.
void Session::read_counters(int fd, std::vector<uint64_t> &sums) {
  std::vector<uint64_t> buf(static_cast<size_t>(ncpus_));  // one u64 per CPU
  for (uint32_t i = 0; i < sums.size(); i++) {
    if (bpf_map_lookup_elem(fd, &i, buf.data()) != 0)
      continue;
    uint64_t sum = 0;
    for (uint64_t v : buf)
      sum += v;
    sums[i] = sum;
  }
}

std::string Session::probe_spec(size_t index) const {
  for (const auto &p : prog_.probes)
    if (p.index == index)
      return p.spec;
  return "probe #" + std::to_string(index);
}

void Session::check_lost(bool final) {
  if (lost_fd_ < 0)
    return;
  read_counters(lost_fd_, lost_);
  uint64_t total = 0;
  for (uint64_t n : lost_)
    total += n;
  if (total > lost_total_) {
    if (opts_.json) {
      // bpftrace -f json writes this line with the output.
      fprintf(out_, "{\"type\": \"lost_events\", \"data\": {\"events\": %llu}}\n",
              (unsigned long long)(total - lost_total_));
      fflush(out_);
    } else {
      fprintf(stderr, "Lost %llu events\n", (unsigned long long)(total - lost_total_));
      fflush(stderr);
    }
    lost_total_ = total;
  }
  (void)final;
}

void Session::print_lost_summary() {
  if (!lost_total_)
    return;
  fprintf(stderr, "Lost %llu events in total:\n", (unsigned long long)lost_total_);
  for (size_t i = 0; i < lost_.size(); i++) {
    if (!lost_[i])
      continue;
    fprintf(stderr, "  %llu in %s\n", (unsigned long long)lost_[i], probe_spec(i).c_str());
  }
  fflush(stderr);
}

// What the kernel side could not do, per probe, said once at exit: uretprobe
// hits whose entry was not recorded (they ran no script) and failed reads of
// memory (printf shows them as <read error>; elsewhere they read as 0 or "").
void Session::print_problem_summary() {
  // `what`: "%llu %s ..." with the count and the noun, then the probe.
  auto report = [&](const char *map, const char *one, const char *many, const char *what) {
    bpf_map *m = bpf_object__find_map_by_name(bpf_, map);
    if (!m)
      return;
    std::vector<uint64_t> counts(std::min<size_t>(prog_.probes.size(), bpf_map__max_entries(m)));
    read_counters(bpf_map__fd(m), counts);
    for (size_t i = 0; i < counts.size(); i++)
      if (counts[i])
        fprintf(stderr, what, (unsigned long long)counts[i], counts[i] == 1 ? one : many,
                probe_spec(i).c_str());
  };
  report(meta::kUnpairedMap, "return", "returns",
         "%llu %s of %s had no recorded entry (the call began before tracing, or more calls "
         "were in flight than the entry map holds)\n");
  report(meta::kReadErrorsMap, "read", "reads",
         "%llu %s of memory failed in %s (printf shows <read error>; other values read as 0 "
         "or \"\")\n");
  fflush(stderr);
}

void Session::run_once(const meta::Probe *probe) {
  if (!probe)
    return;
  int fd = bpf_program__fd(program_for(*probe));
  LIBBPF_OPTS(bpf_test_run_opts, to);
  int err = bpf_prog_test_run_opts(fd, &to);
  if (err)
    throw Error("cannot run probe " + probe->spec + ": " + errstr(errno));
}

std::string Session::binary_path(const meta::Probe &p) {
  std::string path = p.binary;
  if (path.empty())
    throw Error(attach_error(p, "no binary given"));
  if (path[0] != '/') {
    std::string resolved = gt::elf::resolve_binary(path);
    if (resolved.empty())
      throw Error(attach_error(p, "binary '" + path + "' not found"));
    path = resolved;
  }
  return path;
}

void Session::attach_uprobe(const meta::Probe &p, bpf_program *prog) {
  std::string path = binary_path(p);
  std::string err;
  const gt::elf::ElfFile *elf = internal::elf_file(path, err);
  if (!elf)
    throw Error(attach_error(p, err));
  uint64_t addr = p.address;
  if (!p.symbol.empty()) {
    auto sym = elf->find_symbol(p.symbol);
    if (!sym)
      throw Error("no symbol '" + p.symbol + "' in " + path);
    addr = sym->address + p.offset;
  }
  auto off = elf->address_to_offset(addr);
  if (!off) {
    char buf[32];
    snprintf(buf, sizeof buf, "0x%llx", (unsigned long long)addr);
    throw Error(attach_error(p, std::string("address ") + buf + " is not in a loadable segment of " + path));
  }
  LIBBPF_OPTS(bpf_uprobe_opts, uo);
  uo.retprobe = p.kind == ProbeKind::Uretprobe;
  pid_t pid = opts_.target_pid ? pid_t(opts_.target_pid) : -1;
  bpf_link *l = bpf_program__attach_uprobe_opts(prog, pid, path.c_str(), *off, &uo);
  if (!l)
    throw Error(attach_error(p, errstr(errno)));
  links_.push_back(l);
}

void Session::attach_perf(const meta::Probe &p, bpf_program *prog, bool every_cpu) {
  struct perf_event_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.size = sizeof attr;
  attr.type = PERF_TYPE_SOFTWARE;
  attr.config = PERF_COUNT_SW_CPU_CLOCK;
  if (every_cpu) {
    if (!p.frequency)
      throw Error(attach_error(p, "frequency is 0"));
    attr.freq = 1;
    attr.sample_freq = p.frequency;
  } else {
    if (!p.period_ns)
      throw Error(attach_error(p, "period is 0"));
    attr.sample_period = p.period_ns;
  }
  attach_perf_events(prog, p, attr, -1, every_cpu ? online_cpus() : std::vector<int>{0});
}

// One perf event per CPU, each with the program attached.
void Session::attach_perf_events(bpf_program *prog, const meta::Probe &p, perf_event_attr &attr,
                                 pid_t pid, const std::vector<int> &cpus) {
  for (int cpu : cpus) {
    int fd = perf_event_open(&attr, pid, cpu);
    if (fd < 0)
      throw Error(attach_error(p, "perf_event_open on CPU " + std::to_string(cpu) + ": " +
                                      errstr(errno)));
    bpf_link *l = bpf_program__attach_perf_event(prog, fd);
    if (!l) {
      int e = errno;
      close(fd);
      throw Error(attach_error(p, errstr(e)));
    }
    links_.push_back(l);
  }
}

namespace {

bool kernel_has_kprobes() {
  return access("/sys/bus/event_source/devices/kprobe", F_OK) == 0;
}

std::string hex(uint64_t v) {
  char buf[32];
  snprintf(buf, sizeof buf, "0x%llx", (unsigned long long)v);
  return buf;
}

// bpftrace's software event names (and aliases) -> PERF_COUNT_SW_*.
bool software_event(const std::string &name, uint64_t &config, uint64_t &default_period) {
  struct E {
    const char *name, *alias;
    uint64_t config, period;
  };
  static const E events[] = {
      {"cpu-clock", "cpu", PERF_COUNT_SW_CPU_CLOCK, 1000000},
      {"task-clock", nullptr, PERF_COUNT_SW_TASK_CLOCK, 1000000},
      {"page-faults", "faults", PERF_COUNT_SW_PAGE_FAULTS, 100},
      {"context-switches", "cs", PERF_COUNT_SW_CONTEXT_SWITCHES, 1000},
      {"cpu-migrations", nullptr, PERF_COUNT_SW_CPU_MIGRATIONS, 1},
      {"minor-faults", nullptr, PERF_COUNT_SW_PAGE_FAULTS_MIN, 100},
      {"major-faults", nullptr, PERF_COUNT_SW_PAGE_FAULTS_MAJ, 1},
      {"alignment-faults", nullptr, PERF_COUNT_SW_ALIGNMENT_FAULTS, 1},
      {"emulation-faults", nullptr, PERF_COUNT_SW_EMULATION_FAULTS, 1},
      {"dummy", nullptr, PERF_COUNT_SW_DUMMY, 1},
      {"bpf-output", nullptr, PERF_COUNT_SW_BPF_OUTPUT, 1},
  };
  for (const E &e : events)
    if (name == e.name || (e.alias && name == e.alias)) {
      config = e.config;
      default_period = e.period;
      return true;
    }
  return false;
}

}  // namespace

void Session::attach_kprobe(const meta::Probe &p, bpf_program *prog) {
  bool ret = p.kind == ProbeKind::Kretprobe;
  if (!kernel_has_kprobes())
    throw Error(std::string("this kernel has no kprobes (CONFIG_KPROBE_EVENTS): cannot attach ") +
                (ret ? "kretprobe:" : "kprobe:") + p.symbol);
  LIBBPF_OPTS(bpf_kprobe_opts, ko);
  ko.retprobe = ret;
  ko.offset = ret ? 0 : p.offset;
  bpf_link *l = bpf_program__attach_kprobe_opts(prog, p.symbol.c_str(), &ko);
  if (!l) {
    int e = errno;
    if (e == ENOENT || e == EINVAL)
      throw Error(attach_error(p, "no kernel function '" + p.symbol + "' can be probed (" +
                                      errstr(e) + ")"));
    throw Error(attach_error(p, errstr(e)));
  }
  links_.push_back(l);
}

void Session::attach_software(const meta::Probe &p, bpf_program *prog) {
  uint64_t config = 0, period = 0;
  if (!software_event(p.event, config, period))
    throw Error(attach_error(p, "unknown software event '" + p.event + "'"));
  struct perf_event_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.size = sizeof attr;
  attr.type = PERF_TYPE_SOFTWARE;
  attr.config = config;
  attr.sample_period = p.sample_period ? p.sample_period : period;
  pid_t pid = opts_.target_pid ? pid_t(opts_.target_pid) : -1;
  attach_perf_events(prog, p, attr, pid, online_cpus());
}

// A USDT probe is a uprobe at the note's address; its semaphore (if any)
// is counted up by the kernel while the uprobe exists (ref_ctr_offset, the
// semaphore's file offset), in every process that maps the binary.
void Session::attach_usdt(const meta::Probe &p, bpf_program *prog) {
  std::string path = binary_path(p);
  std::string err;
  const gt::elf::ElfFile *elf = internal::elf_file(path, err);
  if (!elf)
    throw Error(attach_error(p, err));
  auto off = elf->address_to_offset(p.address);
  if (!off)
    throw Error(attach_error(p, "address " + hex(p.address) +
                                    " is not in a loadable segment of " + path));
  LIBBPF_OPTS(bpf_uprobe_opts, uo);
  if (p.semaphore) {
    auto sem = elf->address_to_offset(p.semaphore);
    if (!sem)
      throw Error(attach_error(p, "semaphore " + hex(p.semaphore) +
                                      " is not in a loadable segment of " + path));
    uo.ref_ctr_offset = *sem;
  }
  pid_t pid = opts_.target_pid ? pid_t(opts_.target_pid) : -1;
  bpf_link *l = bpf_program__attach_uprobe_opts(prog, pid, path.c_str(), *off, &uo);
  if (!l)
    throw Error(attach_error(p, errstr(errno)));
  links_.push_back(l);
}

void Session::attach(const meta::Probe &p) {
  bpf_program *prog = program_for(p);
  switch (p.kind) {
  case ProbeKind::Begin:
  case ProbeKind::End:
    return;
  case ProbeKind::Uprobe:
  case ProbeKind::Uretprobe:
    attach_uprobe(p, prog);
    return;
  case ProbeKind::Tracepoint: {
    std::string err;
    std::string root = gt::tracefs::root(err);
    if (root.empty())
      throw Error(attach_error(p, err));
    std::string id = root + "/events/" + p.category + "/" + p.event + "/id";
    if (access(id.c_str(), F_OK) != 0)
      throw Error("tracepoint " + p.category + ":" + p.event + " does not exist");
    bpf_link *l = bpf_program__attach_tracepoint(prog, p.category.c_str(), p.event.c_str());
    if (!l)
      throw Error(attach_error(p, errstr(errno)));
    links_.push_back(l);
    return;
  }
  case ProbeKind::Profile:
    attach_perf(p, prog, true);
    return;
  case ProbeKind::Interval:
    attach_perf(p, prog, false);
    return;
  case ProbeKind::Kprobe:
  case ProbeKind::Kretprobe:
    attach_kprobe(p, prog);
    return;
  case ProbeKind::Fentry:
  case ProbeKind::Fexit: {
    bpf_link *l = bpf_program__attach_trace(prog);
    if (!l) {
      int e = errno;
      if (e == ENOTSUP || e == EOPNOTSUPP || e == 524 /* ENOTSUPP */ || e == ENODEV)
        throw Error("this kernel has no BPF trampolines (fentry/fexit need ftrace, "
                    "CONFIG_FUNCTION_TRACER): cannot attach " + p.spec);
      throw Error(attach_error(p, errstr(e)));
    }
    links_.push_back(l);
    return;
  }
  case ProbeKind::RawTracepoint: {
    bpf_link *l = bpf_program__attach_raw_tracepoint(prog, p.event.c_str());
    if (!l) {
      int e = errno;
      if (e == ENOENT)
        throw Error("raw tracepoint " + p.event + " does not exist");
      throw Error(attach_error(p, errstr(e)));
    }
    links_.push_back(l);
    return;
  }
  case ProbeKind::Software:
    attach_software(p, prog);
    return;
  case ProbeKind::Usdt:
    attach_usdt(p, prog);
    return;
  }
}

void Session::detach_all() {
  // Closing a uprobe or tracepoint perf event waits for an RCU grace period
  // in the kernel (~100 ms each here); closing them from several threads
  // lets the waits overlap instead of adding up.
  size_t n = links_.size();
  if (n <= 1) {
    for (bpf_link *l : links_)
      bpf_link__destroy(l);
    links_.clear();
    return;
  }
  size_t nthreads = std::min<size_t>(n, 32);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < nthreads; t++) {
    try {
      threads.emplace_back([this, t, n, nthreads] {
        for (size_t i = t; i < n; i += nthreads)
          bpf_link__destroy(links_[i]);
      });
    } catch (const std::system_error &) {
      // No thread: do this share here.
      for (size_t i = t; i < n; i += nthreads)
        bpf_link__destroy(links_[i]);
    }
  }
  for (auto &th : threads)
    th.join();
  links_.clear();
}

void Session::print_maps() {
  std::string text;
  if (opts_.json) {
    // bpftrace -f json writes these two newlines to stdout, even with -o.
    fputs("\n\n", stdout);
    fflush(stdout);
  } else {
    text = "\n\n";
  }
  // bpftrace 0.17 prints maps in the byte order of their names ("@" < "@a"
  // < "@b" ...), whatever order they appear in the script.
  std::vector<const meta::Map *> maps;
  for (const auto &m : prog_.maps)
    maps.push_back(&m);
  std::stable_sort(maps.begin(), maps.end(),
                   [](const meta::Map *a, const meta::Map *b) { return a->name < b->name; });
  for (const meta::Map *mp : maps)
    print_one_map(*mp, text);
  fwrite(text.data(), 1, text.size(), out_);
  fflush(out_);
}

int Session::run() {
  out_ = opts_.out ? opts_.out : stdout;
  if (obj_.program().uses_system && !opts_.unsafe && !opts_.dry_run)
    throw Error("this program calls system(), which runs commands: give --unsafe to allow it");
  open();
  configure();
  load();
  if (opts_.dry_run)
    return 0;
  setup_events();
  setup_unwinder();

  std::vector<const meta::Probe *> order;
  const meta::Probe *begin = nullptr, *end = nullptr;
  for (const auto &p : prog_.probes) {
    if (p.kind == ProbeKind::Begin)
      begin = &p;
    else if (p.kind == ProbeKind::End)
      end = &p;
    else
      order.push_back(&p);
  }
  std::stable_sort(order.begin(), order.end(),
                   [](const meta::Probe *a, const meta::Probe *b) { return a->index < b->index; });

  if (opts_.watch_pid > 0) {
    pidfd_ = int(syscall(SYS_pidfd_open, opts_.watch_pid, 0));
    if (pidfd_ < 0 && errno == ESRCH)
      throw Error("no process with pid " + std::to_string(opts_.watch_pid));
  }

  if (!opts_.quiet) {
    size_t n = std::count_if(prog_.probes.begin(), prog_.probes.end(),
                             [](const meta::Probe &p) { return !p.internal; });
    if (opts_.json)
      fprintf(out_, "{\"type\": \"attached_probes\", \"data\": {\"probes\": %zu}}\n", n);
    else
      fprintf(out_, "Attaching %zu probe%s...\n", n, n == 1 ? "" : "s");
    fflush(out_);
  }
  run_once(begin);
  drain(true);
  if (!exit_ && !g_stop) {
    for (const meta::Probe *p : order)
      attach(*p);
    if (opts_.hold_child_exit && uses_usym_ && opts_.watch_pid > 0)
      child_traced_ =
          ptrace(PTRACE_SEIZE, opts_.watch_pid, nullptr, (void *)(long)PTRACE_O_TRACEEXIT) == 0;
    if (opts_.on_attached)
      opts_.on_attached();
  }

  bool busy = false;
  while (!exit_ && !g_stop) {
    struct pollfd pfd = {pidfd_, POLLIN, 0};
    int r = poll(&pfd, pidfd_ >= 0 ? 1 : 0, busy ? 0 : 10);
    bool watched_exited = r > 0 && (pfd.revents & (POLLIN | POLLHUP));
    if (pidfd_ < 0 && opts_.watch_pid > 0 && kill(opts_.watch_pid, 0) != 0 && errno == ESRCH)
      watched_exited = true;  // no pidfd_open (kernel < 5.3)
    service_child();
    size_t n = drain();
    serve_unwind_requests();
    check_lost(false);
    busy = n >= 4096;
    if (uses_usym_ && opts_.watch_pid > 0 && !watched_exited) {
      // Keep the watched process's mappings for symbolizing after it exits.
      struct timespec ts;
      clock_gettime(CLOCK_MONOTONIC, &ts);
      int64_t now = int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
      if (now - last_refresh_ms_ >= 10) {
        sym_->refresh(uint32_t(opts_.watch_pid));
        last_refresh_ms_ = now;
      }
    }
    if (watched_exited)
      break;
  }

  detach_all();
  drain(true);
  run_once(end);
  drain(true);
  check_lost(true);
  print_maps();
  print_lost_summary();
  print_problem_summary();
  return 0;
}

}  // namespace

void request_stop() { g_stop = 1; }

int run(const Object &obj, const RunOptions &opts) {
  g_stop = 0;
  struct sigaction sa, old_int, old_term;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  struct Restore {
    struct sigaction i, t;
    ~Restore() {
      sigaction(SIGINT, &i, nullptr);
      sigaction(SIGTERM, &t, nullptr);
    }
  } restore{old_int, old_term};
  Session s(obj, opts);
  return s.run();
}

}  // namespace gt::rt
