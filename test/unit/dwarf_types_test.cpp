// The type model (sema/dwarf/types.h) on its own, and the types DebugInfo
// reads from test/programs/dwarf_target.c / dwarf_cxx.cpp compared with
// offsetof() on the same definitions (test/programs/dwarf_types.h).
#include <gtest/gtest.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <map>
#include <string>

#include "sema/dwarf/dwarf.h"
#include "test/programs/dwarf_types.h"

using namespace gt::dwarf;

namespace {

// ---------------------------------------------------------------- the model

struct Model {
  TypeArena a;
  const Type *integer(const char *name, uint64_t size, bool is_signed) {
    Type *t = a.make(TypeKind::Int);
    t->name = name;
    t->size = size;
    t->is_signed = is_signed;
    t->is_char = std::string(name) == "char";
    return t;
  }
  const Type *wrap(TypeKind k, const Type *target, uint64_t size = 8) {
    Type *t = a.make(k);
    t->target = target;
    t->size = size;
    return t;
  }
  const Type *array(const Type *elem, uint64_t n) {
    Type *t = a.make(TypeKind::Array);
    t->target = elem;
    t->count = n;
    t->count_known = true;
    t->size = n * elem->size;
    return t;
  }
};

TEST(DwarfTypeModel, CSpelling) {
  Model m;
  const Type *i = m.integer("int", 4, true);
  const Type *c = m.integer("char", 1, true);
  const Type *cc = m.wrap(TypeKind::Const, c, 1);
  EXPECT_EQ(m.wrap(TypeKind::Pointer, cc)->display(), "const char *");
  EXPECT_EQ(m.wrap(TypeKind::Const, m.wrap(TypeKind::Pointer, c))->display(), "char *const");
  EXPECT_EQ(m.wrap(TypeKind::Pointer, m.wrap(TypeKind::Pointer, c))->display(), "char **");
  EXPECT_EQ(m.array(i, 4)->display(), "int [4]");
  EXPECT_EQ(m.array(m.array(i, 4), 3)->display(), "int [3][4]");
  EXPECT_EQ(m.array(m.array(i, 4), 3)->declare("grid"), "int grid[3][4]");
  EXPECT_EQ(m.wrap(TypeKind::Pointer, m.array(i, 4))->display(), "int (*)[4]");
  EXPECT_EQ(m.array(m.wrap(TypeKind::Pointer, c), 2)->display(), "char *[2]");

  Type *fn = m.a.make(TypeKind::Function);
  fn->target = i;
  fn->params = {i, m.wrap(TypeKind::Pointer, cc)};
  const Type *fp = m.wrap(TypeKind::Pointer, fn);
  EXPECT_EQ(fp->display(), "int (*)(int, const char *)");
  EXPECT_EQ(fp->declare("cb"), "int (*cb)(int, const char *)");
  Type *vfn = m.a.make(TypeKind::Function);
  vfn->target = m.a.void_type();
  EXPECT_EQ(m.wrap(TypeKind::Pointer, vfn)->display(), "void (*)(void)");
  vfn->variadic = true;
  vfn->params = {i};
  EXPECT_EQ(m.wrap(TypeKind::Pointer, vfn)->display(), "void (*)(int, ...)");

  Type *s = m.a.make(TypeKind::Struct);
  s->name = "req";
  EXPECT_EQ(m.wrap(TypeKind::Pointer, s)->display(), "struct req *");
  Type *anon = m.a.make(TypeKind::Union);
  EXPECT_EQ(anon->display(), "union (anonymous)");
  Type *cls = m.a.make(TypeKind::Class);
  cls->name = "ns::Cls";
  cls->is_cplusplus = true;
  EXPECT_EQ(m.wrap(TypeKind::Reference, cls)->display(), "ns::Cls &");
  EXPECT_EQ(m.wrap(TypeKind::RvalueReference, m.wrap(TypeKind::Const, cls, 0))->display(), "const ns::Cls &&");
  Type *td = m.a.make(TypeKind::Typedef);
  td->name = "size_t";
  td->target = m.integer("long unsigned int", 8, false);
  EXPECT_EQ(m.wrap(TypeKind::Const, td)->display(), "const size_t");
  EXPECT_EQ(m.wrap(TypeKind::Const, td)->resolve()->display(), "long unsigned int");
  EXPECT_EQ(m.a.void_type()->display(), "void");
  EXPECT_EQ(m.wrap(TypeKind::Pointer, m.a.void_type())->display(), "void *");
}

TEST(DwarfTypeModel, MemberLookupThroughAnonymousMembersAndBases) {
  Model m;
  const Type *i = m.integer("int", 4, true);
  Type *inner = m.a.make(TypeKind::Struct);  // struct { int lo; int hi; }
  inner->size = 8;
  inner->members = {{"lo", i, 0}, {"hi", i, 4}};
  Type *u = m.a.make(TypeKind::Union);  // union { long as_long; struct {...}; }
  u->size = 8;
  u->members = {{"as_long", m.integer("long", 8, true), 0}, {"", inner, 0}};
  Type *base = m.a.make(TypeKind::Struct);
  base->name = "Base";
  base->size = 8;
  base->members = {{"b", i, 4}};
  Type *s = m.a.make(TypeKind::Struct);
  s->size = 32;
  Member bm{"Base", base, 0};
  bm.is_base = true;
  s->members = {bm, {"len", i, 8}, {"", u, 16}, {"b", i, 24}};
  Type *td = m.a.make(TypeKind::Typedef);
  td->name = "S";
  td->target = s;

  auto hi = find_member(td, "hi");
  ASSERT_TRUE(hi);
  EXPECT_EQ(hi->offset, 20u);
  EXPECT_EQ(hi->type, i);
  EXPECT_EQ(hi->path.size(), 3u);
  // A direct member hides the base class's member of the same name.
  EXPECT_EQ(find_member(s, "b")->offset, 24u);
  EXPECT_EQ(find_member(base, "b")->offset, 4u);
  EXPECT_FALSE(find_member(s, "nope"));
  EXPECT_FALSE(find_member(i, "x"));
}

// ---------------------------------------------------------------- from DWARF

std::string programs_dir() {
  if (const char *s = getenv("GT_SOURCE_DIR")) return std::string(s) + "/test/programs";
  std::string f = __FILE__;
  return f.substr(0, f.rfind("/unit/")) + "/programs";
}

std::string scratch_dir() {
  static std::string dir = [] {
    char t[] = "/tmp/gt_dwarf_types_XXXXXX";
    const char *d = mkdtemp(t);
    return std::string(d ? d : "/tmp");
  }();
  return dir;
}

struct ScratchCleanup : ::testing::Environment {
  void TearDown() override {
    std::string d = scratch_dir();
    if (d.rfind("/tmp/gt_dwarf_types_", 0) == 0) (void)!system(("rm -rf '" + d + "'").c_str());
  }
};
[[maybe_unused]] ::testing::Environment *const kCleanup = ::testing::AddGlobalTestEnvironment(new ScratchCleanup);

std::string build(const std::string &cc, const std::string &opt, const std::string &src, std::string &why) {
  static std::map<std::string, std::string> cache;
  std::string key = cc + opt + src;
  if (cache.count(key)) return cache[key];
  if (system(("command -v " + cc + " >/dev/null 2>&1").c_str()) != 0) {
    why = cc + " is not installed";
    return "";
  }
  std::string out = scratch_dir() + "/" + src.substr(0, src.rfind('.')) + "_" + cc + "_" + opt;
  std::string cmd = cc + " -" + opt + " -g -I" + programs_dir() + " -o " + out + " " + programs_dir() + "/" + src +
                    " > " + out + ".log 2>&1";
  if (system(cmd.c_str()) != 0) {
    why = "build failed: " + cmd;
    return "";
  }
  return cache[key] = out;
}

struct Build {
  std::string cc, opt;
};
[[maybe_unused]] void PrintTo(const Build &b, std::ostream *os) { *os << b.cc << " -" << b.opt; }
std::string build_name(const ::testing::TestParamInfo<Build> &i) {
  std::string n = i.param.cc + "_" + i.param.opt;
  for (char &c : n)
    if (!isalnum((unsigned char)c)) c = '_';
  return n;
}

class CTypes : public ::testing::TestWithParam<Build> {
protected:
  void SetUp() override {
    std::string why;
    std::string bin = build(GetParam().cc, GetParam().opt, "dwarf_target.c", why);
    if (bin.empty()) GTEST_SKIP() << why;
    std::string err;
    di_ = DebugInfo::open(bin, err);
    ASSERT_TRUE(di_) << err;
  }
  std::unique_ptr<DebugInfo> di_;
};

INSTANTIATE_TEST_SUITE_P(Compilers, CTypes,
                         ::testing::Values(Build{"gcc", "O0"}, Build{"gcc", "O2"}, Build{"clang-19", "O0"},
                                           Build{"clang-19", "O2"}),
                         build_name);

TEST_P(CTypes, StructReqMatchesOffsetof) {
  const Type *t = di_->find_type("struct req");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->kind, TypeKind::Struct);
  EXPECT_EQ(t->display(), "struct req");
  EXPECT_EQ(t->size, sizeof(struct req));
  struct Expect {
    const char *name;
    size_t offset;
    const char *type;
  };
#define M(n, ty) {#n, offsetof(struct req, n), ty}
  const Expect members[] = {
      M(len, "int"),
      M(path, "const char *"),
      M(tag, "char [16]"),
      M(grid, "int [3][4]"),
      M(fl, "struct flags"),
      M(as_long, "long int"),  // in the anonymous union
      M(lo, "int"),            // in the anonymous struct inside it
      M(hi, "int"),
      M(color, "enum color"),
      M(id, "id_t2"),
      M(handler, "handler_fn"),
      M(val, "union value"),
      M(next, "struct req *"),
      M(counter, "volatile int"),
      M(fixed, "char *const"),
  };
#undef M
  bool clang = GetParam().cc != "gcc";
  for (const Expect &e : members) {
    auto r = find_member(t, e.name);
    ASSERT_TRUE(r) << e.name;
    EXPECT_EQ(r->offset, e.offset) << e.name;
    EXPECT_EQ(r->bit_size, 0u) << e.name;
    std::string want = e.type;
    if (clang && want == "long int") want = "long";  // base type names are the compiler's
    EXPECT_EQ(r->type->display(), want) << e.name;
  }
  EXPECT_EQ(find_member(t, "hi")->path.size(), 3u);  // (anon union) . (anon struct) . hi
  // Arrays: multi-dimensional arrays nest; sizes and counts are exact.
  const Type *grid = find_member(t, "grid")->type;
  EXPECT_EQ(grid->count, 3u);
  EXPECT_EQ(grid->target->count, 4u);
  EXPECT_EQ(grid->size, sizeof(((struct req *)0)->grid));
  // Typedef chain id_t2 -> u32_t -> unsigned int.
  const Type *id = find_member(t, "id")->type;
  EXPECT_EQ(id->kind, TypeKind::Typedef);
  EXPECT_EQ(id->target->display(), "u32_t");
  EXPECT_EQ(id->resolve()->display(), "unsigned int");
  EXPECT_FALSE(id->resolve()->is_signed);
  EXPECT_EQ(di_->find_type("id_t2"), id);
  // Function pointer typedef.
  const Type *h = find_member(t, "handler")->type->resolve();
  ASSERT_EQ(h->kind, TypeKind::Pointer);
  EXPECT_EQ(h->display(), "int (*)(int, const char *)");
  EXPECT_EQ(h->target->params.size(), 2u);
  // Pointer to self resolves to the same type object.
  EXPECT_EQ(find_member(t, "next")->type->target, t);
  // char[] is a char array.
  EXPECT_TRUE(find_member(t, "tag")->type->target->is_char);
}

TEST_P(CTypes, BitfieldsEnumsUnions) {
  const Type *f = di_->find_type("struct flags");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->size, sizeof(struct flags));
  struct Bits {
    const char *name;
    uint64_t offset;
    uint32_t bit_offset, bit_size;
    bool is_signed;
  };
  // ready:1 mode:3 level:5 in the first unsigned int, `:0` starts the next
  // one for wide:20, tail after it.
  const Bits bits[] = {{"ready", 0, 0, 1, false}, {"mode", 0, 1, 3, false}, {"level", 0, 4, 5, true},
                       {"wide", 4, 0, 20, false}};
  for (const Bits &b : bits) {
    auto r = find_member(f, b.name);
    ASSERT_TRUE(r) << b.name;
    EXPECT_EQ(r->offset, b.offset) << b.name;
    EXPECT_EQ(r->bit_offset, b.bit_offset) << b.name;
    EXPECT_EQ(r->bit_size, b.bit_size) << b.name;
    EXPECT_EQ(r->type->resolve()->is_signed, b.is_signed) << b.name;
  }
  EXPECT_EQ(find_member(f, "tail")->offset, offsetof(struct flags, tail));
  EXPECT_EQ(find_member(f, "tail")->type->display(), "uint8_t");
  // Check the bit positions against the compiler's own layout.
  struct flags probe;
  memset(&probe, 0, sizeof probe);
  probe.level = -1;
  uint32_t word;
  memcpy(&word, &probe, 4);
  EXPECT_EQ(word, 0x1fu << 4);

  const Type *e = di_->find_type("enum color");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->display(), "enum color");
  EXPECT_EQ(e->size, sizeof(enum color));
  EXPECT_TRUE(e->is_signed);
  ASSERT_EQ(e->enumerators.size(), 3u);
  std::map<std::string, int64_t> vals;
  for (auto &en : e->enumerators) vals[en.name] = en.value;
  EXPECT_EQ(vals, (std::map<std::string, int64_t>{{"RED", RED}, {"GREEN", GREEN}, {"BLUE", BLUE}}));

  const Type *u = di_->find_type("union value");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->kind, TypeKind::Union);
  EXPECT_EQ(u->size, sizeof(union value));
  for (const char *n : {"l", "d", "bytes"}) EXPECT_EQ(find_member(u, n)->offset, 0u) << n;
  EXPECT_EQ(find_member(u, "d")->type->kind, TypeKind::Float);
  EXPECT_EQ(find_member(u, "bytes")->type->display(), "char [8]");
  EXPECT_FALSE(di_->find_type("struct nosuch"));
}

class CxxTypes : public ::testing::TestWithParam<Build> {};
INSTANTIATE_TEST_SUITE_P(Compilers, CxxTypes,
                         ::testing::Values(Build{"g++", "O0"}, Build{"g++", "O2"}, Build{"clang++-19", "O0"},
                                           Build{"clang++-19", "O2"}),
                         build_name);

TEST_P(CxxTypes, ClassWithBasesAndReferences) {
  std::string why;
  std::string bin = build(GetParam().cc, GetParam().opt, "dwarf_cxx.cpp", why);
  if (bin.empty()) GTEST_SKIP() << why;
  std::string err;
  auto di = DebugInfo::open(bin, err);
  ASSERT_TRUE(di) << err;
  const Type *t = di->find_type("ns::Derived");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->kind, TypeKind::Class);
  EXPECT_EQ(t->display(), "ns::Derived");
  EXPECT_EQ(di->find_type("class ns::Derived"), t);
  EXPECT_EQ(t->size, sizeof(ns::Derived));

  int store = 0;
  ns::Derived obj(1, store);
  auto off = [&](const void *p) { return uint64_t((const char *)p - (const char *)&obj); };
  ASSERT_GE(t->members.size(), 4u);
  EXPECT_TRUE(t->members[0].is_base);
  EXPECT_EQ(t->members[0].name, "ns::Base");
  EXPECT_EQ(t->members[0].offset, off(static_cast<ns::Base *>(&obj)));
  EXPECT_TRUE(t->members[1].is_base);
  EXPECT_EQ(t->members[1].name, "ns::Mixin");
  EXPECT_EQ(t->members[1].offset, off(static_cast<ns::Mixin *>(&obj)));

  EXPECT_EQ(find_member(t, "a")->offset, off(&obj.a));
  EXPECT_EQ(find_member(t, "b")->offset, off(&obj.b));
  EXPECT_EQ(find_member(t, "m")->offset, off(&obj.m));
  EXPECT_EQ(find_member(t, "m")->type->display(), "char [3]");
  EXPECT_EQ(find_member(t, "c")->offset, off(&obj.c));
  auto alias = find_member(t, "alias");
  ASSERT_TRUE(alias);
  EXPECT_EQ(alias->type->display(), "int &");
  EXPECT_EQ(alias->type->kind, TypeKind::Reference);
  EXPECT_EQ(find_member(t, "b")->path.size(), 2u);  // ns::Base . b
}

}  // namespace
