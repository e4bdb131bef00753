// Lexer and parser: the AST shape of each construct, and syntax errors with
// their locations.
#include <gtest/gtest.h>

#include <sstream>

#include "frontend/ast.h"
#include "grammar/parse.h"

namespace {

struct Parsed {
  std::optional<gt::ast::Program> program;
  std::string diags;
};

Parsed parse(const std::string &text) {
  gt::SourceFile file("t.gt", text);
  std::ostringstream out;
  gt::Diagnostics diags(file, out);
  Parsed p;
  p.program = gt::grammar::parse(file, diags);
  p.diags = out.str();
  return p;
}

std::string dump(const std::string &text) {
  auto p = parse(text);
  EXPECT_TRUE(p.program) << p.diags;
  return p.program ? gt::ast::dump(*p.program) : "";
}

TEST(Parser, AttachPointsWithPathsAndPredicate) {
  auto p = parse("uprobe:/bin/bash:readline, uretprobe:./a.out:f+4 /pid == 1/ { exit(); }");
  ASSERT_TRUE(p.program) << p.diags;
  ASSERT_EQ(p.program->probes.size(), 1u);
  const auto &probe = p.program->probes[0];
  ASSERT_EQ(probe.attach_points.size(), 2u);
  EXPECT_EQ(probe.attach_points[0].text, "uprobe:/bin/bash:readline");
  EXPECT_EQ(probe.attach_points[1].text, "uretprobe:./a.out:f+4");
  EXPECT_EQ(probe.attach_points[1].loc.line, 1u);
  EXPECT_EQ(probe.attach_points[1].loc.col, 28u);
  ASSERT_TRUE(probe.predicate);
  EXPECT_EQ(probe.predicate->kind, gt::ast::ExprKind::Binary);
}

TEST(Parser, PrecedenceAndAssociativity) {
  EXPECT_EQ(dump("BEGIN { $x = 1 + 2 * 3 - 4; }"),
            "program\n"
            "  probe BEGIN\n"
            "    assign\n"
            "      variable $x\n"
            "      binary -\n"
            "        binary +\n"
            "          int 1\n"
            "          binary *\n"
            "            int 2\n"
            "            int 3\n"
            "        int 4\n");
}

TEST(Parser, DivisionInsidePredicate) {
  // The closing '/' of a predicate is the one followed by '{'.
  auto d = dump("BEGIN /10 / 2 == 5/ { exit(); }");
  EXPECT_NE(d.find("binary /"), std::string::npos) << d;
}

TEST(Parser, MapsKeysAndCompoundAssignment) {
  EXPECT_EQ(dump("BEGIN { @m[1, \"a\"] += 2; @c++; }"),
            "program\n"
            "  probe BEGIN\n"
            "    assign\n"
            "      map @m\n"
            "        int 1\n"
            "        string \"a\"\n"
            "      binary +\n"
            "        map @m\n"
            "          int 1\n"
            "          string \"a\"\n"
            "        int 2\n"
            "    expr\n"
            "      postincrement\n"
            "        map @c\n");
}

TEST(Parser, IncrementsAsValues) {
  EXPECT_EQ(dump("BEGIN { $y = $x++ + --@m[1]; }"),
            "program\n"
            "  probe BEGIN\n"
            "    assign\n"
            "      variable $y\n"
            "      binary +\n"
            "        postincrement\n"
            "          variable $x\n"
            "        predecrement\n"
            "          map @m\n"
            "            int 1\n");
}

TEST(Parser, ForOverMapAndDereference) {
  EXPECT_EQ(dump("BEGIN { for ($kv : @m) { $v = *$kv.1 * 2; } }"),
            "program\n"
            "  probe BEGIN\n"
            "    for $kv in map\n"
            "      map @m\n"
            "      assign\n"
            "        variable $v\n"
            "        binary *\n"
            "          unary *\n"
            "            field .1\n"
            "              variable $kv\n"
            "          int 2\n");
}

TEST(Parser, IfElseChainAndTernary) {
  auto d = dump("BEGIN { if ($a) { exit(); } else if ($b) { exit(); } else { $c = $a ? 1 : 2; } }");
  EXPECT_NE(d.find("if\n"), std::string::npos);
  EXPECT_NE(d.find("ternary"), std::string::npos);
}

TEST(Lexer, IntegersStringsAndComments) {
  auto d = dump("// comment\nBEGIN { /* c */ $x = 0x10 + 1_000; printf(\"a\\tb\\x41\\101\\n\"); }");
  EXPECT_NE(d.find("int 16"), std::string::npos) << d;
  EXPECT_NE(d.find("int 1000"), std::string::npos) << d;
  EXPECT_NE(d.find("string \"a\\tbAA\\n\""), std::string::npos) << d;
}

TEST(Lexer, IncludeLinesAreIgnored) {
  auto p = parse("#include <linux/sched.h>\nBEGIN { exit(); }");
  ASSERT_TRUE(p.program) << p.diags;
  EXPECT_EQ(p.program->probes.size(), 1u);
}

TEST(ParserErrors, SyntaxErrorHasLocationAndCaret) {
  auto p = parse("BEGIN {\n  $x = ;\n}");
  EXPECT_FALSE(p.program);
  EXPECT_EQ(p.diags,
            "t.gt:2:8: error: syntax error, unexpected ;\n"
            "  $x = ;\n"
            "       ^\n");
}

TEST(ParserErrors, MissingBraceAtEnd) {
  auto p = parse("BEGIN { exit();");
  EXPECT_FALSE(p.program);
  EXPECT_NE(p.diags.find("unexpected end of file"), std::string::npos) << p.diags;
}

TEST(ParserErrors, BadEscapeAndInvalidInteger) {
  auto p = parse("BEGIN { printf(\"\\q\"); $x = 12ab; }");
  EXPECT_FALSE(p.program);
  EXPECT_NE(p.diags.find("t.gt:1:16: error: unknown escape sequence '\\q'"), std::string::npos)
      << p.diags;
  EXPECT_NE(p.diags.find("invalid integer literal '12ab'"), std::string::npos) << p.diags;
}

TEST(ParserErrors, UnterminatedStringAndComment) {
  EXPECT_NE(parse("BEGIN { printf(\"abc); }").diags.find("unterminated string literal"),
            std::string::npos);
  EXPECT_NE(parse("BEGIN { /* abc }").diags.find("unterminated comment"), std::string::npos);
}

}  // namespace

TEST(Lexer, ScientificIntegerLiterals) {
  // bpftrace tools divide by 1e6; it is the integer 1000000.
  auto d = dump("BEGIN { $x = 1e6 + 2E3; }");
  EXPECT_NE(d.find("int 1000000"), std::string::npos) << d;
  EXPECT_NE(d.find("int 2000"), std::string::npos) << d;
  auto p = parse("BEGIN { $x = 1e30; }");
  EXPECT_FALSE(p.program);
  EXPECT_NE(p.diags.find("integer literal '1e30' is too large"), std::string::npos) << p.diags;
}
