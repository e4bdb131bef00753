// Formatting of values sent by BPF programs: printf() records and the keys
// and values of maps. Pure functions of the metadata and the raw bytes, so
// they are unit-tested without BPF (test/unit/runtime_format_test.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/metadata.h"

namespace gt::rt {

// An integer of `size` bytes (1, 2, 4 or 8; little-endian) at `p`, sign- or
// zero-extended to 64 bits. Unaligned reads are fine.
uint64_t read_int(const uint8_t *p, uint32_t size, bool is_signed);
// A NUL-padded char[size] buffer: the text up to the first NUL.
std::string read_str(const uint8_t *p, uint32_t size);
// A value the way bpftrace prints it in map keys and values: integers in
// decimal (signed per the type), strings raw, tuples as "(a, b, c)".
std::string value_to_string(const meta::Type &t, const uint8_t *p);

// A printf() format parsed once and applied to every record of that call site.
//
// Conversions: %d %i %u %x %X %o %c %s %p and %%, with flags (- + space 0 #),
// width, precision and the length modifiers hh h l ll j z t (q and L are
// taken as ll). Integers behave exactly as C's printf given the value: no
// modifier means int / unsigned int (so %d of 5000000000 prints 705032704,
// %x of -1 prints ffffffff, as bpftrace does), hh char, h short, l ll j z t
// 64 bits. A conversion that is not understood is printed literally.
class PrintfFormatter {
public:
  PrintfFormatter() = default;
  explicit PrintfFormatter(const meta::Printf &p);

  // Appends the text for one record. `payload` is what follows the 8-byte
  // event header; arguments that would lie past `size` print as "<?>".
  void format(const uint8_t *payload, size_t size, std::string &out) const;
  std::string format(const uint8_t *payload, size_t size) const {
    std::string s;
    format(payload, size, s);
    return s;
  }

private:
  enum class Len { Int, Char, Short, Long };
  struct Piece {
    std::string text;  // literal text, or the C format for a conversion
    char conv = 0;     // 0 for literal text
    Len len = Len::Int;
    int arg = -1;      // index into args_
  };
  std::vector<Piece> pieces_;
  std::vector<meta::Type> args_;
  std::vector<uint32_t> offsets_;
};

// Appends printf(fmt, ...) to `out` (helper shared with the map printer).
void append_format(std::string &out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

}  // namespace gt::rt
