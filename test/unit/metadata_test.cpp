// The metadata format is the contract between tracec and the runtime: it
// must round-trip exactly and refuse what it does not understand.
#include <gtest/gtest.h>

#include "runtime/metadata.h"

using namespace gt::meta;

TEST(Metadata, RoundTripsEveryField) {
  Program p;
  p.source_name = "s.gt";
  p.ringbuf_size = 1 << 20;
  Probe u;
  u.index = 0;
  u.prog_name = "probe_0";
  u.kind = ProbeKind::Uretprobe;
  u.spec = "uretprobe:/bin/x:f";
  u.binary = "/bin/x";
  u.symbol = "f";
  u.offset = 4;
  p.probes.push_back(u);
  Probe t;
  t.index = 1;
  t.kind = ProbeKind::Tracepoint;
  t.category = "syscalls";
  t.event = "sys_enter_openat";
  p.probes.push_back(t);
  Probe i;
  i.index = 2;
  i.kind = ProbeKind::Interval;
  i.period_ns = 1000000;
  p.probes.push_back(i);
  Map m;
  m.name = "@lat";
  m.bpf_name = "m_lat";
  m.kind = MapKind::Lhist;
  Type key;
  key.kind = Type::Kind::Tuple;
  key.size = 24;
  key.elems = {Type::integer(8, false), Type::string(16)};
  key.offsets = {0, 8};
  m.key = key;
  m.key_size = 32;
  m.value = Type::integer(8, true);
  m.value_size = 8;
  m.max_entries = 4096;
  m.per_cpu = true;
  m.lhist_min = -10;
  m.lhist_max = 100;
  m.lhist_step = 5;
  p.maps.push_back(m);
  Printf f;
  f.format = "%s %d\n";
  f.args = {Type::string(64), Type::integer(8, true)};
  f.offsets = {0, 64};
  f.payload_size = 72;
  p.printfs.push_back(f);
  p.binaries.push_back({"/bin/x", "abcd"});
  p.map_prints.push_back({0, 10, 1000});

  Program q = deserialize(serialize(p));
  EXPECT_EQ(q.source_name, "s.gt");
  EXPECT_EQ(q.ringbuf_size, 1u << 20);
  ASSERT_EQ(q.probes.size(), 3u);
  EXPECT_EQ(q.probes[0].kind, ProbeKind::Uretprobe);
  EXPECT_EQ(q.probes[0].symbol, "f");
  EXPECT_EQ(q.probes[0].offset, 4u);
  EXPECT_EQ(q.probes[1].event, "sys_enter_openat");
  EXPECT_EQ(q.probes[2].period_ns, 1000000u);
  ASSERT_EQ(q.maps.size(), 1u);
  EXPECT_EQ(q.maps[0].key, key);
  EXPECT_EQ(q.maps[0].kind, MapKind::Lhist);
  EXPECT_EQ(q.maps[0].lhist_min, -10);
  EXPECT_EQ(q.maps[0].key.str(), "(uint64,string[16])");
  ASSERT_EQ(q.printfs.size(), 1u);
  EXPECT_EQ(q.printfs[0].args[0], Type::string(64));
  EXPECT_EQ(q.printfs[0].offsets[1], 64u);
  EXPECT_EQ(q.binaries[0].build_id, "abcd");
  ASSERT_EQ(q.map_prints.size(), 1u);
  EXPECT_EQ(q.map_prints[0].top, 10u);
  EXPECT_EQ(q.map_prints[0].div, 1000u);
}

TEST(Metadata, RejectsOtherVersions) {
  Program p;
  std::string s = serialize(p);
  auto pos = s.find("\"version\":1");
  ASSERT_NE(pos, std::string::npos);
  s.replace(pos, 11, "\"version\":99");
  try {
    deserialize(s);
    FAIL() << "version 99 was accepted";
  } catch (const std::runtime_error &e) {
    EXPECT_NE(std::string(e.what()).find("version 99 is not supported"), std::string::npos);
  }
}

TEST(Metadata, RejectsMalformedInput) {
  EXPECT_THROW(deserialize("{"), std::runtime_error);
  EXPECT_THROW(deserialize("{\"version\":1}"), std::runtime_error);
}
