// The reference walker: the BPF unwinder's algorithm in plain C++ (see
// walk_stack in unwind_tables.h). Keep the two in step.
#include "runtime/unwind/unwind_tables.h"

namespace gt::unwind {

WalkResult walk_stack(const Registers &regs, uint32_t mode_flags, const FindModule &find, const ReadWord &read) {
  WalkResult result;
  const uint32_t mode = mode_flags & 0xff;
  const bool at_entry = (mode_flags & GT_UNWIND_AT_ENTRY) != 0;
  uint64_t pc = regs.ip, sp = regs.sp, bp = regs.bp;
  bool exact_pc = true;  // frame 0, and the frame a signal interrupted

  while (result.frames.size() < GT_UNWIND_MAX_FRAMES) {
    result.frames.push_back(pc);
    const bool first = result.frames.size() == 1;

    bool use_fp = mode == GT_UNWIND_FP;
    const gt_unwind_row *row = nullptr;
    if (!use_fp) {
      FrameModule fm = find(pc);
      if (fm.status == FrameModule::kNoMapping) {
        result.stop = GT_STOP_NO_MAPPING;
        return result;
      }
      if (fm.status == FrameModule::kNotLoaded) {
        result.stop = GT_STOP_NO_MODULE;
        return result;
      }
      use_fp = mode == GT_UNWIND_AUTO && (fm.flags & GT_MODULE_HAS_FP);
      if (!use_fp) {
        // A return address may be one past the end of the calling function.
        uint64_t lookup = fm.file_offset;
        if (!exact_pc) {
          if (lookup == 0) {
            result.stop = GT_STOP_NO_CFI;
            return result;
          }
          lookup -= 1;
        }
        row = fm.rows ? find_row(*fm.rows, lookup) : nullptr;
        if (!row || row->cfa_kind == GT_CFA_NONE) {
          result.stop = GT_STOP_NO_CFI;
          return result;
        }
      }
    }

    uint64_t ra = 0;
    if (use_fp) {
      if (first && at_entry) {
        // First instruction: the call just pushed the return address and
        // rbp still belongs to the caller.
        if (!read(sp, ra)) {
          result.stop = GT_STOP_READ_ERROR;
          return result;
        }
        sp += 8;
      } else {
        // The ABI's outermost-frame mark: _start clears rbp.
        if (bp == 0) {
          result.stop = GT_STOP_COMPLETE;
          return result;
        }
        uint64_t saved_bp;
        if (!read(bp + 8, ra) || !read(bp, saved_bp)) {
          result.stop = GT_STOP_READ_ERROR;
          return result;
        }
        sp = bp + 16;
        bp = saved_bp;
      }
    } else {
      switch (row->cfa_kind) {
      case GT_CFA_END:
        result.stop = GT_STOP_COMPLETE;
        return result;
      case GT_CFA_UNSUPPORTED:
        result.stop = GT_STOP_UNSUPPORTED;
        return result;
      case GT_CFA_SIGNAL: {
        // sp points at the ucontext the kernel pushed; the interrupted
        // registers are in its mcontext, and its ip is exact.
        uint64_t ip, new_sp, new_bp;
        if (!read(sp + GT_SIGFRAME_IP_OFF, ip) || !read(sp + GT_SIGFRAME_SP_OFF, new_sp) ||
            !read(sp + GT_SIGFRAME_BP_OFF, new_bp)) {
          result.stop = GT_STOP_READ_ERROR;
          return result;
        }
        if (ip == 0) {
          result.stop = GT_STOP_COMPLETE;
          return result;
        }
        pc = ip;
        sp = new_sp;
        bp = new_bp;
        exact_pc = true;
        continue;
      }
      default:
        break;
      }
      uint64_t cfa;
      if (row->cfa_kind == GT_CFA_SP)
        cfa = sp + int64_t(row->cfa_off);
      else if (row->cfa_kind == GT_CFA_BP)
        cfa = bp + int64_t(row->cfa_off);
      else  // GT_CFA_PLT: after the entry's push (byte 11 on) one more slot
        cfa = sp + 8 + ((pc & 15) >= 11 ? 8 : 0);
      if (!read(cfa + int64_t(row->ra_off), ra)) {
        result.stop = GT_STOP_READ_ERROR;
        return result;
      }
      if (row->bp_kind == GT_REG_AT_CFA && !read(cfa + int64_t(row->bp_off), bp)) {
        result.stop = GT_STOP_READ_ERROR;
        return result;
      }
      sp = cfa;
    }
    if (ra == 0) {
      result.stop = GT_STOP_COMPLETE;
      return result;
    }
    pc = ra;
    exact_pc = false;
  }
  result.stop = GT_STOP_DEPTH;
  return result;
}

}  // namespace gt::unwind
