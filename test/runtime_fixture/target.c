// The traced program of the runtime fixture: 11 calls of work() with known
// arguments, then 3 getpid system calls; with an argument N, N more calls
// of work(i, "flood") (used to overflow the ring buffer).
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

__attribute__((noinline)) int work(int x, const char *name) {
  __asm__ volatile("" ::: "memory");
  return x * 2;
}

int main(int argc, char **argv) {
  static const char *names[] = {"alpha", "beta", "gamma"};
  static const int vals[] = {0, 1, 3, 3, 5, 17, 40, 100, 250, 1000, -4};
  int sum = 0;
  if (argc > 1) {
    int n = atoi(argv[1]);
    for (int i = 0; i < n; i++)
      sum += work(i, "flood");
    return sum == 1;
  }
  for (int i = 0; i < 11; i++)
    sum += work(vals[i], names[i % 3]);
  for (int i = 0; i < 3; i++)
    syscall(SYS_getpid);
  return sum == 1;
}
