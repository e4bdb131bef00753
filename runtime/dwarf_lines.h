// Source locations of code addresses, from a module's DWARF (libdw), for
// tracerun --stack-lines: the file and line of an address and the functions
// inlined there, as gdb's bt shows them.
//
// File names are those of the line table as libdw builds them: the file
// entry's name joined with its directory entry (in DWARF 5, directory 0 is
// the compilation directory), not resolved further. gdb shows the same
// text: "/src/prog/main.c" for a file compiled by absolute path,
// "./stdlib/msort.c" for Debian's libc (built with -fdebug-prefix-map).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <elfutils/libdw.h>

#include "runtime/format.h"

namespace gt::rt {

class DwarfLines {
public:
  // The DWARF of the ELF file `path`: its own .debug_info, else that of the
  // separate debug file /usr/lib/debug/.build-id/xx/yyyy.debug with the same
  // build-id. nullptr when there is none.
  static std::unique_ptr<DwarfLines> open(const std::string &path);
  ~DwarfLines();
  DwarfLines(const DwarfLines &) = delete;
  DwarfLines &operator=(const DwarfLines &) = delete;

  // The file the DWARF was read from.
  const std::string &debug_path() const { return debug_path_; }

  // Where virtual address `vaddr` of the file is: the functions inlined at
  // it (inlined = true), innermost first, each with its location (for the
  // innermost, the line table's row; for the others, the call site of the
  // one inside them), then the location in the function that contains them
  // (its name from DWARF). Empty when the DWARF does not cover `vaddr`.
  // For a return address, pass the address of the call (ra - 1). Cached.
  const std::vector<SourceFrame> &lookup(uint64_t vaddr);

private:
  DwarfLines() = default;
  struct CuRange {
    uint64_t lo, hi;
    uint64_t die_offset;
  };
  bool find_cu(uint64_t vaddr, Dwarf_Die &cudie);
  std::vector<SourceFrame> compute(uint64_t vaddr);

  int fd_ = -1;
  Elf *elf_ = nullptr;
  Dwarf *dw_ = nullptr;
  std::string debug_path_;
  bool indexed_ = false;
  std::vector<CuRange> cus_;  // by lo; for units .debug_aranges does not cover
  std::map<uint64_t, std::vector<SourceFrame>> cache_;
};

}  // namespace gt::rt
