// The contract between the compiler (codegen) and the runtime.
//
// tracec stores one Program, serialized as JSON, in the ELF section
// ".gt.meta" of the BPF object it writes. The runtime reads it back and needs
// nothing else to attach the programs and decode what they send. Bump
// kFormatVersion on any incompatible change; the runtime refuses versions it
// does not know. See docs/architecture.md for the BPF-side ABI (event records,
// map layouts) these descriptions refer to.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace gt::meta {

inline constexpr int kFormatVersion = 1;
inline constexpr const char *kSectionName = ".gt.meta";

// Names of the fixed BPF objects every program has.
inline constexpr const char *kEventsMap = "gt_events";  // BPF_MAP_TYPE_RINGBUF
inline constexpr const char *kLostMap = "gt_lost";      // PERCPU_ARRAY u32 -> u64, one slot per probe
// PERCPU_ARRAY u32 -> u64, one slot per probe: uretprobe hits with no recorded
// entry (the call began before tracing, or its entry state was evicted).
inline constexpr const char *kUnpairedMap = "gt_unpaired";
// PERCPU_ARRAY u32 -> u64, one slot per probe: reads of memory that failed
// (bpf_probe_read_* < 0; str() of NULL is "", not a failure); the runtime reports them.
inline constexpr const char *kReadErrorsMap = "gt_read_errors";
inline constexpr const char *kConfigSection = ".rodata"; // holds struct gt_config (see below)

// A value as laid out in BPF memory (event payloads, map keys and values).
struct Type {
  // Layouts of the kinds beyond Int/Str/Tuple (all little-endian, 8-aligned):
  //   Ksym      u64 kernel address; printed as the symbol (bpftrace ksym())
  //   Usym      {u64 address; u64 pid}; printed as the symbol in that process
  //   Kstack    {s64 stack_id; u64 unused}: id in the "gt_stacks" STACK_TRACE map
  //   Ustack    {s64 stack_id; u64 pid}: same map, user addresses of pid
  //             (stack_id < 0: the error the helper returned)
  //   Inet      {u64 family (AF_INET/AF_INET6); u8 addr[16]}; ntop()
  //   Timestamp u64 nanoseconds since boot (CLOCK_BOOTTIME); printed with
  //             strftime(`format`) after conversion to wall-clock time; the
  //             format also understands %f (microseconds), as bpftrace's does
  //   Buf       {u64 length; u8 data[size - 8]}; printed with %r as bpftrace
  //             prints buf(): printable bytes as is, others as \xNN
  enum class Kind { None, Int, Str, Tuple, Ksym, Usym, Kstack, Ustack, Inet, Timestamp, Buf };
  Kind kind = Kind::None;
  uint32_t size = 0;     // bytes; Str: buffer size including the NUL
  bool is_signed = false;  // Int only
  std::string format;      // Timestamp: the strftime format
  uint32_t stack_frames = 0;  // Kstack/Ustack: frames to print (ustack(N)), 0 = all
  // Kstack/Ustack: how frames print (bpftrace's stack modes): "sym+off";
  // perf: "\tADDR sym+off (module)"; raw: "ADDR" (hex, no 0x).
  enum class StackMode { Bpftrace, Perf, Raw } stack_mode = StackMode::Bpftrace;
  // Tuple only: element types and their byte offsets inside the tuple.
  std::vector<Type> elems;
  std::vector<uint32_t> offsets;

  static Type none() { return Type{}; }
  static Type integer(uint32_t size, bool is_signed) {
    Type t;
    t.kind = Kind::Int;
    t.size = size;
    t.is_signed = is_signed;
    return t;
  }
  static Type string(uint32_t size) {
    Type t;
    t.kind = Kind::Str;
    t.size = size;
    return t;
  }
  bool operator==(const Type &o) const;
  bool operator!=(const Type &o) const { return !(*this == o); }
  std::string str() const;  // "int64", "uint32", "string[64]", "(int64,string[16])"
};

enum class ProbeKind {
  Begin,       // BPF_PROG_TYPE_RAW_TRACEPOINT, run once with BPF_PROG_TEST_RUN before others attach
  End,         // same, run once after all others are detached, before maps are printed
  Uprobe,
  Uretprobe,
  Tracepoint,  // BPF_PROG_TYPE_TRACEPOINT
  Profile,     // BPF_PROG_TYPE_PERF_EVENT, cpu-clock sampling at `frequency` Hz on every CPU
  Interval,    // BPF_PROG_TYPE_PERF_EVENT, cpu-clock every `period_ns` on one CPU
  Kprobe,      // kernel `symbol` + `offset`; bpf_program__attach_kprobe_opts
  Kretprobe,   // kernel `symbol`
  Fentry,      // kernel `symbol`; the section names it (fentry/SYM), libbpf finds the BTF id
  Fexit,       // same, fexit/SYM
  RawTracepoint,  // `event`: bpf_program__attach_raw_tracepoint
  Software,    // PERF_TYPE_SOFTWARE event `event` (cpu-clock, page-faults, ...: bpftrace's
               // names) with `sample_period` on every CPU
  Usdt,        // `binary`, `provider`, `event`; attached as a uprobe at `address`
               // (virtual address in `binary`); `semaphore` (virtual address, 0 if
               // none) is incremented in the target process while attached
};

struct Probe {
  uint32_t index = 0;       // slot in gt_lost; also the order in which probes are attached
  std::string prog_name;    // name of the BPF program (ELF function symbol) to attach
  ProbeKind kind = ProbeKind::Begin;
  std::string spec;         // the probe as written in the script, for messages: "uprobe:./a.out:main"
  // Uprobe / Uretprobe: target binary (absolute path after resolution at compile time;
  // the runtime re-resolves relative paths and `-c` targets), and where to attach:
  // symbol (+ offset) when symbol is non-empty, else `address` (a virtual address in
  // the ELF file, converted to a file offset by the runtime).
  std::string binary;
  std::string symbol;
  uint64_t offset = 0;
  uint64_t address = 0;
  // Tracepoint
  std::string category;
  std::string event;
  // Profile: frequency in Hz. Interval: period in nanoseconds.
  uint64_t frequency = 0;
  uint64_t period_ns = 0;
  // Software: sample every `sample_period` events.
  uint64_t sample_period = 0;
  // Usdt
  std::string provider;
  uint64_t semaphore = 0;
  // Added by the compiler, not written in the script (the entry half of a
  // uretprobe that uses args or duration): not counted in "Attaching N probes".
  bool internal = false;
};

// How a map is used; decides how it is printed and how per-CPU values merge.
enum class MapKind {
  Value,  // @m = expr: plain BPF_MAP_TYPE_HASH, value of `value` type
  Count,  // count(): PERCPU_HASH, u64 per CPU, summed
  Sum,    // sum(x): PERCPU_HASH, s64/u64 per CPU, summed
  Min,    // min(x): PERCPU_HASH, value {s64 v; u64 valid;}, min over CPUs with valid != 0
  Max,    // max(x): same layout as Min
  Avg,    // avg(x): PERCPU_HASH, value {s64 sum; u64 count;}
  Stats,  // stats(x): same layout as Avg; prints count, average, total
  Hist,   // hist(x): PERCPU_HASH, key = user key ++ u64 bucket, value u64 per CPU
  Lhist,  // lhist(x, min, max, step): same as Hist, linear buckets
};

struct Map {
  std::string name;       // as in the script, with the sigil: "@", "@c", "@lat"
  std::string bpf_name;   // BPF map (ELF symbol in .maps) holding it
  MapKind kind = MapKind::Value;
  Type key;               // Kind::None for a map without keys; a Tuple for @m[a, b]
  uint32_t key_size = 0;  // size of the BPF key (user key, plus 8 for Hist/Lhist bucket;
                          // 8 with a zero u64 when the map has no user key)
  Type value;             // Value: the stored type; aggregations: the type of the argument
  uint32_t value_size = 0;
  uint32_t max_entries = 0;
  bool per_cpu = false;
  int64_t lhist_min = 0, lhist_max = 0, lhist_step = 0;  // Lhist only
};

// One printf() call site. The event record is struct gt_event_header
// {u32 kind = kEventPrintf; u32 id = index} followed by `args` at `offsets`
// (relative to the start of the payload, i.e. after the 8-byte header).
struct Printf {
  std::string format;            // as written, escapes already decoded
  std::vector<Type> args;
  std::vector<uint32_t> offsets;
  uint32_t payload_size = 0;
  // Set when some argument reads memory: a u64 at payload_size follows the
  // arguments, bit i set when reading argument i failed (it prints as
  // "<read error>"). printf and system/cat records only.
  bool error_mask = false;
};

// Event record kinds (first u32 of every ring buffer record).
enum EventKind : uint32_t {
  kEventPrintf = 1,   // id = Printf index
  kEventExit = 2,     // id unused; the runtime stops after draining
  kEventPrintMap = 3, // id = Map index: print(@m) prints it now, as at exit
  kEventClearMap = 4, // id = Map index: clear(@m) deletes every element
  kEventZeroMap = 5,  // id = Map index: zero(@m) sets every value to 0
  kEventTime = 6,     // id = index into Program::time_formats: time(fmt) prints
                      //      the current local time with strftime(fmt)
  kEventSystem = 7,   // id = Printf index: format, then run with /bin/sh -c
                      //      (only when tracerun was given --unsafe)
  kEventCat = 8,      // id = Printf index: format a file name, print its contents
  kEventPrintValue = 9, // id = index into Program::print_values: print(expr)
                        //      prints the value as bpftrace does, then "\n"
  kEventJoin = 10,    // id = index into Program::joins; payload: `count`
                      //      strings of `size` bytes; an empty one ends the list
  kEventPrintMapLimited = 11, // id = index into Program::map_prints:
                              //      print(@m, top[, div])
};

// print(expr) of a non-map value: its type (payload layout).
struct PrintValue {
  Type type;
};

// print(@m, top[, div]), as bpftrace 0.17 prints it: only the last `top`
// entries of the print order (0: all); values and hist() bucket counts
// divided by `div` (0 and 1: as they are). stats() maps ignore both and
// lhist() maps ignore `div`.
struct MapPrint {
  uint32_t map = 0;  // index into Program::maps
  uint32_t top = 0;
  uint32_t div = 1;
};

// join(argv[, sep]).
struct Join {
  std::string separator = " ";
  uint32_t count = 0;  // strings in the payload
  uint32_t size = 0;   // bytes per string
};

struct Program {
  int version = kFormatVersion;
  std::string source_name;  // script file name or "stdin"/"-e"
  std::vector<Probe> probes;
  std::vector<Map> maps;        // in order of first use; printed sorted by name, as bpftrace does
  std::vector<Printf> printfs;
  std::vector<std::string> time_formats;  // time(fmt)
  std::vector<PrintValue> print_values;   // print(expr)
  std::vector<Join> joins;                // join(...)
  std::vector<MapPrint> map_prints;       // print(@m, top[, div])
  bool needs_stacks = false;              // the object has the "gt_stacks" map
  bool uses_system = false;               // system() is called: needs --unsafe
  uint32_t ringbuf_size = 0;    // bytes, power of two, multiple of the page size
  // Binaries whose symbols/DWARF were used, and their GNU build-ids (hex), so the
  // runtime can refuse to attach to a different build.
  struct BinaryId {
    std::string path;
    std::string build_id;
  };
  std::vector<BinaryId> binaries;
  // User stacks unwound inside BPF (stdlib/unwind.bpf.c): Ustack ids are then
  // keys of "gt_ustacks" (struct gt_ustack in stdlib/unwind_abi.h), and the
  // runtime fills the unwind tables (gt_unwind_modules / gt_unwind_rows) and
  // serves gt_unwind_requests.
  bool bpf_unwinder = false;
  // PROG_ARRAY slots the runtime fills after load: `prog` at `index` of `map`.
  struct TailCall {
    std::string map;
    uint32_t index = 0;
    std::string prog;
  };
  std::vector<TailCall> tail_calls;
};

// The program's only .rodata variable, at offset 0, written by the runtime
// before load (bpf_map__set_initial_value on the ".rodata" map):
//   struct gt_config { u32 target_pid; u32 unwind_mode; u64 start_ns; };
// target_pid != 0 restricts every probe except BEGIN/END/interval to that
// process (uprobes are also attached for that pid only). Being read-only data,
// the verifier prunes the check when it is 0.
inline constexpr const char *kConfigVar = "gt_config";
// unwind_mode: enum gt_unwind_mode (auto, fp, dwarf) for the BPF unwinder.
// start_ns: CLOCK_MONOTONIC when the program was loaded, for `elapsed`.
struct Config {
  uint32_t target_pid = 0;
  uint32_t unwind_mode = 0;
  uint64_t start_ns = 0;
};

std::string serialize(const Program &p);
// Throws std::runtime_error with a readable message on malformed input or an
// unknown version.
Program deserialize(const std::string &json);

const char *to_string(ProbeKind k);
const char *to_string(MapKind k);

}  // namespace gt::meta
