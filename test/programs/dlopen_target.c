/* A library loaded with dlopen after the tracer attached, calling back into
 * the program: zlib's deflateInit_ allocates through the stream's zalloc,
 * which is on_alloc here. Three rounds, 300 ms apart, so the tracer can load
 * libz's unwind table after the first one asks for it (issue 5). */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <zlib.h>

__attribute__((noinline)) void *on_alloc(void *opaque, unsigned items, unsigned size) {
  __asm__ volatile("" ::: "memory");
  return calloc(items, size);
}

static void on_free(void *opaque, void *p) { free(p); }

int main(void) {
  void *z = dlopen("libz.so.1", RTLD_NOW);
  if (!z) {
    fprintf(stderr, "dlopen: %s\n", dlerror());
    return 1;
  }
  int (*init)(z_streamp, int, const char *, int) = dlsym(z, "deflateInit_");
  int (*end)(z_streamp) = dlsym(z, "deflateEnd");
  for (int round = 0; round < 3; round++) {
    z_stream s = {0};
    s.zalloc = on_alloc;
    s.zfree = on_free;
    if (init(&s, 6, ZLIB_VERSION, (int)sizeof s) != Z_OK) return 1;
    end(&s);
    struct timespec ts = {0, 300 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  return 0;
}
