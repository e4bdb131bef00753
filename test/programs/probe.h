/* Shared helpers for the test targets.
 *
 * GT_PROBED marks a function that tests attach probes to. It must stay an
 * out-of-line function with its own symbol, entered through a real call, at
 * every optimization level:
 *  - gcc: `noipa` forbids inlining, cloning (.constprop/.isra/.part) and
 *    interprocedural propagation of arguments and return values;
 *  - clang: `noinline` (+ `used`); the functions have external linkage so
 *    clang cannot specialise them either.
 * GT_BARRIER() is a compiler barrier that keeps loops and calls in place. */
#ifndef GT_TEST_PROBE_H
#define GT_TEST_PROBE_H

#if defined(__clang__)
#define GT_PROBED __attribute__((noinline, used))
#else
#define GT_PROBED __attribute__((noipa, used))
#endif

#define GT_BARRIER() __asm__ volatile("" ::: "memory")

/* Reads one byte of a string so that its page is mapped before a probe reads
 * it: bpf_probe_read_user_str() cannot fault pages in, and a string literal in
 * a .rodata page the program has not touched yet would read as "". */
static inline void gt_touch(const char *s) { (void)*(const volatile char *)s; }

#endif
