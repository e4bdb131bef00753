/* The README demo target.
 *
 * Calls compute(n, name) 12 times with the arguments in `calls` below and
 * exits (about 0.25 s). compute() sleeps 8300, 16500 or 33000 us depending
 * on n % 3, so a latency histogram in microseconds has exactly 4 calls in
 * each of the buckets [8K, 16K), [16K, 32K) and [32K, 64K). A sleep only ever
 * takes longer than asked, sometimes by a few ms on a busy VM: just above a
 * bucket's lower bound leaves the most room. It returns n * n + strlen(name).
 *
 *   n:    1      2     3      4      5     6      7      8     9      10     11    12
 *   name: alpha  beta  gamma  alpha  beta  alpha  alpha  beta  alpha  gamma  beta  alpha
 *   -> alpha 6 calls, beta 4, gamma 2.
 */
#include <string.h>
#include <unistd.h>

#include "probe.h"

static const struct {
  int n;
  const char *name;
} calls[] = {
    {1, "alpha"}, {2, "beta"},  {3, "gamma"}, {4, "alpha"},  {5, "beta"},  {6, "alpha"},
    {7, "alpha"}, {8, "beta"},  {9, "alpha"}, {10, "gamma"}, {11, "beta"}, {12, "alpha"},
};

static const unsigned sleep_us[3] = {8300, 16500, 33000};

GT_PROBED int compute(int n, const char *name) {
  GT_BARRIER();
  usleep(sleep_us[n % 3]);
  return n * n + (int)strlen(name);
}

int main(void) {
  int total = 0;
  for (unsigned i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) gt_touch(calls[i].name);
  for (unsigned i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
    total += compute(calls[i].n, calls[i].name);
    GT_BARRIER();
  }
  return total == 0; /* total = 650 + 56; exit status 0 */
}
