// Hand-written stand-ins for codegen's kernel probes (tests of the runtime's
// attach code only). Each program counts into @c and sends exit().
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct gt_config { __u32 target_pid; __u32 reserved; };
const volatile struct gt_config gt_config = {};

struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 1 << 12); } gt_events SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __uint(max_entries, 1);
         __type(key, __u32); __type(value, __u64); } gt_lost SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 1);
         __type(key, __u64); __type(value, __u64); } m_c SEC(".maps");

static __always_inline int hit(void) {
  __u64 k = 0, one = 1;
  if (bpf_map_update_elem(&m_c, &k, &one, BPF_NOEXIST) == 0) {
    __u32 *e = bpf_ringbuf_reserve(&gt_events, 8, 0);
    if (e) {
      e[0] = 2;  // exit
      e[1] = 0;
      bpf_ringbuf_submit(e, 0);
    }
  }
  return 0;
}

SEC("kprobe") int kp(void *ctx) { return hit(); }
SEC("kretprobe") int krp(void *ctx) { return hit(); }
SEC("raw_tp") int rtp(void *ctx) { return hit(); }
SEC("perf_event") int sw(void *ctx) { return hit(); }
#ifdef WITH_FENTRY
SEC("fentry/do_sys_openat2") int fe(void *ctx) { return hit(); }
#endif

char LICENSE[] SEC("license") = "GPL";
