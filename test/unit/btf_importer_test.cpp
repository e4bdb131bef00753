// The BTF importer against this machine's kernel BTF. Offsets are checked
// against `bpftool btf dump file /sys/kernel/btf/vmlinux format raw` (run by
// the test), so they hold on any kernel; the shapes (pid_t is int, the
// prototype of do_sys_openat2...) hold on every recent x86-64 kernel.
#include "sema/btf/btf.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <sstream>

using namespace gt::btf;

namespace {

bool have_vmlinux() {
  struct stat st;
  return ::stat(kVmlinuxPath, &st) == 0;
}

#define REQUIRE_VMLINUX()                                                                  \
  do {                                                                                     \
    if (!have_vmlinux()) GTEST_SKIP() << kVmlinuxPath << " is absent (no CONFIG_DEBUG_INFO_BTF)"; \
  } while (0)

Btf &vmlinux() {
  static std::unique_ptr<Btf> b;
  if (!b) {
    std::string err;
    b = Btf::open_vmlinux(err);
    if (!b) ADD_FAILURE() << err;
  }
  return *b;
}

// bpftool's raw dump, parsed: "STRUCT 'task_struct'" -> member -> {bits_offset, bitfield_size}.
struct RawMember {
  uint64_t bits_offset = 0;
  uint32_t bitfield_size = 0;
};
using RawTypes = std::map<std::string, std::map<std::string, RawMember>>;

const RawTypes *bpftool_raw() {
  static RawTypes types;
  static int state = 0;  // 0 unknown, 1 ok, 2 unavailable
  if (state) return state == 1 ? &types : nullptr;
  state = 2;
  FILE *p = ::popen("bpftool btf dump file /sys/kernel/btf/vmlinux format raw 2>/dev/null", "r");
  if (!p) return nullptr;
  std::string cur;
  char line[4096];
  while (std::fgets(line, sizeof line, p)) {
    std::string s(line);
    if (s[0] == '[') {
      // [114] STRUCT 'task_struct' size=3264 vlen=248
      std::istringstream is(s);
      std::string id, kind, name;
      is >> id >> kind >> name;
      cur = (kind == "STRUCT" || kind == "UNION") && name != "'(anon)'" ? kind + " " + name : "";
      if (!cur.empty() && types.count(cur)) cur = "";  // keep the first definition
      if (!cur.empty()) types[cur];
    } else if (!cur.empty() && s[0] == '\t') {
      // 	'pid' type_id=68 bits_offset=10112 [bitfield_size=1]
      std::string name = s.substr(s.find('\'') + 1);
      name = name.substr(0, name.find('\''));
      RawMember m;
      size_t o = s.find("bits_offset=");
      if (o != std::string::npos) m.bits_offset = std::stoull(s.substr(o + 12));
      size_t f = s.find("bitfield_size=");
      if (f != std::string::npos) m.bitfield_size = uint32_t(std::stoul(s.substr(f + 14)));
      if (name != "(anon)") types[cur][name] = m;
    }
  }
  if (::pclose(p) == 0 && !types.empty()) state = 1;
  return state == 1 ? &types : nullptr;
}

// Checks a direct member of a named aggregate against bpftool.
void expect_like_bpftool(const Type *agg, const std::string &key, const std::string &member) {
  const RawTypes *raw = bpftool_raw();
  if (!raw) return;  // bpftool missing: the hard-coded shape checks still ran
  auto t = raw->find(key);
  ASSERT_NE(t, raw->end()) << key;
  auto m = t->second.find(member);
  ASSERT_NE(m, t->second.end()) << key << "." << member;
  const Member *found = nullptr;
  for (const Member &x : agg->members)
    if (x.name == member) found = &x;
  ASSERT_NE(found, nullptr) << member;
  EXPECT_EQ(found->offset * 8 + found->bit_offset, m->second.bits_offset) << key << "." << member;
  EXPECT_EQ(found->bit_size, m->second.bitfield_size) << key << "." << member;
}

}  // namespace

TEST(BtfImporter, OpenErrors) {
  std::string err;
  EXPECT_EQ(Btf::open("/nonexistent/vmlinux", err), nullptr);
  EXPECT_EQ(err, "cannot open BTF /nonexistent/vmlinux: No such file or directory");
  err.clear();
  EXPECT_EQ(Btf::open("/proc/self/status", err), nullptr);  // neither raw BTF nor ELF
  EXPECT_NE(err.find("cannot read BTF from /proc/self/status"), std::string::npos) << err;
}

TEST(BtfImporter, OpenIsCheapAndLazy) {
  REQUIRE_VMLINUX();
  using clock = std::chrono::steady_clock;
  auto ms = [](auto d) { return std::chrono::duration<double, std::milli>(d).count(); };
  double best = 1e9;
  for (int round = 0; round < 3; round++) {
    auto t0 = clock::now();
    std::string err;
    auto b = Btf::open_vmlinux(err);
    ASSERT_TRUE(b) << err;
    auto t1 = clock::now();
    EXPECT_GT(b->type_count(), 10000u);
    EXPECT_EQ(b->imported_count(), 0u);
    const Type *ts = b->find_type("struct task_struct");
    ASSERT_NE(ts, nullptr);
    auto t2 = clock::now();
    std::string e2;
    auto p = b->find_function("do_sys_openat2", e2);
    ASSERT_TRUE(p) << e2;
    auto t3 = clock::now();
    std::printf("[ timing ] round %d: open %.2f ms, find+import struct task_struct %.2f ms "
                "(%zu of %u types built), find_function do_sys_openat2 %.2f ms\n",
                round, ms(t1 - t0), ms(t2 - t1), b->imported_count(), b->type_count(), ms(t3 - t2));
    // Lazy: far from the whole BTF.
    EXPECT_LT(b->imported_count(), b->type_count() / 20);
    best = std::min(best, ms(t2 - t0));
  }
  // The target is < 50 ms on this machine; leave room for a loaded CI box.
  EXPECT_LT(best, 150.0);
}

TEST(BtfImporter, TaskStructPid) {
  REQUIRE_VMLINUX();
  Btf &b = vmlinux();
  const Type *ts = b.find_type("struct task_struct");
  ASSERT_NE(ts, nullptr);
  EXPECT_EQ(ts->kind, TypeKind::Struct);
  EXPECT_EQ(ts->name, "task_struct");
  EXPECT_FALSE(ts->is_declaration);
  EXPECT_EQ(ts->display(), "struct task_struct");
  EXPECT_EQ(b.find_type("task_struct"), ts);  // bare tag name
  EXPECT_EQ(b.find_type("  struct   task_struct "), ts);
  EXPECT_EQ(b.find_type("struct task_struct *")->target, ts);
  EXPECT_EQ(b.find_type("struct task_struct *"), b.pointer_to(ts));

  auto pid = b.find_member(ts, "pid");
  ASSERT_TRUE(pid);
  EXPECT_EQ(pid->type->display(), "pid_t");
  EXPECT_EQ(pid->type->kind, TypeKind::Typedef);
  const Type *r = pid->type->resolve();
  EXPECT_EQ(r->kind, TypeKind::Int);
  EXPECT_EQ(r->name, "int");
  EXPECT_EQ(r->size, 4u);
  EXPECT_TRUE(r->is_signed);
  EXPECT_EQ(pid->bit_size, 0u);
  expect_like_bpftool(ts, "STRUCT 'task_struct'", "pid");
  expect_like_bpftool(ts, "STRUCT 'task_struct'", "tgid");
  expect_like_bpftool(ts, "STRUCT 'task_struct'", "comm");
  expect_like_bpftool(ts, "STRUCT 'task_struct'", "real_parent");

  // char comm[16]: the kernel is built with -funsigned-char.
  auto comm = b.find_member(ts, "comm");
  ASSERT_TRUE(comm);
  EXPECT_EQ(comm->type->display(), "char [16]");
  EXPECT_EQ(comm->type->kind, TypeKind::Array);
  EXPECT_EQ(comm->type->count, 16u);
  EXPECT_TRUE(comm->type->target->is_char);
  EXPECT_EQ(comm->type->size, 16u);

  auto parent = b.find_member(ts, "real_parent");
  ASSERT_TRUE(parent);
  EXPECT_EQ(parent->type->display(), "struct task_struct *");
  EXPECT_EQ(parent->type->target, ts);  // memoized by BTF id: the same Type

  // Totals agree with the sizes BTF gives.
  EXPECT_GT(ts->size, 1000u);
  EXPECT_GT(ts->members.size(), 50u);
  for (const Member &m : ts->members) EXPECT_LE(m.offset + (m.bit_size ? 0 : m.type->size), ts->size) << m.name;
}

TEST(BtfImporter, StubsBehindPointersAreCompletedOnDemand) {
  REQUIRE_VMLINUX();
  std::string err;
  auto b = Btf::open_vmlinux(err);
  ASSERT_TRUE(b) << err;
  const Type *ts = b->find_type("struct task_struct");
  ASSERT_NE(ts, nullptr);
  auto mm = gt::dwarf::find_member(ts, "mm");
  ASSERT_TRUE(mm);
  const Type *mms = mm->type->resolve()->target;
  ASSERT_NE(mms, nullptr);
  EXPECT_EQ(mms->display(), "struct mm_struct");
  EXPECT_TRUE(mms->is_declaration);  // a stub: reached through a pointer
  EXPECT_TRUE(mms->members.empty());
  EXPECT_GT(mms->size, 0u);           // but its size is known
  size_t before = b->imported_count();
  EXPECT_EQ(b->complete(mms), mms);
  EXPECT_FALSE(mms->is_declaration);
  EXPECT_FALSE(mms->members.empty());
  EXPECT_GT(b->imported_count(), before);
  EXPECT_TRUE(b->find_member(mms, "pgd"));
  // Embedded aggregates are complete without asking: task_struct.se is a
  // struct sched_entity by value.
  auto se = gt::dwarf::find_member(ts, "se");
  ASSERT_TRUE(se);
  EXPECT_EQ(se->type->display(), "struct sched_entity");
  EXPECT_FALSE(se->type->is_declaration);
  EXPECT_TRUE(gt::dwarf::find_member(se->type, "vruntime"));
}

TEST(BtfImporter, Bitfields) {
  REQUIRE_VMLINUX();
  Btf &b = vmlinux();
  const Type *ts = b.find_type("struct task_struct");
  ASSERT_NE(ts, nullptr);
  auto f = b.find_member(ts, "sched_reset_on_fork");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->bit_size, 1u);
  EXPECT_LT(f->bit_offset, 8u);
  EXPECT_EQ(f->type->display(), "unsigned int");
  expect_like_bpftool(ts, "STRUCT 'task_struct'", "sched_reset_on_fork");
  expect_like_bpftool(ts, "STRUCT 'task_struct'", "sched_migrated");
  expect_like_bpftool(ts, "STRUCT 'task_struct'", "in_execve");

  const Type *skb = b.find_type("struct sk_buff");
  ASSERT_NE(skb, nullptr);
  auto fclone = b.find_member(skb, "fclone");  // __u8 fclone:2
  ASSERT_TRUE(fclone);
  EXPECT_EQ(fclone->bit_size, 2u);
  EXPECT_EQ(fclone->type->display(), "__u8");
  expect_like_bpftool(skb, "STRUCT 'sk_buff'", "cloned");
  expect_like_bpftool(skb, "STRUCT 'sk_buff'", "fclone");
  expect_like_bpftool(skb, "STRUCT 'sk_buff'", "pp_recycle");
  expect_like_bpftool(skb, "STRUCT 'sk_buff'", "len");
}

TEST(BtfImporter, SkBuffAnonymousUnions) {
  REQUIRE_VMLINUX();
  Btf &b = vmlinux();
  const Type *skb = b.find_type("struct sk_buff");
  ASSERT_NE(skb, nullptr);
  ASSERT_FALSE(skb->members.empty());
  // The first member is an anonymous union {struct {next, prev, union {dev,
  // dev_scratch}}; rbnode; list; ll_node}.
  const Member &first = skb->members[0];
  EXPECT_TRUE(first.is_anonymous());
  EXPECT_EQ(first.type->kind, TypeKind::Union);
  EXPECT_EQ(first.type->display(), "union (anonymous)");
  EXPECT_FALSE(first.type->is_declaration);

  auto next = b.find_member(skb, "next");
  ASSERT_TRUE(next);
  EXPECT_EQ(next->offset, 0u);
  EXPECT_EQ(next->type->display(), "struct sk_buff *");
  EXPECT_EQ(next->path.size(), 3u);  // union -> struct -> next

  auto dev = b.find_member(skb, "dev");
  ASSERT_TRUE(dev);
  EXPECT_EQ(dev->offset, 16u);
  EXPECT_EQ(dev->type->display(), "struct net_device *");
  EXPECT_EQ(dev->path.size(), 4u);  // union -> struct -> union -> dev

  auto tstamp = b.find_member(skb, "tstamp");
  ASSERT_TRUE(tstamp);
  EXPECT_EQ(tstamp->type->display(), "ktime_t");
  EXPECT_EQ(tstamp->type->resolve()->size, 8u);
  auto sk = b.find_member(skb, "sk");
  ASSERT_TRUE(sk);
  EXPECT_EQ(tstamp->offset, sk->offset + 8);  // the union right after sk

  // pkt_type: a bitfield inside struct_group(headers, ...) (an anonymous
  // struct in an anonymous union).
  auto pkt = b.find_member(skb, "pkt_type");
  ASSERT_TRUE(pkt);
  EXPECT_EQ(pkt->bit_size, 3u);
  auto headers = b.find_member(skb, "headers");
  ASSERT_TRUE(headers);
  EXPECT_EQ(pkt->offset, headers->offset);
  EXPECT_EQ(pkt->bit_offset, 0u);
  auto summed = b.find_member(skb, "ip_summed");
  ASSERT_TRUE(summed);
  EXPECT_EQ(summed->bit_size, 2u);
  EXPECT_EQ(summed->offset * 8 + summed->bit_offset, headers->offset * 8 + 5);
}

TEST(BtfImporter, FunctionPrototype) {
  REQUIRE_VMLINUX();
  Btf &b = vmlinux();
  std::string err;
  auto p = b.find_function("do_sys_openat2", err);
  ASSERT_TRUE(p) << err;
  ASSERT_EQ(p->params.size(), 3u);
  EXPECT_EQ(p->params[0].name, "dfd");
  EXPECT_EQ(p->params[0].type->display(), "int");
  EXPECT_EQ(p->params[1].name, "filename");
  EXPECT_EQ(p->params[1].type->display(), "const char *");
  EXPECT_EQ(p->params[2].name, "how");
  EXPECT_EQ(p->params[2].type->display(), "struct open_how *");
  EXPECT_TRUE(p->return_type->is_integer());
  EXPECT_TRUE(p->return_type->resolve()->is_signed);
  // long before 6.9, int since.
  std::string ret = p->return_type->display();
  EXPECT_TRUE(ret == "int" || ret == "long int") << ret;
  EXPECT_EQ(p->signature(), ret + " do_sys_openat2(int dfd, const char *filename, struct open_how *how)");
  EXPECT_TRUE(p->is_static);  // pahole marks vmlinux functions static, exported or not
  // Parameter types are complete (a struct behind a pointer needs complete()).
  EXPECT_TRUE(b.find_member(p->params[2].type->target, "flags"));

  auto v = b.find_function("vfs_read", err);
  ASSERT_TRUE(v) << err;
  EXPECT_EQ(v->signature(), "ssize_t vfs_read(struct file *file, char *buf, size_t count, loff_t *pos)");

  // A variadic one.
  auto pk = b.find_function("_printk", err);
  ASSERT_TRUE(pk) << err;
  EXPECT_TRUE(pk->variadic);
  EXPECT_EQ(pk->signature(), "int _printk(const char *fmt, ...)");

  EXPECT_FALSE(b.find_function("no_such_function_xyz", err));
  EXPECT_EQ(err, "no kernel function 'no_such_function_xyz' in BTF (/sys/kernel/btf/vmlinux)");
  EXPECT_FALSE(b.find_function("task_struct", err));  // a struct, not a function
}

TEST(BtfImporter, RawTracepointArgs) {
  REQUIRE_VMLINUX();
  Btf &b = vmlinux();
  std::string err;
  auto p = b.find_raw_tracepoint("sched_switch", err);
  ASSERT_TRUE(p) << err;
  EXPECT_EQ(p->return_type->kind, TypeKind::Void);
  ASSERT_EQ(p->params.size(), 4u);  // without void *__data
  EXPECT_EQ(p->params[0].declaration(), "bool preempt");
  EXPECT_EQ(p->params[1].declaration(), "struct task_struct *prev");
  EXPECT_EQ(p->params[2].declaration(), "struct task_struct *next");
  EXPECT_EQ(p->params[3].declaration(), "unsigned int prev_state");
  EXPECT_TRUE(p->params[0].type->resolve()->is_bool);
  EXPECT_EQ(p->params[1].type->target, b.find_type("struct task_struct"));

  auto se = b.find_raw_tracepoint("sys_enter", err);
  ASSERT_TRUE(se) << err;
  ASSERT_EQ(se->params.size(), 2u);
  EXPECT_EQ(se->params[0].declaration(), "struct pt_regs *regs");
  EXPECT_EQ(se->params[1].declaration(), "long int id");

  EXPECT_FALSE(b.find_raw_tracepoint("no_such_tp", err));
  EXPECT_EQ(err, "no raw tracepoint 'no_such_tp' in kernel BTF (no btf_trace_no_such_tp typedef in "
                 "/sys/kernel/btf/vmlinux)");

  auto names = b.raw_tracepoint_names();
  EXPECT_GT(names.size(), 100u);
  EXPECT_NE(std::find(names.begin(), names.end(), "sched_switch"), names.end());
  auto fns = b.function_names();
  EXPECT_GT(fns.size(), 10000u);
  EXPECT_NE(std::find(fns.begin(), fns.end(), "do_sys_openat2"), fns.end());
}

TEST(BtfImporter, EnumsTypedefsBaseTypes) {
  REQUIRE_VMLINUX();
  Btf &b = vmlinux();
  const Type *e = b.find_type("enum pid_type");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->kind, TypeKind::Enum);
  EXPECT_EQ(e->display(), "enum pid_type");
  EXPECT_EQ(e->size, 4u);
  ASSERT_GE(e->enumerators.size(), 4u);
  EXPECT_EQ(e->enumerators[0].name, "PIDTYPE_PID");
  EXPECT_EQ(e->enumerators[0].value, 0);
  EXPECT_EQ(e->enumerators[1].name, "PIDTYPE_TGID");
  EXPECT_EQ(e->enumerators[1].value, 1);
  auto ev = b.find_enumerator("PIDTYPE_TGID");
  ASSERT_TRUE(ev);
  EXPECT_EQ(ev->enum_type, e);
  EXPECT_EQ(ev->value, 1);
  EXPECT_FALSE(b.find_enumerator("NO_SUCH_ENUMERATOR_XYZ"));

  // A 64-bit enum (BTF_KIND_ENUM64).
  const Type *e64 = b.find_type("enum perf_callchain_context");
  ASSERT_NE(e64, nullptr);
  EXPECT_EQ(e64->size, 8u);
  bool big = false;
  for (auto &x : e64->enumerators) big |= uint64_t(x.value) > 0xffffffffull;
  EXPECT_TRUE(big);

  const Type *u64 = b.find_type("u64");
  ASSERT_NE(u64, nullptr);
  EXPECT_EQ(u64->kind, TypeKind::Typedef);
  EXPECT_EQ(u64->display(), "u64");
  EXPECT_EQ(u64->resolve()->name, "long long unsigned int");
  EXPECT_EQ(u64->size, 8u);

  const Type *ui = b.find_type("unsigned int");
  ASSERT_NE(ui, nullptr);
  EXPECT_EQ(ui->kind, TypeKind::Int);
  EXPECT_FALSE(ui->is_signed);
  const Type *c = b.find_type("const char *");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->display(), "const char *");
  const Type *bl = b.find_type("_Bool");
  ASSERT_NE(bl, nullptr);
  EXPECT_TRUE(bl->is_bool);
  EXPECT_EQ(b.find_type("void")->kind, TypeKind::Void);

  EXPECT_EQ(b.find_type("struct no_such_struct_xyz"), nullptr);
  EXPECT_EQ(b.find_type("no_such_type_xyz"), nullptr);
  EXPECT_EQ(b.find_type("union task_struct"), nullptr);  // wrong tag
  const Type *u = b.find_type("union bpf_attr");
  ASSERT_NE(u, nullptr);
  EXPECT_EQ(u->kind, TypeKind::Union);
}

TEST(BtfImporter, FunctionPointersAndArrays) {
  REQUIRE_VMLINUX();
  Btf &b = vmlinux();
  const Type *fops = b.find_type("struct file_operations");
  ASSERT_NE(fops, nullptr);
  auto rd = b.find_member(fops, "read");
  ASSERT_TRUE(rd);
  EXPECT_EQ(rd->type->display(), "ssize_t (*)(struct file *, char *, size_t, loff_t *)");
  EXPECT_EQ(rd->type->declare("read"), "ssize_t (*read)(struct file *, char *, size_t, loff_t *)");
  const Type *fn = rd->type->target;
  ASSERT_EQ(fn->kind, TypeKind::Function);
  EXPECT_EQ(fn->params.size(), 4u);
  EXPECT_EQ(fn->target->display(), "ssize_t");
  expect_like_bpftool(fops, "STRUCT 'file_operations'", "read");

  // A void-returning function pointer.
  const Type *cb = b.find_type("struct callback_head");
  ASSERT_NE(cb, nullptr);
  auto func = b.find_member(cb, "func");
  ASSERT_TRUE(func);
  EXPECT_EQ(func->type->display(), "void (*)(struct callback_head *)");

  // A flexible array member (pahole writes `x[]` and `x[0]` as 0 elements;
  // it also flattens `x[2][3]` into one array of 6, so vmlinux BTF has no
  // nested arrays).
  const Type *fl = b.find_type("struct linux_dirent64");
  ASSERT_NE(fl, nullptr);
  auto name = b.find_member(fl, "d_name");
  ASSERT_TRUE(name);
  EXPECT_EQ(name->type->kind, TypeKind::Array);
  EXPECT_FALSE(name->type->count_known);
  EXPECT_EQ(name->type->display(), "char []");
  EXPECT_EQ(name->offset, 19u);  // after u64 d_ino, s64 d_off, unsigned short d_reclen, unsigned char d_type
  EXPECT_EQ(name->type->size, 0u);
}
