#include "runtime/dwarf_lines.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <dwarf.h>
#include <elfutils/libdwelf.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <unistd.h>

#include "runtime/symbolizer.h"

namespace gt::rt {

namespace {

// A stripped file keeps no .debug_info (or a NOBITS one); a debug file's is real.
bool has_debug_info(Elf *elf) {
  size_t shstrndx;
  if (elf_getshdrstrndx(elf, &shstrndx) != 0)
    return false;
  for (Elf_Scn *scn = elf_nextscn(elf, nullptr); scn; scn = elf_nextscn(elf, scn)) {
    GElf_Shdr sh;
    if (!gelf_getshdr(scn, &sh) || sh.sh_type == SHT_NOBITS || sh.sh_size == 0)
      continue;
    const char *name = elf_strptr(elf, shstrndx, sh.sh_name);
    if (name && (!strcmp(name, ".debug_info") || !strcmp(name, ".zdebug_info")))
      return true;
  }
  return false;
}

std::string build_id_hex(Elf *elf) {
  const void *id = nullptr;
  ssize_t n = dwelf_elf_gnu_build_id(elf, &id);
  std::string hex;
  static const char digits[] = "0123456789abcdef";
  for (ssize_t i = 0; i < n; i++) {
    uint8_t b = static_cast<const uint8_t *>(id)[i];
    hex += digits[b >> 4];
    hex += digits[b & 15];
  }
  return hex;
}

const char *attr_string(Dwarf_Die *die, unsigned name) {
  Dwarf_Attribute a;
  // _integrate: an inlined or out-of-line instance names its abstract
  // origin, a C++ member definition its declaration (DW_AT_specification).
  return dwarf_formstring(dwarf_attr_integrate(die, name, &a));
}

// The name gdb would show, demangled with its parameters as ustack's ELF
// symbols are: the linkage name when there is one (C++), else DW_AT_name.
std::string function_name(Dwarf_Die *die) {
  const char *linkage = attr_string(die, DW_AT_linkage_name);
  if (!linkage)
    linkage = attr_string(die, DW_AT_MIPS_linkage_name);
  if (linkage)
    return demangle_symbol(linkage);
  const char *name = attr_string(die, DW_AT_name);
  return name ? name : "";
}

}  // namespace

std::unique_ptr<DwarfLines> DwarfLines::open(const std::string &path) {
  elf_version(EV_CURRENT);
  std::string want_id;
  auto try_file = [&want_id](const std::string &p, bool check_id) -> std::unique_ptr<DwarfLines> {
    std::unique_ptr<DwarfLines> d(new DwarfLines());
    d->fd_ = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    if (d->fd_ < 0)
      return nullptr;
    d->elf_ = elf_begin(d->fd_, ELF_C_READ_MMAP, nullptr);
    if (!d->elf_ || elf_kind(d->elf_) != ELF_K_ELF)
      return nullptr;
    if (!check_id)
      want_id = build_id_hex(d->elf_);
    // A debug file of another build would give wrong lines.
    else if (build_id_hex(d->elf_) != want_id)
      return nullptr;
    if (!has_debug_info(d->elf_))
      return nullptr;
    d->dw_ = dwarf_begin_elf(d->elf_, DWARF_C_READ, nullptr);
    if (!d->dw_)
      return nullptr;
    d->debug_path_ = p;
    return d;
  };
  if (auto d = try_file(path, false))
    return d;
  if (want_id.size() > 2)
    return try_file("/usr/lib/debug/.build-id/" + want_id.substr(0, 2) + "/" + want_id.substr(2) +
                        ".debug",
                    true);
  return nullptr;
}

DwarfLines::~DwarfLines() {
  if (dw_)
    dwarf_end(dw_);
  if (elf_)
    elf_end(elf_);
  if (fd_ >= 0)
    close(fd_);
}

bool DwarfLines::find_cu(uint64_t vaddr, Dwarf_Die &cudie) {
  if (dwarf_addrdie(dw_, vaddr, &cudie))
    return true;
  // No .debug_aranges (clang does not write them) or not for this unit:
  // index every compile unit's ranges once.
  if (!indexed_) {
    indexed_ = true;
    Dwarf_CU *cu = nullptr;
    Dwarf_Half version;
    uint8_t type;
    Dwarf_Die die, sub;
    while (dwarf_get_units(dw_, cu, &cu, &version, &type, &die, &sub) == 0) {
      if (type != DW_UT_compile)
        continue;
      Dwarf_Addr base, lo, hi;
      for (ptrdiff_t off = 0; (off = dwarf_ranges(&die, off, &base, &lo, &hi)) > 0;)
        if (hi > lo)
          cus_.push_back({lo, hi, dwarf_dieoffset(&die)});
    }
    std::sort(cus_.begin(), cus_.end(),
              [](const CuRange &a, const CuRange &b) { return a.lo < b.lo; });
  }
  auto it = std::upper_bound(cus_.begin(), cus_.end(), vaddr,
                             [](uint64_t a, const CuRange &r) { return a < r.lo; });
  if (it == cus_.begin() || vaddr >= (it - 1)->hi)
    return false;
  return dwarf_offdie(dw_, (it - 1)->die_offset, &cudie) != nullptr;
}

std::vector<SourceFrame> DwarfLines::compute(uint64_t vaddr) {
  std::vector<SourceFrame> frames;
  Dwarf_Die cudie;
  if (!find_cu(vaddr, cudie))
    return frames;
  std::string file;
  uint32_t line = 0;
  if (Dwarf_Line *l = dwarf_getsrc_die(&cudie, vaddr)) {
    const char *f = dwarf_linesrc(l, nullptr, nullptr);
    int n = 0;
    file = f ? f : "";
    if (dwarf_lineno(l, &n) == 0 && n > 0)
      line = uint32_t(n);
  }
  Dwarf_Files *files = nullptr;
  size_t nfiles = 0;
  if (dwarf_getsrcfiles(&cudie, &files, &nfiles) != 0)
    files = nullptr;

  // The innermost scope at vaddr, then its parents in the concrete tree:
  // every inlined_subroutine around it up to the subprogram.
  Dwarf_Die *scopes = nullptr;
  Dwarf_Die *chain = nullptr;
  int nchain = 0;
  if (dwarf_getscopes(&cudie, vaddr, &scopes) > 0)
    nchain = dwarf_getscopes_die(&scopes[0], &chain);
  for (int i = 0; i < nchain; i++) {
    Dwarf_Die *die = &chain[i];
    int tag = dwarf_tag(die);
    if (tag != DW_TAG_subprogram && tag != DW_TAG_inlined_subroutine && tag != DW_TAG_entry_point)
      continue;
    bool inlined = tag == DW_TAG_inlined_subroutine;
    frames.push_back({function_name(die), file, line, inlined});
    if (!inlined)
      break;
    // The function this code was inlined into is at the call site.
    Dwarf_Attribute a;
    Dwarf_Word w = 0;
    const char *f = nullptr;
    if (files && dwarf_formudata(dwarf_attr(die, DW_AT_call_file, &a), &w) == 0 && w < nfiles)
      f = dwarf_filesrc(files, w, nullptr, nullptr);
    file = f ? f : "";
    line = dwarf_formudata(dwarf_attr(die, DW_AT_call_line, &a), &w) == 0 ? uint32_t(w) : 0;
  }
  free(chain);
  free(scopes);
  // Code outside any function DIE still has its line.
  if ((frames.empty() || frames.back().inlined) && !(frames.empty() && file.empty()))
    frames.push_back({"", file, line, false});
  return frames;
}

const std::vector<SourceFrame> &DwarfLines::lookup(uint64_t vaddr) {
  auto it = cache_.find(vaddr);
  if (it == cache_.end())
    it = cache_.emplace(vaddr, compute(vaddr)).first;
  return it->second;
}

}  // namespace gt::rt
