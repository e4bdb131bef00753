// A program the verifier rejects: an unchecked map lookup result is
// dereferenced (line info points at the `*v += 1;` line).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 16);
  __type(key, __u64);
  __type(value, __u64);
} m SEC(".maps");

SEC("raw_tp/gt_begin")
int gt_begin(void *ctx) {
  __u64 k = 0;
  __u64 *v = bpf_map_lookup_elem(&m, &k);
  *v += 1;
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
