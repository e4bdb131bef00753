/* User-stack unwinder that runs inside BPF (DWARF CFI tables, frame pointers
 * or both), linked as bitcode into every generated program that uses ustack.
 *
 * Contract: stdlib/unwind_abi.h (maps and tables filled by runtime/unwind/).
 * Use from generated code, one unwind per event, spread over tail calls so
 * that each program stays small for the verifier:
 *
 *   probe:  gt_unwind_begin(ip, sp, bp, mode | at_entry, body_slot);
 *           bpf_tail_call(ctx, &progs, 0);
 *   slot 0: bpf_tail_call(ctx, &progs, gt_unwind_stage() ? 0 : gt_unwind_body());
 *   body:   id = gt_unwind_result();    (key of gt_ustacks, 0 = none)
 *
 * The state of the unwind in progress lives in a per-CPU map: the probe and
 * its tail calls run on one CPU, and kprobe-type programs do not nest there.
 * A stage walks its frames, and each frame searches its rows, in bpf_loop
 * callbacks: the verifier then checks a frame's code about once, not once
 * per frame and per search step (about 2500 instructions per stage, VMA
 * caches included, instead of 56000-68000 with bounded loops on kernel 6.18).
 *
 * The walk must give the same frames as the runtime's reference walker:
 *  - frame 0 is ip; a frame's row is looked up at the file offset of pc for
 *    frame 0 and right after a signal frame, of pc - 1 otherwise; the VMA is
 *    the one that holds that lookup address;
 *  - GT_UNWIND_FP never looks at modules (no VMA lookup, works in JIT code);
 *  - GT_UNWIND_AUTO, module with GT_MODULE_HAS_FP: frame-pointer step, except
 *    frame 0 when a row other than GT_CFA_NONE covers it;
 *  - after any step, a new pc of 0 ends the stack (GT_STOP_COMPLETE), also
 *    after a signal frame;
 *  - bpf_find_vma failing for another reason than "no VMA" (-EBUSY) ends it
 *    with GT_STOP_VMA_BUSY, unless the VMA is known (below).
 *
 * VMAs: bpf_find_vma works once per interrupt. With interrupts disabled
 * (perf_event programs: NMI or hrtimer interrupt) it releases the mmap lock
 * through a per-CPU irq_work that runs only after the interrupt, and a second
 * call finds it pending and returns -EBUSY; it also does when the mmap lock
 * is taken for writing. So each unwind keeps the VMAs it has met (most stacks
 * cross 2-4 modules: a few lookups per stack instead of one per frame), and
 * each process the VMAs bpf_find_vma recently returned (gt_unwind_vmas),
 * which stand in for the lookups it refuses (see GT_VMA_TRUST_NS).
 *
 * The entry points are global so that they survive in the bitcode; codegen
 * internalizes them after linking. Kernel structures are declared here with
 * preserve_access_index (no vmlinux.h): libbpf relocates each field access
 * against the running kernel's BTF at load time.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "stdlib/unwind_abi.h"

/* ------------------------------------------------------------ kernel types */

/* The ___gt suffix keeps these apart from any other declaration of the same
 * structs in a translation unit that includes this file; libbpf ignores the
 * suffix when matching them to the kernel's types. */
struct task_struct___gt {
  unsigned int flags;
  void *mm;
} __attribute__((preserve_access_index));

struct pt_regs___gt {
  unsigned long bp;
  unsigned long sp;
  unsigned long ip;
} __attribute__((preserve_access_index));

struct super_block___gt {
  unsigned int s_dev; /* dev_t: major << 20 | minor */
} __attribute__((preserve_access_index));

struct inode___gt {
  unsigned long i_ino;
  struct super_block___gt *i_sb;
} __attribute__((preserve_access_index));

struct file___gt {
  struct inode___gt *f_inode;
} __attribute__((preserve_access_index));

struct vm_area_struct___gt {
  unsigned long vm_start;
  unsigned long vm_end;
  unsigned long vm_pgoff;
  struct file___gt *vm_file;
} __attribute__((preserve_access_index));

#define GT_PF_KTHREAD 0x00200000u /* include/linux/sched.h */
#define GT_PAGE_SHIFT 12
#define GT_ENOENT 2
#define GT_EEXIST 17

/* ------------------------------------------------------------ maps */

struct gt_unwind_rows_inner {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  /* Lets the runtime insert row arrays of any length. */
  __uint(map_flags, BPF_F_INNER_MAP);
  /* Sizes, not BTF types: clang emits a struct reached only through a nested
   * map definition as a forward declaration, whose size libbpf cannot know. */
  __uint(key_size, sizeof(gt_u32));
  __uint(value_size, sizeof(struct gt_unwind_row));
};

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1024);
  __type(key, struct gt_module_key);
  __type(value, struct gt_module_info);
} gt_unwind_modules SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
  __uint(max_entries, 1024);
  __type(key, struct gt_module_key);
  __array(values, struct gt_unwind_rows_inner);
} gt_unwind_rows SEC(".maps");

/* A VMA as bpf_find_vma reported it, in the VMA caches below. Not part of
 * the ABI (test/stdlib/unwind_loader.cpp mirrors it to check the caches). */
struct gt_vma {
  gt_u64 start; /* [start, end) */
  gt_u64 end;
  gt_u64 pgoff; /* vm_pgoff: file offset of start in pages */
  gt_u64 ino;
  gt_u32 dev;   /* s_dev */
  gt_u32 file;  /* 0: anonymous mapping (JIT code, stack, heap) */
  gt_u64 time;  /* bpf_ktime_get_ns() when bpf_find_vma last returned it */
  gt_u64 check; /* gt_vma_check() of the fields above */
};

#define GT_VMA_SLOTS 8 /* a power of two */

/* A few VMAs of one process: those this unwind has met (gt_unwind_state), or
 * those recently confirmed in the process (gt_unwind_vmas). The same layout
 * for both, so that a process's entry in gt_unwind_vmas is created as a copy
 * of its unwind's set in one update. */
struct gt_vma_set {
  gt_u64 busy;  /* last time bpf_find_vma returned -EBUSY here, 0: never */
  gt_u32 count; /* this unwind: slots in use */
  gt_u32 next;  /* this unwind: next slot to replace when all are in use */
  struct gt_vma slot[GT_VMA_SLOTS];
};

/* The unwind in progress on this CPU. Not part of the ABI. */
struct gt_unwind_state {
  gt_u64 pc; /* registers of the current frame */
  gt_u64 sp;
  gt_u64 bp;
  gt_u64 hash;   /* running hash of the recorded frames */
  gt_u64 result; /* gt_ustacks key of the finished stack, 0 if none */
  gt_u32 flags;  /* gt_unwind_mode | GT_UNWIND_AT_ENTRY */
  gt_u32 body;   /* tail-call slot of the probe's body */
  gt_u32 exact;  /* look the row up at pc, not pc - 1 (frame 0, after a signal frame) */
  gt_u32 reserved;
  struct gt_ustack stack;
  struct gt_vma_set vmas; /* the VMAs this unwind has met */
};

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, gt_u32);
  __type(value, struct gt_unwind_state);
} gt_unwind_state SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 16384);
  /* Entries are created only for new stacks: allocate on demand. */
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, gt_u64);
  __type(value, struct gt_ustack);
} gt_ustacks SEC(".maps");

/* Key of gt_unwind_vmas: a process and its address space (a new one after
 * execve). */
struct gt_vma_owner {
  gt_u64 mm;
  gt_u64 tgid;
};

/* VMAs recently confirmed by bpf_find_vma in each process, in any program.
 * bpf_find_vma works once per interrupt: it releases the mmap lock through a
 * per-CPU irq_work that only runs once the interrupt is over, and returns
 * -EBUSY while that is pending. A perf_event sample gets one live lookup; the
 * other VMAs of its stack come from here. Not part of the ABI. */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 1024);
  __type(key, struct gt_vma_owner);
  __type(value, struct gt_vma_set);
} gt_unwind_vmas SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 1 << 16);
} gt_unwind_requests SEC(".maps");

/* ------------------------------------------------------------ helpers */

/* Binary search steps: enough for any u32 row count. The search stops as
 * soon as the range is empty, so a table of n rows costs log2(n) + 1 lookups. */
#define GT_UNWIND_SEARCH_STEPS 32

static __always_inline struct gt_unwind_state *gt_state(void)
{
  gt_u32 zero = 0;
  return bpf_map_lookup_elem(&gt_unwind_state, &zero);
}

static __always_inline int gt_read(void *dst, gt_u32 size, gt_u64 addr)
{
  return bpf_probe_read_user(dst, size, (const void *)addr) ? GT_STOP_READ_ERROR : 0;
}

/* Order-dependent mixing of the recorded frames into the stack's id. */
static __always_inline gt_u64 gt_hash_mix(gt_u64 h, gt_u64 v)
{
  h = (h ^ v) * 0x9e3779b97f4a7c15ull;
  return h ^ (h >> 29);
}

/* MurmurHash3's 64-bit finalizer: spreads every input bit over the key. */
static __always_inline gt_u64 gt_hash_final(gt_u64 h)
{
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return h;
}

/* ------------------------------------------------------------ VMAs */

/* How long a VMA that bpf_find_vma returned is trusted without asking again,
 * when bpf_find_vma is busy. The VMAs of code rarely change (dlclose, then
 * another file mapped at the same address; execve gets a new key): a sample
 * taken in that second may show frames of the old module. */
#define GT_VMA_TRUST_NS 1000000000ull
/* In a process whose lookups were busy during the last GT_VMA_TRUST_NS (it
 * is sampled in interrupts), VMAs confirmed during the last GT_VMA_REFRESH_NS
 * are used without asking bpf_find_vma: its one lookup per interrupt then
 * goes to an older VMA of the stack, so that VMAs met only in outer frames
 * (main, _start) are confirmed again before their GT_VMA_TRUST_NS are over. */
#define GT_VMA_REFRESH_NS 200000000ull

/* Hash of a VMA's fields, never 0 (an entry being written has check 0).
 * Several CPUs write the entries of gt_unwind_vmas without a lock (tracing
 * programs cannot take a bpf_spin_lock): a reader uses an entry only when its
 * check matches its copy of the fields. */
static __always_inline gt_u64 gt_vma_check(const struct gt_vma *v)
{
  /* Odd multipliers: a change of any one field always changes the sum. */
  gt_u64 h = v->start * 0x9e3779b97f4a7c15ull + v->end * 0xc2b2ae3d27d4eb4full +
             v->pgoff * 0x165667b19e3779f9ull + v->ino * 0xff51afd7ed558ccdull +
             ((gt_u64)v->dev << 32 | v->file) * 0xc4ceb9fe1a85ec53ull +
             v->time * 0x27d4eb2f165667c5ull;
  return (h ^ (h >> 31)) | 1;
}

static long gt_vma_cb(void *task __attribute__((unused)), struct vm_area_struct___gt *vma,
                      struct gt_vma *v)
{
  v->start = vma->vm_start;
  v->end = vma->vm_end;
  v->pgoff = vma->vm_pgoff;
  struct file___gt *f = vma->vm_file;
  if (!f)
    return 0;
  struct inode___gt *inode = f->f_inode;
  if (!inode)
    return 0;
  v->ino = inode->i_ino;
  v->dev = inode->i_sb->s_dev;
  v->file = 1;
  return 0;
}

/* The searches of a gt_vma_set, one slot per bpf_loop step. */
struct gt_vma_find {
  struct gt_vma_set *set;
  gt_u64 addr;
  gt_u64 since; /* gt_unwind_vmas: only entries confirmed since then */
  gt_u32 found; /* this unwind: slot + 1; gt_unwind_vmas: 1 if v is set */
  gt_u32 reserved;
  struct gt_vma v; /* gt_unwind_vmas: the newest entry that holds addr */
};

/* This unwind's VMAs: written by this CPU only, no check needed. */
static long gt_mine_step(gt_u32 i, struct gt_vma_find *f)
{
  if (i >= GT_VMA_SLOTS)
    return 1;
  const struct gt_vma *v = &f->set->slot[i];
  if (f->addr - v->start < v->end - v->start) { /* start <= addr < end */
    f->found = i + 1;
    return 1;
  }
  return 0;
}

static long gt_proc_step(gt_u32 i, struct gt_vma_find *f)
{
  if (i >= GT_VMA_SLOTS)
    return 1;
  struct gt_vma c = f->set->slot[i];
  /* Check exactly the values copied, not others written since. */
  __asm__ volatile("" ::: "memory");
  if (f->addr - c.start >= c.end - c.start || c.time < f->since)
    return 0;
  if (f->found && c.time <= f->v.time)
    return 0;
  if (gt_vma_check(&c) != c.check)
    return 0;
  f->v = c;
  f->found = 1;
  return 0;
}

/* The newest entry of the process's VMAs that holds addr and was confirmed
 * since `since`, into out. */
static __always_inline int gt_proc_find(struct gt_vma_set *proc, gt_u64 addr, gt_u64 since,
                                        struct gt_vma *out)
{
  struct gt_vma_find f = {};
  f.set = proc;
  f.addr = addr;
  f.since = since;
  bpf_loop(GT_VMA_SLOTS, gt_proc_step, &f, 0);
  if (!f.found)
    return 0;
  *out = f.v;
  return 1;
}

/* Where a newly confirmed VMA goes in the process's VMAs: over an entry it
 * overlaps (the same VMA, or one that is gone), else over the oldest. */
struct gt_vma_place {
  struct gt_vma_set *set;
  gt_u64 start;
  gt_u64 end;
  gt_u64 oldest;
  gt_u32 slot;
  gt_u32 reserved;
};

static long gt_place_step(gt_u32 i, struct gt_vma_place *p)
{
  if (i >= GT_VMA_SLOTS)
    return 1;
  const struct gt_vma *v = &p->set->slot[i];
  if (v->start < p->end && p->start < v->end) {
    p->slot = i;
    return 1;
  }
  gt_u64 time = v->time;
  if (time < p->oldest) {
    p->oldest = time;
    p->slot = i;
  }
  return 0;
}

/* Records a VMA bpf_find_vma just returned in the process's VMAs. */
static __always_inline void gt_proc_put(struct gt_vma_set *proc, const struct gt_vma *v)
{
  struct gt_vma_place p = {};
  p.set = proc;
  p.start = v->start;
  p.end = v->end;
  p.oldest = ~0ull;
  bpf_loop(GT_VMA_SLOTS, gt_place_step, &p, 0);
  struct gt_vma *d = &proc->slot[p.slot & (GT_VMA_SLOTS - 1)];
  d->check = 0;
  __asm__ volatile("" ::: "memory");
  d->start = v->start;
  d->end = v->end;
  d->pgoff = v->pgoff;
  d->ino = v->ino;
  d->dev = v->dev;
  d->file = v->file;
  d->time = v->time;
  __asm__ volatile("" ::: "memory");
  d->check = v->check;
}

/* Records a VMA in this unwind's VMAs, over the oldest when all are used.
 * Returns its slot. */
static __always_inline gt_u32 gt_mine_put(struct gt_vma_set *mine, const struct gt_vma *v)
{
  gt_u32 i = mine->count;
  if (i < GT_VMA_SLOTS)
    mine->count = i + 1;
  else
    i = mine->next++;
  i &= GT_VMA_SLOTS - 1;
  mine->slot[i] = *v;
  return i;
}

/* A VMA this unwind has not met yet. */
struct gt_vma_miss {
  gt_u64 addr; /* in */
  gt_u32 slot; /* out: its slot in this unwind's VMAs */
  gt_u32 stop; /* out: 0 or a stop reason */
};

/* Finds the VMA that holds m->addr through bpf_find_vma or, when that is
 * busy, among the VMAs the process confirmed during the last
 * GT_VMA_TRUST_NS; records it in this unwind's VMAs. A bpf_loop callback of
 * one iteration: its paths end here, and the frame's step after it is
 * checked once for all of them. */
static long gt_vma_miss_cb(gt_u32 i __attribute__((unused)), struct gt_vma_miss *m)
{
  struct gt_unwind_state *st = gt_state();
  if (!st) {
    m->stop = GT_STOP_VMA_BUSY;
    return 1;
  }
  struct gt_vma_set *mine = &st->vmas;
  gt_u64 addr = m->addr;
  struct task_struct___gt *task = (void *)bpf_get_current_task_btf();
  struct gt_vma_owner owner = {};
  owner.mm = (gt_u64)task->mm;
  owner.tgid = bpf_get_current_pid_tgid() >> 32;
  struct gt_vma_set *proc = bpf_map_lookup_elem(&gt_unwind_vmas, &owner);
  if (!proc) {
    /* The process's first VMA. This unwind's VMAs, if any, all come from
     * bpf_find_vma (the unused slots have check 0). */
    bpf_map_update_elem(&gt_unwind_vmas, &owner, mine, BPF_NOEXIST);
    proc = bpf_map_lookup_elem(&gt_unwind_vmas, &owner);
    if (!proc) { /* rare: the map could not take it (in an interrupt) */
      m->stop = GT_STOP_VMA_BUSY;
      return 1;
    }
  }
  gt_u64 now = bpf_ktime_get_ns();
  struct gt_vma v = {};
  int found = gt_proc_find(proc, addr, now - GT_VMA_TRUST_NS, &v), live = 0;
  /* In a process whose lookups were busy lately (sampled in interrupts), a
   * VMA confirmed during the last GT_VMA_REFRESH_NS is used as is. */
  int fresh = found && now - v.time < GT_VMA_REFRESH_NS && now - proc->busy < GT_VMA_TRUST_NS;
  if (!mine->busy && !fresh) {
    struct gt_vma w = {};
    long err = bpf_find_vma((void *)task, addr, gt_vma_cb, &w, 0);
    if (err == -GT_ENOENT) {
      m->stop = GT_STOP_NO_MAPPING;
      return 1;
    }
    if (err) { /* -EBUSY: in an interrupt after another lookup, or the mmap lock is taken */
      mine->busy = now;
      proc->busy = now;
    } else {
      w.time = now;
      w.check = gt_vma_check(&w);
      v = w;
      found = live = 1;
    }
  }
  if (!found) {
    m->stop = GT_STOP_VMA_BUSY;
    return 1;
  }
  m->slot = gt_mine_put(mine, &v);
  m->stop = 0;
  if (live)
    gt_proc_put(proc, &v);
  return 1;
}

/* The VMA that holds addr, in this unwind's VMAs (*slot). Returns 0 or a stop
 * reason. */
static __always_inline int gt_vma_get(struct gt_unwind_state *st, gt_u64 addr, gt_u32 *slot)
{
  struct gt_vma_find f = {};
  f.set = &st->vmas;
  f.addr = addr;
  bpf_loop(st->vmas.count, gt_mine_step, &f, 0);
  if (f.found) {
    *slot = f.found - 1;
    return 0;
  }
  struct gt_vma_miss m = {};
  m.addr = addr;
  m.stop = GT_STOP_VMA_BUSY;
  bpf_loop(1, gt_vma_miss_cb, &m, 0);
  *slot = m.slot;
  return m.stop;
}

/* Asks the runtime for the table of a module it has not loaded yet. */
static __always_inline void gt_request(gt_u64 pc, const struct gt_module_key *key)
{
  struct gt_unwind_request req = {};
  req.pid = bpf_get_current_pid_tgid() >> 32;
  req.pc = pc;
  req.key = *key;
  bpf_ringbuf_output(&gt_unwind_requests, &req, sizeof(req), 0);
}

/* The binary search for the row that covers off, one bpf_loop step at a
 * time. */
struct gt_search {
  void *rows;
  gt_u64 off;
  gt_u32 lo; /* rows [0, lo) have pc <= off */
  gt_u32 hi; /* rows [hi, n) have pc > off */
};

static long gt_search_step(gt_u32 i __attribute__((unused)), struct gt_search *s)
{
  if (s->lo >= s->hi)
    return 1;
  gt_u32 mid = s->lo + (s->hi - s->lo) / 2;
  const struct gt_unwind_row *r = bpf_map_lookup_elem(s->rows, &mid);
  if (!r) { /* rows says more than the array holds */
    s->lo = 0;
    return 1;
  }
  if (r->pc <= s->off)
    s->lo = mid + 1;
  else
    s->hi = mid;
  return 0;
}

/* How many of the first n rows have pc <= off: the row that covers off is
 * the one before, if any. bpf_loop, not a bounded loop: the verifier checks
 * the step once instead of once per iteration and per path to it. */
static __always_inline gt_u32 gt_rows_upto(void *rows, gt_u32 n, gt_u64 off)
{
  struct gt_search s = {.rows = rows, .off = off, .lo = 0, .hi = n};
  bpf_loop(GT_UNWIND_SEARCH_STEPS, gt_search_step, &s, 0);
  return s.lo;
}

/* ------------------------------------------------------------ one frame */

/* Frame-pointer step. At a function's first instruction the return address
 * is at sp and bp is still the caller's; everywhere else bp is this frame's
 * base: [bp] = caller's bp, [bp + 8] = return address. */
static __always_inline int gt_fp_step(struct gt_unwind_state *st, int first)
{
  gt_u64 v[2];
  if (first && (st->flags & GT_UNWIND_AT_ENTRY)) {
    if (gt_read(v, 8, st->sp))
      return GT_STOP_READ_ERROR;
    st->sp += 8;
    st->pc = v[0];
    return 0;
  }
  gt_u64 bp = st->bp;
  if (!bp)
    return GT_STOP_COMPLETE;
  if (gt_read(v, sizeof(v), bp)) /* one read: saved bp and return address */
    return GT_STOP_READ_ERROR;
  st->sp = bp + 16;
  st->bp = v[0];
  st->pc = v[1];
  return 0;
}

/* CFI step with the row that covers this frame's pc. */
static __always_inline int gt_cfi_step(struct gt_unwind_state *st, const struct gt_unwind_row *row)
{
  gt_u8 kind = row->cfa_kind;
  gt_u8 bp_kind = row->bp_kind;
  gt_s16 cfa_off = row->cfa_off, bp_off = row->bp_off, ra_off = row->ra_off;
  gt_u64 cfa, v;

  switch (kind) {
  case GT_CFA_SP:
    cfa = st->sp + cfa_off;
    break;
  case GT_CFA_BP:
    cfa = st->bp + cfa_off;
    break;
  case GT_CFA_PLT:
    /* The PLT's DWARF expression: sp + 8, plus 8 once the entry has pushed
     * its argument. pc & 15 is the same for the address and its file offset
     * (mappings are page aligned). */
    cfa = st->sp + 8 + ((st->pc & 15) >= 11 ? 8 : 0);
    break;
  case GT_CFA_SIGNAL: {
    /* sp points at the ucontext the kernel pushed; read bp..ip at once. */
    gt_u64 regs[(GT_SIGFRAME_IP_OFF - GT_SIGFRAME_BP_OFF) / 8 + 1];
    if (gt_read(regs, sizeof(regs), st->sp + GT_SIGFRAME_BP_OFF))
      return GT_STOP_READ_ERROR;
    st->bp = regs[0];
    st->sp = regs[(GT_SIGFRAME_SP_OFF - GT_SIGFRAME_BP_OFF) / 8];
    st->pc = regs[(GT_SIGFRAME_IP_OFF - GT_SIGFRAME_BP_OFF) / 8];
    /* The interrupted pc is not a return address: look it up as is. */
    st->exact = 1;
    return 0;
  }
  case GT_CFA_END:
    return GT_STOP_COMPLETE;
  case GT_CFA_NONE:
    return GT_STOP_NO_CFI;
  default:
    return GT_STOP_UNSUPPORTED;
  }

  if (gt_read(&v, 8, cfa + ra_off))
    return GT_STOP_READ_ERROR;
  if (bp_kind == GT_REG_AT_CFA) {
    gt_u64 bp;
    if (gt_read(&bp, 8, cfa + bp_off))
      return GT_STOP_READ_ERROR;
    st->bp = bp;
  }
  st->sp = cfa;
  st->pc = v;
  return 0;
}

/* Step through the module's table (modes AUTO and DWARF). */
static __always_inline int gt_table_step(struct gt_unwind_state *st, int first, gt_u32 mode)
{
  gt_u64 pc = st->pc;
  /* A return address points after the call, maybe already into the next
   * function's row: look up the call itself. */
  gt_u64 addr = st->exact ? pc : pc - 1;
  gt_u32 slot = 0;
  int stop = gt_vma_get(st, addr, &slot);
  if (stop)
    return stop;
  const struct gt_vma *vma = &st->vmas.slot[slot & (GT_VMA_SLOTS - 1)];
  if (!vma->file)
    return GT_STOP_NO_MAPPING;
  gt_u64 offset = addr - vma->start + (vma->pgoff << GT_PAGE_SHIFT);

  struct gt_module_key key = {};
  key.dev = vma->dev;
  key.ino = vma->ino;
  const struct gt_module_info *info = bpf_map_lookup_elem(&gt_unwind_modules, &key);
  if (!info) {
    gt_request(pc, &key);
    return GT_STOP_NO_MODULE;
  }
  gt_u32 nrows = info->rows;
  int has_fp = mode == GT_UNWIND_AUTO && (info->flags & GT_MODULE_HAS_FP);
  st->exact = 0;
  /* Frame pointers are trusted from frame 1 on; frame 0 may be stopped in a
   * prologue or epilogue, where only the CFI is right. */
  if (has_fp && !first)
    return gt_fp_step(st, first);

  const struct gt_unwind_row *row = NULL;
  void *rows = nrows ? bpf_map_lookup_elem(&gt_unwind_rows, &key) : NULL;
  if (rows) {
    gt_u32 upto = gt_rows_upto(rows, nrows, offset);
    if (upto) {
      gt_u32 idx = upto - 1;
      row = bpf_map_lookup_elem(rows, &idx);
    }
  }
  if (has_fp && (!row || row->cfa_kind == GT_CFA_NONE))
    return gt_fp_step(st, first);
  if (!row)
    return GT_STOP_NO_CFI;
  return gt_cfi_step(st, row);
}

/* Records the current frame and computes its caller. Returns the stop
 * reason, 0 to go on. */
static __always_inline int gt_step(struct gt_unwind_state *st)
{
  gt_u32 n = st->stack.len;
  if (n >= GT_UNWIND_MAX_FRAMES)
    return GT_STOP_DEPTH;
  gt_u64 pc = st->pc;
  st->stack.frames[n & (GT_UNWIND_MAX_FRAMES - 1)] = pc;
  st->stack.len = n + 1;
  st->hash = gt_hash_mix(st->hash, pc);

  gt_u32 mode = st->flags & 0xff;
  int stop;
  if (mode == GT_UNWIND_FP)
    stop = gt_fp_step(st, n == 0); /* needs no tables, works in JIT code too */
  else
    stop = gt_table_step(st, n == 0, mode);
  if (stop)
    return stop;
  if (st->pc == 0)
    return GT_STOP_COMPLETE;
  if (n + 1 >= GT_UNWIND_MAX_FRAMES)
    return GT_STOP_DEPTH;
  return 0;
}

/* One frame per bpf_loop iteration: the verifier checks the frame's code
 * once instead of once per frame of the stage. */
static long gt_frame_cb(gt_u32 i __attribute__((unused)), void *ctx __attribute__((unused)))
{
  struct gt_unwind_state *st = gt_state();
  if (!st)
    return 1;
  int stop = gt_step(st);
  if (stop) {
    st->stack.stop = stop;
    return 1;
  }
  return 0;
}

/* Stores the finished stack; equal stacks share one entry. */
static __always_inline void gt_finish(struct gt_unwind_state *st)
{
  gt_u64 id = gt_hash_final(st->hash ^ ((gt_u64)st->stack.len | (gt_u64)st->stack.stop << 32));
  if (!id)
    id = 1;
  long err = bpf_map_update_elem(&gt_ustacks, &id, &st->stack, BPF_NOEXIST);
  st->result = (err == 0 || err == -GT_EEXIST) ? id : 0;
}

/* ------------------------------------------------------------ entry points */

int gt_unwind_begin(gt_u64 ip, gt_u64 sp, gt_u64 bp, gt_u32 flags, gt_u32 body)
{
  struct gt_unwind_state *st = gt_state();
  if (!st)
    return -1;
  st->pc = ip;
  st->sp = sp;
  st->bp = bp;
  st->hash = 0x6a09e667f3bcc909ull;
  st->result = 0;
  st->flags = flags;
  st->body = body;
  st->exact = 1;
  st->stack.len = 0;
  /* No user context (kernel thread): an empty, complete stack. */
  st->stack.stop = ip ? GT_STOP_NONE : GT_STOP_COMPLETE;
  /* Stale frames of an earlier unwind must not reach gt_ustacks. */
  __builtin_memset(st->stack.frames, 0, sizeof(st->stack.frames));
  /* VMAs of an earlier unwind (maybe of another process) must not reach
   * gt_unwind_vmas either: gt_proc_put copies the whole set. (Volatile: clang
   * would merge these stores and the memset above into a memset too long for
   * the BPF backend to expand.) */
  struct gt_vma_set *mine = &st->vmas;
  *(volatile gt_u64 *)&mine->busy = 0;
  *(volatile gt_u32 *)&mine->count = 0;
  *(volatile gt_u32 *)&mine->next = 0;
#pragma unroll
  for (int i = 0; i < GT_VMA_SLOTS; i++)
    *(volatile gt_u64 *)&mine->slot[i].check = 0;
  return 0;
}

int gt_unwind_begin_current(gt_u32 flags, gt_u32 body)
{
  struct task_struct___gt *task = (void *)bpf_get_current_task_btf();
  if (task->flags & GT_PF_KTHREAD)
    return gt_unwind_begin(0, 0, 0, flags, body);
  /* The user registers saved at kernel entry (syscall, interrupt, fault). */
  struct pt_regs___gt *regs = (void *)bpf_task_pt_regs((void *)task);
  return gt_unwind_begin(regs->ip, regs->sp, regs->bp, flags, body);
}

int gt_unwind_stage(void)
{
  struct gt_unwind_state *st = gt_state();
  if (!st)
    return 0;
  if (st->stack.stop == GT_STOP_NONE) {
    bpf_loop(GT_UNWIND_FRAMES_PER_STAGE, gt_frame_cb, NULL, 0);
    if (st->stack.stop == GT_STOP_NONE)
      return 1;
  }
  gt_finish(st);
  return 0;
}

gt_u32 gt_unwind_body(void)
{
  struct gt_unwind_state *st = gt_state();
  return st ? st->body : 0;
}

gt_u64 gt_unwind_result(void)
{
  struct gt_unwind_state *st = gt_state();
  return st ? st->result : 0;
}
