// Filling gt_unwind_modules / gt_unwind_rows (see unwind_tables.h).
#include <bpf/bpf.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>

#include "runtime/unwind/unwind_tables.h"

namespace gt::unwind {
namespace {

bool same_key(const gt_module_key &a, const gt_module_key &b) {
  return a.dev == b.dev && a.ino == b.ino;
}

std::string key_text(const gt_module_key &k) {
  char buf[64];
  snprintf(buf, sizeof buf, "%llx:%llx inode %llu", (unsigned long long)(k.dev >> 20),
           (unsigned long long)(k.dev & 0xfffff), (unsigned long long)k.ino);
  return buf;
}

// "gtuw_" + the file name, in the characters BPF object names allow.
std::string inner_map_name(const std::string &path) {
  std::string base = path.substr(path.rfind('/') + 1);
  std::string name = "gtuw_";
  for (char c : base) {
    if (name.size() == 15)
      break;
    name += (isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.') ? c : '_';
  }
  return name;
}

// Creates and fills the inner rows array; returns its fd or -1.
int create_rows_map(const std::string &name, const std::vector<gt_unwind_row> &rows, std::string &error) {
  LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_INNER_MAP);
  int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, inner_map_name(name).c_str(), sizeof(uint32_t),
                          sizeof(gt_unwind_row), uint32_t(rows.size()), &opts);
  if (fd < 0) {
    error = "cannot create the rows map for '" + name + "' (" + std::to_string(rows.size()) +
            " rows): " + strerror(-fd);
    return -1;
  }
  std::vector<uint32_t> keys(rows.size());
  for (uint32_t i = 0; i < keys.size(); ++i)
    keys[i] = i;
  uint32_t count = uint32_t(rows.size());
  LIBBPF_OPTS(bpf_map_batch_opts, batch_opts);
  if (bpf_map_update_batch(fd, keys.data(), rows.data(), &count, &batch_opts) == 0 && count == rows.size())
    return fd;
  // Kernels without batch updates for arrays: one element at a time.
  for (uint32_t i = 0; i < rows.size(); ++i) {
    int err = bpf_map_update_elem(fd, &keys[i], &rows[i], BPF_ANY);
    if (err) {
      error = "cannot fill the rows map for '" + name + "': " + strerror(-err);
      close(fd);
      return -1;
    }
  }
  return fd;
}

}  // namespace

UnwindMaps::UnwindMaps(int modules_fd, int rows_fd, int mode)
    : modules_fd_(modules_fd), rows_fd_(rows_fd), mode_(mode) {}

void UnwindMaps::warn_locked(std::string message) {
  warnings_.push_back(std::move(message));
}

// A module whose table cannot be loaded still gets an info (no rows), so that
// BPF stops requesting it on every stack; the error is reported once.
void UnwindMaps::fail_locked(const gt_module_key &key, const std::string &error) {
  failed_.emplace(Key{key.dev, key.ino}, error);
  gt_module_info info{};
  info.flags = mode_ == GT_UNWIND_FP ? GT_MODULE_HAS_FP : 0;
  bpf_map_update_elem(modules_fd_, &key, &info, BPF_NOEXIST);
}

bool UnwindMaps::load_locked(const std::string &open_path, const std::string &name, const gt_module_key &key,
                             std::string &error) {
  Key k{key.dev, key.ino};
  auto failed = failed_.find(k);
  if (failed != failed_.end()) {
    error = failed->second;
    return false;
  }
  if (done_.count(k))
    return true;

  auto t0 = std::chrono::steady_clock::now();
  ModuleTable table;
  bool built = build_module_table(open_path, table, error);
  stats_.build_ms += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  if (!built) {
    fail_locked(key, error);
    return false;
  }

  gt_module_info info{};
  info.rows = uint32_t(table.rows.size());
  if (mode_ == GT_UNWIND_FP || (mode_ == GT_UNWIND_AUTO && table.has_frame_pointers))
    info.flags |= GT_MODULE_HAS_FP;
  if (table.source.empty())
    warn_locked("no CFI in '" + name + "': " +
                (info.flags & GT_MODULE_HAS_FP ? "its frames are unwound with frame pointers"
                                               : "stacks stop at its frames"));
  if (!table.rows.empty()) {
    // Rules the unwinder cannot follow (vfork, >32 KiB frames, ...) are not
    // warned about here: a stack that meets one ends with GT_STOP_UNSUPPORTED.
    int inner = create_rows_map(name, table.rows, error);
    if (inner < 0) {
      fail_locked(key, error);
      return false;
    }
    int err = bpf_map_update_elem(rows_fd_, &key, &inner, BPF_ANY);
    close(inner);  // the outer map holds it now (or it is freed on failure)
    if (err) {
      error = "cannot insert the rows of '" + name + "' into gt_unwind_rows: " + strerror(-err);
      fail_locked(key, error);
      return false;
    }
  }
  // Last: BPF treats the module as loaded once its info exists.
  int err = bpf_map_update_elem(modules_fd_, &key, &info, BPF_ANY);
  if (err) {
    error = "cannot insert '" + name + "' into gt_unwind_modules: " + strerror(-err);
    failed_.emplace(k, error);  // no room for an info at all
    return false;
  }
  done_.insert(k);
  stats_.modules += 1;
  stats_.rows += table.rows.size();
  stats_.bytes += table.rows.size() * sizeof(gt_unwind_row);
  return true;
}

bool UnwindMaps::load_file(const std::string &path, std::string &error) {
  gt_module_key key;
  if (!module_key_for_path(path, key, error))
    return false;
  std::lock_guard<std::mutex> lock(mu_);
  return load_locked(path, path, key, error);
}

// The mapped file may not be at its path any more (deleted, replaced, or in
// another mount namespace): fall back to the process's own view of it.
bool UnwindMaps::load_mapping_locked(int pid, const Mapping &m, std::string &error) {
  Key k{m.key.dev, m.key.ino};
  if (done_.count(k))
    return true;
  char map_file[96];
  snprintf(map_file, sizeof map_file, "/proc/%d/map_files/%llx-%llx", pid, (unsigned long long)m.start,
           (unsigned long long)m.end);
  std::string proc = "/proc/" + std::to_string(pid);
  for (const std::string &candidate : {m.path, std::string(map_file), proc + "/root" + m.path}) {
    gt_module_key key;
    std::string ignored;
    if (module_key_for_path(candidate, key, ignored) && same_key(key, m.key))
      return load_locked(candidate, m.path, m.key, error);
  }
  error = "cannot open '" + m.path + "' (" + key_text(m.key) + ") as mapped by pid " + std::to_string(pid);
  fail_locked(m.key, error);
  return false;
}

void UnwindMaps::load_process(int pid) {
  std::vector<Mapping> maps = process_mappings(pid);
  std::lock_guard<std::mutex> lock(mu_);
  if (maps.empty()) {
    warn_locked("no executable file mappings in /proc/" + std::to_string(pid) + "/maps (has it exited?)");
    return;
  }
  for (const auto &m : maps) {
    std::string error;
    if (failed_.count({m.key.dev, m.key.ino}))
      continue;  // warned about already
    if (!load_mapping_locked(pid, m, error))
      warn_locked(error);
  }
}

void UnwindMaps::load_command(const std::string &exe) {
  std::vector<std::string> modules = command_modules(exe);
  if (modules.empty()) {
    std::lock_guard<std::mutex> lock(mu_);
    warn_locked("'" + exe + "' is not an x86_64 ELF executable: no unwind tables loaded for it");
    return;
  }
  for (const auto &path : modules) {
    std::string error;
    gt_module_key key;
    if (!module_key_for_path(path, key, error)) {
      std::lock_guard<std::mutex> lock(mu_);
      warn_locked(error);
      continue;
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (failed_.count({key.dev, key.ino}))
      continue;
    if (!load_locked(path, path, key, error))
      warn_locked(error);
  }
}

void UnwindMaps::handle_request(const gt_unwind_request &req) {
  std::lock_guard<std::mutex> lock(mu_);
  Key k{req.key.dev, req.key.ino};
  if (done_.count(k) || failed_.count(k))
    return;  // loaded meanwhile (BPF sends one request per unwind), or hopeless
  std::vector<Mapping> maps = process_mappings(int(req.pid));
  const Mapping *found = nullptr;
  for (const auto &m : maps)
    if (same_key(m.key, req.key))
      found = &m;
  if (!found)
    for (const auto &m : maps)
      if (req.pc >= m.start && req.pc < m.end)
        found = &m;
  if (!found) {
    // The process may have exited; another process mapping the file will
    // ask again. Warn once per key.
    if (request_misses_.insert(k).second)
      warn_locked("cannot load the unwind table of " + key_text(req.key) + " requested by pid " +
                  std::to_string(req.pid) + ": no such mapping (has the process exited?)");
    return;
  }
  std::string error;
  if (!load_mapping_locked(int(req.pid), *found, error)) {
    warn_locked(error);
    return;
  }
  if (!same_key(found->key, req.key) && request_misses_.insert(k).second)
    warn_locked("pid " + std::to_string(req.pid) + " no longer maps " + key_text(req.key) + "; loaded '" +
                found->path + "', mapped at the requested pc, instead");
}

UnwindMaps::Stats UnwindMaps::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

std::vector<std::string> UnwindMaps::warnings() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> out;
  out.swap(warnings_);
  return out;
}

}  // namespace gt::unwind
