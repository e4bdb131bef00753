// Reader of a BPF_MAP_TYPE_RINGBUF map.
//
// libbpf's ring_buffer maps the data area twice (so that records wrapping
// around its end look contiguous); the kernel maps all of those pages at
// mmap time, so they count in the resident set: 8 MiB of RSS for a 4 MiB
// ring. This reader maps the data area once and copies the rare record
// that wraps around, halving that cost. Records are consumed in batches,
// the consumer position being published after each one so that producers
// get the space back at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace gt::rt {

class RingReader {
public:
  RingReader() = default;
  ~RingReader();
  RingReader(const RingReader &) = delete;
  RingReader &operator=(const RingReader &) = delete;

  // `fd` is a ring buffer map of `size` bytes (its max_entries). Returns
  // false with `error` set on failure.
  bool open(int fd, uint32_t size, std::string &error);
  bool is_open() const { return data_ != nullptr; }

  using Callback = std::function<void(const uint8_t *data, uint32_t size)>;
  // Calls `cb` for each committed record, in order, until the ring is empty,
  // a record is still being written, or `max` records were consumed.
  // Returns the number of records consumed (discarded ones included).
  size_t consume(const Callback &cb, size_t max = SIZE_MAX);

private:
  void *cons_map_ = nullptr;  // consumer page (read-write)
  void *prod_map_ = nullptr;  // producer page + data (read-only), mapped once
  size_t page_ = 0;
  uint32_t size_ = 0;
  const uint8_t *data_ = nullptr;
  std::vector<uint8_t> wrap_;  // a record that wraps around the end of the ring
};

}  // namespace gt::rt
