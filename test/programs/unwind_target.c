/* Deep user stacks for the unwinder tests (issue 5).
 *
 *   main -> run -> recurse x(DEPTH+1) -> sort_values -> qsort (libc, no frame
 *   pointers; it tail-calls qsort_r, so only qsort_r has a frame) ->
 *   msort_with_tmp -> compare_values -> on_compare
 *
 * Built with -O2 -fomit-frame-pointer by gcc and clang-19 (unwind_gcc,
 * unwind_clang) and with frame pointers (unwind_fp). A probe on on_compare
 * must show every frame, through libc and back; `recurse` appears exactly
 * DEPTH+1 times. Usage: unwind_target [DEPTH=100] [ROUNDS=1]
 * With GT_LOOP_TIME set, the time the rounds took goes to stderr as
 * "loop_ns=NS calls=ROUNDS" (bench/: each round calls on_compare once). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define GT_NOINLINE __attribute__((noinline, noclone))

GT_NOINLINE int on_compare(int a, int b) {
  __asm__ volatile("" ::: "memory");
  return (a > b) - (a < b);
}

GT_NOINLINE static int compare_values(const void *x, const void *y) {
  int r = on_compare(*(const int *)x, *(const int *)y);
  __asm__ volatile("" ::: "memory");
  return r;
}

GT_NOINLINE int sort_values(void) {
  int v[2] = {2, 1};
  qsort(v, 2, sizeof v[0], compare_values);
  return v[0];
}

/* The volatile read after each call keeps every call a real call (no tail
 * call, no accumulator loop) at -O2: a tail call leaves no frame to unwind. */
GT_NOINLINE int recurse(int depth) {
  volatile int keep = depth;
  int r = depth > 0 ? recurse(depth - 1) : sort_values();
  return r + (keep & 1);
}

GT_NOINLINE static int run(int depth, int rounds) {
  int total = 0;
  for (int i = 0; i < rounds; i++) total += recurse(depth);
  return total;
}

int main(int argc, char **argv) {
  int depth = argc > 1 ? atoi(argv[1]) : 100;
  int rounds = argc > 2 ? atoi(argv[2]) : 1;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  int total = run(depth, rounds);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  printf("%d\n", total);
  if (getenv("GT_LOOP_TIME"))
    fprintf(stderr, "loop_ns=%lld calls=%d\n",
            (long long)(t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec), rounds);
  return 0;
}
