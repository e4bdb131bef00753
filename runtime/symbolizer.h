// Symbols for ksym()/usym()/kstack/ustack and the boot-time offset of
// strftime(): the Symbolizer the session hands to the formatters.
//
// Kernel symbols come from /proc/kallsyms (read once, on first use, sorted,
// binary-searched). User symbols: /proc/PID/maps gives the file and offset
// of an address; the file's ELF symbols (or, when it has no .symtab, those
// of its separate debug file /usr/lib/debug/.build-id/xx/yyyy.debug) give
// the function. Each process's mappings are cached for the whole run (and
// read again when an address falls outside them), so that the maps printed
// at exit can still name the functions of a process that has exited since;
// the watched process (-c/-p) is re-read while it runs (refresh()).
//
// User symbols are demangled (C++), as bpftrace does by default; kernel
// symbols are not. With set_stack_lines(), user stack frames also get their
// source location and inlined functions from DWARF (runtime/dwarf_lines.h).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "runtime/elf_file.h"
#include "runtime/format.h"

namespace gt::rt {

class DwarfLines;

// A C++ symbol (_Z...) demangled by the C++ runtime (abi::__cxa_demangle);
// any other name, or one it cannot demangle, as is.
std::string demangle_symbol(const std::string &name);

class SessionSymbolizer : public Symbolizer {
public:
  // `stacks_fd`: the gt_stacks map (-1 if none), whose values are
  // `stack_bytes` bytes of u64 addresses. `ustacks_fd`: gt_ustacks, the user
  // stacks of the BPF unwinder (-1 if none).
  SessionSymbolizer(int stacks_fd = -1, uint32_t stack_bytes = 127 * 8, int ustacks_fd = -1);
  ~SessionSymbolizer() override;

  bool kernel_symbol(uint64_t addr, std::string &name, uint64_t &offset) override;
  bool user_symbol(uint64_t addr, uint32_t pid, std::string &name, uint64_t &offset) override;
  bool stack(int64_t id, bool user, std::vector<uint64_t> &addrs,
             std::string &incomplete) override;
  bool user_module(uint64_t addr, uint32_t pid, std::string &path) override;
  bool user_source(uint64_t addr, uint32_t pid, bool call,
                   std::vector<SourceFrame> &frames) override;
  int64_t boot_to_wall_ns() override { return boot_to_wall_; }

  // --stack-lines: user_source() answers from DWARF (off by default).
  void set_stack_lines(bool on) { stack_lines_ = on; }

  // Reads /proc/PID/maps again if it changed (cheap when it did not).
  void refresh(uint32_t pid);

  // For tests: parse a kallsyms text / a maps text instead of /proc.
  void set_kallsyms(const std::string &text);
  void set_maps(uint32_t pid, const std::string &text);

  struct Mapping {
    uint64_t start, end, offset;
    std::string path;
  };
  // Parses /proc/PID/maps lines, keeping the executable file mappings.
  static std::vector<Mapping> parse_maps(const std::string &text);

private:
  struct KSym {
    uint64_t addr;
    std::string name;
  };
  struct Process {
    std::string text;  // the maps file as last read
    std::vector<Mapping> maps;
    uint64_t read_ns = 0;
  };
  struct FileSyms {
    const gt::elf::ElfFile *elf = nullptr;
    std::unique_ptr<gt::elf::ElfFile> debug;  // separate debug file, if used
    std::vector<gt::elf::Symbol> by_addr;     // functions sorted by address
    std::map<size_t, std::string> demangled;  // by index in by_addr, once printed
    std::unique_ptr<DwarfLines> lines;        // --stack-lines, opened on first use
    bool lines_tried = false;
    ~FileSyms();
  };
  void load_kallsyms();
  const Mapping *find_mapping(uint64_t addr, uint32_t pid);
  // The file mapped at `addr` in `pid` and the address as linked in it.
  FileSyms *file_address(uint64_t addr, uint32_t pid, uint64_t &vaddr,
                         const Mapping **mapping = nullptr);
  bool read_maps(uint32_t pid, Process &p);
  FileSyms *file_symbols(const std::string &path);

  int stacks_fd_;
  int ustacks_fd_;
  uint32_t stack_bytes_;
  int64_t boot_to_wall_ = 0;
  bool kallsyms_loaded_ = false;
  bool stack_lines_ = false;
  std::vector<KSym> ksyms_;
  std::map<uint32_t, Process> procs_;
  std::map<std::string, std::unique_ptr<FileSyms>> files_;
};

}  // namespace gt::rt
