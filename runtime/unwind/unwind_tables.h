// Userspace side of the BPF user-stack unwinder (stdlib/unwind.bpf.c): builds
// per-module unwind tables from DWARF CFI, finds the modules of a process or
// of a command, fills the gt_unwind_* maps, and walks stacks with the same
// algorithm as the BPF side (for tests and for reasoning about it).
//
// The binary contract is stdlib/unwind_abi.h. Tables are keyed by the mapped
// file (kernel dev, inode) and their pcs are FILE OFFSETS, so one table serves
// every process that maps the file, wherever it is mapped.
//
// Links libdw/libelf/libbpf only (never LLVM).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "stdlib/unwind_abi.h"

namespace gt::unwind {

// ------------------------------------------------------------ tables

struct ModuleTable {
  // Sorted by pc (file offset), no two consecutive rows equal but for pc;
  // a row covers [pc, next row's pc). Gaps between FDEs are GT_CFA_NONE rows
  // and the last row is always GT_CFA_NONE. Without CFI, only the rows of
  // its PLT sections (synthesized); empty without PLT either.
  std::vector<gt_unwind_row> rows;
  bool has_frame_pointers = false;  // most functions keep a rbp frame
  size_t fdes = 0;                  // FDEs that produced rows
  size_t unsupported_rows = 0;      // GT_CFA_UNSUPPORTED ranges (before merging)
  size_t skipped_fdes = 0;          // empty, outside any PT_LOAD, overlapping, or undecodable
  // Where the rows come from: ".eh_frame", ".debug_frame" (code .eh_frame
  // does not cover), ".eh_frame+.debug_frame", or "" (no CFI).
  std::string source;
};

// Builds the table of an x86_64 ELF executable or shared library. Returns
// false with `error` set when the file cannot be read or its CFI is corrupt;
// a file without CFI is not an error (empty source). PLT sections without
// CFI get the rows binutils' CFI would give them.
bool build_module_table(const std::string &path, ModuleTable &out, std::string &error);

// The row that covers file offset `offset` (the last row with pc <= offset),
// or nullptr when `offset` is below the first row.
const gt_unwind_row *find_row(const std::vector<gt_unwind_row> &rows, uint64_t offset);

// ------------------------------------------------------------ modules

// Kernel-encoded device number (major << 20 | minor) from a st_dev.
uint64_t kernel_dev(uint64_t st_dev);

// The key BPF computes for a file: taken from the mapping the kernel makes of
// it (one page mapped and looked up in /proc/self/maps), because on overlayfs
// and btrfs stat()'s st_dev is not the superblock's device that BPF sees.
// Falls back to stat() when the file cannot be mapped.
bool module_key_for_path(const std::string &path, gt_module_key &key, std::string &error);

// The executable, its PT_INTERP and the closure of its DT_NEEDED libraries,
// searched like ld.so does (RPATH when there is no RUNPATH, LD_LIBRARY_PATH,
// RUNPATH, then /lib/x86_64-linux-gnu, /usr/lib/x86_64-linux-gnu, /lib64,
// /usr/lib, /lib), with $ORIGIN expanded. Libraries not found are left out.
std::vector<std::string> command_modules(const std::string &exe);

struct Mapping {
  uint64_t start = 0, end = 0, offset = 0;
  gt_module_key key{};
  std::string path;  // as /proc/PID/maps shows it, without " (deleted)"
};
// The executable file mappings of a process ("x" permission, inode != 0,
// absolute path). Empty when the process does not exist.
std::vector<Mapping> process_mappings(int pid);
// The same, parsed from the text of a maps file.
std::vector<Mapping> parse_mappings(const std::string &maps_text);

// ------------------------------------------------------------ BPF maps

// Fills gt_unwind_modules and gt_unwind_rows. For each module it creates an
// inner BPF_MAP_TYPE_ARRAY (BPF_F_INNER_MAP, max_entries = rows), fills it,
// inserts it into the outer map, and inserts the module's info last (BPF
// treats a module as loaded once its info exists). The outer map holds the
// inner maps: their fds are closed once inserted. A module without rows gets
// an info with rows = 0 and no inner map; one without CFI is warned about.
// A module that fails to load also gets a rows = 0 info (so that BPF stops
// requesting it) and its error is returned or warned about once. Thread-safe (a ring buffer callback
// may call handle_request while another thread loads a process).
class UnwindMaps {
public:
  // `mode`: a gt_unwind_mode. GT_UNWIND_FP sets GT_MODULE_HAS_FP on every
  // module, GT_UNWIND_DWARF on none, GT_UNWIND_AUTO where the table says so.
  UnwindMaps(int modules_fd, int rows_fd, int mode);
  UnwindMaps(const UnwindMaps &) = delete;
  UnwindMaps &operator=(const UnwindMaps &) = delete;

  // Loads the module of `path` (idempotent per key; a key that failed once is
  // not retried).
  bool load_file(const std::string &path, std::string &error);
  // Every executable mapping of the process; failures become warnings.
  void load_process(int pid);
  // command_modules(exe); failures become warnings.
  void load_command(const std::string &exe);
  // A gt_unwind_requests record: loads the file the request's pid maps with
  // that key (or, failing that, the mapping that contains pc).
  void handle_request(const gt_unwind_request &req);

  struct Stats {
    size_t modules = 0;  // modules with an info in gt_unwind_modules
    size_t rows = 0;     // rows in all inner maps
    size_t bytes = 0;    // rows * sizeof(gt_unwind_row)
    double build_ms = 0; // time spent building tables
  };
  Stats stats() const;
  // Warnings since the last call ("no CFI in X", load failures, ...).
  std::vector<std::string> warnings();

private:
  using Key = std::pair<uint64_t, uint64_t>;
  bool load_locked(const std::string &open_path, const std::string &name, const gt_module_key &key,
                   std::string &error);
  bool load_mapping_locked(int pid, const Mapping &m, std::string &error);
  void warn_locked(std::string message);
  void fail_locked(const gt_module_key &key, const std::string &error);

  int modules_fd_, rows_fd_, mode_;
  mutable std::mutex mu_;
  std::set<Key> done_;                 // in gt_unwind_modules
  std::map<Key, std::string> failed_;  // failed once (and reported): not retried
  std::set<Key> request_misses_;       // requests whose mapping was gone, warned once
  Stats stats_;
  std::vector<std::string> warnings_;
};

// ------------------------------------------------------------ reference walker

struct Registers {
  uint64_t ip = 0, sp = 0, bp = 0;
};

// What the BPF side learns about a pc from its VMA and gt_unwind_modules.
struct FrameModule {
  enum Status { kNoMapping, kNotLoaded, kFound } status = kNoMapping;
  const std::vector<gt_unwind_row> *rows = nullptr;  // kFound
  uint32_t flags = 0;                                // GT_MODULE_*, kFound
  uint64_t file_offset = 0;  // pc - vm_start + vm_pgoff * 4096
};
using FindModule = std::function<FrameModule(uint64_t pc)>;
// Reads the 8-byte word at a user address; false when unreadable.
using ReadWord = std::function<bool(uint64_t addr, uint64_t &value)>;

struct WalkResult {
  std::vector<uint64_t> frames;  // frame 0 is regs.ip; then return addresses
  uint32_t stop = GT_STOP_NONE;  // a gt_stop_reason
};

// Walks a user stack exactly like the BPF unwinder. `mode_flags` is a
// gt_unwind_mode, optionally | GT_UNWIND_AT_ENTRY.
//  - Each frame's pc is recorded, then its caller is computed. Frame 0 and a
//    frame right after a signal frame look up their row with pc itself; other
//    frames with pc - 1 (a return address may be one past the function).
//  - GT_UNWIND_FP mode never looks modules up; AUTO uses frame pointers in a
//    module with GT_MODULE_HAS_FP, CFI elsewhere; DWARF always uses CFI.
//  - Frame pointers: at frame 0 with GT_UNWIND_AT_ENTRY ra = [sp], cfa = sp+8,
//    bp unchanged; otherwise bp == 0 -> COMPLETE (_start clears rbp, so an
//    FP module's outermost frame ends there), else cfa = bp+16, ra = [bp+8],
//    bp = [bp].
//  - CFI: GT_CFA_NONE -> NO_CFI; UNSUPPORTED -> UNSUPPORTED; END -> COMPLETE;
//    SIGNAL -> ip/sp/bp from the ucontext at sp (GT_SIGFRAME_*_OFF);
//    SP/BP/PLT -> cfa, ra = [cfa + ra_off], bp per rule, sp = cfa.
//  - ra == 0 -> COMPLETE; GT_UNWIND_MAX_FRAMES frames without an end -> DEPTH.
WalkResult walk_stack(const Registers &regs, uint32_t mode_flags, const FindModule &find,
                      const ReadWord &read);

}  // namespace gt::unwind
