/* A long-running target for -p tests.
 *
 * usage: ticker VALUE [PERIOD_MS [COUNT]]
 * Calls tick(VALUE) every PERIOD_MS milliseconds (default 20); tick returns
 * VALUE * 2. With COUNT > 0 it stops after COUNT calls and exits 0, else it
 * runs until killed. Before the first call it writes its pid and a newline to
 * stdout (flushed), so a test can wait for it to be running. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "probe.h"

GT_PROBED int tick(int value) {
  GT_BARRIER();
  return value * 2;
}

int main(int argc, char **argv) {
  int value = argc > 1 ? atoi(argv[1]) : 7;
  int period_ms = argc > 2 ? atoi(argv[2]) : 20;
  long count = argc > 3 ? atol(argv[3]) : 0;
  printf("%d\n", (int)getpid());
  fflush(stdout);
  int sink = 0;
  for (long i = 0; count <= 0 || i < count; i++) {
    sink += tick(value);
    GT_BARRIER();
    usleep((useconds_t)period_ms * 1000);
  }
  return sink == -1;
}
