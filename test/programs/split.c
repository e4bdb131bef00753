/* The split-function gotcha from the brief (section 2).
 *
 * At -O2, gcc splits checked_sum() (its first lines reject bad sizes) into a
 * fast path that is inlined into every caller plus an out-of-line
 * `checked_sum.part.0` holding the rest. The source makes exactly 12 calls of
 * checked_sum (4 from each of three callers, all with valid sizes), so
 * `uprobe:BIN:checked_sum { @n = count(); }` must count 12 at -O0 and -O2.
 * (bpftrace 0.17 counts 0 at -O2: the symbol it attaches to is never entered.)
 *
 * Deliberately no noipa here: the point is what the optimizer does. */
#include <stdlib.h>
#include <string.h>

#define GT_BARRIER() __asm__ volatile("" ::: "memory")

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

int main(void) {
  long sink = 0;
  for (int i = 0; i < 64; i++) table[i] = i;
  for (int k = 0; k < 4; k++) {
    sink += caller_a(k);
    sink += caller_b(k);
    sink += caller_c(k);
    GT_BARRIER();
  }
  return sink == -12345;
}
