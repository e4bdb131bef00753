/* Functions with known arguments and return values.
 *
 * usage: args [N]   (N defaults to 12)
 *
 * Each of the N iterations i = 0 .. N-1 calls, in this order:
 *   args1(11)                              returns 11
 *   args2(21, 22)                          returns 43
 *   args3(31, 32, 33)                      returns 96
 *   args4(41, 42, 43, 44)                  returns 170
 *   args5(51, 52, 53, 54, 55)              returns 265
 *   args6(61, 62, 63, 64, 65, 66)          returns 381
 *   ret_val(i)                             returns i * 10 + 7
 *   is_even(i)                             returns 1 when i is even, else 0
 *   neg(i)                                 returns -i - 1 (an int)
 *   big(0xdeadbeefcafef00d)                returns 0x0123456789abcdef
 *   str_arg(words[i % 3], strlen(words[i % 3]))
 *       words = "alpha", "beta", "gamma"; returns the length
 * never_called() is never called.
 * After the loop: fact(5) once (recursive: fact(5) .. fact(1) = 5 calls,
 * returning 1, 2, 6, 24, 120 innermost first). Exit status 0. No output.
 */
#include <stdlib.h>
#include <string.h>

#include "probe.h"

GT_PROBED long args1(long a) { GT_BARRIER(); return a; }
GT_PROBED long args2(long a, long b) { GT_BARRIER(); return a + b; }
GT_PROBED long args3(long a, long b, long c) { GT_BARRIER(); return a + b + c; }
GT_PROBED long args4(long a, long b, long c, long d) { GT_BARRIER(); return a + b + c + d; }
GT_PROBED long args5(long a, long b, long c, long d, long e) {
  GT_BARRIER();
  return a + b + c + d + e;
}
GT_PROBED long args6(long a, long b, long c, long d, long e, long f) {
  GT_BARRIER();
  return a + b + c + d + e + f;
}
GT_PROBED int ret_val(int i) { GT_BARRIER(); return i * 10 + 7; }
GT_PROBED int is_even(int i) { GT_BARRIER(); return i % 2 == 0; }
GT_PROBED int neg(int i) { GT_BARRIER(); return -i - 1; }
GT_PROBED unsigned long big(unsigned long x) {
  GT_BARRIER();
  return x == 0xdeadbeefcafef00dUL ? 0x0123456789abcdefUL : 0;
}
GT_PROBED int str_arg(const char *s, int len) { GT_BARRIER(); return len + (s[0] == 0); }

/* Never called: tests attach here when they need a probe that never fires. */
GT_PROBED long never_called(long a) { GT_BARRIER(); return a; }

GT_PROBED long fact(long n) {
  if (n <= 1) return 1;
  long r = fact(n - 1);
  __asm__ volatile("" : "+r"(r)); /* no tail-recursion elimination at -O2 */
  return n * r;
}

static const char *const words[3] = {"alpha", "beta", "gamma"};

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 12;
  long sink = 0;
  for (int i = 0; i < 3; i++) gt_touch(words[i]);
  for (int i = 0; i < n; i++) {
    sink += args1(11);
    sink += args2(21, 22);
    sink += args3(31, 32, 33);
    sink += args4(41, 42, 43, 44);
    sink += args5(51, 52, 53, 54, 55);
    sink += args6(61, 62, 63, 64, 65, 66);
    sink += ret_val(i);
    sink += is_even(i);
    sink += neg(i);
    sink += (long)big(0xdeadbeefcafef00dUL);
    const char *w = words[i % 3];
    sink += str_arg(w, (int)strlen(w));
    GT_BARRIER();
  }
  sink += fact(5);
  if (argc > 99) sink += never_called(argc); /* keeps it referenced */
  return sink == 42; /* never true; keeps the calls' results alive */
}
