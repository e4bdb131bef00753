/* Benchmark and attach target: calls f(i) for i = 0 .. COUNT-1.
 *
 * usage: loop COUNT [DELAY_US]
 *   COUNT     number of calls; 0 means forever (until killed)
 *   DELAY_US  sleep between calls (default 0: a tight loop)
 * f() is an out-of-line function entered by a real call at -O0 and -O2.
 * Prints nothing, except with GT_LOOP_TIME set in the environment: then the
 * time the calls took goes to stderr as "loop_ns=NS calls=COUNT" (bench/).
 * Exit status 0. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "probe.h"

GT_PROBED long f(long i) {
  GT_BARRIER();
  return i + 1;
}

int main(int argc, char **argv) {
  long count = argc > 1 ? atol(argv[1]) : 1000000;
  long delay = argc > 2 ? atol(argv[2]) : 0;
  long sink = 0;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (long i = 0; count == 0 || i < count; i++) {
    sink += f(i);
    GT_BARRIER();
    if (delay > 0) usleep((useconds_t)delay);
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  if (getenv("GT_LOOP_TIME"))
    fprintf(stderr, "loop_ns=%lld calls=%ld\n",
            (long long)(t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec), count);
  return sink == -1;
}
