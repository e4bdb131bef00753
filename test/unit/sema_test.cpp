// Sema: types, map kinds, layouts, and its error messages.
#include <gtest/gtest.h>

#include <sstream>

#include "grammar/parse.h"
#include "sema/sema.h"

namespace {

struct Result {
  std::optional<gt::sema::Analysis> analysis;
  std::string diags;
};

Result analyze(const std::string &text, std::vector<std::string> params = {}) {
  static std::vector<std::unique_ptr<gt::ast::Program>> keep;  // analysis points into the AST
  gt::SourceFile file("t.gt", text);
  std::ostringstream out;
  gt::Diagnostics diags(file, out);
  Result r;
  auto program = gt::grammar::parse(file, diags);
  if (!program) {
    r.diags = out.str();
    return r;
  }
  keep.push_back(std::make_unique<gt::ast::Program>(std::move(*program)));
  gt::sema::Options opts;
  opts.params = std::move(params);
  r.analysis = gt::sema::analyze(*keep.back(), diags, opts);
  r.diags = out.str();
  return r;
}

TEST(Sema, MapKindsAndLayouts) {
  auto r = analyze("BEGIN { @c[comm, pid] = count(); @h = hist(5); @v[\"k\"] = 3; @s = comm; }");
  ASSERT_TRUE(r.analysis) << r.diags;
  const auto *c = r.analysis->find_map("@c");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->kind, gt::meta::MapKind::Count);
  auto key = gt::sema::to_meta(c->key);
  EXPECT_EQ(key.str(), "(string[16],uint64)");
  EXPECT_EQ(key.offsets[1], 16u);
  EXPECT_EQ(key.size, 24u);
  EXPECT_EQ(r.analysis->find_map("@h")->kind, gt::meta::MapKind::Hist);
  EXPECT_EQ(r.analysis->find_map("@v")->key.str(), "string[2]");
  EXPECT_EQ(r.analysis->find_map("@s")->value.str(), "string[16]");
}

TEST(Sema, StringKeysUnifyToTheLargestSize) {
  auto r = analyze("BEGIN { @m[\"a\"] = 1; @m[\"abcdef\"] = 2; }");
  ASSERT_TRUE(r.analysis) << r.diags;
  EXPECT_EQ(r.analysis->find_map("@m")->key.str(), "string[7]");
}

TEST(Sema, PrintfPayloadLayout) {
  auto r = analyze("BEGIN { printf(\"%s %d %s\\n\", comm, 1, \"xyz\"); }");
  ASSERT_TRUE(r.analysis) << r.diags;
  ASSERT_EQ(r.analysis->printfs.size(), 1u);
  const auto &pf = r.analysis->printfs[0];
  EXPECT_EQ(pf.format, "%s %d %s\n");
  ASSERT_EQ(pf.offsets.size(), 3u);
  EXPECT_EQ(pf.offsets[0], 0u);
  EXPECT_EQ(pf.offsets[1], 16u);
  EXPECT_EQ(pf.offsets[2], 24u);
  EXPECT_EQ(pf.payload_size, 32u);
}

TEST(Sema, MapReadBeforeItsAssignmentInALaterProbe) {
  auto r = analyze("END { printf(\"%d\\n\", @x); } BEGIN { @x = 5; @y++; }");
  ASSERT_TRUE(r.analysis) << r.diags;
}

TEST(Sema, PositionalParameters) {
  auto r = analyze("BEGIN { printf(\"%d %s %d\\n\", $1, $2, $#); }", {"42", "name"});
  ASSERT_TRUE(r.analysis) << r.diags;
  auto missing = analyze("BEGIN { printf(\"%d\\n\", $3); }", {"1"});
  EXPECT_FALSE(missing.analysis);
  EXPECT_NE(missing.diags.find("positional parameter $3 was not given (1 given)"),
            std::string::npos)
      << missing.diags;
}

struct ErrorCase {
  const char *script;
  const char *message;
};

class SemaErrors : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(SemaErrors, ReportsTheMessage) {
  auto r = analyze(GetParam().script);
  EXPECT_FALSE(r.analysis);
  EXPECT_NE(r.diags.find(GetParam().message), std::string::npos) << r.diags;
}

INSTANTIATE_TEST_SUITE_P(
    All, SemaErrors,
    ::testing::Values(
        ErrorCase{"BEGIN { printf(\"%d %d\\n\", 1); }",
                  "t.gt:1:9: error: printf() format has 2 conversions but 1 argument was given"},
        ErrorCase{"BEGIN { printf(\"%s\\n\", 1); }", "printf: %s needs a string, but argument 1 is int64"},
        ErrorCase{"BEGIN { printf(\"%d\\n\", comm); }", "printf: %d needs an integer"},
        ErrorCase{"BEGIN { printf(\"%y\\n\", 1); }", "invalid printf conversion '%y'"},
        ErrorCase{"BEGIN { @x = count(); @x = 1; }", "map @x holds count() elsewhere"},
        ErrorCase{"BEGIN { @x = 1; @x = \"s\"; }", "map @x holds int64 elsewhere"},
        ErrorCase{"BEGIN { @x[1] = 1; @x = 2; }", "map @x is used with key none here but with key int64"},
        ErrorCase{"BEGIN { $x = 1; $x = comm; }", "variable $x holds int64"},
        ErrorCase{"BEGIN { printf(\"%d\\n\", $y); }", "variable $y is used before it is assigned"},
        ErrorCase{"BEGIN { printf(\"%d\\n\", retval); }", "retval is only available in uretprobe and kretprobe probes"},
        ErrorCase{"BEGIN { printf(\"%d\\n\", arg0); }", "arg0 is only available in uprobe"},
        ErrorCase{"BEGIN { printf(\"%d\\n\", nosuch); }", "unknown identifier 'nosuch'"},
        ErrorCase{"BEGIN { nosuch(); }", "unknown function 'nosuch'"},
        ErrorCase{"BEGIN { count(); }", "count() can only be assigned to a map"},
        ErrorCase{"BEGIN { @x = sum(1, 2); }", "sum() takes 1 argument, 2 given"},
        ErrorCase{"BEGIN { @x = lhist(1, 10, 0, 1); }", "lhist() needs min < max and step > 0"},
        ErrorCase{"BEGIN { $x = comm + 1; }", "operator + cannot be applied to string[16] and int64"},
        ErrorCase{"BEGIN { 1 + 2; }", "this expression has no effect"},
        ErrorCase{"BEGIN { printf(\"%d\\n\", @never); }", "map @never is read but never assigned"},
        ErrorCase{"uprobe:/nonexistent/bin:f { exit(); }", "cannot use '/nonexistent/bin'"},
        ErrorCase{"uprobe:/etc/passwd:f { exit(); }", "cannot use '/etc/passwd': '/etc/passwd' is not an ELF file"},
        ErrorCase{"uprobe:/bin/sh:no_such_function_xyz { exit(); }",
                  "could not find function 'no_such_function_xyz' in /usr/bin/dash"},
        ErrorCase{"uprobe:/bin/sh { exit(); }", "uprobe needs a binary and a function"},
        ErrorCase{"uprobe:/bin/sh:zzz* { exit(); }", "no function in /usr/bin/dash matches 'zzz*'"},
        ErrorCase{"kprobe:no_such_kernel_fn_xyz { exit(); }",
                  "kernel function 'no_such_kernel_fn_xyz' does not exist (not in /proc/kallsyms)"},
        ErrorCase{"usdt:/bin/sh:p:n { exit(); }", "no USDT probe p:n in /usr/bin/dash"},
        ErrorCase{"software:nosuch { exit(); }", "software needs an event and an optional count"},
        ErrorCase{"BEGIN { signal(\"SIGNOPE\"); }", "unknown signal 'SIGNOPE'"},
        ErrorCase{"BEGIN { printf(\"%r\\n\", 1); }", "printf: %r needs a buffer (buf()), but argument 1 is int64"},
        ErrorCase{"BEGIN { clear(1); }", "clear() needs a map: clear(@m)"},
        ErrorCase{"BEGIN { @x = ksym(comm); }", "ksym() needs an integer here, not string[16]"},
        ErrorCase{"bogus:x { exit(); }", "unknown probe type 'bogus'"},
        ErrorCase{"profile:parsecs:5 { exit(); }", "unknown profile unit 'parsecs'"},
        ErrorCase{"interval:s:0 { exit(); }", "interval needs a unit and a positive count"},
        ErrorCase{"tracepoint:nosuchcat:nosuchevent { exit(); }",
                  "tracepoint nosuchcat:nosuchevent does not exist"},
        ErrorCase{"tracepoint:syscalls:sys_enter_openat { printf(\"%d\\n\", args.nope); }",
                  "tracepoint syscalls:sys_enter_openat has no field 'nope' (fields: __syscall_nr, dfd, filename, flags, mode)"}));

TEST(TracepointFormat, ParsesFieldKinds) {
  auto fields = gt::sema::parse_tracepoint_format(
      "\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n"
      "\tfield:char comm[16];\toffset:8;\tsize:16;\tsigned:0;\n"
      "\tfield:__data_loc char[] name;\toffset:24;\tsize:4;\tsigned:0;\n"
      "\tfield:const char * filename;\toffset:32;\tsize:8;\tsigned:0;\n"
      "\tfield:long ret;\toffset:40;\tsize:8;\tsigned:1;\n");
  ASSERT_EQ(fields.size(), 4u);
  using K = gt::sema::TracepointField::Kind;
  EXPECT_EQ(fields[0].name, "comm");
  EXPECT_EQ(fields[0].kind, K::CharArray);
  EXPECT_EQ(fields[1].name, "name");
  EXPECT_EQ(fields[1].kind, K::DataLoc);
  EXPECT_EQ(fields[2].name, "filename");
  EXPECT_EQ(fields[2].kind, K::Pointer);
  EXPECT_EQ(fields[3].name, "ret");
  EXPECT_EQ(fields[3].kind, K::Int);
  EXPECT_TRUE(fields[3].is_signed);
  EXPECT_EQ(fields[3].offset, 40u);
}

}  // namespace

TEST(UsdtArgs, ParsesTheAddressingModes) {
  gt::sema::UsdtArg a;
  std::string err;
  ASSERT_TRUE(gt::sema::parse_usdt_arg("-4@%edi", a, err)) << err;
  EXPECT_EQ(a.kind, gt::sema::UsdtArg::Kind::Register);
  EXPECT_EQ(a.size, 4u);
  EXPECT_TRUE(a.is_signed);
  EXPECT_EQ(a.reg_offset, 112u);
  ASSERT_TRUE(gt::sema::parse_usdt_arg("8@-16(%rbp)", a, err)) << err;
  EXPECT_EQ(a.kind, gt::sema::UsdtArg::Kind::Memory);
  EXPECT_EQ(a.value, -16);
  EXPECT_EQ(a.reg_offset, 32u);
  ASSERT_TRUE(gt::sema::parse_usdt_arg("2@(%r12)", a, err)) << err;
  EXPECT_EQ(a.value, 0);
  EXPECT_EQ(a.reg_offset, 24u);
  ASSERT_TRUE(gt::sema::parse_usdt_arg("4@$-5", a, err)) << err;
  EXPECT_EQ(a.kind, gt::sema::UsdtArg::Kind::Constant);
  EXPECT_EQ(a.value, -5);
  EXPECT_FALSE(gt::sema::parse_usdt_arg("8@counter(%rip)", a, err));
  EXPECT_NE(err.find("addresses a symbol"), std::string::npos) << err;
  EXPECT_FALSE(gt::sema::parse_usdt_arg("8@(%rax,%rbx,8)", a, err));
  EXPECT_NE(err.find("addressing mode that is not supported"), std::string::npos) << err;
  EXPECT_FALSE(gt::sema::parse_usdt_arg("3@%eax", a, err));
}
