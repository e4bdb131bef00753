// A traced program that stays alive after its calls (so that usym/ustack
// can be resolved while the events are read): work() 3 times through
// outer(), then a 300 ms sleep.
#include <unistd.h>

__attribute__((noinline)) int work(int x, const char *name) {
  __asm__ volatile("" ::: "memory");
  return x * 2;
}

__attribute__((noinline)) int outer(int x) {
  int r = work(x, "slow");
  __asm__ volatile("" ::: "memory");
  return r + 1;
}

int main(void) {
  int sum = 0;
  for (int i = 0; i < 3; i++)
    sum += outer(i);
  usleep(300000);
  return sum == 1;
}
