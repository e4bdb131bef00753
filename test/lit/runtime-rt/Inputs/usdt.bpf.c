// Stand-in for: usdt:BIN:gt:NAME { @n = count(); } (a uprobe at the note's address).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct gt_config { __u32 target_pid; __u32 reserved; };
const volatile struct gt_config gt_config = {};

struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 1 << 12); } gt_events SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __uint(max_entries, 1);
         __type(key, __u32); __type(value, __u64); } gt_lost SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 1);
         __type(key, __u64); __type(value, __u64); } m_n SEC(".maps");

SEC("uprobe") int usdt_probe(void *ctx) {
  __u64 k = 0, one = 1;
  __u64 *v = bpf_map_lookup_elem(&m_n, &k);
  if (v)
    __sync_fetch_and_add(v, 1);
  else
    bpf_map_update_elem(&m_n, &k, &one, BPF_NOEXIST);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
