// Stand-in for what codegen emits for the script (probe indices in brackets):
//
//   [0] BEGIN { printf("BEGIN\n"); @c[1] = count(); @c[2] = count(); @c[2] = count();
//         print(@c); @z[2] = 5; @mi[1] = min(5); zero(@z); zero(@mi); print(@z); print(@mi);
//         clear(@c); print(@c); time("time-literal\n"); print(5); print((1, "two"));
//         print(ntop(0x0100007f)); print(buf("q\x03", 2)); join(["a", "b"], ",");
//         cat("/proc/sys/kernel/ostype"); cat("/nonexistent/x"); printf("end of BEGIN\n"); }
//   [1] uprobe:target:work { printf("%s\n", usym(reg("ip"))); @u[ustack] = count(); }
//
// and (system.json, whose BEGIN is gt_begin_sys):
//   [0] BEGIN { system("echo sys %d", 7); exit(); }
#include <linux/bpf.h>
#include <asm/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct gt_config {
  __u32 target_pid;
  __u32 reserved;
};
const volatile struct gt_config gt_config = {};

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 1 << 16);
} gt_events SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 2);
  __type(key, __u32);
  __type(value, __u64);
} gt_lost SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_STACK_TRACE);
  __uint(max_entries, 1024);
  __uint(key_size, sizeof(__u32));
  __uint(value_size, 127 * sizeof(__u64));
} gt_stacks SEC(".maps");

struct minmax { __s64 v; __u64 valid; };
struct stackkey { __s64 id; __u64 pid; };

struct { __uint(type, BPF_MAP_TYPE_PERCPU_HASH); __uint(max_entries, 64);
         __type(key, __s64); __type(value, __u64); } m_c SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 64);
         __type(key, __s64); __type(value, __s64); } m_z SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERCPU_HASH); __uint(max_entries, 64);
         __type(key, __s64); __type(value, struct minmax); } m_mi SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERCPU_HASH); __uint(max_entries, 64);
         __type(key, struct stackkey); __type(value, __u64); } m_u SEC(".maps");

struct hdr { __u32 kind, id; };

static __always_inline void ev(__u32 kind, __u32 id) {
  struct hdr *e = bpf_ringbuf_reserve(&gt_events, sizeof(*e), 0);
  if (!e)
    return;
  e->kind = kind;
  e->id = id;
  bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
}

#define EV(K_, I_, T, fill)                                       \
  do {                                                              \
    struct { struct hdr h; T p; } *e = bpf_ringbuf_reserve(&gt_events, sizeof(*e), 0); \
    if (e) {                                                        \
      __builtin_memset(&e->p, 0, sizeof(e->p));                     \
      e->h.kind = K_;                                               \
      e->h.id = I_;                                                 \
      fill;                                                         \
      bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);                      \
    }                                                               \
  } while (0)

struct tup { __s64 a; char s[16]; };
struct inet { __u64 family; __u8 addr[16]; };
struct buf16 { __u64 len; __u8 data[16]; };
struct strs { char s[3][16]; };
struct path { char s[32]; };

SEC("raw_tp/gt_begin")
int gt_begin(void *ctx) {
  ev(1, 0);  // printf("BEGIN\n")
  __s64 k1 = 1, k2 = 2;
  __u64 one = 1, two = 2;
  bpf_map_update_elem(&m_c, &k1, &one, BPF_ANY);
  bpf_map_update_elem(&m_c, &k2, &two, BPF_ANY);
  ev(3, 0);  // print(@c)
  __s64 five = 5;
  bpf_map_update_elem(&m_z, &k2, &five, BPF_ANY);
  struct minmax mm = {5, 1};
  bpf_map_update_elem(&m_mi, &k1, &mm, BPF_ANY);
  ev(5, 1);  // zero(@z)
  ev(5, 2);  // zero(@mi)
  ev(3, 1);  // print(@z)
  ev(3, 2);  // print(@mi)
  ev(4, 0);  // clear(@c)
  ev(3, 0);  // print(@c)
  ev(6, 0);  // time("time-literal\n")
  EV(9, 0, __s64, e->p = 5);
  EV(9, 1, struct tup, e->p.a = 1; e->p.s[0] = 't'; e->p.s[1] = 'w'; e->p.s[2] = 'o');
  EV(9, 2, struct inet, e->p.family = 2; e->p.addr[0] = 127; e->p.addr[3] = 1);
  EV(9, 3, struct buf16, e->p.len = 2; e->p.data[0] = 'q'; e->p.data[1] = 3);
  EV(10, 0, struct strs, e->p.s[0][0] = 'a'; e->p.s[1][0] = 'b');
  EV(8, 1, struct path, __builtin_memcpy(e->p.s, "/proc/sys/kernel/ostype", 24));
  EV(8, 1, struct path, __builtin_memcpy(e->p.s, "/nonexistent/x", 15));
  ev(1, 2);  // printf("end of BEGIN\n")
  return 0;
}

SEC("raw_tp/gt_begin")
int gt_begin_sys(void *ctx) {
  EV(7, 3, __s64, e->p = 7);  // system("echo sys %d", 7)
  ev(2, 0);                   // exit()
  return 0;
}

SEC("uprobe")
int probe_work(struct pt_regs *ctx) {
  __u32 pid = bpf_get_current_pid_tgid() >> 32;
  if (gt_config.target_pid && pid != gt_config.target_pid)
    return 0;
  struct stackkey k = {bpf_get_stackid(ctx, &gt_stacks, BPF_F_USER_STACK), pid};
  __u64 *v = bpf_map_lookup_elem(&m_u, &k);
  if (v) {
    *v += 1;
  } else {
    __u64 one = 1;
    bpf_map_update_elem(&m_u, &k, &one, BPF_NOEXIST);
  }
  __u64 ip = PT_REGS_IP(ctx);
  EV(1, 4, struct stackkey, e->p.id = (__s64)ip; e->p.pid = pid);  // usym {addr, pid}
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
