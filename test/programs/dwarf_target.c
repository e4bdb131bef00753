/* Target for the DWARF reader's unit tests (test/unit/dwarf_*_test.cpp).
 * Built by the tests themselves with gcc and clang-19 at -O0..-O3. The
 * comments "MARK:name" tag lines the tests look up by name; keep them on the
 * line of the statement they mark. */
#include <stdlib.h>
#include <string.h>

#include "dwarf_types.h"

#define GT_BARRIER() __asm__ volatile("" ::: "memory")

static int counter;   /* a CU static */
int global_total = 7; /* a global */

/* Inlined into process(), use_scale_a() and use_scale_b() at -O2. */
static inline int scale(int x, int k) {
  int r = x * k + counter; /* MARK:scale_body */
  counter++;
  GT_BARRIER();
  return r;
}

__attribute__((noinline)) int process(struct req *r, int flags, const char *tag) {
  int total = r->len + flags; /* MARK:process_first */
  for (int i = 0; i < r->len; i++) {
    int sq = scale(i, flags); /* MARK:process_loop */
    total += sq;
    {
      long inner = total * 2L + i;
      GT_BARRIER();
      if (inner > 1000) {
        total -= (int)(inner / 7); /* MARK:process_inner */
      }
    }
  }
  if (tag && tag[0]) total += tag[0];
  global_total += total;
  return total;
}

__attribute__((noinline)) int use_scale_a(int v) { return scale(v, 3) + 1; }
__attribute__((noinline)) int use_scale_b(int v) { return scale(v + 1, 5) - 1; }

/* gcc -O2 splits this into an inlined fast path and checked_sum.part.0
 * (same as split.c). */
static long table[64];

long checked_sum(long *buf, int n) {
  if (n <= 0 || n > 64) return -1;
  long s = 0;
  for (int i = 0; i < n; i++) {
    s += buf[i] * (i + 1);
    if (s > 1000000) s %= 977;
    GT_BARRIER();
  }
  memset(buf, 0, sizeof(long) * (size_t)n);
  for (int i = 0; i < n; i++) buf[i] = s + i;
  return s;
}

__attribute__((noinline)) long caller_a(int k) { return checked_sum(table, 8 + k); }
__attribute__((noinline)) long caller_b(int k) { return checked_sum(table, 16 + k); }
__attribute__((noinline)) long caller_c(int k) { return checked_sum(table, 32 + k); }

/* Seven and eight integer arguments: the last two are on the stack. */
__attribute__((noinline)) long many_args(int a, int b, int c, int d, int e, int f, int g, long h) {
  GT_BARRIER();
  return (long)a + b + c + d + e + f + g + h;
}

static int first_char(int x, const char *s) { return x + (s ? s[0] : 0); }

__attribute__((noinline)) int apply(handler_fn h, union value *v, struct flags fl) {
  GT_BARRIER();
  return h((int)v->l + fl.mode, "abc");
}

int main(int argc, char **argv) {
  static char buf[32] = "hello";
  int x = 0;
  struct req r = {.len = 4, .path = "/index.html", .fixed = buf};
  r.tag[0] = 't';
  r.fl.mode = 5;
  r.fl.level = -3;
  r.color = BLUE;
  r.id = 42;
  r.handler = first_char;
  r.val.l = 11;
  r.as_long = 1;
  r.next = 0;
  long sink = 0;
  for (int i = 0; i < 64; i++) table[i] = i;
  for (int k = 0; k < 4; k++) {
    sink += caller_a(k);
    sink += caller_b(k);
    sink += caller_c(k);
    GT_BARRIER();
  }
  x += process(&r, argc, argv[0]);
  x += use_scale_a(argc) + use_scale_b(argc);
  x += (int)many_args(1, 2, 3, 4, 5, 6, 7, 8);
  x += apply(r.handler, &r.val, r.fl);
  return (sink + x) == -12345;
}
