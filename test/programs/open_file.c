/* Tracepoint target: opens PATH read-only COUNT times (default 3) with
 * openat(2) (through glibc's open()), closing it each time, then exits 0.
 * A missing file is fine: the syscall is made all the same.
 *
 * usage: open_file PATH [COUNT] */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  int count = argc > 2 ? atoi(argv[2]) : 3;
  for (int i = 0; i < count; i++) {
    int fd = open(argv[1], O_RDONLY);
    if (fd >= 0) close(fd);
  }
  return 0;
}
