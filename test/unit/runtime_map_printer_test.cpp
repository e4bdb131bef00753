// Map printing at exit. Every expected string is what bpftrace 0.17 printed
// (the maps part of its output, after the "\n\n" it prints first) for the
// command in the comment, run as `bpftrace -e '...'` on this machine.
#include <gtest/gtest.h>

#include <cstring>

#include "runtime/map_printer.h"
#include "test/unit/runtime_test_maps.h"

using gt::meta::Map;
using gt::meta::MapKind;
using gt::meta::Type;
using gt::rt::RawEntry;
using namespace gt::rt::testing;

namespace {

std::string print(const Map &m, const std::vector<RawEntry> &e) {
  std::string out;
  gt::rt::print_map(m, e, kCpus, out);
  return out;
}

}  // namespace

TEST(RuntimeMapPrinter, IntValuesSortedByValue) {
  // bpftrace -e 'BEGIN { @c[1]=3; @c[2]=1; @c[3]=7; exit(); }'
  Map m = make_map("@c", MapKind::Value, kInt, kInt);
  EXPECT_EQ(print(m, {ikey(1, Bytes().i64(3).b), ikey(2, Bytes().i64(1).b),
                      ikey(3, Bytes().i64(7).b)}),
            "@c[2]: 1\n@c[1]: 3\n@c[3]: 7\n");
}

TEST(RuntimeMapPrinter, ScalarMap) {
  // bpftrace -e 'BEGIN { @a = 5; exit(); }'
  Map m = make_map("@a", MapKind::Value, Type::none(), kInt);
  EXPECT_EQ(print(m, {ikey(0, Bytes().i64(5).b)}), "@a: 5\n");
}

TEST(RuntimeMapPrinter, MultiKeySignedValues) {
  // bpftrace -e 'BEGIN { @t[1,"a"]=5; @t[2,"b"]=-3; @t[-3,"c"]=10; exit(); }'
  Type key = tuple({kInt, Type::string(16)});
  Map m = make_map("@t", MapKind::Value, key, kInt);
  EXPECT_EQ(print(m, {{Bytes().i64(1).str("a").b, Bytes().i64(5).b},
                      {Bytes().i64(2).str("b").b, Bytes().i64(-3).b},
                      {Bytes().i64(-3).str("c").b, Bytes().i64(10).b}}),
            "@t[2, b]: -3\n@t[1, a]: 5\n@t[-3, c]: 10\n");
}

TEST(RuntimeMapPrinter, StringValuesSortedByKey) {
  // bpftrace -e 'BEGIN { @s[5]="x"; @s[-2]="z"; @s[300]="y"; @s[1]="w"; exit(); }'
  // Integer keys compare as unsigned: -2 comes last.
  Map m = make_map("@s", MapKind::Value, kInt, Type::string(16));
  EXPECT_EQ(print(m, {ikey(5, Bytes().str("x").b), ikey(-2, Bytes().str("z").b),
                      ikey(300, Bytes().str("y").b), ikey(1, Bytes().str("w").b)}),
            "@s[1]: w\n@s[5]: x\n@s[300]: y\n@s[-2]: z\n");
  // bpftrace -e 'BEGIN { @s["b"]="x"; @s["a"]="z"; @s["c"]="y"; exit(); }'
  Map s = make_map("@s", MapKind::Value, Type::string(16), Type::string(16));
  EXPECT_EQ(print(s, {{Bytes().str("b").b, Bytes().str("x").b},
                      {Bytes().str("a").b, Bytes().str("z").b},
                      {Bytes().str("c").b, Bytes().str("y").b}}),
            "@s[a]: z\n@s[b]: x\n@s[c]: y\n");
}

TEST(RuntimeMapPrinter, MultiKeySortedByKey) {
  // bpftrace -e 'BEGIN { @m[2,"b"]="1"; @m[1,"c"]="2"; @m[2,"a"]="3"; @m[1,"d"]="4"; exit(); }'
  Type key = tuple({kInt, Type::string(16)});
  Map m = make_map("@m", MapKind::Value, key, Type::string(16));
  EXPECT_EQ(print(m, {{Bytes().i64(2).str("b").b, Bytes().str("1").b},
                      {Bytes().i64(1).str("c").b, Bytes().str("2").b},
                      {Bytes().i64(2).str("a").b, Bytes().str("3").b},
                      {Bytes().i64(1).str("d").b, Bytes().str("4").b}}),
            "@m[1, c]: 2\n@m[1, d]: 4\n@m[2, a]: 3\n@m[2, b]: 1\n");
}

TEST(RuntimeMapPrinter, TupleValues) {
  // bpftrace -e 'BEGIN { @v["q"]=(1,"x"); @v["a"]=(-2,"yy"); exit(); }'
  Type val = tuple({kInt, Type::string(16)});
  Map m = make_map("@v", MapKind::Value, Type::string(16), val);
  EXPECT_EQ(print(m, {{Bytes().str("q").b, Bytes().i64(1).str("x").b},
                      {Bytes().str("a").b, Bytes().i64(-2).str("yy").b}}),
            "@v[a]: (-2, yy)\n@v[q]: (1, x)\n");
}

TEST(RuntimeMapPrinter, CountSumMerged) {
  // bpftrace -e 'BEGIN { @a=count(); @b=sum(5); exit(); }'  ->  "@a: 1", "@b: 5"
  Map c = make_map("@a", MapKind::Count, Type::none(), kInt);
  EXPECT_EQ(print(c, {ikey(0, percpu({1, 0}))}), "@a: 1\n");
  Map s = make_map("@b", MapKind::Sum, Type::none(), kInt);
  EXPECT_EQ(print(s, {ikey(0, percpu({2, 3}))}), "@b: 5\n");
  EXPECT_EQ(print(s, {ikey(0, percpu({-7, 3}))}), "@b: -4\n");
  // Count maps sort by value.
  Map k = make_map("@c", MapKind::Count, Type::string(16), kInt);
  EXPECT_EQ(print(k, {{Bytes().str("x").b, percpu({2, 1})},
                      {Bytes().str("b").b, percpu({1, 0})},
                      {Bytes().str("a").b, percpu({0, 2})}}),
            "@c[b]: 1\n@c[a]: 2\n@c[x]: 3\n");
}

TEST(RuntimeMapPrinter, MinMax) {
  // bpftrace -e 'BEGIN { @n[1]=min(10); @n[2]=min(5); @n[3]=min(20); exit(); }'
  Map m = make_map("@n", MapKind::Min, kInt, kInt);
  EXPECT_EQ(print(m, {ikey(1, percpu2({{10, 1}, {0, 0}})), ikey(2, percpu2({{7, 1}, {5, 1}})),
                      ikey(3, percpu2({{0, 0}, {20, 1}}))}),
            "@n[2]: 5\n@n[1]: 10\n@n[3]: 20\n");
  // bpftrace -e 'BEGIN { @e=max(9); exit(); }'
  Map x = make_map("@e", MapKind::Max, Type::none(), kInt);
  EXPECT_EQ(print(x, {ikey(0, percpu2({{9, 1}, {-3, 1}}))}), "@e: 9\n");
  EXPECT_EQ(print(x, {ikey(0, percpu2({{-9, 1}, {-3, 1}}))}), "@e: -3\n");
}

TEST(RuntimeMapPrinter, AvgAndStats) {
  // bpftrace -e 'BEGIN { @a[1]=avg(10); @a[2]=avg(5); @a[3]=avg(20); @a[-1]=avg(1); exit(); }'
  Map a = make_map("@a", MapKind::Avg, kInt, kInt);
  EXPECT_EQ(print(a, {ikey(1, percpu2({{10, 1}, {0, 0}})), ikey(2, percpu2({{5, 1}, {0, 0}})),
                      ikey(3, percpu2({{0, 0}, {20, 1}})), ikey(-1, percpu2({{1, 1}, {0, 0}}))}),
            "@a[-1]: 1\n@a[2]: 5\n@a[1]: 10\n@a[3]: 20\n\n");
  // bpftrace -e 'BEGIN { @st[1]=stats(10); @st[1]=stats(10); @st[1]=stats(10);
  //                      @st[2]=stats(5); @st[3]=stats(12); exit(); }'
  Map s = make_map("@st", MapKind::Stats, kInt, kInt);
  EXPECT_EQ(print(s, {ikey(1, percpu2({{20, 2}, {10, 1}})), ikey(2, percpu2({{5, 1}, {0, 0}})),
                      ikey(3, percpu2({{12, 1}, {0, 0}}))}),
            "@st[2]: count 1, average 5, total 5\n"
            "@st[1]: count 3, average 10, total 30\n"
            "@st[3]: count 1, average 12, total 12\n\n");
  // bpftrace -e 'BEGIN { @f=stats(10); @f=stats(5); exit(); }'
  Map f = make_map("@f", MapKind::Stats, Type::none(), kInt);
  EXPECT_EQ(print(f, {ikey(0, percpu2({{10, 1}, {5, 1}}))}),
            "@f: count 2, average 7, total 15\n\n");
}

TEST(RuntimeMapPrinter, EmptyMaps) {
  // bpftrace -e 'BEGIN{ @z = 1; exit(); } interval:s:100 { @a = avg(1); @b = stats(1);
  //   @c[1]=count(); @d = hist(1); @e = lhist(1,0,10,1); @f = min(1); @g = 5; @h["x"] = "s"; }'
  // prints one blank line per empty map, two for avg and stats.
  for (MapKind k : {MapKind::Value, MapKind::Count, MapKind::Sum, MapKind::Min, MapKind::Max,
                    MapKind::Hist, MapKind::Lhist})
    EXPECT_EQ(print(make_map("@x", k, kInt, kInt), {}), "\n") << gt::meta::to_string(k);
  EXPECT_EQ(print(make_map("@x", MapKind::Avg, kInt, kInt), {}), "\n\n");
  EXPECT_EQ(print(make_map("@x", MapKind::Stats, kInt, kInt), {}), "\n\n");
  // bpftrace -e 'BEGIN { exit(); } END { if (0) { @n = count(); } }' prints "@n: 0";
  // a keyless sum/min/max/avg/stats/hist or value map prints blank line(s) as above.
  EXPECT_EQ(print(make_map("@n", MapKind::Count, Type::none(), kInt), {}), "@n: 0\n");
  EXPECT_EQ(print(make_map("@n", MapKind::Sum, Type::none(), kInt), {}), "\n");
}



TEST(RuntimeMapPrinter, Hist) {
  // bpftrace -e 'BEGIN { @h=hist(0); @h=hist(1); @h=hist(1); @h=hist(5); @h=hist(-3);
  //   @h=hist(1000); @h=hist(1024); @h=hist(2000000); @h=hist(5000000000);
  //   @h=hist(3); @h=hist(3); @h=hist(3); exit(); }'
  Map m = make_map("@h", MapKind::Hist, Type::none(), kInt);
  m.key_size = 16;
  std::vector<RawEntry> e;
  add_bucket(e, 0, {1, 0});   // -3
  add_bucket(e, 1, {0, 1});   // 0
  add_bucket(e, 2, {1, 1});   // 1, 1
  add_bucket(e, 3, {2, 1});   // 3, 3, 3
  add_bucket(e, 4, {1, 0});   // 5
  add_bucket(e, 11, {1, 0});  // 1000 in [512, 1K)
  add_bucket(e, 12, {0, 1});  // 1024
  add_bucket(e, 22, {1, 0});  // 2000000 in [1M, 2M)
  add_bucket(e, 34, {1, 0});  // 5000000000 in [4G, 8G)
  std::string expected =
      "@h: \n"
      "(..., 0)               1 |@@@@@@@@@@@@@@@@@                                   |\n"
      "[0]                    1 |@@@@@@@@@@@@@@@@@                                   |\n"
      "[1]                    2 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@                  |\n"
      "[2, 4)                 3 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n"
      "[4, 8)                 1 |@@@@@@@@@@@@@@@@@                                   |\n"
      "[8, 16)                0 |                                                    |\n"
      "[16, 32)               0 |                                                    |\n"
      "[32, 64)               0 |                                                    |\n"
      "[64, 128)              0 |                                                    |\n"
      "[128, 256)             0 |                                                    |\n"
      "[256, 512)             0 |                                                    |\n"
      "[512, 1K)              1 |@@@@@@@@@@@@@@@@@                                   |\n"
      "[1K, 2K)               1 |@@@@@@@@@@@@@@@@@                                   |\n"
      "[2K, 4K)               0 |                                                    |\n"
      "[4K, 8K)               0 |                                                    |\n"
      "[8K, 16K)              0 |                                                    |\n"
      "[16K, 32K)             0 |                                                    |\n"
      "[32K, 64K)             0 |                                                    |\n"
      "[64K, 128K)            0 |                                                    |\n"
      "[128K, 256K)           0 |                                                    |\n"
      "[256K, 512K)           0 |                                                    |\n"
      "[512K, 1M)             0 |                                                    |\n"
      "[1M, 2M)               1 |@@@@@@@@@@@@@@@@@                                   |\n"
      "[2M, 4M)               0 |                                                    |\n"
      "[4M, 8M)               0 |                                                    |\n"
      "[8M, 16M)              0 |                                                    |\n"
      "[16M, 32M)             0 |                                                    |\n"
      "[32M, 64M)             0 |                                                    |\n"
      "[64M, 128M)            0 |                                                    |\n"
      "[128M, 256M)           0 |                                                    |\n"
      "[256M, 512M)           0 |                                                    |\n"
      "[512M, 1G)             0 |                                                    |\n"
      "[1G, 2G)               0 |                                                    |\n"
      "[2G, 4G)               0 |                                                    |\n"
      "[4G, 8G)               1 |@@@@@@@@@@@@@@@@@                                   |\n"
      "\n";
  // (bpftrace 0.17 itself put 5000000000 in [2G, 4G): it truncates hist()
  // arguments to 32 bits; the last line is ours.)
  EXPECT_EQ(print(m, e), expected);
}

TEST(RuntimeMapPrinter, HistHighBuckets) {
  std::vector<uint64_t> c(66, 0);
  c[42] = 1;  // [1T, 2T)
  c[64] = 2;  // [4E, 8E)
  std::string out = gt::rt::format_hist(c);
  EXPECT_EQ(out.substr(0, out.find('\n')),
            "[1T, 2T)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |");
  EXPECT_EQ(out.substr(out.rfind("[4E")),
            "[4E, 8E)               2 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n");
}

TEST(RuntimeMapPrinter, HistKeyedSortedByTotal) {
  // bpftrace -e 'BEGIN { @h[3]=hist(1); @h[1]=hist(1); @h[1]=hist(1); @h[1]=hist(1);
  //   @h[2]=hist(1); @h[2]=hist(1); @h[-1]=hist(1); exit(); }'
  Map m = make_map("@h", MapKind::Hist, kInt, kInt);
  std::vector<RawEntry> e;
  add_bucket(e, 2, {1, 0}, Bytes().i64(-1).b);
  add_bucket(e, 2, {1, 2}, Bytes().i64(1).b);
  add_bucket(e, 2, {0, 2}, Bytes().i64(2).b);
  add_bucket(e, 2, {0, 1}, Bytes().i64(3).b);
  const char *bar52 = "|@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n";
  EXPECT_EQ(print(m, e), std::string("@h[3]: \n[1]                    1 ") + bar52 + "\n" +
                             "@h[-1]: \n[1]                    1 " + bar52 + "\n" +
                             "@h[2]: \n[1]                    2 " + bar52 + "\n" +
                             "@h[1]: \n[1]                    3 " + bar52 + "\n");
}

TEST(RuntimeMapPrinter, Lhist) {
  // bpftrace -e 'BEGIN { @l=lhist(-5,0,100,10); @l=lhist(5,0,100,10); @l=lhist(35,0,100,10);
  //   @l=lhist(100,0,100,10); @l=lhist(250,0,100,10); exit(); }'
  Map m = make_map("@l", MapKind::Lhist, Type::none(), kInt);
  m.lhist_min = 0;
  m.lhist_max = 100;
  m.lhist_step = 10;
  std::vector<RawEntry> e;
  add_bucket(e, 0, {1, 0});
  add_bucket(e, 1, {0, 1});
  add_bucket(e, 4, {1, 0});
  add_bucket(e, 11, {1, 1});
  EXPECT_EQ(print(m, e),
            "@l: \n"
            "(..., 0)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |\n"
            "[0, 10)                1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |\n"
            "[10, 20)               0 |                                                    |\n"
            "[20, 30)               0 |                                                    |\n"
            "[30, 40)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |\n"
            "[40, 50)               0 |                                                    |\n"
            "[50, 60)               0 |                                                    |\n"
            "[60, 70)               0 |                                                    |\n"
            "[70, 80)               0 |                                                    |\n"
            "[80, 90)               0 |                                                    |\n"
            "[90, 100)              0 |                                                    |\n"
            "[100, ...)             2 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n"
            "\n");
}

TEST(RuntimeMapPrinter, LhistLabels) {
  // bpftrace -e 'BEGIN { @l=lhist(1500,0,5000,1000); @m=lhist(3000,0,10240,1024);
  //   @n=lhist(3000000, 1048576, 4194304, 1048576); @o=lhist(5,2,10,3); @p=lhist(20,2,10,3);
  //   exit(); }'
  const char *bar52 = " |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n";
  auto one = [](size_t n, size_t i) {
    std::vector<uint64_t> c(n, 0);
    c[i] = 1;
    return c;
  };
  EXPECT_EQ(gt::rt::format_lhist(one(7, 2), 0, 5000, 1000),
            std::string("[1000, 2000)           1") + bar52);
  EXPECT_EQ(gt::rt::format_lhist(one(12, 3), 0, 10240, 1024),
            std::string("[2K, 3K)               1") + bar52);
  EXPECT_EQ(gt::rt::format_lhist(one(5, 2), 1048576, 4194304, 1048576),
            std::string("[2M, 3M)               1") + bar52);
  EXPECT_EQ(gt::rt::format_lhist(one(4, 2), 2, 10, 3),
            std::string("[5, 8)                 1") + bar52);
  EXPECT_EQ(gt::rt::format_lhist(one(4, 3), 2, 10, 3),
            std::string("[10, ...)              1") + bar52);
  // bpftrace labels the below-min bucket of lhist(x, 1073741824, ...) "(..., 1024M)":
  // lhist labels only use K and M.
  EXPECT_EQ(gt::rt::format_lhist(one(4, 0), 1073741824, 4294967296, 1073741824),
            std::string("(..., 1024M)           1") + bar52);
}

TEST(RuntimeMapPrinter, PrintTopAndDiv) {
  // bpftrace -e 'BEGIN { @c[1]=count(); @c[2]=count(); @c[2]=count(); @c[3]=count();
  //   @c[3]=count(); @c[3]=count(); print(@c, 2); print(@c, 2, 2); print(@c, 0, 0); exit(); }'
  Map c = make_map("@c", MapKind::Count, kInt, kInt);
  std::vector<RawEntry> e = {ikey(1, percpu({1, 0})), ikey(2, percpu({1, 1})),
                             ikey(3, percpu({2, 1}))};
  auto limited = [&](const Map &m, const std::vector<RawEntry> &entries, uint32_t top,
                     uint32_t div) {
    std::string out;
    gt::rt::print_map(m, entries, kCpus, out, nullptr, {top, div});
    return out;
  };
  EXPECT_EQ(limited(c, e, 2, 1), "@c[2]: 2\n@c[3]: 3\n");
  EXPECT_EQ(limited(c, e, 2, 2), "@c[2]: 1\n@c[3]: 1\n");
  EXPECT_EQ(limited(c, e, 0, 0), "@c[1]: 1\n@c[2]: 2\n@c[3]: 3\n");
  // bpftrace -e 'BEGIN { @s[1]=sum(-15); @s[2]=sum(15); print(@s, 1, 2); exit(); }'
  Map s = make_map("@s", MapKind::Sum, kInt, kInt);
  EXPECT_EQ(limited(s, {ikey(1, percpu({-15, 0})), ikey(2, percpu({0, 15}))}, 1, 2),
            "@s[2]: 7\n");
  EXPECT_EQ(limited(s, {ikey(1, percpu({-15, 0})), ikey(2, percpu({0, 15}))}, 0, 2),
            "@s[1]: -7\n@s[2]: 7\n");
}

TEST(RuntimeMapPrinter, HistDivKeepsBars) {
  // bpftrace -e 'BEGIN { @h=hist(1); @h=hist(1); @h=hist(1); @h=hist(4); print(@h, 0, 2); exit(); }'
  std::vector<uint64_t> c(66, 0);
  c[2] = 3;
  c[4] = 1;
  EXPECT_EQ(gt::rt::format_hist(c, 2),
            "[1]                    1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n"
            "[2, 4)                 0 |                                                    |\n"
            "[4, 8)                 0 |@@@@@@@@@@@@@@@@@                                   |\n");
}
