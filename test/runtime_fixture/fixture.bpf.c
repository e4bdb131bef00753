// A hand-written stand-in for what codegen emits, following the ABI of
// docs/architecture.md, for the script (probe indices in brackets):
//
//   [0] BEGIN { printf("BEGIN %d %s\n", 42, "hello"); }
//   [1] uprobe:target:work {
//         printf("work x=%d name=%s\n", arg0, str(arg1));
//         @calls = count(); @by_name[str(arg1)] = count(); @h = hist(arg0);
//         @l = lhist(arg0, 0, 100, 10); @s = stats(arg0); @a[str(arg1)] = avg(arg0);
//         @mn = min(arg0); @mx = max(arg0); @sum = sum(arg0); @last = arg0;
//         @name[arg0] = str(arg1); }
//   [2] uretprobe:target:work { @ret[retval] = count(); }
//   [3] tracepoint:syscalls:sys_enter_getpid { @getpid = count(); }
//   [4] END { printf("END\n"); }
#include <linux/bpf.h>
#include <asm/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct gt_config {
  __u32 target_pid;
  __u32 reserved;
};
const volatile struct gt_config gt_config = {};

#ifndef RINGBUF_SIZE
#define RINGBUF_SIZE (1 << 16)
#endif
struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, RINGBUF_SIZE);
} gt_events SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 5);
  __type(key, __u32);
  __type(value, __u64);
} gt_lost SEC(".maps");

struct str16 { char s[16]; };
struct hkey { __u64 zero; __u64 bucket; };
struct sumcount { __s64 sum; __u64 count; };
struct minmax { __s64 v; __u64 valid; };

#define PERCPU(name, K, V) \
  struct { __uint(type, BPF_MAP_TYPE_PERCPU_HASH); __uint(max_entries, 4096); \
           __type(key, K); __type(value, V); } name SEC(".maps")
#define PLAIN(name, K, V) \
  struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 4096); \
           __type(key, K); __type(value, V); } name SEC(".maps")

PERCPU(m_calls, __u64, __u64);
PERCPU(m_by_name, struct str16, __u64);
PERCPU(m_h, struct hkey, __u64);
PERCPU(m_l, struct hkey, __u64);
PERCPU(m_s, __u64, struct sumcount);
PERCPU(m_a, struct str16, struct sumcount);
PERCPU(m_mn, __u64, struct minmax);
PERCPU(m_mx, __u64, struct minmax);
PERCPU(m_sum, __u64, __s64);
PLAIN(m_last, __u64, __s64);
PLAIN(m_name, __s64, struct str16);
PERCPU(m_ret, __s64, __u64);
PERCPU(m_getpid, __u64, __u64);

static __always_inline int skip(void) {
  return gt_config.target_pid && (bpf_get_current_pid_tgid() >> 32) != gt_config.target_pid;
}

static __always_inline void lost(__u32 probe) {
  __u64 *v = bpf_map_lookup_elem(&gt_lost, &probe);
  if (v)
    *v += 1;
}

static __always_inline void add(void *map, const void *key, __u64 by) {
  __u64 *v = bpf_map_lookup_elem(map, key);
  if (v) {
    *v += by;
    return;
  }
  bpf_map_update_elem(map, key, &by, BPF_NOEXIST);
}

static __always_inline void add_sc(void *map, const void *key, __s64 x) {
  struct sumcount *v = bpf_map_lookup_elem(map, key);
  if (v) {
    v->sum += x;
    v->count++;
    return;
  }
  struct sumcount n = {x, 1};
  bpf_map_update_elem(map, key, &n, BPF_NOEXIST);
}

static __always_inline void minmax(void *map, __s64 x, int is_min) {
  __u64 k = 0;
  struct minmax *v = bpf_map_lookup_elem(map, &k);
  if (v) {
    if (!v->valid || (is_min ? x < v->v : x > v->v)) {
      v->v = x;
      v->valid = 1;
    }
    return;
  }
  struct minmax n = {x, 1};
  bpf_map_update_elem(map, &k, &n, BPF_NOEXIST);
}

static __always_inline __u64 hist_bucket(__s64 v) {
  if (v < 0)
    return 0;
  if (v == 0)
    return 1;
  __u64 u = v, l = 0;
#pragma unroll
  for (int i = 32; i > 0; i >>= 1)
    if (u >= (1ULL << i)) {
      u >>= i;
      l += i;
    }
  return l + 2;
}

struct ev_begin { __u32 kind, id; __s64 v; char s[16]; };
struct ev_work { __u32 kind, id; __s32 x; char name[16]; };
struct ev_end { __u32 kind, id; };

SEC("raw_tp/gt_begin")
int gt_begin(void *ctx) {
  struct ev_begin *e = bpf_ringbuf_reserve(&gt_events, sizeof(*e), 0);
  if (!e) {
    lost(0);
    return 0;
  }
  e->kind = 1;
  e->id = 0;
  e->v = 42;
  __builtin_memset(e->s, 0, sizeof(e->s));
  e->s[0] = 'h';
  e->s[1] = 'e';
  e->s[2] = 'l';
  e->s[3] = 'l';
  e->s[4] = 'o';
  bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
  return 0;
}

SEC("uprobe")
int probe_work(struct pt_regs *ctx) {
  if (skip())
    return 0;
  __s64 x = (__s32)PT_REGS_PARM1(ctx);
  struct str16 name = {};
  bpf_probe_read_user_str(name.s, sizeof(name.s), (const void *)PT_REGS_PARM2(ctx));

  struct ev_work *e = bpf_ringbuf_reserve(&gt_events, sizeof(*e), 0);
  if (e) {
    e->kind = 1;
    e->id = 1;
    e->x = x;
    __builtin_memcpy(e->name, name.s, 16);
    bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
  } else {
    lost(1);
  }
  __u64 zero = 0;
  add(&m_calls, &zero, 1);
  add(&m_by_name, &name, 1);
  struct hkey hk = {0, hist_bucket(x)};
  add(&m_h, &hk, 1);
  struct hkey lk = {0, x < 0 ? 0 : x >= 100 ? 11 : 1 + (__u64)x / 10};
  add(&m_l, &lk, 1);
  add_sc(&m_s, &zero, x);
  add_sc(&m_a, &name, x);
  minmax(&m_mn, x, 1);
  minmax(&m_mx, x, 0);
  add(&m_sum, &zero, x);
  bpf_map_update_elem(&m_last, &zero, &x, BPF_ANY);
  bpf_map_update_elem(&m_name, &x, &name, BPF_ANY);
  return 0;
}

SEC("uretprobe")
int probe_work_ret(struct pt_regs *ctx) {
  if (skip())
    return 0;
  __s64 r = (__s32)PT_REGS_RC(ctx);
  add(&m_ret, &r, 1);
  return 0;
}

SEC("tracepoint/syscalls/sys_enter_getpid")
int probe_getpid(void *ctx) {
  if (skip())
    return 0;
  __u64 zero = 0;
  add(&m_getpid, &zero, 1);
  return 0;
}

SEC("raw_tp/gt_end")
int gt_end(void *ctx) {
  struct ev_end *e = bpf_ringbuf_reserve(&gt_events, sizeof(*e), 0);
  if (!e) {
    lost(4);
    return 0;
  }
  e->kind = 1;
  e->id = 2;
  bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
