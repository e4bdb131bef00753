// C++ target for the DWARF reader's unit tests: namespaces, classes with
// base classes, references, overloads, templates. Built by the tests with
// g++ and clang++-19 at -O0..-O3.
#include "dwarf_types.h"

#define GT_BARRIER() __asm__ volatile("" ::: "memory")

namespace ns {

__attribute__((noinline)) int Derived::get(int k) const {
  GT_BARRIER();
  return a + c + k;
}

__attribute__((noinline)) int Derived::get(int k, int j) const {
  GT_BARRIER();
  return a + c + k * j;
}

__attribute__((noinline)) int take_ref(const Derived &d, int &out, Base &&tmp) {
  GT_BARRIER();
  out = d.c + tmp.a + d.alias;
  return out;
}

template <typename T>
__attribute__((noinline)) T twice(T v) {
  GT_BARRIER();
  return v + v;
}

}  // namespace ns

int main(int argc, char **) {
  int store = 3;
  ns::Derived d(argc, store);
  int out = 0;
  int s = d.get(1) + d.get(2, 3);
  s += ns::take_ref(d, out, ns::Base{4, 5});
  s += ns::twice<int>(argc) + (int)ns::twice<long>(argc);
  return s == -1;
}
