// Formatting of the value kinds beyond integers and strings: ksym, usym,
// kstack, ustack, ntop, strftime, buf. Expected strings are what bpftrace 0.17
// printed for the command in the comment (addresses and symbols replaced by
// the fake symbolizer's).
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <map>

#include "runtime/format.h"
#include "runtime/map_printer.h"
#include "runtime/symbolizer.h"

using gt::meta::Type;
using namespace gt::rt;

namespace {

struct FakeSymbolizer : Symbolizer {
  std::map<uint64_t, std::string> kernel{{0x1000, "perf_syscall_enter"},
                                         {0x2000, "syscall_trace_enter"},
                                         {0x3000, "do_syscall_64"}};
  std::map<uint64_t, std::string> user{{0x4000, "work"}, {0x5000, "deep3"}, {0x6000, "main"}};
  std::map<int64_t, std::vector<uint64_t>> stacks{
      {1, {0x1000 + 397, 0x2000 + 384, 0x3000 + 506, 0}},
      {2, {0x4000, 0x5000 + 31, 0x6000 + 32, 0x99999, 0}},
      // Ended by a failed read (the BPF unwinder's stop reason).
      {7, {0x4000, 0x5000 + 16}}};
  bool lookup(const std::map<uint64_t, std::string> &m, uint64_t a, std::string &n, uint64_t &o) {
    auto it = m.upper_bound(a);
    if (it == m.begin())
      return false;
    --it;
    if (a - it->first >= 0x800)
      return false;
    n = it->second;
    o = a - it->first;
    return true;
  }
  bool kernel_symbol(uint64_t a, std::string &n, uint64_t &o) override { return lookup(kernel, a, n, o); }
  bool user_symbol(uint64_t a, uint32_t pid, std::string &n, uint64_t &o) override {
    return pid == 42 && lookup(user, a, n, o);
  }
  bool stack(int64_t id, bool, std::vector<uint64_t> &a, std::string &incomplete) override {
    auto it = stacks.find(id);
    if (it == stacks.end())
      return false;
    a = it->second;
    incomplete = id == 7 ? "reading the user stack failed" : "";
    return true;
  }
  int64_t boot_to_wall_ns() override { return 1000000000LL * 1700000000; }
};

Type kind(Type::Kind k, uint32_t size) {
  Type t;
  t.kind = k;
  t.size = size;
  return t;
}

std::vector<uint8_t> u64s(std::initializer_list<uint64_t> v) {
  std::vector<uint8_t> b;
  for (uint64_t x : v)
    for (int i = 0; i < 8; i++)
      b.push_back(uint8_t(x >> (8 * i)));
  return b;
}

}  // namespace

TEST(RuntimeValues, Ksym) {
  FakeSymbolizer s;
  // bpftrace: printf("%s|%s|", ksym(0), ksym(1)); @ks = ksym(0xffffffff81000005) -> "0|0x1|", "_text"
  EXPECT_EQ(format_ksym(0, &s), "0");
  EXPECT_EQ(format_ksym(1, &s), "0x1");
  EXPECT_EQ(format_ksym(0x1005, &s), "perf_syscall_enter");
  EXPECT_EQ(format_ksym(0x1005, &s, true), "perf_syscall_enter+5");
  EXPECT_EQ(format_ksym(0x1005, nullptr), "0x1005");
  auto v = u64s({0x2010});
  EXPECT_EQ(value_to_string(kind(Type::Kind::Ksym, 8), v.data(), &s), "syscall_trace_enter");
}

TEST(RuntimeValues, Usym) {
  FakeSymbolizer s;
  // bpftrace: usym(reg("ip")) in uprobe:t:work -> "work"; when the process is gone
  // "0x55d78a2f9139".
  auto v = u64s({0x4004, 42});
  EXPECT_EQ(value_to_string(kind(Type::Kind::Usym, 16), v.data(), &s), "work");
  auto gone = u64s({0x55d78a2f9139, 7});
  EXPECT_EQ(value_to_string(kind(Type::Kind::Usym, 16), gone.data(), &s), "0x55d78a2f9139");
}

TEST(RuntimeValues, Stacks) {
  FakeSymbolizer s;
  // bpftrace: tracepoint:syscalls:sys_enter_getpid { printf("%s|", kstack(2)); print(kstack(2)); }
  //   "\n        perf_syscall_enter+397\n        syscall_trace_enter+384\n|"
  Type ks = kind(Type::Kind::Kstack, 16);
  ks.stack_frames = 2;
  auto v = u64s({1, 0});
  EXPECT_EQ(value_to_string(ks, v.data(), &s),
            "\n        perf_syscall_enter+397\n        syscall_trace_enter+384\n");
  // @k[kstack(3)] = count(): keys indent by 4.
  ks.stack_frames = 0;
  EXPECT_EQ(value_to_string(ks, v.data(), &s, 4),
            "\n    perf_syscall_enter+397\n    syscall_trace_enter+384\n    do_syscall_64+506\n");
  // @k[kstack] in a uprobe (no kernel stack: the id is -EFAULT) prints "@k[]: 1".
  auto none = u64s({uint64_t(-14), 0});
  EXPECT_EQ(value_to_string(ks, none.data(), &s), "");
  // ustack: unknown frames in hex.
  Type us = kind(Type::Kind::Ustack, 16);
  auto u = u64s({2, 42});
  EXPECT_EQ(value_to_string(us, u.data(), &s),
            "\n        work+0\n        deep3+31\n        main+32\n        0x99999\n");
  // A user stack that ends early says why after its frames; not when
  // ustack(N) stops first.
  auto cut = u64s({7, 42});
  EXPECT_EQ(value_to_string(us, cut.data(), &s),
            "\n        work+0\n        deep3+16\n        [incomplete: reading the user stack failed]\n");
  Type us1 = us;
  us1.stack_frames = 2;
  EXPECT_EQ(value_to_string(us1, cut.data(), &s), "\n        work+0\n        deep3+16\n");
  // In JSON, as a string: bpftrace -f json: {"@k": {"\n    perf_syscall_enter+397\n ...": 3}}
  EXPECT_EQ(value_to_json(ks, v.data(), &s, 4),
            "\"\\n    perf_syscall_enter+397\\n    syscall_trace_enter+384\\n    do_syscall_64+506\\n\"");
}

// --stack-lines: the symbolizer knows the source of some user frames.
struct SourceSymbolizer : FakeSymbolizer {
  std::vector<std::pair<uint64_t, bool>> asked;  // (addr, call) of each user_source()
  SourceSymbolizer() {
    user[0x7000] = "__restore_rt";
    stacks[8] = {0x4000, 0x7000, 0x5000 + 31, 0x6000 + 32, 0};  // a signal handler's
  }
  bool user_source(uint64_t a, uint32_t pid, bool call, std::vector<SourceFrame> &f) override {
    asked.push_back({a, call});
    if (pid != 42)
      return false;
    if (a == 0x4000)
      f = {{"work", "/src/t.c", 12, false}};
    else if (a == 0x5000 + 31)
      f = {{"inner", "/src/t.h", 7, true}, {"outer", "/src/t.h", 30, true},
           {"deep3", "/src/t.c", 40, false}};
    else if (a == 0x6000 + 32)
      f = {{"main", "/src/t.c", 0, false}};  // no line: the file alone
    else
      return false;
    return true;
  }
};

TEST(RuntimeValues, StackSourceLines) {
  SourceSymbolizer s;
  Type us = kind(Type::Kind::Ustack, 16);
  auto u = u64s({2, 42});
  // Inlined functions first, innermost first; a frame without source as before.
  EXPECT_EQ(value_to_string(us, u.data(), &s),
            "\n"
            "        work+0 (/src/t.c:12)\n"
            "        inner (/src/t.h:7) [inlined]\n"
            "        outer (/src/t.h:30) [inlined]\n"
            "        deep3+31 (/src/t.c:40)\n"
            "        main+32 (/src/t.c)\n"
            "        0x99999\n");
  // The first frame is where the probe hit; the others are return addresses.
  std::vector<std::pair<uint64_t, bool>> want = {
      {0x4000, false}, {0x501f, true}, {0x6020, true}, {0x99999, true}};
  EXPECT_EQ(s.asked, want);
  // Map keys indent by 4; ustack(N) counts addresses, not inlined lines.
  Type us2 = us;
  us2.stack_frames = 2;
  EXPECT_EQ(value_to_string(us2, u.data(), &s, 4),
            "\n"
            "    work+0 (/src/t.c:12)\n"
            "    inner (/src/t.h:7) [inlined]\n"
            "    outer (/src/t.h:30) [inlined]\n"
            "    deep3+31 (/src/t.c:40)\n");
  auto cut = u64s({7, 42});
  EXPECT_EQ(value_to_string(us, cut.data(), &s),
            "\n        work+0 (/src/t.c:12)\n        deep3+16\n"
            "        [incomplete: reading the user stack failed]\n");
  // Another process: no source, no change.
  auto other = u64s({2, 7});
  EXPECT_EQ(value_to_string(us, other.data(), &s),
            "\n        0x4000\n        0x501f\n        0x6020\n        0x99999\n");
  // Kernel stacks and the perf and raw modes never ask.
  s.asked.clear();
  Type ks = kind(Type::Kind::Kstack, 16);
  auto k = u64s({1, 0});
  EXPECT_EQ(value_to_string(ks, k.data(), &s),
            "\n        perf_syscall_enter+397\n        syscall_trace_enter+384\n"
            "        do_syscall_64+506\n");
  Type perf = us;
  perf.stack_mode = Type::StackMode::Perf;
  perf.stack_frames = 1;
  EXPECT_EQ(value_to_string(perf, u.data(), &s), "\n\t4000 work+0 ([unknown])\n");
  Type raw = us;
  raw.stack_mode = Type::StackMode::Raw;
  raw.stack_frames = 1;
  EXPECT_EQ(value_to_string(raw, u.data(), &s), "\n4000\n");
  EXPECT_TRUE(s.asked.empty());
  // Under a signal frame, the interrupted address is looked up as is.
  s.asked.clear();
  auto sig = u64s({8, 42});
  EXPECT_EQ(value_to_string(us, sig.data(), &s),
            "\n        work+0 (/src/t.c:12)\n        __restore_rt+0\n"
            "        inner (/src/t.h:7) [inlined]\n        outer (/src/t.h:30) [inlined]\n"
            "        deep3+31 (/src/t.c:40)\n        main+32 (/src/t.c)\n");
  want = {{0x4000, false}, {0x7000, true}, {0x501f, false}, {0x6020, true}};
  EXPECT_EQ(s.asked, want);
  // Without a source (the default Symbolizer), byte for byte as before.
  FakeSymbolizer plain;
  EXPECT_EQ(value_to_string(us, u.data(), &plain),
            "\n        work+0\n        deep3+31\n        main+32\n        0x99999\n");
}

TEST(RuntimeValues, StackMapKeys) {
  FakeSymbolizer s;
  // bpftrace -e 'tracepoint:syscalls:sys_enter_getpid { @k[kstack(3)] = count(); }'
  gt::meta::Map m;
  m.name = "@k";
  m.kind = gt::meta::MapKind::Count;
  m.key = kind(Type::Kind::Kstack, 16);
  m.key_size = 16;
  m.value = Type::integer(8, false);
  m.value_size = 8;
  m.per_cpu = true;
  std::vector<RawEntry> e = {{u64s({1, 0}), u64s({3, 0})}};
  std::string out;
  print_map(m, e, 2, out, &s);
  EXPECT_EQ(out, "@k[\n    perf_syscall_enter+397\n    syscall_trace_enter+384\n    do_syscall_64+506\n]: 3\n");
  out.clear();
  print_map_json(m, e, 2, out, &s);
  EXPECT_EQ(out, "{\"type\": \"map\", \"data\": {\"@k\": {\"\\n    perf_syscall_enter+397\\n    "
                 "syscall_trace_enter+384\\n    do_syscall_64+506\\n\": 3}}}\n");
}

TEST(RuntimeValues, Inet) {
  // bpftrace: ntop(0x0100007f), ntop(2, 0x0100a8c0), ntop(pton("fe80::1")),
  //   ntop(pton("2001:db8::ff00:42:8329")), ntop(pton("1:0:0:1:0:0:0:1")),
  //   ntop(pton("0:0:0:0:0:ffff:102:304"))
  auto v4 = [](std::initializer_list<uint8_t> a) {
    std::vector<uint8_t> b = u64s({2});
    b.insert(b.end(), a);
    b.resize(24);
    return b;
  };
  auto v6 = [](std::initializer_list<uint8_t> a) {
    std::vector<uint8_t> b = u64s({10});
    b.insert(b.end(), a);
    b.resize(24);
    return b;
  };
  EXPECT_EQ(format_inet(v4({127, 0, 0, 1}).data()), "127.0.0.1");
  EXPECT_EQ(format_inet(v4({192, 168, 0, 1}).data()), "192.168.0.1");
  EXPECT_EQ(format_inet(v6({0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}).data()), "fe80::1");
  EXPECT_EQ(format_inet(v6({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0xff, 0, 0, 0x42, 0x83, 0x29}).data()),
            "2001:db8::ff00:42:8329");
  EXPECT_EQ(format_inet(v6({0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1}).data()), "1:0:0:1::1");
  EXPECT_EQ(format_inet(v6({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 2, 3, 4}).data()),
            "::ffff:1.2.3.4");
}

TEST(RuntimeValues, Buf) {
  // bpftrace: printf("%r|%r|", buf("ab\x01\xffc\n\"\\", 8), buf("xyz", 2))
  //   -> ab\x01\xffc\x0a"\|xy|
  std::vector<uint8_t> b = u64s({8});
  const char data[] = "ab\x01\xff" "c\n\"\\";
  b.insert(b.end(), data, data + 8);
  EXPECT_EQ(format_buf(b.data(), uint32_t(b.size())), "ab\\x01\\xffc\\x0a\"\\");
  // -f json: {"type": "value", "data": "q\\x03"} for print(buf("q\x03", 2))
  std::vector<uint8_t> q = u64s({2});
  q.push_back('q');
  q.push_back(3);
  q.resize(8 + 16);
  EXPECT_EQ(value_to_json(kind(Type::Kind::Buf, 24), q.data()), "\"q\\\\x03\"");
}

TEST(RuntimeValues, Strftime) {
  setenv("TZ", "UTC", 1);
  tzset();
  FakeSymbolizer s;
  // 1700000000 s = 2023-11-14 22:13:20 UTC; boot time 1.5 s + 123456789 ns.
  uint64_t boot = 1123456789;
  Type t = kind(Type::Kind::Timestamp, 8);
  t.format = "%Y-%m-%d %H:%M:%S.%f";
  auto v = u64s({boot});
  EXPECT_EQ(value_to_string(t, v.data(), &s), "2023-11-14 22:13:21.123456");
  // bpftrace: strftime("%f%%", nsecs) -> "703559%"; "%%f" is a literal %f here
  // (bpftrace 0.17 fails on it: "(?)").
  EXPECT_EQ(format_strftime("%f%%|%%f", boot, s.boot_to_wall_ns()), "123456%|%f");
  EXPECT_EQ(format_wall_time("%H:%M:%S\n", 1000000000LL * 1700000000), "22:13:20\n");
  EXPECT_EQ(value_to_json(t, v.data(), &s), "\"2023-11-14 22:13:21.123456\"");
}

TEST(RuntimeValues, PrintfConversions) {
  FakeSymbolizer s;
  gt::meta::Printf p;
  p.format = "%s|%-8s|%r|%s\n";
  p.args = {kind(Type::Kind::Ksym, 8), kind(Type::Kind::Usym, 16), kind(Type::Kind::Buf, 16),
            kind(Type::Kind::Kstack, 16)};
  p.args[3].stack_frames = 1;
  p.offsets = {0, 8, 24, 40};
  std::vector<uint8_t> payload = u64s({0x1000, 0x5000, 42, 2});
  payload.insert(payload.end(), {'h', 'i', 0, 0, 0, 0, 0, 0});
  auto st = u64s({1, 0});
  payload.insert(payload.end(), st.begin(), st.end());
  PrintfFormatter f(p);
  EXPECT_EQ(f.format(payload.data(), payload.size(), &s),
            "perf_syscall_enter|deep3   |hi|\n        perf_syscall_enter+397\n\n");
}

TEST(RuntimeValues, KallsymsAndMaps) {
  SessionSymbolizer sym;
  sym.set_kallsyms(
      "ffffffff81000000 T _text\n"
      "ffffffff81001000 t do_one\n"
      "0000000000000000 T hidden\n"
      "ffffffffc0001000 t mod_fn\t[mymod]\n");
  std::string n;
  uint64_t off;
  ASSERT_TRUE(sym.kernel_symbol(0xffffffff81000005, n, off));
  EXPECT_EQ(n + "+" + std::to_string(off), "_text+5");
  ASSERT_TRUE(sym.kernel_symbol(0xffffffff81001010, n, off));
  EXPECT_EQ(n, "do_one");
  ASSERT_TRUE(sym.kernel_symbol(0xffffffffc0001001, n, off));
  EXPECT_EQ(n, "mod_fn");
  EXPECT_FALSE(sym.kernel_symbol(0x1000, n, off));

  auto maps = SessionSymbolizer::parse_maps(
      "55d78a2f8000-55d78a2f9000 r--p 00000000 fe:01 123 /tmp/t\n"
      "55d78a2f9000-55d78a2fa000 r-xp 00001000 fe:01 123 /tmp/t\n"
      "7f0000000000-7f0000100000 r-xp 00028000 fe:01 456 /usr/lib/x86_64-linux-gnu/libc.so.6\n"
      "7ffd1000000-7ffd1002000 r-xp 00000000 00:00 0 [vdso]\n"
      "7f1000000000-7f1000001000 r-xp 00000000 fe:01 9 /tmp/gone (deleted)\n");
  ASSERT_EQ(maps.size(), 3u);
  EXPECT_EQ(maps[0].path, "/tmp/t");
  EXPECT_EQ(maps[0].start, 0x55d78a2f9000u);
  EXPECT_EQ(maps[0].offset, 0x1000u);
  EXPECT_EQ(maps[1].path, "/usr/lib/x86_64-linux-gnu/libc.so.6");
  EXPECT_EQ(maps[2].path, "/tmp/gone");
}

TEST(RuntimeValues, UserSymbolsOfThisProcess) {
  // This test binary's own main(), through /proc/self/maps and its ELF symbols.
  SessionSymbolizer sym;
  std::string n;
  uint64_t off;
  uint64_t addr = reinterpret_cast<uint64_t>(&format_buf);
  ASSERT_TRUE(sym.user_symbol(addr + 3, uint32_t(getpid()), n, off));
  EXPECT_NE(n.find("format_buf"), std::string::npos) << n;
  EXPECT_EQ(off, 3u);
  // A glibc-internal function (only in libc's separate debug file, libc6-dbg):
  // exported ones come from .dynsym anyway.
  ASSERT_TRUE(sym.user_symbol(reinterpret_cast<uint64_t>(&strlen), uint32_t(getpid()), n, off));
  EXPECT_FALSE(n.empty());
}

#include "runtime/probe_list.h"

TEST(RuntimeProbeList, TracepointFields) {
  // bpftrace -lv tracepoint:sched:sched_process_exec
  const char *format =
      "name: sched_process_exec\n"
      "ID: 300\n"
      "format:\n"
      "\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n"
      "\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n"
      "\n"
      "\tfield:__data_loc char[] filename;\toffset:8;\tsize:4;\tsigned:0;\n"
      "\tfield:pid_t pid;\toffset:12;\tsize:4;\tsigned:1;\n"
      "\tfield:char comm[16];\toffset:16;\tsize:16;\tsigned:0;\n"
      "\tfield:const char * filename2;\toffset:32;\tsize:8;\tsigned:0;\n"
      "\n"
      "print fmt: \"filename=%s\", __get_str(filename)\n";
  EXPECT_EQ(gt::rt::tracepoint_fields(format),
            (std::vector<std::string>{"__data_loc char[] filename", "pid_t pid", "char comm[16]",
                                      "const char * filename2"}));
}
