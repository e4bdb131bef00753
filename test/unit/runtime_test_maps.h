// Builders of raw map entries (as the runtime reads them from BPF maps)
// for the runtime's printing tests.
#pragma once

#include <cstring>
#include <string>
#include <vector>

#include "runtime/map_printer.h"

namespace gt::rt::testing {

using gt::meta::Map;
using gt::meta::MapKind;
using gt::meta::Type;

inline constexpr unsigned kCpus = 2;

struct Bytes {
  std::vector<uint8_t> b;
  Bytes &i64(int64_t v) {
    for (int i = 0; i < 8; i++)
      b.push_back(uint8_t(uint64_t(v) >> (8 * i)));
    return *this;
  }
  Bytes &str(const std::string &s, size_t size = 16) {
    std::vector<uint8_t> buf(size, 0);
    memcpy(buf.data(), s.data(), s.size());
    b.insert(b.end(), buf.begin(), buf.end());
    return *this;
  }
};

inline Type tuple(std::vector<Type> elems) {
  Type t;
  t.kind = Type::Kind::Tuple;
  uint32_t off = 0;
  for (auto &e : elems) {
    uint32_t align = e.kind == Type::Kind::Int ? e.size : 1;
    off = (off + align - 1) / align * align;
    t.offsets.push_back(off);
    off += e.size;
  }
  t.size = (off + 7) / 8 * 8;
  t.elems = std::move(elems);
  return t;
}

inline Map make_map(const std::string &name, MapKind kind, Type key, Type value) {
  Map m;
  m.name = name;
  m.bpf_name = "m";
  m.kind = kind;
  m.key = key;
  m.value = value;
  bool hist = kind == MapKind::Hist || kind == MapKind::Lhist;
  m.key_size = (key.kind == Type::Kind::None ? 8 : key.size) + (hist ? 8 : 0);
  switch (kind) {
  case MapKind::Value:
    m.value_size = value.size;
    break;
  case MapKind::Min:
  case MapKind::Max:
  case MapKind::Avg:
  case MapKind::Stats:
    m.value_size = 16;
    m.per_cpu = true;
    break;
  default:
    m.value_size = 8;
    m.per_cpu = true;
  }
  m.max_entries = 4096;
  return m;
}

// Per-CPU u64 values.
inline std::vector<uint8_t> percpu(std::initializer_list<int64_t> v) {
  Bytes b;
  for (int64_t x : v)
    b.i64(x);
  return b.b;
}

// Per-CPU {s64, u64} pairs.
inline std::vector<uint8_t> percpu2(std::initializer_list<std::pair<int64_t, int64_t>> v) {
  Bytes b;
  for (auto &x : v)
    b.i64(x.first).i64(x.second);
  return b.b;
}

inline const Type kInt = Type::integer(8, true);

inline RawEntry ikey(int64_t k, std::vector<uint8_t> value) { return {Bytes().i64(k).b, value}; }

// Hist entries for a map without user key: key = u64 0 ++ u64 bucket.
inline void add_bucket(std::vector<RawEntry> &e, uint64_t bucket, std::initializer_list<int64_t> counts,
                const std::vector<uint8_t> &ukey = Bytes().i64(0).b) {
  RawEntry r;
  r.key = ukey;
  Bytes b;
  b.i64(int64_t(bucket));
  r.key.insert(r.key.end(), b.b.begin(), b.b.end());
  r.value = percpu(counts);
  e.push_back(r);
}

}  // namespace gt::rt::testing
