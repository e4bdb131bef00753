/* The layout shared by the BPF user-stack unwinder (stdlib/unwind.bpf.c) and
 * the runtime that fills its maps (runtime/unwind/). Plain C with fixed-width
 * types so both clang -target bpf and the C++ runtime include it.
 *
 * Modules are found in BPF through the VMA of each pc (bpf_find_vma), so the
 * tables need no per-process state: a module is keyed by the file's device and
 * inode, and row addresses are FILE OFFSETS, not virtual addresses. In BPF:
 *   file_offset = pc - vma->vm_start + (vma->vm_pgoff << 12)
 * The runtime converts each CFI address (ELF vaddr) to a file offset through
 * the PT_LOAD segment that contains it.
 */
#ifndef GT_STDLIB_UNWIND_ABI_H
#define GT_STDLIB_UNWIND_ABI_H

#ifdef __bpf__
typedef unsigned char gt_u8;
typedef signed short gt_s16;
typedef unsigned int gt_u32;
typedef unsigned long long gt_u64;
#else
#include <stdint.h>
typedef uint8_t gt_u8;
typedef int16_t gt_s16;
typedef uint32_t gt_u32;
typedef uint64_t gt_u64;
#endif

#define GT_UNWIND_MAX_FRAMES 128
/* Frames one tail-called stage walks before calling itself again. */
#define GT_UNWIND_FRAMES_PER_STAGE 8

/* How the canonical frame address (CFA, the caller's sp) is computed. */
enum gt_cfa_kind {
  GT_CFA_SP = 0,          /* cfa = sp + cfa_off */
  GT_CFA_BP = 1,          /* cfa = bp + cfa_off */
  GT_CFA_PLT = 2,         /* .plt: cfa = sp + 8 + ((pc & 15) >= 11 ? 8 : 0) */
  GT_CFA_SIGNAL = 3,      /* signal trampoline (__restore_rt): sp points at a
                             ucontext; registers come from its mcontext */
  GT_CFA_END = 4,         /* outermost frame (return address undefined): stop */
  GT_CFA_UNSUPPORTED = 5, /* a rule the unwinder cannot follow */
  GT_CFA_NONE = 6,        /* gap between FDEs: no CFI covers this pc */
};

/* Where the caller's bp is. The return address is always at cfa + ra_off. */
enum gt_reg_kind {
  GT_REG_SAME = 0,   /* unchanged (also: no rule) */
  GT_REG_AT_CFA = 1, /* saved at cfa + bp_off */
};

/* One row of a module's unwind table; a row covers [pc, next row's pc). */
struct gt_unwind_row {
  gt_u32 pc; /* file offset in the module */
  gt_u8 cfa_kind;
  gt_u8 bp_kind;
  gt_s16 cfa_off;
  gt_s16 bp_off;
  gt_s16 ra_off;
  gt_u32 reserved;
};

/* Offsets inside the ucontext_t that sp points at in __restore_rt. */
#define GT_SIGFRAME_BP_OFF 120
#define GT_SIGFRAME_SP_OFF 160
#define GT_SIGFRAME_IP_OFF 168

/* Key of gt_unwind_modules and gt_unwind_rows: the mapped file. `dev` is the
 * kernel's internal encoding (major << 20 | minor), as in inode->i_sb->s_dev. */
struct gt_module_key {
  gt_u64 dev;
  gt_u64 ino;
};

#define GT_MODULE_HAS_FP 1u /* compiled with frame pointers (auto mode uses them) */

struct gt_module_info {
  gt_u32 rows;  /* entries in this module's inner rows array */
  gt_u32 flags; /* GT_MODULE_* */
};

/* Unwinding mode, passed by generated code to gt_unwind_begin. */
enum gt_unwind_mode {
  GT_UNWIND_AUTO = 0,  /* per module: frame pointers if kept, else CFI */
  GT_UNWIND_FP = 1,    /* frame pointers everywhere */
  GT_UNWIND_DWARF = 2, /* CFI everywhere */
};
/* gt_unwind_begin flag: the probe is at a function's first instruction, so the
 * return address is at [sp] and bp still belongs to the caller. */
#define GT_UNWIND_AT_ENTRY 0x100u

/* Why a stack ended. Printed by the runtime unless COMPLETE. */
enum gt_stop_reason {
  GT_STOP_NONE = 0,        /* still unwinding */
  GT_STOP_COMPLETE = 1,    /* reached the outermost frame */
  GT_STOP_DEPTH = 2,       /* GT_UNWIND_MAX_FRAMES frames */
  GT_STOP_NO_CFI = 3,      /* the module has no row for this pc */
  GT_STOP_UNSUPPORTED = 4, /* a CFI rule the unwinder cannot follow */
  GT_STOP_READ_ERROR = 5,  /* reading the user stack failed */
  GT_STOP_NO_MODULE = 6,   /* the module's table is not loaded (requested) */
  GT_STOP_NO_MAPPING = 7,  /* pc is not in a file mapping (JIT, anonymous) */
  GT_STOP_VMA_BUSY = 8,    /* the VMA of pc could not be looked up: bpf_find_vma
                              was busy (a second lookup in one interrupt, e.g.
                              perf_event sampling) and the process had no
                              recently confirmed VMA there */
};

/* A finished stack, the value of gt_ustacks (key: u64 hash of the frames,
 * never 0; 0 means "no stack"). */
struct gt_ustack {
  gt_u32 len;
  gt_u32 stop;
  gt_u64 frames[GT_UNWIND_MAX_FRAMES];
};

/* What the BPF side sends through gt_unwind_requests (a ring buffer) when a pc
 * lies in a file whose table is not loaded. */
struct gt_unwind_request {
  gt_u32 pid;
  gt_u32 reserved;
  gt_u64 pc;
  struct gt_module_key key;
};

#endif
