// Struct and union definitions in scripts: how they parse, how their members
// are laid out (checked against this compiler's own layout of the same C
// definitions), and sizeof/offsetof folded by sema.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <sstream>

#include "frontend/ast.h"
#include "grammar/parse.h"
#include "sema/ctypes.h"
#include "sema/sema.h"

namespace {

using gt::dwarf::Type;
using gt::dwarf::TypeArena;
using gt::dwarf::TypeKind;
using gt::sema::MemberSpec;

std::string dump(const std::string &text) {
  gt::SourceFile file("t.gt", text);
  std::ostringstream out;
  gt::Diagnostics diags(file, out);
  auto p = gt::grammar::parse(file, diags);
  EXPECT_TRUE(p) << out.str();
  return p ? gt::ast::dump(*p) : out.str();
}

std::string syntax_error(const std::string &text) {
  gt::SourceFile file("t.gt", text);
  std::ostringstream out;
  gt::Diagnostics diags(file, out);
  auto p = gt::grammar::parse(file, diags);
  EXPECT_FALSE(p);
  return out.str();
}

TEST(ScriptStructs, DefinitionsParse) {
  EXPECT_EQ(dump("#include <linux/fs.h>\n"
                 "struct qstr { u32 hash; u32 len; const unsigned char *name; };\n"
                 "union u { long l; char b[2][4]; int x : 3, : 0, y : 2; void (*fn)(int, char *); "
                 "  struct { int lo, hi; }; struct path *p; pid_t pid; };\n"
                 "BEGIN { exit(); }"),
            "program\n"
            "  struct qstr\n"
            "    member hash: u32\n"
            "    member len: u32\n"
            "    member name: unsigned char *\n"
            "  union u\n"
            "    member l: long\n"
            "    member b: char[2][4]\n"
            "    member x: int : 3\n"
            "    member (anonymous): int : 0\n"
            "    member y: int : 2\n"
            "    member fn: void (*)()\n"
            "    member (anonymous): struct (anonymous)\n"
            "      member lo: int\n"
            "      member hi: int\n"
            "    member p: struct path *\n"
            "    member pid: pid_t\n"
            "  probe BEGIN\n"
            "    expr\n"
            "      call exit\n");
}

TEST(ScriptStructs, SizeofAndOffsetofParse) {
  EXPECT_EQ(dump("BEGIN { @a = sizeof(struct qstr); @b = sizeof(unsigned long *); "
                 "@c = sizeof(const char); @d = sizeof($x); @e = offsetof(struct nameidata, last.name); }"),
            "program\n"
            "  probe BEGIN\n"
            "    assign\n"
            "      map @a\n"
            "      call sizeof (struct qstr)\n"
            "    assign\n"
            "      map @b\n"
            "      call sizeof (unsigned long*)\n"
            "    assign\n"
            "      map @c\n"
            "      call sizeof (char)\n"
            "    assign\n"
            "      map @d\n"
            "      call sizeof\n"
            "        variable $x\n"
            "    assign\n"
            "      map @e\n"
            "      call offsetof (struct nameidata, last.name)\n");
}

TEST(ScriptStructs, BtfConditionals) {
  // Only BPFTRACE_HAVE_BTF is understood; other conditionals keep both branches.
  EXPECT_EQ(dump("#ifndef BPFTRACE_HAVE_BTF\n"
                 "struct a { int x; };\n"
                 "#ifdef OTHER\n"
                 "struct b { int x; };\n"
                 "#endif\n"
                 "#else\n"
                 "struct c { int x; };\n"
                 "#endif\n"
                 "#if defined(BPFTRACE_HAVE_BTF)\n"
                 "struct d { int x; };\n"
                 "#endif\n"
                 "struct e { int x; };\n"
                 "BEGIN { }"),
            "program\n"
            "  struct a [without BTF]\n"
            "    member x: int\n"
            "  struct b [without BTF]\n"
            "    member x: int\n"
            "  struct c [with BTF]\n"
            "    member x: int\n"
            "  struct d [with BTF]\n"
            "    member x: int\n"
            "  struct e\n"
            "    member x: int\n"
            "  probe BEGIN\n");
}

TEST(ScriptStructs, SyntaxErrors) {
  EXPECT_EQ(syntax_error("struct foo { int x };\nBEGIN { }"),
            "t.gt:1:20: error: syntax error, unexpected }, expecting ; or ,\n"
            "struct foo { int x };\n"
            "                   ^\n");
  EXPECT_EQ(syntax_error("struct foo { int x; }\nBEGIN { }"),
            "t.gt:2:1: error: syntax error, unexpected identifier, expecting ;\n"
            "BEGIN { }\n"
            "^~~~~\n");
}

TEST(ScriptStructs, IntegerTypeNames) {
  TypeArena arena;
  struct Want {
    const char *name;
    uint64_t size;
    bool is_signed;
  };
  for (const Want &w : {Want{"char", 1, true}, Want{"unsigned char", 1, false},
                        Want{"signed char", 1, true}, Want{"short", 2, true},
                        Want{"unsigned short int", 2, false}, Want{"int", 4, true},
                        Want{"unsigned", 4, false}, Want{"long", 8, true},
                        Want{"long unsigned int", 8, false}, Want{"long long", 8, true},
                        Want{"u8", 1, false}, Want{"s16", 2, true}, Want{"__u32", 4, false},
                        Want{"int64_t", 8, true}, Want{"uint16", 2, false},
                        Want{"size_t", 8, false}, Want{"bool", 1, false}}) {
    std::string err;
    const Type *t = gt::sema::c_integer_type(w.name, arena, err);
    ASSERT_TRUE(t) << w.name << ": " << err;
    EXPECT_EQ(t->kind, TypeKind::Int) << w.name;
    EXPECT_EQ(t->size, w.size) << w.name;
    EXPECT_EQ(t->is_signed, w.is_signed) << w.name;
  }
  std::string err;
  EXPECT_EQ(gt::sema::c_integer_type("void", arena, err)->kind, TypeKind::Void);
  EXPECT_EQ(gt::sema::c_integer_type("pid_t", arena, err), nullptr);
  EXPECT_EQ(err, "");  // not C keywords: a typedef to look up elsewhere
  EXPECT_EQ(gt::sema::c_integer_type("long char", arena, err), nullptr);
  EXPECT_EQ(err, "'long char' is not a C type");
  err.clear();
  EXPECT_EQ(gt::sema::c_integer_type("unsigned double", arena, err), nullptr);
  EXPECT_EQ(err, "floating-point types are not supported ('unsigned double')");
}

// The same definitions, laid out by this C++ compiler (gcc's x86-64 rules).
struct Flags {
  unsigned int ready : 1;
  unsigned int mode : 3;
  int level : 5;
  unsigned int : 0;
  unsigned int wide : 20;
  uint8_t tail;
};
struct Spill {
  unsigned long long a : 60;
  unsigned int b : 8;  // does not fit in a's unit: starts the next one
  unsigned short c : 9;
  char d;
};

// The value of bitfield `m` in the bytes of `obj`, as codegen reads it.
int64_t read_bits(const void *obj, const gt::dwarf::Member &m, bool is_signed) {
  uint64_t raw = 0;
  std::memcpy(&raw, static_cast<const char *>(obj) + m.offset,
              (m.bit_offset + m.bit_size + 7) / 8);
  raw >>= m.bit_offset;
  uint64_t mask = m.bit_size == 64 ? ~0ull : (1ull << m.bit_size) - 1;
  raw &= mask;
  if (is_signed && (raw >> (m.bit_size - 1)) & 1)
    raw |= ~mask;
  return static_cast<int64_t>(raw);
}

TEST(ScriptStructs, BitfieldsLikeTheCompiler) {
  TypeArena arena;
  std::string err;
  auto ty = [&](const char *n) { return gt::sema::c_integer_type(n, arena, err); };
  Type *rec = arena.make(TypeKind::Struct);
  rec->name = "flags";
  size_t bad = 0;
  ASSERT_TRUE(gt::sema::c_layout(rec,
                                 {{"ready", ty("unsigned int"), 1},
                                  {"mode", ty("unsigned int"), 3},
                                  {"level", ty("int"), 5},
                                  {"", ty("unsigned int"), 0},
                                  {"wide", ty("unsigned int"), 20},
                                  {"tail", ty("uint8_t"), -1}},
                                 err, bad))
      << err;
  EXPECT_EQ(rec->size, sizeof(Flags));
  ASSERT_EQ(rec->members.size(), 5u);
  EXPECT_EQ(rec->members[4].offset, offsetof(Flags, tail));
  Flags f;
  std::memset(&f, 0, sizeof f);
  f.ready = 1;
  f.mode = 5;
  f.level = -3;
  f.wide = 0xabcde;
  EXPECT_EQ(read_bits(&f, rec->members[0], false), 1);
  EXPECT_EQ(read_bits(&f, rec->members[1], false), 5);
  EXPECT_EQ(read_bits(&f, rec->members[2], true), -3);
  EXPECT_EQ(read_bits(&f, rec->members[3], false), 0xabcde);

  Type *spill = arena.make(TypeKind::Struct);
  spill->name = "spill";
  ASSERT_TRUE(gt::sema::c_layout(spill,
                                 {{"a", ty("unsigned long long"), 60},
                                  {"b", ty("unsigned int"), 8},
                                  {"c", ty("unsigned short"), 9},
                                  {"d", ty("char"), -1}},
                                 err, bad))
      << err;
  EXPECT_EQ(spill->size, sizeof(Spill));
  EXPECT_EQ(spill->members[3].offset, offsetof(Spill, d));
  Spill s;
  std::memset(&s, 0, sizeof s);
  s.a = 0xfffffffffffffffull;
  s.b = 0xa5;
  s.c = 0x1ff;
  EXPECT_EQ(read_bits(&s, spill->members[0], false), 0xfffffffffffffffll);
  EXPECT_EQ(read_bits(&s, spill->members[1], false), 0xa5);
  EXPECT_EQ(read_bits(&s, spill->members[2], false), 0x1ff);
}

TEST(ScriptStructs, LayoutErrors) {
  TypeArena arena;
  std::string err;
  size_t bad = 0;
  auto ty = [&](const char *n) { return gt::sema::c_integer_type(n, arena, err); };
  Type *rec = arena.make(TypeKind::Struct);
  rec->name = "s";
  EXPECT_FALSE(gt::sema::c_layout(rec, {{"a", ty("int"), -1}, {"w", ty("short"), 17}}, err, bad));
  EXPECT_EQ(bad, 1u);
  EXPECT_EQ(err, "bitfield 'w' of struct s is 17 bits wide, more than its type 'short' holds");
  EXPECT_FALSE(gt::sema::c_layout(rec, {{"v", ty("void"), -1}}, err, bad));
  EXPECT_EQ(err, "member 'v' of struct s has type void");
  Type *decl = arena.make(TypeKind::Struct);
  decl->name = "later";
  decl->is_declaration = true;
  EXPECT_FALSE(gt::sema::c_layout(rec, {{"x", decl, -1}}, err, bad));
  EXPECT_EQ(err, "member 'x' of struct s has incomplete type 'struct later'");
}

// Through sema: member types from C names, script structs and arrays.
struct Mixed {
  char c;
  short s;
  int i;
  long l;
  char tag[3];
  Flags fl;
  union {
    long as_long;
    struct {
      int lo, hi;
    } pair;
  } u;
  unsigned char uc;
  void *p;
  Spill sp[2];
  char end;
};
union Any {
  char c;
  long l;
  int a[3];
};

struct Analyzed {
  std::unique_ptr<gt::ast::Program> program;
  std::optional<gt::sema::Analysis> analysis;
  std::string diags;
};

Analyzed analyze(const std::string &text) {
  gt::SourceFile file("t.gt", text);
  std::ostringstream out;
  gt::Diagnostics diags(file, out);
  Analyzed r;
  auto p = gt::grammar::parse(file, diags);
  if (p) {
    r.program = std::make_unique<gt::ast::Program>(std::move(*p));
    r.analysis = gt::sema::analyze(*r.program, diags, {});
  }
  r.diags = out.str();
  return r;
}

// The values a script's `@N = expr` assignments were folded to, in order.
std::vector<uint64_t> folded(const Analyzed &r) {
  std::vector<uint64_t> v;
  for (const auto &s : r.program->probes.at(0).body) {
    EXPECT_EQ(s->expr->kind, gt::ast::ExprKind::Integer);
    v.push_back(s->expr->int_value);
  }
  return v;
}

TEST(ScriptStructs, SizeofOffsetofMatchTheCompiler) {
  auto r = analyze(
      "struct flags { unsigned int ready : 1; unsigned int mode : 3; int level : 5; "
      "  unsigned int : 0; unsigned int wide : 20; uint8_t tail; };\n"
      "struct spill { unsigned long long a : 60; unsigned int b : 8; unsigned short c : 9; char d; };\n"
      "struct mixed { char c; short s; int i; long l; char tag[3]; struct flags fl;\n"
      "  union { long as_long; struct { int lo, hi; } pair; } u; unsigned char uc; void *p;\n"
      "  struct spill sp[2]; char end; };\n"
      "union any { char c; long l; int a[3]; };\n"
      "BEGIN { @a = sizeof(struct mixed); @b = offsetof(struct mixed, s); @c = offsetof(struct mixed, l);\n"
      "  @d = offsetof(struct mixed, tag); @e = offsetof(struct mixed, fl.tail);\n"
      "  @f = offsetof(struct mixed, u.pair.hi); @g = offsetof(struct mixed, uc);\n"
      "  @h = offsetof(struct mixed, p); @i = offsetof(struct mixed, sp); @j = offsetof(struct mixed, end);\n"
      "  @k = sizeof(union any); @l = sizeof(struct spill); @m = sizeof(unsigned short);\n"
      "  @n = sizeof(struct any *); @o = sizeof(size_t); @p = offsetof(struct spill, d); }");
  ASSERT_TRUE(r.analysis) << r.diags;
  std::vector<uint64_t> want = {sizeof(Mixed),
                                offsetof(Mixed, s),
                                offsetof(Mixed, l),
                                offsetof(Mixed, tag),
                                offsetof(Mixed, fl.tail),
                                offsetof(Mixed, u.pair.hi),
                                offsetof(Mixed, uc),
                                offsetof(Mixed, p),
                                offsetof(Mixed, sp),
                                offsetof(Mixed, end),
                                sizeof(Any),
                                sizeof(Spill),
                                2,
                                8,
                                8,
                                offsetof(Spill, d)};
  EXPECT_EQ(folded(r), want);
}

TEST(ScriptStructs, AnonymousMembersAndSelfReference) {
  auto r = analyze(
      "struct node { int key; union { long l; struct { int lo, hi; }; }; struct node *next; };\n"
      "BEGIN { @a = offsetof(struct node, hi); @b = offsetof(struct node, next); "
      "@c = sizeof(struct node); }");
  ASSERT_TRUE(r.analysis) << r.diags;
  EXPECT_EQ(folded(r), (std::vector<uint64_t>{12, 16, 24}));
}

TEST(ScriptStructs, SizeofOfValues) {
  auto r = analyze(
      "struct s { char tag[16]; u16 n; };\n"
      "BEGIN { $p = (struct s *)0; $t = \"abc\"; @a = sizeof($p->tag); @b = sizeof($p->n); "
      "@c = sizeof(comm); @d = sizeof($t); @e = sizeof(pid); }");
  ASSERT_TRUE(r.analysis) << r.diags;
  const auto &body = r.program->probes.at(0).body;
  std::vector<uint64_t> v;
  for (size_t i = 2; i < body.size(); i++)
    v.push_back(body[i]->expr->int_value);
  EXPECT_EQ(v, (std::vector<uint64_t>{16, 2, 16, 4, 8}));
}

TEST(ScriptStructs, DeclarationErrors) {
  auto r = analyze("struct b { int x; long x; };\n"
                   "struct b { int z; };\n"
                   "union c { int x; };\n"
                   "struct c { int y; };\n"
                   "struct d { int; };\n"
                   "BEGIN { }");
  EXPECT_FALSE(r.analysis);
  EXPECT_EQ(r.diags,
            "t.gt:1:24: error: duplicate member 'x' in struct b\n"
            "struct b { int x; long x; };\n"
            "                       ^\n"
            "t.gt:2:8: error: struct b is defined twice (first at line 1)\n"
            "struct b { int z; };\n"
            "       ^\n"
            "t.gt:4:8: error: 'c' is defined both as a struct and as a union (first at line 3)\n"
            "struct c { int y; };\n"
            "       ^\n"
            "t.gt:5:12: error: this declaration in struct d declares no member\n"
            "struct d { int; };\n"
            "           ^~~\n");
}

}  // namespace
