// Read-only view of an ELF file: symbols, address -> file offset, build-id.
// Used by sema (to check probe targets at compile time) and by the runtime
// (to attach uprobes); it needs libelf only.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace gt::elf {

struct Symbol {
  std::string name;
  uint64_t address = 0;  // st_value: virtual address in the file
  uint64_t size = 0;
  bool is_function = false;
};

// One USDT probe site from .note.stapsdt (systemtap's SDT v3 notes).
struct UsdtNote {
  std::string provider, name;
  uint64_t address = 0;    // pc, already adjusted for .stapsdt.base prelinking
  uint64_t semaphore = 0;  // virtual address of the semaphore, 0 if none
  std::string args;        // argument spec, e.g. "-4@%edi 8@-16(%rbp)"
};

class ElfFile {
public:
  // Returns nullptr and sets `error` ("'PATH': No such file or directory",
  // "'PATH' is not an ELF file", ...) when the file cannot be used.
  static std::unique_ptr<ElfFile> open(const std::string &path, std::string &error);
  ~ElfFile();

  const std::string &path() const { return path_; }
  // Functions and objects from .symtab, then .dynsym; first definition wins.
  std::optional<Symbol> find_symbol(const std::string &name) const;
  // The defined function symbols (deduplicated by name), sorted by name.
  std::vector<Symbol> functions() const;
  // Virtual address -> offset in the file, through the PT_LOAD segments.
  std::optional<uint64_t> address_to_offset(uint64_t address) const;
  // Offset in the file -> virtual address (the inverse, for symbolizing
  // addresses of a process through /proc/PID/maps).
  std::optional<uint64_t> offset_to_address(uint64_t offset) const;
  // Whether the file has a .symtab (else only .dynsym: a stripped binary,
  // whose other symbols may be in a separate debug file).
  bool has_symtab() const { return has_symtab_; }
  // GNU build-id as lowercase hex, or "" when the file has none.
  const std::string &build_id() const { return build_id_; }
  // USDT probe sites, in note order (a probe can have several sites).
  const std::vector<UsdtNote> &usdt_notes() const { return usdt_; }
  bool is_executable_or_library() const { return exec_or_dyn_; }

private:
  ElfFile() = default;
  std::string path_;
  std::string build_id_;
  bool exec_or_dyn_ = false;
  bool has_symtab_ = false;
  struct Segment {
    uint64_t vaddr, memsz, offset, filesz;
  };
  std::vector<Segment> segments_;
  std::vector<Symbol> symbols_;  // sorted by name
  std::vector<UsdtNote> usdt_;
};

// Turns the binary named in a probe into an absolute path: a name with a '/'
// is made absolute against the current directory; a bare name is looked up
// in $PATH, then as a shared library ("libc" or "libc.so.6") in the usual
// library directories. Returns "" when nothing is found.
std::string resolve_binary(const std::string &name);

}  // namespace gt::elf
