/* Prints CLOCK_MONOTONIC in nanoseconds and exits. Benchmarks run it with
 * `-c`: tracerun and bpftrace exec their -c command only once every probe is
 * attached, so (stamp - tracer start) is the time to probes attached, without
 * the teardown that a wall-clock measurement would include. */
#include <stdio.h>
#include <time.h>

int main(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  printf("stamp_ns=%lld\n", (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
  return 0;
}
