#include "runtime/map_printer.h"

#include <algorithm>
#include <cstring>
#include <map>

#include "runtime/format.h"

namespace gt::rt {

namespace {

using meta::MapKind;
using meta::Type;

constexpr int kBarWidth = 52;

uint64_t u64_at(const uint8_t *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}

// hist bound 2^power as bpftrace labels it: 1, 2, ... 512, 1K, 2K, ... 1M ...
std::string hist_bound(int power) {
  static const char *suffix[] = {"", "K", "M", "G", "T", "P", "E"};
  return std::to_string(1ULL << (power % 10)) + suffix[power / 10];
}

// lhist bound as bpftrace labels it: multiples of 1M / 1K get a suffix.
std::string lhist_bound(int64_t n) {
  if (n == 0)
    return "0";
  if (n % (1024 * 1024) == 0)
    return std::to_string(n / (1024 * 1024)) + "M";
  if (n % 1024 == 0)
    return std::to_string(n / 1024) + "K";
  return std::to_string(n);
}

void bucket_line(std::string &out, const std::string &label, uint64_t count, uint64_t max,
                 uint32_t div = 1) {
  std::string line = label;
  if (line.size() < 16)
    line.append(16 - line.size(), ' ');
  std::string num = std::to_string(div > 1 ? count / div : count);
  if (num.size() < 8)
    line.append(8 - num.size(), ' ');
  line += num;
  line += " |";
  int bar = max ? int((unsigned __int128)count * kBarWidth / max) : 0;
  line.append(bar, '@');
  line.append(kBarWidth - bar, ' ');
  line += "|\n";
  out += line;
}

// Range of non-zero buckets; false when all are zero.
bool nonzero_range(const std::vector<uint64_t> &c, size_t &lo, size_t &hi, uint64_t &max) {
  bool any = false;
  max = 0;
  for (size_t i = 0; i < c.size(); i++) {
    if (!c[i])
      continue;
    if (!any)
      lo = i;
    any = true;
    hi = i;
    max = std::max(max, c[i]);
  }
  return any;
}

// The elements of a key as (type, offset) pairs.
void key_elems(const Type &t, std::vector<std::pair<const Type *, uint32_t>> &out) {
  if (t.kind == Type::Kind::Tuple) {
    for (size_t i = 0; i < t.elems.size(); i++)
      out.push_back({&t.elems[i], t.offsets[i]});
  } else if (t.kind != Type::Kind::None) {
    out.push_back({&t, 0});
  }
}

// Map keys print their stacks indented by 4, as bpftrace does.
constexpr int kKeyIndent = 4;

std::string key_to_string(const Type &t, const uint8_t *key, Symbolizer *sym) {
  if (t.kind == Type::Kind::None)
    return "";
  std::vector<std::pair<const Type *, uint32_t>> elems;
  key_elems(t, elems);
  std::string s = "[";
  for (size_t i = 0; i < elems.size(); i++) {
    if (i)
      s += ", ";
    s += value_to_string(*elems[i].first, key + elems[i].second, sym, kKeyIndent);
  }
  return s + "]";
}

// The key of a -f json map entry: the elements' text joined by "," (bpftrace).
std::string key_to_json(const Type &t, const uint8_t *key, Symbolizer *sym) {
  std::vector<std::pair<const Type *, uint32_t>> elems;
  key_elems(t, elems);
  std::string s;
  for (size_t i = 0; i < elems.size(); i++) {
    if (i)
      s += ",";
    s += value_to_string(*elems[i].first, key + elems[i].second, sym, kKeyIndent);
  }
  return json_string(s);
}

// bpftrace's sort_by_key: integers as unsigned 64-bit, strings with strcmp,
// lexicographic over the key's elements. Returns <0, 0, >0.
int compare_value(const Type &t, const uint8_t *a, const uint8_t *b) {
  switch (t.kind) {
  case Type::Kind::None:
    return 0;
  case Type::Kind::Int: {
    uint64_t x = read_int(a, t.size, t.is_signed), y = read_int(b, t.size, t.is_signed);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  case Type::Kind::Str: {
    std::string x = read_str(a, t.size), y = read_str(b, t.size);
    int c = strcmp(x.c_str(), y.c_str());
    return c < 0 ? -1 : c > 0 ? 1 : 0;
  }
  case Type::Kind::Tuple:
    for (size_t i = 0; i < t.elems.size(); i++)
      if (int c = compare_value(t.elems[i], a + t.offsets[i], b + t.offsets[i]))
        return c;
    return 0;
  default: {
    // Addresses, stack ids, buffers: by their bytes, for a stable order.
    int c = memcmp(a, b, t.size);
    return c < 0 ? -1 : c > 0 ? 1 : 0;
  }
  }
  return 0;
}

struct Item {
  const uint8_t *key = nullptr;  // user key (may be null for maps without a key)
  int64_t sval = 0;              // value as signed, for sorting/printing
  uint64_t uval = 0;             // value as unsigned
  uint64_t count = 0;            // avg/stats: number of samples
  const uint8_t *raw = nullptr;  // Value maps: the stored value
};

bool arg_signed(const meta::Map &m) {
  return m.value.kind != Type::Kind::Int || m.value.is_signed;
}

struct HistEntry {
  const std::vector<uint8_t> *key;  // user key (empty for a keyless map)
  const std::vector<uint64_t> *counts;
};

// Groups the buckets of a hist/lhist map by user key (the BPF key without
// its last 8 bytes) and sorts the entries by total count, ascending.
void collect_hist(const meta::Map &map, const std::vector<RawEntry> &entries, unsigned ncpus,
                  std::map<std::vector<uint8_t>, std::vector<uint64_t>> &by_key,
                  std::vector<HistEntry> &order) {
  size_t stride = map.per_cpu ? std::max<size_t>(8, (map.value_size + 7) / 8 * 8) : 0;
  unsigned n = map.per_cpu ? std::max(1u, ncpus) : 1;
  size_t nbuckets;
  if (map.kind == MapKind::Hist) {
    nbuckets = 66;
  } else {
    int64_t step = map.lhist_step > 0 ? map.lhist_step : 1;
    nbuckets = size_t(std::max<int64_t>(0, (map.lhist_max - map.lhist_min) / step)) + 2;
  }
  for (const RawEntry &e : entries) {
    if (e.key.size() < 8)
      continue;
    std::vector<uint8_t> ukey(e.key.begin(), e.key.end() - 8);
    uint64_t bucket = u64_at(e.key.data() + e.key.size() - 8);
    if (bucket >= nbuckets)
      continue;
    uint64_t total = 0;
    for (unsigned c = 0; c < n; c++)
      if ((c * stride) + 8 <= e.value.size())
        total += u64_at(e.value.data() + c * stride);
    auto &counts = by_key[ukey];
    if (counts.empty())
      counts.resize(nbuckets);
    counts[bucket] += total;
  }
  std::vector<std::pair<HistEntry, uint64_t>> totals;
  for (const auto &kv : by_key) {
    uint64_t total = 0;
    for (uint64_t c : kv.second)
      total += c;
    totals.push_back({HistEntry{&kv.first, &kv.second}, total});
  }
  std::stable_sort(totals.begin(), totals.end(),
                   [](const auto &a, const auto &b) { return a.second < b.second; });
  for (const auto &t : totals)
    order.push_back(t.first);
}

bool has_user_key(const meta::Map &map, const std::vector<uint8_t> &ukey) {
  return map.key.kind != Type::Kind::None && ukey.size() >= map.key.size;
}

// print(@m, top): the entries with the largest values are the last ones.
template <typename T>
void keep_top(std::vector<T> &v, const PrintLimits &limits) {
  if (limits.top && v.size() > limits.top)
    v.erase(v.begin(), v.end() - limits.top);
}

void print_hist_map(const meta::Map &map, const std::vector<RawEntry> &entries, unsigned ncpus,
                    Symbolizer *sym, std::string &out, const PrintLimits &limits) {
  std::map<std::vector<uint8_t>, std::vector<uint64_t>> by_key;
  std::vector<HistEntry> order;
  collect_hist(map, entries, ncpus, by_key, order);
  keep_top(order, limits);
  if (order.empty()) {
    out += "\n";
    return;
  }
  for (const HistEntry &h : order) {
    std::string keytext;
    if (has_user_key(map, *h.key))
      keytext = key_to_string(map.key, h.key->data(), sym);
    out += map.name + keytext + ": \n";
    if (map.kind == MapKind::Hist)
      out += format_hist(*h.counts, limits.div);
    else
      out += format_lhist(*h.counts, map.lhist_min, map.lhist_max, map.lhist_step);
    out += "\n";
  }
}

// [{"min": 4, "max": 7, "count": 1}, ...] from the first to the last
// non-empty bucket, as bpftrace -f json writes a histogram.
std::string hist_json(const meta::Map &map, const std::vector<uint64_t> &counts, uint32_t div) {
  size_t lo = 0, hi = 0;
  uint64_t max = 0;
  std::string out = "[";
  if (!nonzero_range(counts, lo, hi, max))
    return out + "]";
  int64_t step = map.lhist_step > 0 ? map.lhist_step : 1;
  size_t last = size_t(std::max<int64_t>(0, (map.lhist_max - map.lhist_min) / step)) + 1;
  for (size_t i = lo; i <= hi; i++) {
    if (i > lo)
      out += ", ";
    bool divide = map.kind == MapKind::Hist && div > 1;
    std::string c = std::to_string(divide ? counts[i] / div : counts[i]);
    if (map.kind == MapKind::Hist) {
      if (i == 0) {
        out += "{\"max\": -1, \"count\": " + c + "}";
      } else if (i == 1) {
        out += "{\"min\": 0, \"max\": 0, \"count\": " + c + "}";
      } else {
        unsigned __int128 lo_v = (unsigned __int128)1 << (i - 2);
        unsigned __int128 hi_v = ((unsigned __int128)1 << (i - 1)) - 1;
        out += "{\"min\": " + std::to_string(uint64_t(lo_v)) +
               ", \"max\": " + std::to_string(uint64_t(hi_v)) + ", \"count\": " + c + "}";
      }
    } else {
      if (i == 0)
        out += "{\"max\": " + std::to_string(map.lhist_min - 1) + ", \"count\": " + c + "}";
      else if (i >= last)
        out += "{\"min\": " + std::to_string(map.lhist_max) + ", \"count\": " + c + "}";
      else
        out += "{\"min\": " + std::to_string(map.lhist_min + int64_t(i - 1) * step) +
               ", \"max\": " + std::to_string(map.lhist_min + int64_t(i) * step - 1) +
               ", \"count\": " + c + "}";
    }
  }
  return out + "]";
}

void print_hist_map_json(const meta::Map &map, const std::vector<RawEntry> &entries,
                         unsigned ncpus, Symbolizer *sym, std::string &out,
                         const PrintLimits &limits) {
  std::map<std::vector<uint8_t>, std::vector<uint64_t>> by_key;
  std::vector<HistEntry> order;
  collect_hist(map, entries, ncpus, by_key, order);
  keep_top(order, limits);
  if (order.empty())
    return;
  out += "{\"type\": \"hist\", \"data\": {" + json_string(map.name) + ": ";
  if (map.key.kind == Type::Kind::None) {
    out += hist_json(map, *order.front().counts, limits.div);
  } else {
    out += "{";
    bool first = true;
    for (const HistEntry &h : order) {
      if (!has_user_key(map, *h.key))
        continue;
      if (!first)
        out += ", ";
      first = false;
      out += key_to_json(map.key, h.key->data(), sym) + ": " +
             hist_json(map, *h.counts, limits.div);
    }
    out += "}";
  }
  out += "}}\n";
}

// The entries of a non-histogram map, merged over CPUs and sorted as
// bpftrace sorts them.
void collect_items(const meta::Map &map, const std::vector<RawEntry> &entries, unsigned ncpus,
                   std::vector<Item> &items);

}  // namespace

std::string format_hist(const std::vector<uint64_t> &counts, uint32_t div) {
  size_t lo = 0, hi = 0;
  uint64_t max = 0;
  std::string out;
  if (!nonzero_range(counts, lo, hi, max))
    return out;
  for (size_t i = lo; i <= hi; i++) {
    std::string label;
    if (i == 0)
      label = "(..., 0)";
    else if (i == 1)
      label = "[0]";
    else if (i == 2)
      label = "[1]";
    else
      label = "[" + hist_bound(int(i) - 2) + ", " + hist_bound(int(i) - 1) + ")";
    bucket_line(out, label, counts[i], max, div);
  }
  return out;
}

std::string format_lhist(const std::vector<uint64_t> &counts, int64_t min, int64_t max,
                         int64_t step) {
  size_t lo = 0, hi = 0;
  uint64_t maxcount = 0;
  std::string out;
  if (!nonzero_range(counts, lo, hi, maxcount))
    return out;
  if (step <= 0)
    step = 1;
  size_t last = size_t(std::max<int64_t>(0, (max - min) / step)) + 1;
  for (size_t i = lo; i <= hi; i++) {
    std::string label;
    if (i == 0)
      label = "(..., " + lhist_bound(min) + ")";
    else if (i >= last)
      label = "[" + lhist_bound(max) + ", ...)";
    else
      label = "[" + lhist_bound(min + int64_t(i - 1) * step) + ", " +
              lhist_bound(min + int64_t(i) * step) + ")";
    bucket_line(out, label, counts[i], maxcount);
  }
  return out;
}

namespace {

std::pair<int64_t, uint64_t> average_of(const meta::Map &map, const Item &it) {
  if (!it.count)
    return {0, 0};
  if (arg_signed(map))
    return {it.sval / int64_t(it.count), 0};
  return {0, it.uval / it.count};
}

void collect_items(const meta::Map &map, const std::vector<RawEntry> &entries, unsigned ncpus,
                   std::vector<Item> &items) {
  const bool is_signed = arg_signed(map);
  const size_t stride = map.per_cpu ? std::max<size_t>(8, (map.value_size + 7) / 8 * 8) : 0;
  const unsigned n = map.per_cpu ? std::max(1u, ncpus) : 1;
  for (const RawEntry &e : entries) {
    Item it;
    if (map.key.kind != Type::Kind::None) {
      if (e.key.size() < map.key.size)
        continue;
      it.key = e.key.data();
    }
    auto slot = [&](unsigned c) -> const uint8_t * {
      size_t off = c * stride;
      return off < e.value.size() ? e.value.data() + off : nullptr;
    };
    switch (map.kind) {
    case MapKind::Value:
      if (e.value.size() < map.value.size)
        continue;
      it.raw = e.value.data();
      if (map.value.kind == Type::Kind::Int) {
        it.uval = read_int(it.raw, map.value.size, map.value.is_signed);
        it.sval = int64_t(it.uval);
      }
      break;
    case MapKind::Count:
    case MapKind::Sum: {
      uint64_t sum = 0;
      uint32_t sz = std::min<uint32_t>(map.value_size ? map.value_size : 8, 8);
      for (unsigned c = 0; c < n; c++)
        if (const uint8_t *p = slot(c); p && p + sz <= e.value.data() + e.value.size())
          sum += read_int(p, sz, is_signed && map.kind == MapKind::Sum);
      it.uval = sum;
      it.sval = int64_t(sum);
      break;
    }
    case MapKind::Min:
    case MapKind::Max: {
      bool any = false;
      for (unsigned c = 0; c < n; c++) {
        const uint8_t *p = slot(c);
        if (!p || p + 16 > e.value.data() + e.value.size() || !u64_at(p + 8))
          continue;
        uint64_t v = u64_at(p);
        if (!any) {
          it.uval = v;
        } else if (is_signed) {
          bool less = int64_t(v) < int64_t(it.uval);
          if (map.kind == MapKind::Min ? less : (!less && v != it.uval))
            it.uval = v;
        } else {
          bool less = v < it.uval;
          if (map.kind == MapKind::Min ? less : (!less && v != it.uval))
            it.uval = v;
        }
        any = true;
      }
      if (!any)
        continue;
      it.sval = int64_t(it.uval);
      break;
    }
    case MapKind::Avg:
    case MapKind::Stats: {
      uint64_t sum = 0, count = 0;
      for (unsigned c = 0; c < n; c++) {
        const uint8_t *p = slot(c);
        if (!p || p + 16 > e.value.data() + e.value.size())
          continue;
        sum += u64_at(p);
        count += u64_at(p + 8);
      }
      it.count = count;
      // it.uval / it.sval hold the total; the average is computed when printing.
      it.uval = sum;
      it.sval = int64_t(sum);
      break;
    }
    default:
      break;
    }
    items.push_back(it);
  }

  auto average = [&](const Item &it) { return average_of(map, it); };

  // First by key (also the tie-break), then by value where bpftrace does.
  std::stable_sort(items.begin(), items.end(), [&](const Item &a, const Item &b) {
    if (!a.key || !b.key)
      return false;
    return compare_value(map.key, a.key, b.key) < 0;
  });
  bool by_value = map.kind != MapKind::Value || map.value.kind == Type::Kind::Int;
  if (by_value) {
    bool value_signed = map.kind == MapKind::Count ? false
                        : map.kind == MapKind::Value ? map.value.is_signed
                                                     : is_signed;
    std::stable_sort(items.begin(), items.end(), [&](const Item &a, const Item &b) {
      if (map.kind == MapKind::Avg || map.kind == MapKind::Stats) {
        auto x = average(a), y = average(b);
        return is_signed ? x.first < y.first : x.second < y.second;
      }
      return value_signed ? a.sval < b.sval : a.uval < b.uval;
    });
  }

}

// An integer value divided by print()'s div (C division, as bpftrace).
std::string divided(bool is_signed, int64_t s, uint64_t u, uint32_t div) {
  if (div <= 1)
    return is_signed ? std::to_string(s) : std::to_string(u);
  return is_signed ? std::to_string(s / int64_t(div)) : std::to_string(u / div);
}

// The value of one entry as text ("5", "count 1, average 7, total 7").
std::string item_text(const meta::Map &map, const Item &it, Symbolizer *sym, uint32_t div) {
  const bool is_signed = arg_signed(map);
  switch (map.kind) {
  case MapKind::Value:
    if (map.value.kind == Type::Kind::Int && div > 1)
      return divided(map.value.is_signed, it.sval, it.uval, div);
    return value_to_string(map.value, it.raw, sym);
  case MapKind::Count:
    return divided(false, it.sval, it.uval, div);
  case MapKind::Sum:
  case MapKind::Min:
  case MapKind::Max:
    return divided(is_signed, it.sval, it.uval, div);
  case MapKind::Avg: {
    auto a = average_of(map, it);
    return divided(is_signed, a.first, a.second, div);
  }
  case MapKind::Stats: {
    auto a = average_of(map, it);
    return "count " + std::to_string(it.count) + ", average " +
           (is_signed ? std::to_string(a.first) : std::to_string(a.second)) + ", total " +
           (is_signed ? std::to_string(it.sval) : std::to_string(it.uval));
  }
  default:
    return "";
  }
}

std::string item_json(const meta::Map &map, const Item &it, Symbolizer *sym, uint32_t div) {
  const bool is_signed = arg_signed(map);
  switch (map.kind) {
  case MapKind::Value:
    if (map.value.kind == Type::Kind::Int && div > 1)
      return divided(map.value.is_signed, it.sval, it.uval, div);
    return value_to_json(map.value, it.raw, sym);
  case MapKind::Stats: {
    auto a = average_of(map, it);
    return "{\"count\": " + std::to_string(it.count) + ", \"average\": " +
           (is_signed ? std::to_string(a.first) : std::to_string(a.second)) +
           ", \"total\": " + (is_signed ? std::to_string(it.sval) : std::to_string(it.uval)) +
           "}";
  }
  default:
    return item_text(map, it, sym, div);
  }
}

// stats() maps ignore top and div, as in bpftrace 0.17.
PrintLimits effective_limits(const meta::Map &map, const PrintLimits &limits) {
  return map.kind == MapKind::Stats ? PrintLimits{} : limits;
}

bool is_keyless_count(const meta::Map &map) {
  return map.kind == MapKind::Count && map.key.kind == Type::Kind::None;
}

}  // namespace

void print_map(const meta::Map &map, const std::vector<RawEntry> &entries, unsigned ncpus,
               std::string &out, Symbolizer *sym, const PrintLimits &requested) {
  PrintLimits limits = effective_limits(map, requested);
  if (map.kind == MapKind::Hist || map.kind == MapKind::Lhist) {
    print_hist_map(map, entries, ncpus, sym, out, limits);
    return;
  }
  std::vector<Item> items;
  collect_items(map, entries, ncpus, items);
  keep_top(items, limits);
  if (items.empty()) {
    // bpftrace 0.17 prints a keyless count() that never fired as 0; every
    // other empty map as a blank line (two for avg/stats).
    if (is_keyless_count(map)) {
      out += map.name + ": 0\n";
      return;
    }
    out += "\n";
    if (map.kind == MapKind::Avg || map.kind == MapKind::Stats)
      out += "\n";
    return;
  }
  for (const Item &it : items) {
    out += map.name;
    if (it.key)
      out += key_to_string(map.key, it.key, sym);
    out += ": ";
    out += item_text(map, it, sym, limits.div);
    out += "\n";
  }
  if (map.kind == MapKind::Avg || map.kind == MapKind::Stats)
    out += "\n";
}

void print_map_json(const meta::Map &map, const std::vector<RawEntry> &entries, unsigned ncpus,
                    std::string &out, Symbolizer *sym, const PrintLimits &requested) {
  PrintLimits limits = effective_limits(map, requested);
  if (map.kind == MapKind::Hist || map.kind == MapKind::Lhist) {
    print_hist_map_json(map, entries, ncpus, sym, out, limits);
    return;
  }
  std::vector<Item> items;
  collect_items(map, entries, ncpus, items);
  keep_top(items, limits);
  const char *type = map.kind == MapKind::Avg || map.kind == MapKind::Stats ? "stats" : "map";
  std::string head = std::string("{\"type\": \"") + type + "\", \"data\": {" +
                     json_string(map.name) + ": ";
  if (items.empty()) {
    // bpftrace -f json prints nothing for an empty map, except the 0 of a
    // keyless count().
    if (is_keyless_count(map))
      out += head + "0}}\n";
    return;
  }
  out += head;
  if (map.key.kind == Type::Kind::None) {
    out += item_json(map, items.front(), sym, limits.div);
  } else {
    out += "{";
    for (size_t i = 0; i < items.size(); i++) {
      if (i)
        out += ", ";
      out += key_to_json(map.key, items[i].key, sym) + ": " +
             item_json(map, items[i], sym, limits.div);
    }
    out += "}";
  }
  out += "}}\n";
}

}  // namespace gt::rt
