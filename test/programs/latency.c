/* Targets for uretprobe `duration` and `args` saved at entry (issue 4).
 *
 *   latency recurse   recurse_sleep(3): each level sleeps 10 ms after its
 *                     callee returned, so depth d returns (d + 1) * 10 ms after
 *                     its entry.
 *   latency threads   4 threads; thread i calls sleep_ms((i + 1) * 10) 3 times.
 *   latency deep N    recurse_deep(N): N + 1 nested calls in flight at once.
 *   latency late      slow_call(1500) and, after it, fast_call() 3 times: a
 *                     tracer attached with -p during slow_call sees its return
 *                     without the entry. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define GT_NOINLINE __attribute__((noinline, noclone))

GT_NOINLINE long sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
  return ms;
}

GT_NOINLINE int recurse_sleep(int depth) {
  int r = depth > 0 ? recurse_sleep(depth - 1) : 0;
  sleep_ms(10);
  return r + 1;
}

GT_NOINLINE int recurse_deep(int depth) {
  volatile int keep = depth; /* a real frame per level, not a loop */
  int r = depth > 0 ? recurse_deep(depth - 1) : 0;
  return r + (keep >= 0);
}

/* Passed in memory (larger than two registers): a uretprobe cannot save it. */
struct span {
  long start, end, step;
};
GT_NOINLINE long span_len(struct span s) { return (s.end - s.start) / s.step; }

static void *thread_main(void *arg) {
  int ms = (int)(long)arg;
  for (int i = 0; i < 3; i++) sleep_ms(ms);
  return NULL;
}

GT_NOINLINE long slow_call(int ms) { return sleep_ms(ms); }
static volatile long sink;
GT_NOINLINE long fast_call(int x) { return sink += x * 2; }  /* not pure: the call stays */

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "recurse";
  if (!strcmp(mode, "recurse")) {
    printf("%d\n", recurse_sleep(3));
  } else if (!strcmp(mode, "span")) {
    struct span s = {0, 100, 10};
    printf("%ld\n", span_len(s));
  } else if (!strcmp(mode, "deep")) {
    printf("%d\n", recurse_deep(argc > 2 ? atoi(argv[2]) : 100));
  } else if (!strcmp(mode, "threads")) {
    pthread_t t[4];
    for (long i = 0; i < 4; i++) pthread_create(&t[i], NULL, thread_main, (void *)((i + 1) * 10));
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
  } else if (!strcmp(mode, "late")) {
    printf("ready\n");
    fflush(stdout);
    slow_call(1500);
    for (int i = 1; i <= 3; i++) fast_call(i);
  }
  return 0;
}
