/* A stack through a signal frame for the BPF unwinder tests:
 *   main -> raiser -> raise (libc) ... [signal] __restore_rt -> handler -> in_handler
 * Built without frame pointers; a probe on in_handler must unwind through
 * the kernel's signal frame back to raiser and main. */
#include <signal.h>
#include <string.h>

#define GT_NOINLINE __attribute__((noinline, noclone))

static volatile int seen;

GT_NOINLINE int in_handler(int sig) {
  __asm__ volatile("" ::: "memory");
  return sig + 1;
}

GT_NOINLINE static void handler(int sig) {
  seen = in_handler(sig);
  __asm__ volatile("" ::: "memory");
}

GT_NOINLINE int raiser(void) {
  raise(SIGUSR1);
  __asm__ volatile("" ::: "memory");
  return seen;
}

int main(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = handler;
  sigaction(SIGUSR1, &sa, 0);
  return raiser() == SIGUSR1 + 1 ? 0 : 1;
}
