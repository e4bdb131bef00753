// Printing maps at exit, byte for byte the way bpftrace 0.17 prints them.
//
// Works on the raw BPF keys and values (as bpf_map_lookup_elem returns them),
// so it is unit-tested without BPF (test/unit/runtime_map_printer_test.cpp).
//
// What bpftrace 0.17 does (verified by running it, see the tests):
//  * before the maps, "\n\n" is printed (even when there is no map);
//  * maps are printed in name order; each entry is "@name[k1, k2]: value";
//  * count/sum/int-valued maps, min/max, and avg/stats (by average) are sorted
//    by value, ascending; hist/lhist maps by the total count of the entry;
//    maps with string or tuple values by key (integer keys compared as
//    unsigned 64-bit, strings with strcmp; the last key element first, then
//    stably by the earlier ones);
//  * avg and stats maps are followed by one blank line; every hist/lhist
//    entry is "@name[k]: " then its buckets then a blank line;
//  * an empty map prints one blank line (two for avg/stats).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/format.h"
#include "runtime/metadata.h"

namespace gt::rt {

struct RawEntry {
  std::vector<uint8_t> key;    // the BPF key (map.key_size bytes)
  std::vector<uint8_t> value;  // one value, or `ncpus` values each padded to 8 bytes
};

// print(@m, top, div): see meta::MapPrint. The defaults print everything as is.
struct PrintLimits {
  uint32_t top = 0;
  uint32_t div = 1;
};

// Appends the text for one map. `ncpus` is the number of per-CPU slots in
// each value when `map.per_cpu` (libbpf_num_possible_cpus()), ignored otherwise.
// `sym` resolves symbols and stacks in keys and values (nullptr: hex).
void print_map(const meta::Map &map, const std::vector<RawEntry> &entries, unsigned ncpus,
               std::string &out, Symbolizer *sym = nullptr, const PrintLimits &limits = {});

// The same map as bpftrace 0.17 -f json prints it: one line
// {"type": "map"|"stats"|"hist", "data": {"@name": VALUE}}, VALUE being the
// value of a keyless map or {"key": value, ...} in the text order (keys of
// several elements joined by ","); count/sum/min/max/avg values are numbers,
// stats {"count": c, "average": a, "total": t}, hist/lhist an array of
// {"min": lo, "max": hi, "count": n} buckets. An empty map prints nothing
// (a keyless count() prints 0).
void print_map_json(const meta::Map &map, const std::vector<RawEntry> &entries, unsigned ncpus,
                    std::string &out, Symbolizer *sym = nullptr, const PrintLimits &limits = {});

// The histogram body as bpftrace prints it: `counts[i]` is bucket i with the
// layout of docs/architecture.md (hist: 0 negative, 1 zero, i >= 2
// [2^(i-2), 2^(i-1)); lhist: 0 below min, 1 + (v - min) / step, last >= max).
// Only the buckets from the first to the last non-zero one are printed.
// `div` divides the printed counts (print(@m, top, div)); the bars keep the
// undivided proportions, as in bpftrace 0.17.
std::string format_hist(const std::vector<uint64_t> &counts, uint32_t div = 1);
std::string format_lhist(const std::vector<uint64_t> &counts, int64_t min, int64_t max,
                         int64_t step);

}  // namespace gt::rt
