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

// A source location of a user address (tracerun --stack-lines), from DWARF.
struct SourceFrame {
  std::string function;  // demangled; "" when DWARF does not name it
  std::string file;      // as the line table names it; "" when unknown
  uint32_t line = 0;     // 0 when unknown
  bool inlined = false;  // a function inlined at the address
};

// What the values of the kinds Ksym, Usym, Kstack, Ustack and Timestamp
// refer to, outside the record: symbol tables, the gt_stacks map, the boot
// time. The session implements it (runtime/symbolizer.h); tests use fakes.
// Without one (nullptr), addresses print in hex and stacks as "".
class Symbolizer {
public:
  virtual ~Symbolizer() = default;
  // The kernel symbol containing `addr` and the offset into it.
  virtual bool kernel_symbol(uint64_t addr, std::string &name, uint64_t &offset) = 0;
  // The symbol containing `addr` in process `pid`.
  virtual bool user_symbol(uint64_t addr, uint32_t pid, std::string &name, uint64_t &offset) = 0;
  // The addresses of stack `id` (0-terminated or full): a key of gt_stacks,
  // or for user stacks unwound in BPF of gt_ustacks. False when it cannot be
  // read. `incomplete`: why the stack ends before its outermost frame, "" if
  // it does not.
  virtual bool stack(int64_t id, bool user, std::vector<uint64_t> &addrs,
                     std::string &incomplete) = 0;
  // The file mapped at `addr` in process `pid` (perf stack mode).
  virtual bool user_module(uint64_t addr, uint32_t pid, std::string &path) { return false; }
  // --stack-lines: where user address `addr` of process `pid` is in the
  // source. `frames`: the functions inlined there (inlined = true),
  // innermost first, then the location in the function containing them.
  // `call`: `addr` is a return address (every stack frame but the first),
  // so the call's location is wanted (that of addr - 1, as gdb does). False
  // when source lines are off or unknown for `addr`.
  virtual bool user_source(uint64_t addr, uint32_t pid, bool call,
                           std::vector<SourceFrame> &frames) {
    return false;
  }
  // CLOCK_REALTIME minus CLOCK_BOOTTIME, in nanoseconds.
  virtual int64_t boot_to_wall_ns() = 0;
};

// An integer of `size` bytes (1, 2, 4 or 8; little-endian) at `p`, sign- or
// zero-extended to 64 bits. Unaligned reads are fine.
uint64_t read_int(const uint8_t *p, uint32_t size, bool is_signed);
// A NUL-padded char[size] buffer: the text up to the first NUL.
std::string read_str(const uint8_t *p, uint32_t size);
// A value the way bpftrace prints it in map keys and values: integers in
// decimal (signed per the type), strings raw, tuples as "(a, b, c)".
// `indent` is the indentation of stack frames: bpftrace uses 4 in map keys
// and 8 everywhere else.
std::string value_to_string(const meta::Type &t, const uint8_t *p, Symbolizer *sym = nullptr,
                            int indent = 8);
// The same value as bpftrace -f json writes it: integers as numbers, tuples
// as [a,b] (no spaces), everything else as a JSON string of its text.
std::string value_to_json(const meta::Type &t, const uint8_t *p, Symbolizer *sym = nullptr,
                          int indent = 8);
// A JSON string literal (with the quotes). Control characters are escaped
// as bpftrace does (\n \r \t \" \\, others \u00XX); valid UTF-8 passes
// through; other bytes >= 0x80 become \u00XX (bpftrace 0.17 writes the
// invalid \uffffffXX there).
std::string json_string(const std::string &s);

// The new value kinds, as bpftrace 0.17 prints them:
// ksym()/usym(): the bare symbol; unknown: the address as C++ prints a
// pointer ("0x1234", "0" for 0). With `offset`, "sym+off" (stack frames).
std::string format_ksym(uint64_t addr, Symbolizer *sym, bool offset = false);
std::string format_usym(uint64_t addr, uint32_t pid, Symbolizer *sym, bool offset = false);
// kstack/ustack: "" when the stack cannot be read, else "\n" then each frame
// on its own line, `indent` spaces first, as sym+off (hex when unknown),
// ending with "\n". `limit` frames at most (0: all). A stack that ends early
// says why on one more line: "[incomplete: REASON]". bpftrace's other modes:
// perf "\tADDR sym+off (module)" and raw "ADDR", ADDR in hex without 0x.
// When the symbolizer knows the source of a user frame (user_source(),
// --stack-lines), that frame prints as "sym+off (file:line)", preceded by
// one line "name (file:line) [inlined]" per function inlined there,
// innermost first; `limit` counts addresses, not these lines. Frames after
// the first are return addresses (user_source()'s `call`), except the one
// under __restore_rt (a signal frame), which was interrupted. The perf and
// raw modes never print source.
std::string format_stack(int64_t id, bool user, uint32_t pid, uint32_t limit, int indent,
                         Symbolizer *sym,
                         meta::Type::StackMode mode = meta::Type::StackMode::Bpftrace);
// ntop(): {u64 family; u8 addr[16]} as inet_ntop prints it ("" for an
// unknown family).
std::string format_inet(const uint8_t *p);
// buf(): {u64 length; u8 data[size - 8]}: printable ASCII as is, every
// other byte as \xNN.
std::string format_buf(const uint8_t *p, uint32_t size);
// strftime(fmt, t) for t = nanoseconds since boot: local time, with
// bpftrace's %f (microseconds, 6 digits). "(?)" when strftime fails.
std::string format_strftime(const std::string &fmt, uint64_t boot_ns, int64_t boot_to_wall_ns);
// A time in nanoseconds since the epoch, local time.
std::string format_wall_time(const std::string &fmt, int64_t wall_ns);

// A printf() format parsed once and applied to every record of that call site.
//
// Conversions: %d %i %u %x %X %o %c %s %p %r and %%, with flags (- + space 0 #),
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
  // event header; arguments that would lie past `size` print as "<?>", and
  // those whose memory read failed (the record's error mask) as
  // "<read error>".
  // %s prints any value as value_to_string does; %r prints buf() values.
  void format(const uint8_t *payload, size_t size, std::string &out,
              Symbolizer *sym = nullptr) const;
  std::string format(const uint8_t *payload, size_t size, Symbolizer *sym = nullptr) const {
    std::string s;
    format(payload, size, s, sym);
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
  uint32_t payload_size_ = 0;
  bool error_mask_ = false;
};

// Appends printf(fmt, ...) to `out` (helper shared with the map printer).
void append_format(std::string &out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

}  // namespace gt::rt
