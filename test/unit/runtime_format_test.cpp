// printf formatting. Expected strings marked "bpftrace" are what bpftrace
// 0.17 printed for the command given in the comment (run as
// `bpftrace -e 'BEGIN { printf(FORMAT, ARGS); exit(); }'`); bpftrace passes
// integer literals as int64 and strings as char[64].
#include <gtest/gtest.h>

#include <cstring>

#include "runtime/format.h"

using gt::meta::Printf;
using gt::meta::Type;
using gt::rt::PrintfFormatter;

namespace {

// Builds a printf call site and its payload from a list of arguments.
struct Call {
  Printf p;
  std::vector<uint8_t> payload;

  explicit Call(const std::string &fmt) { p.format = fmt; }
  void align(uint32_t a) {
    while (payload.size() % a)
      payload.push_back(0);
  }
  Call &i64(int64_t v) { return integer(uint64_t(v), 8, true); }
  Call &u64(uint64_t v) { return integer(v, 8, false); }
  Call &integer(uint64_t v, uint32_t size, bool is_signed) {
    align(size);
    p.args.push_back(Type::integer(size, is_signed));
    p.offsets.push_back(uint32_t(payload.size()));
    for (uint32_t i = 0; i < size; i++)
      payload.push_back(uint8_t(v >> (8 * i)));
    return *this;
  }
  Call &str(const std::string &s, uint32_t size = 64) {
    p.args.push_back(Type::string(size));
    p.offsets.push_back(uint32_t(payload.size()));
    std::vector<uint8_t> buf(size, 0);
    memcpy(buf.data(), s.data(), std::min<size_t>(s.size(), size));
    payload.insert(payload.end(), buf.begin(), buf.end());
    return *this;
  }
  std::string run() {
    p.payload_size = uint32_t(payload.size());
    PrintfFormatter f(p);
    return f.format(payload.data(), payload.size());
  }
};

}  // namespace

TEST(RuntimeFormat, WidthAndBase) {
  // bpftrace: printf("[%5d|%-5d|%05d|%x|%X|%o|%u]\n", 42, 42, 42, 255, 255, 8, 7)
  EXPECT_EQ(Call("[%5d|%-5d|%05d|%x|%X|%o|%u]\n")
                .i64(42).i64(42).i64(42).i64(255).i64(255).i64(8).i64(7)
                .run(),
            "[   42|42   |00042|ff|FF|10|7]\n");
}

TEST(RuntimeFormat, NoLengthModifierIsInt) {
  // bpftrace: printf("[%d|%u|%x|%d|%c|%s|%5c|%o]\n", 5000000000, -1, -1, -1, 321, "", 66, -1)
  EXPECT_EQ(Call("[%d|%u|%x|%d|%c|%s|%5c|%o]\n")
                .i64(5000000000).i64(-1).i64(-1).i64(-1).i64(321).str("").i64(66).i64(-1)
                .run(),
            "[705032704|4294967295|ffffffff|-1|A||    B|37777777777]\n");
}

TEST(RuntimeFormat, LengthModifiers) {
  // bpftrace: printf("[%lld|%hhd|%lu|%zd|%ld]\n", -5, 300, 7, 9, -1)
  EXPECT_EQ(Call("[%lld|%hhd|%lu|%zd|%ld]\n").i64(-5).i64(300).i64(7).i64(9).i64(-1).run(),
            "[-5|44|7|9|-1]\n");
  // bpftrace: printf("[%jd|%td|%hd|%lx|%llu]\n", -5, 300, 70000, 9, -1)
  EXPECT_EQ(Call("[%jd|%td|%hd|%lx|%llu]\n").i64(-5).i64(300).i64(70000).i64(9).i64(-1).run(),
            "[-5|300|4464|9|18446744073709551615]\n");
}

TEST(RuntimeFormat, Strings) {
  // bpftrace: printf("[%10s|%-10s|%.2s|%%|%p]\n", "abc", "abc", "abcdef", 4096)
  EXPECT_EQ(Call("[%10s|%-10s|%.2s|%%|%p]\n").str("abc").str("abc").str("abcdef").i64(4096).run(),
            "[       abc|abc       |ab|%|0x1000]\n");
  // bpftrace: printf("[%8.3s|%-8s|%c%c]\n", "abcdef", "xy", 104, 105)
  EXPECT_EQ(Call("[%8.3s|%-8s|%c%c]\n").str("abcdef").str("xy").i64(104).i64(105).run(),
            "[     abc|xy      |hi]\n");
  // bpftrace: printf("[%.3d]\n", 42)
  EXPECT_EQ(Call("[%.3d]\n").i64(42).run(), "[042]\n");
}

TEST(RuntimeFormat, FlagsBeyondBpftrace) {
  // bpftrace 0.17 rejects these flags; we follow C's printf.
  EXPECT_EQ(Call("[%+d|% d|%#x|%#o|%i|%-+6d|%10.3d]").i64(42).i64(42).i64(255).i64(8).i64(-5)
                .i64(3).i64(7).run(),
            "[+42| 42|0xff|010|-5|+3    |       007]");
}

TEST(RuntimeFormat, PayloadTypes) {
  // Small and unsigned integers as metadata describes them.
  EXPECT_EQ(Call("%d %u %d %llu %lld").integer(0xff, 1, true).integer(0xffff, 2, false)
                .integer(uint32_t(-7), 4, true).u64(~0ULL).integer(uint32_t(-1), 4, true).run(),
            "-1 65535 -7 18446744073709551615 -1");
  // A NUL-padded string buffer filled to the brim has no NUL.
  EXPECT_EQ(Call("<%s>").str("abcd", 4).run(), "<abcd>");
  EXPECT_EQ(Call("<%s>").str("ab", 4).run(), "<ab>");
}

TEST(RuntimeFormat, LiteralsAndOddFormats) {
  EXPECT_EQ(Call("100%% done\n").run(), "100% done\n");
  EXPECT_EQ(Call("no args").run(), "no args");
  // Unknown conversions stay as written; missing arguments show <?>.
  EXPECT_EQ(Call("%f %d|%d").i64(1).run(), "%f 1|<?>");
  EXPECT_EQ(Call("tail %").run(), "tail %");
}

TEST(RuntimeFormat, ValueToString) {
  Type t;
  t.kind = Type::Kind::Tuple;
  t.size = 24;
  t.elems = {Type::integer(8, true), Type::string(8), Type::integer(4, false)};
  t.offsets = {0, 8, 16};
  uint8_t buf[24] = {};
  int64_t v = -2;
  memcpy(buf, &v, 8);
  memcpy(buf + 8, "yy", 2);
  uint32_t u = 7;
  memcpy(buf + 16, &u, 4);
  // bpftrace: @v["a"] = (-2, "yy") prints "@v[a]: (-2, yy)"
  EXPECT_EQ(gt::rt::value_to_string(t, buf), "(-2, yy, 7)");
}
