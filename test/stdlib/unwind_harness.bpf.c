/* Test harness for stdlib/unwind.bpf.c: the programs that generated code
 * emits around the unwinder for a probe that uses ustack (entry, stage and
 * body programs chained by tail calls), plus entries of the other program
 * types that unwind the current task's user stack.
 *
 * Built two ways by test/lit/codegen/stdlib-unwind-{verifier,run}.test:
 *  - including unwind.bpf.c: the entry points stay global functions, which
 *    the verifier checks on their own;
 *  - with -DGT_HARNESS_LINKED, linked with the built unwind.bc and
 *    internalized like codegen does (llvm-link + opt + llc -mcpu=v3).
 * test/stdlib/unwind_loader.cpp runs it on a live process.
 */
/* x86-64 only, like the unwind tables (GT_SIGFRAME_*). */
#ifndef __TARGET_ARCH_x86
#define __TARGET_ARCH_x86
#endif
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#ifdef GT_HARNESS_LINKED
#include "stdlib/unwind_abi.h"
int gt_unwind_begin(gt_u64 ip, gt_u64 sp, gt_u64 bp, gt_u32 flags, gt_u32 body);
int gt_unwind_begin_current(gt_u32 flags, gt_u32 body);
int gt_unwind_stage(void);
gt_u32 gt_unwind_body(void);
gt_u64 gt_unwind_result(void);
#else
#include "../../stdlib/unwind.bpf.c"
#endif

char LICENSE[] SEC("license") = "GPL";

/* Set by the loader; zero (AUTO, not at entry, any process) under bpftool. */
struct gt_harness_cfg {
  __u32 flags;       /* gt_unwind_mode | GT_UNWIND_AT_ENTRY */
  __u32 stop_signal; /* signal the body sends to the traced process, 0: none */
  __u32 pid;         /* kprobe: only this process, 0: any */
  __u32 reserved;
};

struct gt_harness_out {
  __u64 id; /* gt_unwind_result() of the last event */
  __u64 events;
};

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct gt_harness_cfg);
} gt_harness_cfg SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct gt_harness_out);
} gt_harness_out SEC(".maps");

/* Events per stack (gt_unwind_result(), 0: none), like @[ustack] = count(). */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 16384);
  __type(key, __u64);
  __type(value, __u64);
} gt_harness_counts SEC(".maps");

#define GT_SLOT_STAGE 0
#define GT_SLOT_BODY 1

static __always_inline struct gt_harness_cfg *gt_harness_cfg_get(void)
{
  __u32 zero = 0;
  return bpf_map_lookup_elem(&gt_harness_cfg, &zero);
}

static __always_inline __u32 gt_harness_flags(void)
{
  struct gt_harness_cfg *cfg = gt_harness_cfg_get();
  return cfg ? cfg->flags : GT_UNWIND_AUTO;
}

/* Probes that fire in every process filter on the loader's child. */
static __always_inline int gt_harness_other_process(void)
{
  struct gt_harness_cfg *cfg = gt_harness_cfg_get();
  return cfg && cfg->pid && cfg->pid != bpf_get_current_pid_tgid() >> 32;
}

/* The stage program: more frames, or on to the probe's body. */
#define GT_HARNESS_STAGE(ctx, progs)                                                               \
  do {                                                                                             \
    if (gt_unwind_stage())                                                                         \
      bpf_tail_call(ctx, &progs, GT_SLOT_STAGE);                                                   \
    else                                                                                           \
      bpf_tail_call(ctx, &progs, gt_unwind_body());                                                \
  } while (0)

static __always_inline int gt_harness_body_common(void)
{
  __u32 zero = 0;
  struct gt_harness_out *out = bpf_map_lookup_elem(&gt_harness_out, &zero);
  __u64 id = gt_unwind_result();
  if (out) {
    out->id = id;
    __sync_fetch_and_add(&out->events, 1);
  }
  __u64 one = 1, *count = bpf_map_lookup_elem(&gt_harness_counts, &id);
  if (!count && bpf_map_update_elem(&gt_harness_counts, &id, &one, BPF_NOEXIST))
    count = bpf_map_lookup_elem(&gt_harness_counts, &id); /* inserted meanwhile */
  if (count)
    __sync_fetch_and_add(count, 1);
  struct gt_harness_cfg *cfg = gt_harness_cfg_get();
  /* Stopping the process keeps its mappings for the loader to read. */
  if (cfg && cfg->stop_signal)
    bpf_send_signal(cfg->stop_signal);
  return 0;
}

/* ---------------------------------------------- KPROBE programs (uprobes) */

int gt_harness_stage(struct pt_regs *ctx);
int gt_harness_body(struct pt_regs *ctx);

/* A program array holds programs of one type: each type needs its own
 * stage and body programs. Slot 0: the stage program; slot 1: the body. */
struct {
  __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
  __uint(max_entries, 2);
  __uint(key_size, sizeof(__u32)); /* a BTF key type makes the kernel refuse it */
  __array(values, int(void *));
} gt_harness_progs SEC(".maps") = {
    .values = {[GT_SLOT_STAGE] = (void *)&gt_harness_stage, [GT_SLOT_BODY] = (void *)&gt_harness_body},
};

/* A uprobe: the registers come from the probe's context. */
SEC("uprobe")
int gt_harness_uprobe(struct pt_regs *ctx)
{
  if (gt_unwind_begin(PT_REGS_IP(ctx), PT_REGS_SP(ctx), PT_REGS_FP(ctx), gt_harness_flags(),
                      GT_SLOT_BODY))
    return 0;
  bpf_tail_call(ctx, &gt_harness_progs, GT_SLOT_STAGE);
  return 0;
}

/* A kprobe (same program type, same chain): the task's user registers. */
SEC("kprobe")
int gt_harness_kprobe(struct pt_regs *ctx)
{
  if (gt_harness_other_process())
    return 0;
  if (gt_unwind_begin_current(gt_harness_flags() & ~GT_UNWIND_AT_ENTRY, GT_SLOT_BODY))
    return 0;
  bpf_tail_call(ctx, &gt_harness_progs, GT_SLOT_STAGE);
  return 0;
}

SEC("uprobe")
int gt_harness_stage(struct pt_regs *ctx)
{
  GT_HARNESS_STAGE(ctx, gt_harness_progs);
  return 0;
}

SEC("uprobe")
int gt_harness_body(struct pt_regs *ctx __attribute__((unused)))
{
  return gt_harness_body_common();
}

/* ---------------------------------------------- TRACEPOINT programs */

int gt_harness_tp_stage(void *ctx);
int gt_harness_tp_body(void *ctx);

struct {
  __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
  __uint(max_entries, 2);
  __uint(key_size, sizeof(__u32));
  __array(values, int(void *));
} gt_harness_tp_progs SEC(".maps") = {
    .values = {[GT_SLOT_STAGE] = (void *)&gt_harness_tp_stage, [GT_SLOT_BODY] = (void *)&gt_harness_tp_body},
};

/* A syscall tracepoint: the task's user registers. */
SEC("tracepoint/syscalls/sys_enter_tgkill")
int gt_harness_tracepoint(void *ctx)
{
  if (gt_harness_other_process())
    return 0;
  if (gt_unwind_begin_current(gt_harness_flags() & ~GT_UNWIND_AT_ENTRY, GT_SLOT_BODY))
    return 0;
  bpf_tail_call(ctx, &gt_harness_tp_progs, GT_SLOT_STAGE);
  return 0;
}

SEC("tracepoint/syscalls/sys_enter_tgkill")
int gt_harness_tp_stage(void *ctx)
{
  GT_HARNESS_STAGE(ctx, gt_harness_tp_progs);
  return 0;
}

SEC("tracepoint/syscalls/sys_enter_tgkill")
int gt_harness_tp_body(void *ctx __attribute__((unused)))
{
  return gt_harness_body_common();
}

/* ---------------------------------------------- PERF_EVENT programs */

int gt_harness_pe_stage(void *ctx);
int gt_harness_pe_body(void *ctx);

struct {
  __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
  __uint(max_entries, 2);
  __uint(key_size, sizeof(__u32));
  __array(values, int(void *));
} gt_harness_pe_progs SEC(".maps") = {
    .values = {[GT_SLOT_STAGE] = (void *)&gt_harness_pe_stage, [GT_SLOT_BODY] = (void *)&gt_harness_pe_body},
};

/* A sampling event (profile:hz): the task's user registers, in an interrupt
 * where bpf_find_vma works once. */
SEC("perf_event")
int gt_harness_perf_event(void *ctx)
{
  if (gt_harness_other_process())
    return 0;
  if (gt_unwind_begin_current(gt_harness_flags() & ~GT_UNWIND_AT_ENTRY, GT_SLOT_BODY))
    return 0;
  bpf_tail_call(ctx, &gt_harness_pe_progs, GT_SLOT_STAGE);
  return 0;
}

SEC("perf_event")
int gt_harness_pe_stage(void *ctx)
{
  GT_HARNESS_STAGE(ctx, gt_harness_pe_progs);
  return 0;
}

SEC("perf_event")
int gt_harness_pe_body(void *ctx __attribute__((unused)))
{
  return gt_harness_body_common();
}
