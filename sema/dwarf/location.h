// Where a variable lives at one address, in a form the code generator can
// compile to BPF without knowing DWARF. Built by DebugInfo from DW_AT_location
// (+ DW_AT_frame_base + CFI); independent of libdw.
//
// A location is a list of pieces laid end to end (DW_OP_piece). Most
// variables have one piece covering the whole value.
//
//   Register  the value is in register `regno` (its low `size` bytes)
//   Memory    the value is in user memory at the address `expr` computes
//   Value     the value is what `expr` computes (DW_OP_stack_value)
//   Implicit  the value is `bytes` (DW_OP_implicit_value, DW_AT_const_value)
//   Undefined these bytes were optimized away (an empty DW_OP_piece)
//
// `expr` is a tiny stack program over 64-bit values; every op pops its
// operands and pushes one result; the result is the top of the stack.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace gt::dwarf {

// x86-64 DWARF register numbers (System V psABI).
enum : unsigned {
  kRegRax = 0, kRegRdx = 1, kRegRcx = 2, kRegRbx = 3, kRegRsi = 4, kRegRdi = 5,
  kRegRbp = 6, kRegRsp = 7, kRegR8 = 8, kRegR9 = 9, kRegR10 = 10, kRegR11 = 11,
  kRegR12 = 12, kRegR13 = 13, kRegR14 = 14, kRegR15 = 15, kRegRip = 16,
};

// Offset of the register in the x86-64 `struct pt_regs` (what a uprobe's BPF
// program gets as its context), or -1 when the register is not in pt_regs
// (xmm, x87, segment registers...).
int pt_regs_offset(unsigned dwarf_regno);
// "rdi", "r12", "xmm0", "reg42".
std::string register_name(unsigned dwarf_regno);

struct ExprOp {
  enum Code : uint8_t {
    Const,     // push value
    Reg,       // push the register `value` (a DWARF regno) at the probe
    EntryReg,  // push the register `value` as it was at function entry
               // (DW_OP_entry_value(DW_OP_regN)); only at the entry itself is
               // this the live register (DebugInfo then emits Reg instead)
    Addr,      // push `value`, a link-time address: add the load bias (PIE/DSO)
    Deref,     // pop a, push the `value`-byte (1, 2, 4, 8) unsigned int at a
    Add, Sub, Mul, And, Or, Xor,
    Shl, Shr /* logical */, Shra /* arithmetic */,
    Neg, Not,
    Dup, Drop, Swap, Over,
  };
  Code code = Const;
  int64_t value = 0;

  bool operator==(const ExprOp &o) const { return code == o.code && value == o.value; }
};

struct Piece {
  enum class Kind { Register, Memory, Value, Implicit, Undefined };
  Kind kind = Kind::Undefined;
  // Bytes this piece covers; 0 for a lone piece means "the whole variable".
  uint64_t size = 0;
  unsigned regno = 0;                // Register
  std::vector<ExprOp> expr;          // Memory (the address) and Value
  std::vector<uint8_t> bytes;        // Implicit

  // Memory/Value: true when expr is just "register + constant" (the common
  // case: DW_OP_breg*, DW_OP_fbreg resolved through the CFA).
  bool reg_plus_offset(unsigned &reg, int64_t &offset) const;
  std::string describe() const;  // "reg rdi", "mem [rsp+8]", "value (rdi*4)", ...
};

struct Location {
  std::vector<Piece> pieces;  // empty when !ok()
  std::string error;          // why there is no usable location (when !ok())

  bool ok() const { return error.empty() && !pieces.empty(); }
  // True if some piece's expr contains Addr (the consumer must add the load bias).
  bool uses_link_time_address() const;
  // True if some expr contains EntryReg.
  bool uses_entry_value() const;
  // Set when the location is not DWARF's own but the x86-64 SysV calling
  // convention's: parameters at a function's first instruction (-O0 code says
  // "on the stack", but the prologue has not stored them there yet).
  bool from_calling_convention = false;
  // "reg rdi", "mem [rbp-20]", "pieces: reg rax (8 bytes), reg rdx (8 bytes)",
  // or the error.
  std::string describe() const;

  static Location failure(std::string why) {
    Location l;
    l.error = std::move(why);
    return l;
  }
};

}  // namespace gt::dwarf
