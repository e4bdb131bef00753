// Stand-in for:
//   [0] profile:hz:99 { @samples = count(); }
//   [1] interval:ms:50 { @ticks = count(); if (@ticks == 3) { printf("three ticks\n"); exit(); } }
// (the tick counter lives in an array map so that ticks after exit() are
// not counted and @ticks is exactly 3).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct gt_config {
  __u32 target_pid;
  __u32 reserved;
};
const volatile struct gt_config gt_config = {};

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 1 << 12);
} gt_events SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 2);
  __type(key, __u32);
  __type(value, __u64);
} gt_lost SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_HASH);
  __uint(max_entries, 16);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, __u64);
  __type(value, __u64);
} m_samples SEC(".maps"), m_ticks SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u64);
} tick_counter SEC(".maps");

struct ev { __u32 kind, id; };

static __always_inline void add(void *map) {
  __u64 zero = 0, one = 1;
  __u64 *v = bpf_map_lookup_elem(map, &zero);
  if (v)
    *v += 1;
  else
    bpf_map_update_elem(map, &zero, &one, BPF_NOEXIST);
}

static __always_inline void emit(__u32 kind, __u32 id, __u32 probe) {
  struct ev *e = bpf_ringbuf_reserve(&gt_events, sizeof(*e), 0);
  if (!e) {
    __u64 *l = bpf_map_lookup_elem(&gt_lost, &probe);
    if (l)
      *l += 1;
    return;
  }
  e->kind = kind;
  e->id = id;
  bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
}

SEC("perf_event")
int profile_99(void *ctx) {
  add(&m_samples);
  return 0;
}

SEC("perf_event")
int interval_50ms(void *ctx) {
  __u32 k = 0;
  __u64 *n = bpf_map_lookup_elem(&tick_counter, &k);
  if (!n)
    return 0;
  __u64 t = __sync_fetch_and_add(n, 1) + 1;
  if (t > 3)
    return 0;
  add(&m_ticks);
  if (t == 3) {
    emit(1, 0, 1);
    emit(2, 0, 1);
  }
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
