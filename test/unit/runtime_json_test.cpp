// -f json output of maps and values. Every expected string is what bpftrace
// 0.17 printed with -f json for the command in the comment, run as
// `bpftrace -f json -e '...'` on this machine (only the map's own line).
// Deliberate differences (documented in docs/cli.md) are marked.
#include <gtest/gtest.h>

#include <cstring>

#include "runtime/format.h"
#include "runtime/map_printer.h"
#include "test/unit/runtime_test_maps.h"

using gt::meta::Map;
using gt::meta::MapKind;
using gt::meta::Type;
using gt::rt::RawEntry;
using namespace gt::rt::testing;

namespace {

std::string json(const Map &m, const std::vector<RawEntry> &e) {
  std::string out;
  gt::rt::print_map_json(m, e, kCpus, out);
  return out;
}

}  // namespace

TEST(RuntimeJson, ScalarMaps) {
  // bpftrace -f json -e 'BEGIN { @a = 1; @c = count(); @s = sum(5); @mi = min(3); @ma = max(4);
  //   @av = avg(10); @st = stats(7); exit(); }'
  EXPECT_EQ(json(make_map("@a", MapKind::Value, Type::none(), kInt), {ikey(0, Bytes().i64(1).b)}),
            "{\"type\": \"map\", \"data\": {\"@a\": 1}}\n");
  EXPECT_EQ(json(make_map("@c", MapKind::Count, Type::none(), kInt), {ikey(0, percpu({1, 0}))}),
            "{\"type\": \"map\", \"data\": {\"@c\": 1}}\n");
  EXPECT_EQ(json(make_map("@s", MapKind::Sum, Type::none(), kInt), {ikey(0, percpu({2, 3}))}),
            "{\"type\": \"map\", \"data\": {\"@s\": 5}}\n");
  EXPECT_EQ(json(make_map("@mi", MapKind::Min, Type::none(), kInt),
                 {ikey(0, percpu2({{3, 1}, {0, 0}}))}),
            "{\"type\": \"map\", \"data\": {\"@mi\": 3}}\n");
  EXPECT_EQ(json(make_map("@ma", MapKind::Max, Type::none(), kInt),
                 {ikey(0, percpu2({{4, 1}, {0, 0}}))}),
            "{\"type\": \"map\", \"data\": {\"@ma\": 4}}\n");
  EXPECT_EQ(json(make_map("@av", MapKind::Avg, Type::none(), kInt),
                 {ikey(0, percpu2({{10, 1}, {0, 0}}))}),
            "{\"type\": \"stats\", \"data\": {\"@av\": 10}}\n");
  EXPECT_EQ(json(make_map("@st", MapKind::Stats, Type::none(), kInt),
                 {ikey(0, percpu2({{7, 1}, {0, 0}}))}),
            "{\"type\": \"stats\", \"data\": {\"@st\": {\"count\": 1, \"average\": 7, \"total\": 7}}}\n");
}

TEST(RuntimeJson, KeyedMaps) {
  // bpftrace -f json -e 'BEGIN { @b[1,"x"] = 2; @m[1]=5; @m[2]=3; @n["x"]=1; @n["y"]=2;
  //   @av[1] = avg(10); @av[2] = avg(4); @st["a"] = stats(7); @s[1] = sum(-5); @s[2] = sum(-10);
  //   @mi[3] = min(-4); exit(); }'
  Type tk = tuple({kInt, Type::string(16)});
  EXPECT_EQ(json(make_map("@b", MapKind::Value, tk, kInt), {{Bytes().i64(1).str("x").b, Bytes().i64(2).b}}),
            "{\"type\": \"map\", \"data\": {\"@b\": {\"1,x\": 2}}}\n");
  EXPECT_EQ(json(make_map("@m", MapKind::Value, kInt, kInt),
                 {ikey(1, Bytes().i64(5).b), ikey(2, Bytes().i64(3).b)}),
            "{\"type\": \"map\", \"data\": {\"@m\": {\"2\": 3, \"1\": 5}}}\n");
  EXPECT_EQ(json(make_map("@n", MapKind::Count, Type::string(16), kInt),
                 {{Bytes().str("y").b, percpu({2, 0})}, {Bytes().str("x").b, percpu({0, 1})}}),
            "{\"type\": \"map\", \"data\": {\"@n\": {\"x\": 1, \"y\": 2}}}\n");
  EXPECT_EQ(json(make_map("@av", MapKind::Avg, kInt, kInt),
                 {ikey(1, percpu2({{10, 1}, {0, 0}})), ikey(2, percpu2({{4, 1}, {0, 0}}))}),
            "{\"type\": \"stats\", \"data\": {\"@av\": {\"2\": 4, \"1\": 10}}}\n");
  EXPECT_EQ(json(make_map("@st", MapKind::Stats, Type::string(16), kInt),
                 {{Bytes().str("a").b, percpu2({{7, 1}, {0, 0}})}}),
            "{\"type\": \"stats\", \"data\": {\"@st\": {\"a\": {\"count\": 1, \"average\": 7, "
            "\"total\": 7}}}}\n");
  EXPECT_EQ(json(make_map("@s", MapKind::Sum, kInt, kInt),
                 {ikey(1, percpu({-5, 0})), ikey(2, percpu({-10, 0}))}),
            "{\"type\": \"map\", \"data\": {\"@s\": {\"2\": -10, \"1\": -5}}}\n");
  EXPECT_EQ(json(make_map("@mi", MapKind::Min, kInt, kInt), {ikey(3, percpu2({{-4, 1}, {0, 0}}))}),
            "{\"type\": \"map\", \"data\": {\"@mi\": {\"3\": -4}}}\n");
}

TEST(RuntimeJson, StringAndTupleValues) {
  // bpftrace -f json -e 'BEGIN { @s["a\"b\\c\td"] = "v\"\n"; @t[1, "x,y"] = (2, "z\"", -3);
  //   @str["k"] = "v"; @u = (1, "a"); exit(); }'
  EXPECT_EQ(json(make_map("@s", MapKind::Value, Type::string(16), Type::string(16)),
                 {{Bytes().str("a\"b\\c\td").b, Bytes().str("v\"\n").b}}),
            "{\"type\": \"map\", \"data\": {\"@s\": {\"a\\\"b\\\\c\\td\": \"v\\\"\\n\"}}}\n");
  Type tk = tuple({kInt, Type::string(16)});
  Type tv = tuple({kInt, Type::string(16), kInt});
  EXPECT_EQ(json(make_map("@t", MapKind::Value, tk, tv),
                 {{Bytes().i64(1).str("x,y").b, Bytes().i64(2).str("z\"").i64(-3).b}}),
            "{\"type\": \"map\", \"data\": {\"@t\": {\"1,x,y\": [2,\"z\\\"\",-3]}}}\n");
  Type tu = tuple({kInt, Type::string(16)});
  EXPECT_EQ(json(make_map("@u", MapKind::Value, Type::none(), tu),
                 {ikey(0, Bytes().i64(1).str("a").b)}),
            "{\"type\": \"map\", \"data\": {\"@u\": [1,\"a\"]}}\n");
}

TEST(RuntimeJson, Hist) {
  // bpftrace -f json -e 'BEGIN { @h = hist(5); exit(); }'
  Map h = make_map("@h", MapKind::Hist, Type::none(), kInt);
  std::vector<RawEntry> e;
  add_bucket(e, 4, {1, 0});
  EXPECT_EQ(json(h, e), "{\"type\": \"hist\", \"data\": {\"@h\": [{\"min\": 4, \"max\": 7, \"count\": 1}]}}\n");
  // bpftrace -f json -e 'BEGIN { @h[1,"b"] = hist(0); @h[1,"b"] = hist(-1); @h[1,"b"] = hist(1);
  //   @h[1,"b"] = hist(2000); exit(); }'
  Type tk = tuple({kInt, Type::string(16)});
  Map hk = make_map("@h", MapKind::Hist, tk, kInt);
  std::vector<RawEntry> e2;
  auto k = Bytes().i64(1).str("b").b;
  add_bucket(e2, 0, {1, 0}, k);
  add_bucket(e2, 1, {0, 1}, k);
  add_bucket(e2, 2, {1, 0}, k);
  add_bucket(e2, 12, {1, 0}, k);
  EXPECT_EQ(json(hk, e2),
            "{\"type\": \"hist\", \"data\": {\"@h\": {\"1,b\": [{\"max\": -1, \"count\": 1}, "
            "{\"min\": 0, \"max\": 0, \"count\": 1}, {\"min\": 1, \"max\": 1, \"count\": 1}, "
            "{\"min\": 2, \"max\": 3, \"count\": 0}, {\"min\": 4, \"max\": 7, \"count\": 0}, "
            "{\"min\": 8, \"max\": 15, \"count\": 0}, {\"min\": 16, \"max\": 31, \"count\": 0}, "
            "{\"min\": 32, \"max\": 63, \"count\": 0}, {\"min\": 64, \"max\": 127, \"count\": 0}, "
            "{\"min\": 128, \"max\": 255, \"count\": 0}, {\"min\": 256, \"max\": 511, \"count\": 0}, "
            "{\"min\": 512, \"max\": 1023, \"count\": 0}, {\"min\": 1024, \"max\": 2047, \"count\": 1}]}}}\n");
  // bpftrace -f json -e 'BEGIN { @h[1] = hist(3); @h[1] = hist(3); @h[2] = hist(1024*1024*3); exit(); }'
  Map h2 = make_map("@h", MapKind::Hist, kInt, kInt);
  std::vector<RawEntry> e3;
  add_bucket(e3, 3, {1, 1}, Bytes().i64(1).b);
  add_bucket(e3, 23, {1, 0}, Bytes().i64(2).b);
  EXPECT_EQ(json(h2, e3),
            "{\"type\": \"hist\", \"data\": {\"@h\": {\"2\": [{\"min\": 2097152, \"max\": 4194303, "
            "\"count\": 1}], \"1\": [{\"min\": 2, \"max\": 3, \"count\": 2}]}}}\n");
}

TEST(RuntimeJson, Lhist) {
  // bpftrace -f json -e 'BEGIN { @l = lhist(3, 10, 50, 10); @l = lhist(60, 10, 50, 10);
  //   @l = lhist(25, 10, 50, 10); exit(); }'
  Map l = make_map("@l", MapKind::Lhist, Type::none(), kInt);
  l.lhist_min = 10;
  l.lhist_max = 50;
  l.lhist_step = 10;
  std::vector<RawEntry> e;
  add_bucket(e, 0, {1, 0});
  add_bucket(e, 2, {1, 0});
  add_bucket(e, 5, {0, 1});
  EXPECT_EQ(json(l, e),
            "{\"type\": \"hist\", \"data\": {\"@l\": [{\"max\": 9, \"count\": 1}, {\"min\": 10, "
            "\"max\": 19, \"count\": 0}, {\"min\": 20, \"max\": 29, \"count\": 1}, {\"min\": 30, "
            "\"max\": 39, \"count\": 0}, {\"min\": 40, \"max\": 49, \"count\": 0}, {\"min\": 50, "
            "\"count\": 1}]}}\n");
}

TEST(RuntimeJson, EmptyMaps) {
  // bpftrace -f json -e 'BEGIN { if (pid == 0) { @a = 1; @c[1] = count(); @k = count();
  //   @h = hist(1); @l = lhist(1,0,10,1); @av = avg(1); @st = stats(1); @s = sum(1); } exit(); }'
  // prints only {"type": "map", "data": {"@k": 0}}.
  for (MapKind k : {MapKind::Value, MapKind::Count, MapKind::Sum, MapKind::Min, MapKind::Max,
                    MapKind::Avg, MapKind::Stats, MapKind::Hist, MapKind::Lhist})
    EXPECT_EQ(json(make_map("@x", k, kInt, kInt), {}), "") << gt::meta::to_string(k);
  EXPECT_EQ(json(make_map("@s", MapKind::Sum, Type::none(), kInt), {}), "");
  EXPECT_EQ(json(make_map("@k", MapKind::Count, Type::none(), kInt), {}),
            "{\"type\": \"map\", \"data\": {\"@k\": 0}}\n");
}

TEST(RuntimeJson, Strings) {
  // bpftrace -f json -e 'BEGIN { printf("q\"b\\s\tt\x01\rd\x7fe\x1f\x08\x0c\n"); exit(); }'
  // printed "q\"b\\s\tt\u0001\rd<DEL>e\u001f\u0008\u000c\n".
  EXPECT_EQ(gt::rt::json_string("q\"b\\s\tt\x01\rd\x7f" "e\x1f\x08\x0c\n"),
            "\"q\\\"b\\\\s\\tt\\u0001\\rd\x7f" "e\\u001f\\u0008\\u000c\\n\"");
  // Deliberate: UTF-8 passes through (bpftrace 0.17 writes \uffffffc3\uffffffa9 for "é"),
  // and a byte that is not UTF-8 becomes \u00XX.
  EXPECT_EQ(gt::rt::json_string("\xc3\xa9"), "\"\xc3\xa9\"");
  EXPECT_EQ(gt::rt::json_string("a\xff" "b\xc3"), "\"a\\u00ffb\\u00c3\"");
}
