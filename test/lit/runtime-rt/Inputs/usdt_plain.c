#include <sys/sdt.h>

void plain(int i) {
  STAP_PROBE1(gt, plain, i);
  if (i < 0)
    STAP_PROBE1(gt, plain, -i);
}
