// DWARF CFI -> gt_unwind_row tables (see unwind_tables.h).
//
// FDEs are enumerated with dwarf_next_cfi (libdw has no public iterator that
// yields their address ranges, so initial_location is decoded here), and each
// FDE is evaluated row by row through dwarf_cfi_addrframe: dwarf_frame_info
// tells the [start, end) a CFI row covers, so the next row starts at `end`.
#include "runtime/unwind/unwind_tables.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <unordered_map>

namespace gt::unwind {
namespace {

constexpr int kRegBp = 6;
constexpr int kRegSp = 7;
constexpr int kRegRa = 16;
// The .plt CFA expression's threshold that GT_CFA_PLT hard-codes.
constexpr unsigned kPltThreshold = 11;

gt_unwind_row make_row(uint32_t pc, uint8_t cfa_kind) {
  gt_unwind_row r{};
  r.pc = pc;
  r.cfa_kind = cfa_kind;
  r.bp_kind = GT_REG_SAME;
  return r;
}

bool same_rule(const gt_unwind_row &a, const gt_unwind_row &b) {
  return a.cfa_kind == b.cfa_kind && a.bp_kind == b.bp_kind && a.cfa_off == b.cfa_off &&
         a.bp_off == b.bp_off && a.ra_off == b.ra_off;
}

bool fits_s16(int64_t v) {
  return v >= std::numeric_limits<int16_t>::min() && v <= std::numeric_limits<int16_t>::max();
}

struct Segment {
  uint64_t vaddr, memsz, offset, filesz;
};

// Owns everything opened for one file.
struct ElfHandle {
  int fd = -1;
  Elf *elf = nullptr;
  Dwarf *dwarf = nullptr;
  Dwarf_CFI *eh_cfi = nullptr;  // from dwarf_getcfi_elf: must be ended
  ~ElfHandle() {
    if (eh_cfi)
      dwarf_cfi_end(eh_cfi);
    if (dwarf)
      dwarf_end(dwarf);
    if (elf)
      elf_end(elf);
    if (fd >= 0)
      close(fd);
  }
};

Elf_Scn *find_section(Elf *elf, const char *name, GElf_Shdr &shdr) {
  size_t shstrndx;
  if (elf_getshdrstrndx(elf, &shstrndx) != 0)
    return nullptr;
  for (Elf_Scn *scn = elf_nextscn(elf, nullptr); scn; scn = elf_nextscn(elf, scn)) {
    if (!gelf_getshdr(scn, &shdr) || shdr.sh_type == SHT_NOBITS)
      continue;
    const char *n = elf_strptr(elf, shstrndx, shdr.sh_name);
    if (n && strcmp(n, name) == 0)
      return scn;
  }
  return nullptr;
}

// A section's bytes, decompressed if it is SHF_COMPRESSED.
Elf_Data *section_data(Elf_Scn *scn, GElf_Shdr &shdr) {
  if ((shdr.sh_flags & SHF_COMPRESSED) && elf_compress(scn, 0, 0) < 0)
    return nullptr;
  return elf_getdata(scn, nullptr);
}

// ----------------------------------------------------------- FDE ranges

bool read_uleb(const uint8_t *&p, const uint8_t *end, uint64_t &v) {
  v = 0;
  for (unsigned shift = 0; p < end && shift < 64; shift += 7) {
    uint8_t b = *p++;
    v |= uint64_t(b & 0x7f) << shift;
    if (!(b & 0x80))
      return true;
  }
  return false;
}

bool read_sleb(const uint8_t *&p, const uint8_t *end, int64_t &v) {
  uint64_t r = 0;
  unsigned shift = 0;
  while (p < end && shift < 64) {
    uint8_t b = *p++;
    r |= uint64_t(b & 0x7f) << shift;
    shift += 7;
    if (!(b & 0x80)) {
      if (shift < 64 && (b & 0x40))
        r |= ~uint64_t(0) << shift;
      v = int64_t(r);
      return true;
    }
  }
  return false;
}

template <typename T> bool read_fixed(const uint8_t *&p, const uint8_t *end, T &v) {
  if (size_t(end - p) < sizeof(T))
    return false;
  memcpy(&v, p, sizeof(T));  // x86_64 data is little-endian, like the host
  p += sizeof(T);
  return true;
}

// Reads a DW_EH_PE_* encoded value. `field_addr` is the address the field
// has when loaded (for pcrel); `apply` is false for address ranges.
bool read_encoded(uint8_t enc, const uint8_t *&p, const uint8_t *end, uint64_t field_addr, bool apply,
                  uint64_t &out) {
  if (enc == DW_EH_PE_omit)
    return false;
  uint64_t v = 0;
  switch (enc & 0x0f) {
  case DW_EH_PE_absptr:
  case DW_EH_PE_udata8:
  case DW_EH_PE_sdata8:
    if (!read_fixed(p, end, v))
      return false;
    break;
  case DW_EH_PE_uleb128:
    if (!read_uleb(p, end, v))
      return false;
    break;
  case DW_EH_PE_sleb128: {
    int64_t s;
    if (!read_sleb(p, end, s))
      return false;
    v = uint64_t(s);
    break;
  }
  case DW_EH_PE_udata2: {
    uint16_t x;
    if (!read_fixed(p, end, x))
      return false;
    v = x;
    break;
  }
  case DW_EH_PE_sdata2: {
    int16_t x;
    if (!read_fixed(p, end, x))
      return false;
    v = uint64_t(int64_t(x));
    break;
  }
  case DW_EH_PE_udata4: {
    uint32_t x;
    if (!read_fixed(p, end, x))
      return false;
    v = x;
    break;
  }
  case DW_EH_PE_sdata4: {
    int32_t x;
    if (!read_fixed(p, end, x))
      return false;
    v = uint64_t(int64_t(x));
    break;
  }
  default:
    return false;
  }
  if (!apply) {
    out = v;
    return true;
  }
  switch (enc & 0x70) {
  case DW_EH_PE_absptr:
    break;
  case DW_EH_PE_pcrel:
    v += field_addr;
    break;
  default:  // datarel/textrel/funcrel are not used for x86_64 FDE addresses
    return false;
  }
  if (enc & DW_EH_PE_indirect)
    return false;
  out = v;
  return true;
}

// Skips one encoded value (the 'P' personality pointer in a CIE).
bool skip_encoded(uint8_t enc, const uint8_t *&p, const uint8_t *end) {
  uint64_t ignored;
  return read_encoded(enc & 0x0f, p, end, 0, false, ignored);
}

struct FdeRange {
  uint64_t start, end;  // ELF vaddrs
};

// Enumerates the FDEs of a .eh_frame or .debug_frame section; `undecodable`
// counts those whose address cannot be decoded (an unknown augmentation).
bool list_fdes(Elf *elf, Elf_Data *data, uint64_t section_addr, bool eh_frame, std::vector<FdeRange> &out,
               size_t &undecodable, std::string &error) {
  const unsigned char *ident = reinterpret_cast<const unsigned char *>(elf_getident(elf, nullptr));
  const uint8_t *base = static_cast<const uint8_t *>(data->d_buf);
  // FDE pointer encoding of each CIE (by section offset); 0xff: unusable CIE.
  std::unordered_map<Dwarf_Off, uint8_t> cie_encoding;
  auto encoding_of = [&](Dwarf_Off cie_off) -> uint8_t {
    auto it = cie_encoding.find(cie_off);
    if (it != cie_encoding.end())
      return it->second;
    uint8_t enc = DW_EH_PE_absptr;
    Dwarf_Off next;
    Dwarf_CFI_Entry entry;
    if (dwarf_next_cfi(ident, data, eh_frame, cie_off, &next, &entry) != 0 || entry.CIE_id != LIBDW_CIE_ID) {
      enc = DW_EH_PE_omit;
    } else if (entry.cie.augmentation[0] == 'z') {
      const uint8_t *p = entry.cie.augmentation_data;
      const uint8_t *end = p + entry.cie.augmentation_data_size;
      for (const char *a = entry.cie.augmentation + 1; *a && enc != DW_EH_PE_omit; ++a) {
        if (*a == 'R') {
          enc = p < end ? *p++ : uint8_t(DW_EH_PE_omit);
        } else if (*a == 'L') {
          if (p++ >= end)
            enc = DW_EH_PE_omit;
        } else if (*a == 'P') {
          if (p >= end) {
            enc = DW_EH_PE_omit;
          } else {
            uint8_t penc = *p++;
            if (!skip_encoded(penc, p, end))
              enc = DW_EH_PE_omit;
          }
        } else if (*a != 'S' && *a != 'B' && *a != 'G') {
          enc = DW_EH_PE_omit;  // unknown letter: cannot find 'R' reliably
        }
      }
    } else if (entry.cie.augmentation[0] != '\0' && eh_frame) {
      enc = DW_EH_PE_omit;
    }
    cie_encoding.emplace(cie_off, enc);
    return enc;
  };

  Dwarf_Off off = 0;
  while (true) {
    Dwarf_Off next;
    Dwarf_CFI_Entry entry;
    int r = dwarf_next_cfi(ident, data, eh_frame, off, &next, &entry);
    if (r > 0)
      break;
    if (r < 0) {
      error = std::string("cannot read CFI entry at offset ") + std::to_string(off) + ": " + dwarf_errmsg(-1);
      return false;
    }
    if (entry.CIE_id != LIBDW_CIE_ID) {
      uint8_t enc = encoding_of(entry.fde.CIE_pointer);
      const uint8_t *p = entry.fde.start;
      uint64_t start, range;
      if (enc == DW_EH_PE_omit ||
          !read_encoded(enc, p, entry.fde.end, section_addr + uint64_t(p - base), true, start) ||
          !read_encoded(enc, p, entry.fde.end, 0, false, range)) {
        ++undecodable;
      } else {
        out.push_back({start, start + range});
      }
    }
    if (next == Dwarf_Off(-1))
      break;
    off = next;
  }
  if (undecodable && out.empty()) {
    error = "no FDE address could be decoded (unsupported CIE augmentation or pointer encoding)";
    return false;
  }
  return true;
}

// ----------------------------------------------------------- rows

// Offset N when `ops` is "CFA + N" (dwarf_frame_register's offset(N) rule).
bool cfa_plus(const Dwarf_Op *ops, size_t nops, int64_t &off) {
  if (nops == 1 && ops[0].atom == DW_OP_call_frame_cfa) {
    off = 0;
    return true;
  }
  if (nops == 2 && ops[0].atom == DW_OP_call_frame_cfa && ops[1].atom == DW_OP_plus_uconst) {
    off = int64_t(ops[1].number);
    return true;
  }
  return false;
}

// "reg + N" from dwarf_frame_cfa's single bregx (or bregN) operation.
bool reg_plus(const Dwarf_Op *ops, size_t nops, int &reg, int64_t &off) {
  if (nops != 1)
    return false;
  if (ops[0].atom == DW_OP_bregx) {
    reg = int(ops[0].number);
    off = int64_t(ops[0].number2);
    return true;
  }
  if (ops[0].atom >= DW_OP_breg0 && ops[0].atom <= DW_OP_breg31) {
    reg = ops[0].atom - DW_OP_breg0;
    off = int64_t(ops[0].number);
    return true;
  }
  return false;
}

// The x86_64 .plt CFA expression binutils emits:
//   rsp + 8 + ((rip & 15) >= N ? 8 : 0)
// with N = 11 for the classic lazy PLT and 10 for the IBT one. Returns N.
bool plt_expression(const Dwarf_Op *ops, size_t nops, unsigned &threshold) {
  if (nops != 9)
    return false;
  if (ops[0].atom != DW_OP_breg7 || int64_t(ops[0].number) != 8 || ops[1].atom != DW_OP_breg16 ||
      ops[1].number != 0 || ops[2].atom != DW_OP_lit15 || ops[3].atom != DW_OP_and ||
      ops[4].atom < DW_OP_lit0 || ops[4].atom > DW_OP_lit15 || ops[5].atom != DW_OP_ge ||
      ops[6].atom != DW_OP_lit3 || ops[7].atom != DW_OP_shl || ops[8].atom != DW_OP_plus)
    return false;
  threshold = ops[4].atom - DW_OP_lit0;
  return true;
}

// Rows for a PLT whose 16-byte entries have pushed their relocation index
// from byte `threshold` on: explicit SP rows, because GT_CFA_PLT only knows
// threshold 11. `start`/`end` are file offsets, congruent to the vaddrs
// modulo 16 (PT_LOAD keeps them congruent modulo the page size).
void expand_plt(uint64_t start, uint64_t end, unsigned threshold, const gt_unwind_row &proto,
                std::vector<gt_unwind_row> &out) {
  auto add = [&](uint64_t from, uint64_t to, int16_t cfa_off) {
    if (to <= start || from >= end)
      return;
    gt_unwind_row r = proto;
    r.pc = uint32_t(std::max(from, start));
    r.cfa_kind = GT_CFA_SP;
    r.cfa_off = cfa_off;
    out.push_back(r);
  };
  for (uint64_t entry = start & ~uint64_t(15); entry < end; entry += 16) {
    add(entry, entry + threshold, 8);
    add(entry + threshold, entry + 16, 16);
  }
}

// What one CFI row says, as gt_unwind_rows covering [start, end) (file
// offsets): one row, or several for a PLT expression with another threshold.
void decode_frame(Dwarf_Frame *frame, bool signal, uint64_t start, uint64_t end,
                  std::vector<gt_unwind_row> &out) {
  gt_unwind_row row = make_row(uint32_t(start), GT_CFA_UNSUPPORTED);
  if (signal) {
    row.cfa_kind = GT_CFA_SIGNAL;
    out.push_back(row);
    return;
  }
  Dwarf_Op mem[3];
  Dwarf_Op *ops = nullptr;
  size_t nops = 0;

  // Return address.
  if (dwarf_frame_register(frame, kRegRa, mem, &ops, &nops) != 0) {
    out.push_back(row);
    return;
  }
  if (nops == 0) {
    // ops_mem: "undefined" (outermost frame); nullptr: "same value", which a
    // return address cannot be.
    row.cfa_kind = ops ? GT_CFA_END : GT_CFA_UNSUPPORTED;
    out.push_back(row);
    return;
  }
  int64_t ra_off;
  if (!cfa_plus(ops, nops, ra_off) || !fits_s16(ra_off)) {
    out.push_back(row);
    return;
  }

  // Caller's rbp.
  int64_t bp_off = 0;
  uint8_t bp_kind = GT_REG_SAME;
  if (dwarf_frame_register(frame, kRegBp, mem, &ops, &nops) != 0) {
    out.push_back(row);
    return;
  }
  if (nops != 0) {
    int64_t off;
    if (cfa_plus(ops, nops, off) && fits_s16(off)) {
      bp_kind = GT_REG_AT_CFA;
      bp_off = off;
    } else if (!(nops == 1 && ((ops[0].atom == DW_OP_regx && ops[0].number == kRegBp) ||
                               ops[0].atom == DW_OP_reg0 + kRegBp))) {
      out.push_back(row);  // rbp in another register, or computed
      return;
    }
  }

  // CFA.
  if (dwarf_frame_cfa(frame, &ops, &nops) != 0 || nops == 0) {
    out.push_back(row);
    return;
  }
  row.bp_kind = bp_kind;
  row.bp_off = int16_t(bp_off);
  row.ra_off = int16_t(ra_off);
  int reg;
  int64_t cfa_off;
  unsigned threshold;
  if (reg_plus(ops, nops, reg, cfa_off)) {
    if ((reg == kRegSp || reg == kRegBp) && fits_s16(cfa_off)) {
      row.cfa_kind = reg == kRegSp ? GT_CFA_SP : GT_CFA_BP;
      row.cfa_off = int16_t(cfa_off);
    } else {
      row = make_row(uint32_t(start), GT_CFA_UNSUPPORTED);
    }
  } else if (plt_expression(ops, nops, threshold)) {
    if (threshold == kPltThreshold) {
      row.cfa_kind = GT_CFA_PLT;
    } else {
      expand_plt(start, end, threshold, row, out);
      return;
    }
  } else {
    row = make_row(uint32_t(start), GT_CFA_UNSUPPORTED);
  }
  out.push_back(row);
}

// One FDE's rows, in file offsets, before the table is assembled.
struct FdeRows {
  uint64_t start, end;
  std::vector<gt_unwind_row> rows;
};

// Evaluates the FDE [range.start, range.end) (vaddrs; `delta` turns them into
// file offsets) row by row.
void fde_rows(Dwarf_CFI *cfi, const FdeRange &range, int64_t delta, FdeRows &out) {
  out.start = range.start + delta;
  out.end = range.end + delta;
  uint64_t addr = range.start;
  while (addr < range.end) {
    Dwarf_Frame *frame = nullptr;
    if (dwarf_cfi_addrframe(cfi, addr, &frame) != 0) {
      // Instructions libdw cannot execute: nothing here can be trusted.
      out.rows.push_back(make_row(uint32_t(addr + delta), GT_CFA_UNSUPPORTED));
      break;
    }
    Dwarf_Addr start, end;
    bool signal = false;
    if (dwarf_frame_info(frame, &start, &end, &signal) < 0 || end <= addr) {
      free(frame);
      out.rows.push_back(make_row(uint32_t(addr + delta), GT_CFA_UNSUPPORTED));
      break;
    }
    end = std::min<uint64_t>(end, range.end);
    decode_frame(frame, signal, addr + delta, end + delta, out.rows);
    free(frame);
    addr = end;
  }
}

// Whether an FDE's rows say "frame pointer frame" (cfa = rbp+16, rbp saved
// at cfa-16) or at least "non-trivial" (the stack pointer moves).
void classify_fde(const std::vector<gt_unwind_row> &rows, bool &nontrivial, bool &fp) {
  nontrivial = fp = false;
  for (const auto &r : rows) {
    if (r.cfa_kind == GT_CFA_PLT || r.cfa_kind == GT_CFA_SIGNAL) {
      nontrivial = fp = false;  // linker stubs and trampolines do not count
      return;
    }
    if (r.cfa_kind == GT_CFA_BP || (r.cfa_kind == GT_CFA_SP && r.cfa_off != 8))
      nontrivial = true;
    if (r.cfa_kind == GT_CFA_BP && r.cfa_off == 16 && r.bp_kind == GT_REG_AT_CFA && r.bp_off == -16)
      fp = true;
  }
}

// PLT sections the linker emitted without CFI: one pseudo-FDE each, with
// the rows the binutils CFI would have had.
void synthesize_plts(Elf *elf, const std::vector<Segment> &segments, std::vector<FdeRows> &fdes) {
  GElf_Shdr plt_sec_shdr;
  bool ibt = find_section(elf, ".plt.sec", plt_sec_shdr) != nullptr;
  for (const char *name : {".plt", ".plt.sec", ".plt.got"}) {
    GElf_Shdr shdr;
    if (!find_section(elf, name, shdr) || shdr.sh_size == 0)
      continue;
    const Segment *seg = nullptr;
    for (const auto &s : segments)
      if (shdr.sh_addr >= s.vaddr && shdr.sh_addr + shdr.sh_size <= s.vaddr + s.filesz)
        seg = &s;
    if (!seg)
      continue;
    int64_t delta = int64_t(seg->offset) - int64_t(seg->vaddr);
    uint64_t start = shdr.sh_addr + delta, end = shdr.sh_addr + shdr.sh_size + delta;
    bool covered = std::any_of(fdes.begin(), fdes.end(),
                               [&](const FdeRows &f) { return f.start < end && start < f.end; });
    if (covered)
      continue;
    FdeRows f{start, end, {}};
    gt_unwind_row sp8 = make_row(uint32_t(start), GT_CFA_SP);
    sp8.cfa_off = 8;
    sp8.ra_off = -8;
    if (strcmp(name, ".plt") == 0 && shdr.sh_size >= 16) {
      // PLT0 runs with the entry's relocation index pushed, then pushes
      // GOT[1] with its first (6-byte) instruction.
      gt_unwind_row r = sp8;
      r.cfa_off = 16;
      f.rows.push_back(r);
      r.pc = uint32_t(start + 6);
      r.cfa_off = 24;
      f.rows.push_back(r);
      if (ibt) {
        expand_plt(start + 16, end, 9, sp8, f.rows);  // "endbr64; push $n; jmp": pushed from byte 9
      } else {
        r.pc = uint32_t(start + 16);
        r.cfa_kind = GT_CFA_PLT;
        r.cfa_off = 0;
        f.rows.push_back(r);
      }
    } else {
      f.rows.push_back(sp8);  // .plt.sec, .plt.got: a jump, nothing pushed
    }
    fdes.push_back(std::move(f));
  }
}

}  // namespace

const gt_unwind_row *find_row(const std::vector<gt_unwind_row> &rows, uint64_t offset) {
  auto it = std::upper_bound(rows.begin(), rows.end(), offset,
                             [](uint64_t off, const gt_unwind_row &r) { return off < r.pc; });
  if (it == rows.begin())
    return nullptr;
  return &*(it - 1);
}

bool build_module_table(const std::string &path, ModuleTable &out, std::string &error) {
  out = ModuleTable{};
  elf_version(EV_CURRENT);
  ElfHandle h;
  h.fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (h.fd < 0) {
    error = "'" + path + "': " + strerror(errno);
    return false;
  }
  h.elf = elf_begin(h.fd, ELF_C_READ_MMAP, nullptr);
  GElf_Ehdr ehdr;
  if (!h.elf || elf_kind(h.elf) != ELF_K_ELF || !gelf_getehdr(h.elf, &ehdr)) {
    error = "'" + path + "' is not an ELF file";
    return false;
  }
  if (ehdr.e_ident[EI_CLASS] != ELFCLASS64 || ehdr.e_machine != EM_X86_64) {
    error = "'" + path + "' is not an x86_64 ELF file";
    return false;
  }
  if (ehdr.e_type != ET_EXEC && ehdr.e_type != ET_DYN) {
    error = "'" + path + "' is not an executable or a shared library";
    return false;
  }

  // Executable PT_LOAD segments: CFI addresses become file offsets through them.
  std::vector<Segment> segments;
  size_t phnum = 0;
  elf_getphdrnum(h.elf, &phnum);
  for (size_t i = 0; i < phnum; ++i) {
    GElf_Phdr ph;
    if (gelf_getphdr(h.elf, int(i), &ph) && ph.p_type == PT_LOAD && (ph.p_flags & PF_X))
      segments.push_back({ph.p_vaddr, ph.p_memsz, ph.p_offset, ph.p_filesz});
  }
  if (segments.empty()) {
    error = "'" + path + "' has no executable PT_LOAD segment";
    return false;
  }

  // .eh_frame first; .debug_frame for the code .eh_frame does not cover
  // (objects built with -fno-asynchronous-unwind-tables -g, Go binaries).
  std::vector<std::pair<Dwarf_CFI *, FdeRange>> ranges;
  GElf_Shdr shdr;
  std::vector<FdeRange> eh_ranges;
  if (Elf_Scn *scn = find_section(h.elf, ".eh_frame", shdr)) {
    Elf_Data *data = section_data(scn, shdr);
    if (data && data->d_size > 0) {
      if (!list_fdes(h.elf, data, shdr.sh_addr, true, eh_ranges, out.skipped_fdes, error)) {
        error = "'" + path + "' .eh_frame: " + error;
        return false;
      }
      if (!eh_ranges.empty()) {
        h.eh_cfi = dwarf_getcfi_elf(h.elf);
        if (!h.eh_cfi) {
          error = "'" + path + "': cannot use .eh_frame: " + dwarf_errmsg(-1);
          return false;
        }
        for (const auto &r : eh_ranges)
          ranges.push_back({h.eh_cfi, r});
        out.source = ".eh_frame";
      }
    }
  }
  if (Elf_Scn *scn = find_section(h.elf, ".debug_frame", shdr)) {
    Elf_Data *data = section_data(scn, shdr);
    if (!data) {
      error = "'" + path + "': cannot read .debug_frame: " + elf_errmsg(-1);
      return false;
    }
    std::vector<FdeRange> debug_ranges;
    if (!list_fdes(h.elf, data, 0, false, debug_ranges, out.skipped_fdes, error)) {
      error = "'" + path + "' .debug_frame: " + error;
      return false;
    }
    // Keep the FDEs for code that no .eh_frame FDE covers.
    std::sort(eh_ranges.begin(), eh_ranges.end(),
              [](const FdeRange &a, const FdeRange &b) { return a.start < b.start; });
    auto covered = [&](const FdeRange &d) {
      auto it = std::lower_bound(eh_ranges.begin(), eh_ranges.end(), d.end,
                                 [](const FdeRange &r, uint64_t end) { return r.start < end; });
      return it != eh_ranges.begin() && (it - 1)->end > d.start;
    };
    debug_ranges.erase(std::remove_if(debug_ranges.begin(), debug_ranges.end(), covered), debug_ranges.end());
    if (!debug_ranges.empty()) {
      h.dwarf = dwarf_begin_elf(h.elf, DWARF_C_READ, nullptr);
      Dwarf_CFI *cfi = h.dwarf ? dwarf_getcfi(h.dwarf) : nullptr;
      if (!cfi) {
        error = "'" + path + "': cannot use .debug_frame: " + dwarf_errmsg(-1);
        return false;
      }
      for (const auto &r : debug_ranges)
        ranges.push_back({cfi, r});
      out.source += out.source.empty() ? ".debug_frame" : "+.debug_frame";
    }
  }

  std::vector<FdeRows> fdes;
  size_t nontrivial = 0, with_fp = 0;
  for (const auto &[cfi, range] : ranges) {
    const Segment *seg = nullptr;
    for (const auto &s : segments)
      if (range.start >= s.vaddr && range.end <= s.vaddr + s.filesz)
        seg = &s;
    if (range.end <= range.start || !seg) {
      ++out.skipped_fdes;  // empty, or discarded code (address 0 in .debug_frame)
      continue;
    }
    FdeRows f;
    fde_rows(cfi, range, int64_t(seg->offset) - int64_t(seg->vaddr), f);
    if (f.end > std::numeric_limits<uint32_t>::max()) {
      error = "'" + path + "': code beyond 4 GiB in the file; rows hold 32-bit offsets";
      return false;
    }
    bool nt, fp;
    classify_fde(f.rows, nt, fp);
    nontrivial += nt;
    with_fp += fp;
    fdes.push_back(std::move(f));
  }
  out.fdes = fdes.size();
  out.has_frame_pointers = nontrivial > 0 && with_fp * 2 > nontrivial;
  synthesize_plts(h.elf, segments, fdes);

  // Assemble: sorted, overlaps trimmed (first FDE wins), gaps and the end
  // marked GT_CFA_NONE, consecutive equal rules merged.
  std::stable_sort(fdes.begin(), fdes.end(), [](const FdeRows &a, const FdeRows &b) { return a.start < b.start; });
  std::vector<gt_unwind_row> rows;
  auto emit = [&](const gt_unwind_row &r) {
    if (!rows.empty() && rows.back().pc == r.pc)
      rows.pop_back();  // the earlier row covered nothing
    if (!rows.empty() && same_rule(rows.back(), r))
      return;
    rows.push_back(r);
  };
  uint64_t covered_to = 0;
  for (auto &f : fdes) {
    if (f.rows.empty())
      continue;
    if (!rows.empty() && f.start < covered_to) {
      if (f.end <= covered_to) {
        ++out.skipped_fdes;
        continue;
      }
      // Keep the part after covered_to: the row in effect there starts it.
      ++out.skipped_fdes;
      std::vector<gt_unwind_row> kept;
      for (size_t i = 0; i < f.rows.size(); ++i) {
        uint64_t next = i + 1 < f.rows.size() ? f.rows[i + 1].pc : f.end;
        if (next <= covered_to)
          continue;
        gt_unwind_row r = f.rows[i];
        r.pc = uint32_t(std::max<uint64_t>(r.pc, covered_to));
        kept.push_back(r);
      }
      f.rows = std::move(kept);
    } else if (!rows.empty() && f.start > covered_to) {
      emit(make_row(uint32_t(covered_to), GT_CFA_NONE));
    }
    for (const auto &r : f.rows) {
      if (r.cfa_kind == GT_CFA_UNSUPPORTED)
        ++out.unsupported_rows;
      emit(r);
    }
    covered_to = std::max(covered_to, f.end);
  }
  if (!rows.empty())
    emit(make_row(uint32_t(covered_to), GT_CFA_NONE));
  out.rows = std::move(rows);
  return true;
}

}  // namespace gt::unwind
