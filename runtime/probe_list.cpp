#include "runtime/probe_list.h"

#include <algorithm>
#include <dirent.h>
#include <fnmatch.h>
#include <set>
#include <sstream>

#include "runtime/elf_file.h"
#include "runtime/tracefs.h"

namespace gt::rt {

namespace {

const char *kSoftware[] = {"alignment-faults", "bpf-output",   "context-switches", "cpu-clock",
                           "cpu-migrations",   "dummy",        "emulation-faults", "major-faults",
                           "minor-faults",     "page-faults",  "task-clock"};

bool glob(const std::string &pattern, const std::string &s) {
  return fnmatch(pattern.c_str(), s.c_str(), 0) == 0;
}

std::vector<std::string> split(const std::string &s, char c) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t p = s.find(c, start);
    parts.push_back(s.substr(start, p == std::string::npos ? std::string::npos : p - start));
    if (p == std::string::npos)
      return parts;
    start = p + 1;
  }
}

std::vector<std::string> dir_entries(const std::string &path) {
  std::vector<std::string> names;
  if (DIR *d = opendir(path.c_str())) {
    while (struct dirent *e = readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != ".." && e->d_type == DT_DIR)
        names.push_back(n);
    }
    closedir(d);
  }
  std::sort(names.begin(), names.end());
  return names;
}

void list_tracepoints(const std::string &cat_glob, const std::string &name_glob,
                      const std::string &full_glob, bool verbose, std::vector<std::string> &out,
                      std::string &error) {
  std::string root = gt::tracefs::root(error);
  if (root.empty())
    return;
  for (const std::string &cat : dir_entries(root + "/events")) {
    // ftrace's own events are not tracepoints (bpftrace, reading
    // available_events, does not list them either).
    if (cat == "ftrace" || !glob(cat_glob, cat))
      continue;
    for (const std::string &ev : dir_entries(root + "/events/" + cat)) {
      std::string full = "tracepoint:" + cat + ":" + ev;
      if (!glob(name_glob, ev) || (!full_glob.empty() && !glob(full_glob, full)))
        continue;
      out.push_back(full);
      if (verbose) {
        std::string err;
        std::string text = gt::tracefs::read_event_format(cat, ev, err);
        for (const std::string &f : tracepoint_fields(text))
          out.push_back("    " + f);
      }
    }
  }
}

bool list_uprobes(const std::string &type, const std::vector<std::string> &parts,
                  std::vector<std::string> &out, std::string &error) {
  std::string path = gt::elf::resolve_binary(parts[1]);
  if (path.empty()) {
    error = "binary '" + parts[1] + "' not found";
    return false;
  }
  auto elf = gt::elf::ElfFile::open(path, error);
  if (!elf)
    return false;
  std::string g = parts.size() > 2 ? parts[2] : "*";
  for (const auto &s : elf->functions())
    if (glob(g, s.name))
      out.push_back(type + ":" + path + ":" + s.name);
  return true;
}

bool list_usdt(const std::vector<std::string> &parts, std::vector<std::string> &out,
               std::string &error) {
  std::string path = gt::elf::resolve_binary(parts[1]);
  if (path.empty()) {
    error = "binary '" + parts[1] + "' not found";
    return false;
  }
  auto elf = gt::elf::ElfFile::open(path, error);
  if (!elf)
    return false;
  // usdt:BIN:*  (any provider, any name), usdt:BIN:NAME (any provider),
  // usdt:BIN:PROVIDER:NAME.
  std::string prov = "*", name = "*";
  if (parts.size() == 3)
    name = parts[2];
  else if (parts.size() >= 4) {
    prov = parts[2];
    name = parts[3];
  }
  // Sorted, one line per probe (a probe may have several sites), as bpftrace.
  std::set<std::string> lines;
  for (const auto &n : elf->usdt_notes())
    if (glob(prov, n.provider) && glob(name, n.name))
      lines.insert("usdt:" + path + ":" + n.provider + ":" + n.name);
  out.insert(out.end(), lines.begin(), lines.end());
  return true;
}

}  // namespace

std::vector<std::string> tracepoint_fields(const std::string &text) {
  std::vector<std::string> fields;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    size_t f = line.find("field:");
    if (f == std::string::npos)
      continue;
    size_t semi = line.find(';', f);
    if (semi == std::string::npos)
      continue;
    std::string decl = line.substr(f + 6, semi - f - 6);
    // The name is the last word (before any [N]).
    std::string base = decl.substr(0, decl.find('['));
    size_t sp = base.find_last_of(" *");
    std::string name = sp == std::string::npos ? base : base.substr(sp + 1);
    if (name.rfind("common_", 0) == 0)
      continue;
    fields.push_back(decl);
  }
  return fields;
}

bool list_probes(const std::string &pattern, bool verbose, std::vector<std::string> &out,
                 std::string &error) {
  std::vector<std::string> parts = split(pattern, ':');
  const std::string &type = parts[0];
  if (!pattern.empty() && parts.size() >= 2) {
    if (type == "uprobe" || type == "uretprobe")
      return list_uprobes(type, parts, out, error);
    if (type == "usdt")
      return list_usdt(parts, out, error);
    if (type == "tracepoint" || type == "t") {
      list_tracepoints(parts[1].empty() ? "*" : parts[1],
                       parts.size() > 2 && !parts[2].empty() ? parts[2] : "*", "", verbose, out,
                       error);
      return error.empty() || !out.empty();
    }
    if (type == "software" || type == "s") {
      for (const char *s : kSoftware)
        if (glob(parts[1].empty() ? "*" : parts[1], s))
          out.push_back(std::string("software:") + s + ":");
      return true;
    }
  }
  // No type: everything whose full name matches.
  std::string g = pattern.empty() ? "*" : pattern;
  if (g.find_first_of("*?[") == std::string::npos)
    g = "*" + g + "*";
  list_tracepoints("*", "*", g, verbose, out, error);
  for (const char *s : kSoftware) {
    std::string full = std::string("software:") + s + ":";
    if (glob(g, full))
      out.push_back(full);
  }
  error.clear();
  return true;
}

}  // namespace gt::rt
