// The runtime: open a BPF object made by tracec (or by libgtcompiler in
// memory), load it, attach its probes, print what they send and the maps at
// exit. Never links LLVM. See docs/architecture.md for the BPF-side ABI and
// docs/cli.md for what the user sees.
//
//   auto obj = gt::rt::Object::open_file("prog.o");      // or open_memory()
//   gt::rt::RunOptions o;  o.target_pid = pid;
//   int rc = gt::rt::run(*obj, o);                         // throws gt::rt::Error
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <sys/types.h>

#include "runtime/metadata.h"

struct bpf_object;

namespace gt::rt {

// Every failure the user should see. what() is the message without the
// "ERROR: " prefix (tracerun adds it).
class Error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

struct RunOptions {
  // gt_config.target_pid (0: all processes). Uprobes attach for this pid only.
  uint32_t target_pid = 0;
  // Stop when this process exits (the -c child, or the -p target); 0: none.
  pid_t watch_pid = 0;
  bool quiet = false;          // no "Attaching N probes..."
  bool dry_run = false;        // load through the verifier, attach nothing, print nothing
  bool dump_verifier = false;  // print every program's verifier log (level 2) to stderr
  FILE *out = stdout;          // program output: "Attaching", printf, maps
  // -f json: every output is one line of JSON, as bpftrace 0.17 -f json
  // writes it (docs/cli.md).
  bool json = false;
  // --unsafe: system() may run commands. Without it, the first system()
  // event stops the run with an error.
  bool unsafe = false;
  // --stack-lines: user stack frames also show their source file:line and
  // the functions inlined there, from DWARF (docs/cli.md).
  bool stack_lines = false;
  // User stacks unwound in BPF: a gt_unwind_mode (0 auto, 1 fp, 2 dwarf).
  uint32_t unwind_mode = 0;
  // The -c command's executable (resolved path): its modules' unwind tables
  // are loaded before it runs.
  std::string command_path;
  // -c: watch_pid is this process's child. It is traced (PTRACE_SEIZE with
  // PTRACE_O_TRACEEXIT) only to be held once at its exit while its mappings
  // still exist, so that the user addresses printed after it is gone (maps
  // at exit) are symbolized. Every other stop is resumed at once.
  bool hold_child_exit = false;
  // Called once every probe is attached and BEGIN has run (tracerun lets
  // the -c child exec here).
  std::function<void()> on_attached;
};

// A BPF object and its metadata, opened but not loaded.
class Object {
public:
  // mmap()s the file. Throws Error (missing file, not ELF, no or bad
  // .gt.meta section, unsupported metadata version, build-id mismatch).
  static std::unique_ptr<Object> open_file(const std::string &path);
  // Takes ownership of a malloc()ed buffer (gt_compile's result).
  static std::unique_ptr<Object> open_memory(void *data, size_t size, const std::string &name);
  ~Object();
  Object(const Object &) = delete;
  Object &operator=(const Object &) = delete;

  const meta::Program &program() const { return program_; }
  const std::string &name() const { return name_; }
  const void *data() const { return data_; }
  size_t size() const { return size_; }

private:
  Object() = default;
  void init();  // parse metadata, check build-ids
  std::string name_;
  void *data_ = nullptr;
  size_t size_ = 0;
  bool mmapped_ = false;
  meta::Program program_;
};

// Reads the .gt.meta section of an ELF image. Throws Error.
std::string read_meta_section(const void *data, size_t size, const std::string &name);

// Loads and runs the object until exit() / SIGINT / SIGTERM / the watched
// process exits, then detaches, runs END and prints the maps. Returns the
// process exit code (0). Throws Error on failure (verifier rejection,
// attach failure, ...); everything attached is detached first.
int run(const Object &obj, const RunOptions &opts);

// Asks a running run() to stop as if SIGINT had arrived (async-signal-safe).
void request_stop();

}  // namespace gt::rt
