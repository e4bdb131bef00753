#include "runtime/ring_reader.h"

#include <cerrno>
#include <cstring>
#include <linux/bpf.h>
#include <sys/mman.h>
#include <unistd.h>

namespace gt::rt {

RingReader::~RingReader() {
  if (cons_map_)
    munmap(cons_map_, page_);
  if (prod_map_)
    munmap(prod_map_, page_ + size_);
}

bool RingReader::open(int fd, uint32_t size, std::string &error) {
  page_ = size_t(sysconf(_SC_PAGESIZE));
  if (size == 0 || (size & (size - 1)) != 0 || size % page_ != 0) {
    error = "ring buffer size " + std::to_string(size) + " is not a power-of-2 multiple of the page size";
    return false;
  }
  size_ = size;
  cons_map_ = mmap(nullptr, page_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (cons_map_ == MAP_FAILED) {
    cons_map_ = nullptr;
    error = std::string("cannot map the ring buffer: ") + strerror(errno);
    return false;
  }
  prod_map_ = mmap(nullptr, page_ + size_, PROT_READ, MAP_SHARED, fd, off_t(page_));
  if (prod_map_ == MAP_FAILED) {
    prod_map_ = nullptr;
    error = std::string("cannot map the ring buffer: ") + strerror(errno);
    return false;
  }
  data_ = static_cast<const uint8_t *>(prod_map_) + page_;
  return true;
}

size_t RingReader::consume(const Callback &cb, size_t max) {
  if (!data_)
    return 0;
  auto *cons_pos = static_cast<uint64_t *>(cons_map_);
  auto *prod_pos = static_cast<const uint64_t *>(prod_map_);
  const uint64_t mask = size_ - 1;
  uint64_t cons = __atomic_load_n(cons_pos, __ATOMIC_ACQUIRE);
  size_t n = 0;
  while (n < max) {
    uint64_t prod = __atomic_load_n(prod_pos, __ATOMIC_ACQUIRE);
    if (cons >= prod)
      break;
    bool busy = false;
    while (cons < prod && n < max) {
      const uint32_t *hdr = reinterpret_cast<const uint32_t *>(data_ + (cons & mask));
      uint32_t len = __atomic_load_n(hdr, __ATOMIC_ACQUIRE);
      if (len & BPF_RINGBUF_BUSY_BIT) {
        busy = true;
        break;
      }
      uint32_t sample_len = len & ~(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT);
      uint64_t start = cons + BPF_RINGBUF_HDR_SZ;
      cons += (uint64_t(sample_len) + BPF_RINGBUF_HDR_SZ + 7) & ~uint64_t(7);
      if (!(len & BPF_RINGBUF_DISCARD_BIT)) {
        uint64_t off = start & mask;
        if (off + sample_len <= size_) {
          cb(data_ + off, sample_len);
        } else {
          wrap_.resize(sample_len);
          size_t first = size_ - off;
          memcpy(wrap_.data(), data_ + off, first);
          memcpy(wrap_.data() + first, data_, sample_len - first);
          cb(wrap_.data(), sample_len);
        }
      }
      __atomic_store_n(cons_pos, cons, __ATOMIC_RELEASE);
      n++;
    }
    if (busy)
      break;
  }
  return n;
}

}  // namespace gt::rt
