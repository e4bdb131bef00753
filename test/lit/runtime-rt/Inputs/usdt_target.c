// USDT target: gt:withsem (with a semaphore, fired only while someone
// traces it) in this file, gt:plain (no semaphore, two sites) in
// usdt_plain.c. Prints whether the semaphore was set at the end.
#define _SDT_HAS_SEMAPHORES 1
#include <stdio.h>
#include <stdlib.h>
#include <sys/sdt.h>

unsigned short gt_withsem_semaphore __attribute__((unused)) __attribute__((section(".probes")));
void plain(int i);

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 3;
  for (int i = 0; i < n; i++) {
    if (gt_withsem_semaphore)
      STAP_PROBE1(gt, withsem, i);
    plain(i);
  }
  printf("semaphore %s\n", gt_withsem_semaphore ? "set" : "clear");
  return 0;
}
