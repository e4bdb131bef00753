/* Types shared by the DWARF test targets (dwarf_target.c, dwarf_cxx.cpp) and
 * the unit tests (test/unit/dwarf_*_test.cpp), which compare the offsets the
 * DWARF reader computes with offsetof() on these very definitions. Valid C
 * and C++. */
#ifndef GT_DWARF_TYPES_H
#define GT_DWARF_TYPES_H

#include <stdint.h>

typedef unsigned int u32_t;
typedef u32_t id_t2;            /* typedef of a typedef */

enum color { RED = 0, GREEN = 5, BLUE = -3 };

typedef int (*handler_fn)(int, const char *);

struct flags {
  unsigned int ready : 1;
  unsigned int mode : 3;
  int level : 5;                /* signed bitfield */
  unsigned int : 0;             /* unnamed: starts a new unit */
  unsigned int wide : 20;
  uint8_t tail;
};

union value {
  long l;
  double d;
  char bytes[8];
};

struct req {
  int len;
  const char *path;
  char tag[16];
  int grid[3][4];
  struct flags fl;
  union {                       /* anonymous union */
    long as_long;
    struct {                    /* anonymous struct inside it */
      int lo;
      int hi;
    };
  };
  enum color color;
  id_t2 id;
  handler_fn handler;
  union value val;
  struct req *next;
  volatile int counter;
  char *const fixed;
};

#ifdef __cplusplus
namespace ns {
struct Base {
  int a;
  long b;
};
struct Mixin {
  char m[3];
};
class Derived : public Base, public Mixin {
 public:
  int c;
  int &alias;
  Derived(int v, int &r) : c(v), alias(r) {
    a = v;
    b = v * 2L;
    m[0] = 'x';
  }
  int get(int k) const;
  int get(int k, int j) const;
};
}  // namespace ns
#endif

#endif
