#include "sema/dwarf/location.h"

#include <cstdio>

namespace gt::dwarf {

int pt_regs_offset(unsigned r) {
  // struct pt_regs (x86-64): r15 r14 r13 r12 rbp rbx r11 r10 r9 r8 rax rcx
  // rdx rsi rdi orig_rax rip cs eflags rsp ss.
  static const int table[17] = {
      80,   // 0 rax
      96,   // 1 rdx
      88,   // 2 rcx
      40,   // 3 rbx
      104,  // 4 rsi
      112,  // 5 rdi
      32,   // 6 rbp
      152,  // 7 rsp
      72,   // 8 r8
      64,   // 9 r9
      56,   // 10 r10
      48,   // 11 r11
      24,   // 12 r12
      16,   // 13 r13
      8,    // 14 r14
      0,    // 15 r15
      128,  // 16 rip (return address column; in pt_regs: ip)
  };
  return r < 17 ? table[r] : -1;
}

std::string register_name(unsigned r) {
  static const char *names[17] = {"rax", "rdx", "rcx", "rbx", "rsi", "rdi", "rbp", "rsp", "r8",
                                  "r9",  "r10", "r11", "r12", "r13", "r14", "r15", "rip"};
  if (r < 17) return names[r];
  if (r >= 17 && r <= 32) return "xmm" + std::to_string(r - 17);
  if (r >= 33 && r <= 40) return "st" + std::to_string(r - 33);
  if (r >= 41 && r <= 48) return "mm" + std::to_string(r - 41);
  return "reg" + std::to_string(r);
}

bool Piece::reg_plus_offset(unsigned &reg, int64_t &offset) const {
  if (kind != Kind::Memory && kind != Kind::Value) return false;
  if (expr.size() == 1 && expr[0].code == ExprOp::Reg) {
    reg = unsigned(expr[0].value);
    offset = 0;
    return true;
  }
  if (expr.size() == 3 && expr[0].code == ExprOp::Reg && expr[1].code == ExprOp::Const &&
      (expr[2].code == ExprOp::Add || expr[2].code == ExprOp::Sub)) {
    reg = unsigned(expr[0].value);
    offset = expr[2].code == ExprOp::Add ? expr[1].value : -expr[1].value;
    return true;
  }
  return false;
}

static std::string hex(uint64_t v) {
  char buf[32];
  snprintf(buf, sizeof buf, "0x%llx", (unsigned long long)v);
  return buf;
}

static std::string expr_string(const std::vector<ExprOp> &expr) {
  std::vector<std::string> st;
  auto pop = [&]() {
    if (st.empty()) return std::string("?");
    std::string s = st.back();
    st.pop_back();
    return s;
  };
  for (const ExprOp &op : expr) {
    switch (op.code) {
      case ExprOp::Const: st.push_back(std::to_string(op.value)); break;
      case ExprOp::Reg: st.push_back(register_name(unsigned(op.value))); break;
      case ExprOp::EntryReg: st.push_back("entry(" + register_name(unsigned(op.value)) + ")"); break;
      case ExprOp::Addr: st.push_back(hex(uint64_t(op.value))); break;
      case ExprOp::Deref: st.push_back("*(u" + std::to_string(op.value * 8) + ")(" + pop() + ")"); break;
      case ExprOp::Neg: st.push_back("-(" + pop() + ")"); break;
      case ExprOp::Not: st.push_back("~(" + pop() + ")"); break;
      case ExprOp::Dup: { std::string a = pop(); st.push_back(a); st.push_back(a); break; }
      case ExprOp::Drop: pop(); break;
      case ExprOp::Swap: { std::string b = pop(), a = pop(); st.push_back(b); st.push_back(a); break; }
      case ExprOp::Over: { std::string b = pop(), a = pop(); st.push_back(a); st.push_back(b); st.push_back(a); break; }
      default: {
        std::string b = pop(), a = pop();
        const char *o = "?";
        switch (op.code) {
          case ExprOp::Add: o = "+"; break;
          case ExprOp::Sub: o = "-"; break;
          case ExprOp::Mul: o = "*"; break;
          case ExprOp::And: o = "&"; break;
          case ExprOp::Or: o = "|"; break;
          case ExprOp::Xor: o = "^"; break;
          case ExprOp::Shl: o = "<<"; break;
          case ExprOp::Shr: o = ">>"; break;
          case ExprOp::Shra: o = ">>a"; break;
          default: break;
        }
        st.push_back("(" + a + o + b + ")");
      }
    }
  }
  if (st.empty()) return "?";
  std::string r = st.back();
  if (r.size() > 2 && r.front() == '(' && r.back() == ')') {
    int depth = 0;
    bool outer = true;
    for (size_t i = 0; i + 1 < r.size(); i++) {
      depth += r[i] == '(' ? 1 : r[i] == ')' ? -1 : 0;
      if (depth == 0) outer = false;
    }
    if (outer) r = r.substr(1, r.size() - 2);
  }
  return r;
}

std::string Piece::describe() const {
  switch (kind) {
    case Kind::Register: return "reg " + register_name(regno);
    case Kind::Memory: {
      unsigned r;
      int64_t off;
      if (reg_plus_offset(r, off)) {
        std::string s = "mem [" + register_name(r);
        if (off > 0) s += "+" + std::to_string(off);
        if (off < 0) s += std::to_string(off);
        return s + "]";
      }
      return "mem [" + expr_string(expr) + "]";
    }
    case Kind::Value: return "value (" + expr_string(expr) + ")";
    case Kind::Implicit: {
      std::string s = "implicit " + std::to_string(bytes.size()) + " bytes";
      return s;
    }
    case Kind::Undefined: return "optimized out";
  }
  return "?";
}

static bool any_op(const Location &l, ExprOp::Code c) {
  for (const Piece &p : l.pieces)
    for (const ExprOp &op : p.expr)
      if (op.code == c) return true;
  return false;
}

bool Location::uses_link_time_address() const { return any_op(*this, ExprOp::Addr); }
bool Location::uses_entry_value() const { return any_op(*this, ExprOp::EntryReg); }

std::string Location::describe() const {
  if (!ok()) return error.empty() ? "no location" : error;
  if (pieces.size() == 1) return pieces[0].describe();
  std::string s = "pieces:";
  for (size_t i = 0; i < pieces.size(); i++) {
    s += i ? ", " : " ";
    s += pieces[i].describe() + " (" + std::to_string(pieces[i].size) + " bytes)";
  }
  return s;
}

}  // namespace gt::dwarf
