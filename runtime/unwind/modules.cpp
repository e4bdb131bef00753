// Module discovery: module keys, /proc/PID/maps, and the libraries a command
// will load (see unwind_tables.h).
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <set>
#include <sstream>

#include "runtime/unwind/unwind_tables.h"

namespace gt::unwind {
namespace {

std::string read_text(const std::string &path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// One /proc/PID/maps line; false for lines that are not file mappings.
bool parse_line(const std::string &line, Mapping &m, std::string &perms) {
  const char *p = line.c_str();
  char *end;
  m.start = strtoull(p, &end, 16);
  if (*end != '-')
    return false;
  m.end = strtoull(end + 1, &end, 16);
  if (*end != ' ')
    return false;
  p = end + 1;
  const char *sp = strchr(p, ' ');
  if (!sp)
    return false;
  perms.assign(p, sp);
  m.offset = strtoull(sp + 1, &end, 16);
  if (*end != ' ')
    return false;
  uint64_t major = strtoull(end + 1, &end, 16);
  if (*end != ':')
    return false;
  uint64_t minor = strtoull(end + 1, &end, 16);
  if (*end != ' ')
    return false;
  m.key.dev = (major << 20) | minor;
  m.key.ino = strtoull(end + 1, &end, 10);
  while (*end == ' ')
    ++end;
  m.path = end;
  static const std::string deleted = " (deleted)";
  if (m.path.size() > deleted.size() && m.path.compare(m.path.size() - deleted.size(), deleted.size(), deleted) == 0)
    m.path.resize(m.path.size() - deleted.size());
  return true;
}

std::string dirname_of(const std::string &path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos)
    return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string real_path(const std::string &path) {
  char buf[PATH_MAX];
  return realpath(path.c_str(), buf) ? std::string(buf) : path;
}

std::vector<std::string> split_path_list(const std::string &list, const std::string &origin) {
  std::vector<std::string> dirs;
  size_t pos = 0;
  while (pos <= list.size()) {
    size_t colon = list.find(':', pos);
    std::string dir = list.substr(pos, colon == std::string::npos ? std::string::npos : colon - pos);
    for (const char *token : {"${ORIGIN}", "$ORIGIN"}) {
      size_t at;
      while ((at = dir.find(token)) != std::string::npos)
        dir.replace(at, strlen(token), origin);
    }
    // $LIB and $PLATFORM depend on ld.so's configuration: not expanded.
    if (!dir.empty() && dir.find('$') == std::string::npos)
      dirs.push_back(dir);
    if (colon == std::string::npos)
      break;
    pos = colon + 1;
  }
  return dirs;
}

// What command_modules needs from one ELF file.
struct DynamicInfo {
  std::string interp;
  std::vector<std::string> needed;
  std::string rpath, runpath;
};

bool read_dynamic(const std::string &path, DynamicInfo &info) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return false;
  elf_version(EV_CURRENT);
  Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, nullptr);
  GElf_Ehdr ehdr;
  bool ok = elf && elf_kind(elf) == ELF_K_ELF && gelf_getehdr(elf, &ehdr) &&
            ehdr.e_ident[EI_CLASS] == ELFCLASS64 && ehdr.e_machine == EM_X86_64 &&
            (ehdr.e_type == ET_EXEC || ehdr.e_type == ET_DYN);
  if (ok) {
    size_t phnum = 0, size = 0;
    elf_getphdrnum(elf, &phnum);
    const char *raw = elf_rawfile(elf, &size);
    for (size_t i = 0; i < phnum; ++i) {
      GElf_Phdr ph;
      if (gelf_getphdr(elf, int(i), &ph) && ph.p_type == PT_INTERP && raw && ph.p_offset < size &&
          ph.p_filesz <= size - ph.p_offset)
        info.interp.assign(raw + ph.p_offset, strnlen(raw + ph.p_offset, ph.p_filesz));
    }
    for (Elf_Scn *scn = elf_nextscn(elf, nullptr); scn; scn = elf_nextscn(elf, scn)) {
      GElf_Shdr shdr;
      if (!gelf_getshdr(scn, &shdr) || shdr.sh_type != SHT_DYNAMIC)
        continue;
      Elf_Data *data = elf_getdata(scn, nullptr);
      size_t count = shdr.sh_entsize ? shdr.sh_size / shdr.sh_entsize : 0;
      for (size_t i = 0; data && i < count; ++i) {
        GElf_Dyn dyn;
        if (!gelf_getdyn(data, int(i), &dyn) || dyn.d_tag == DT_NULL)
          break;
        if (dyn.d_tag != DT_NEEDED && dyn.d_tag != DT_RPATH && dyn.d_tag != DT_RUNPATH)
          continue;
        const char *s = elf_strptr(elf, shdr.sh_link, dyn.d_un.d_val);
        if (!s)
          continue;
        if (dyn.d_tag == DT_NEEDED)
          info.needed.push_back(s);
        else if (dyn.d_tag == DT_RPATH)
          info.rpath = s;
        else
          info.runpath = s;
      }
    }
  }
  if (elf)
    elf_end(elf);
  close(fd);
  return ok;
}

// A library ld.so could load for this process: an x86_64 ELF64 file.
bool usable_library(const std::string &path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return false;
  unsigned char hdr[20];
  bool ok = read(fd, hdr, sizeof hdr) == ssize_t(sizeof hdr) && memcmp(hdr, ELFMAG, SELFMAG) == 0 &&
            hdr[EI_CLASS] == ELFCLASS64 && hdr[EI_DATA] == ELFDATA2LSB && (hdr[18] | hdr[19] << 8) == EM_X86_64;
  close(fd);
  return ok;
}

}  // namespace

uint64_t kernel_dev(uint64_t st_dev) {
  return (uint64_t(major(st_dev)) << 20) | minor(st_dev);
}

bool module_key_for_path(const std::string &path, gt_module_key &key, std::string &error) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    error = "'" + path + "': " + strerror(errno);
    return false;
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    error = "'" + path + "': " + strerror(errno);
    close(fd);
    return false;
  }
  key.dev = kernel_dev(st.st_dev);
  key.ino = st.st_ino;
  if (S_ISREG(st.st_mode) && st.st_size > 0) {
    void *addr = mmap(nullptr, 1, PROT_READ, MAP_PRIVATE, fd, 0);
    if (addr != MAP_FAILED) {
      std::istringstream maps(read_text("/proc/self/maps"));
      std::string line, perms;
      Mapping m;
      while (std::getline(maps, line)) {
        if (parse_line(line, m, perms) && m.start == reinterpret_cast<uint64_t>(addr)) {
          key = m.key;
          break;
        }
      }
      munmap(addr, 1);
    }
  }
  close(fd);
  return true;
}

std::vector<Mapping> parse_mappings(const std::string &maps_text) {
  std::vector<Mapping> out;
  std::istringstream in(maps_text);
  std::string line, perms;
  while (std::getline(in, line)) {
    Mapping m;
    if (!parse_line(line, m, perms))
      continue;
    if (perms.size() < 3 || perms[2] != 'x' || m.key.ino == 0 || m.path.empty() || m.path[0] != '/')
      continue;
    out.push_back(std::move(m));
  }
  return out;
}

std::vector<Mapping> process_mappings(int pid) {
  return parse_mappings(read_text("/proc/" + std::to_string(pid) + "/maps"));
}

std::vector<std::string> command_modules(const std::string &exe) {
  std::vector<std::string> out;
  DynamicInfo exe_info;
  if (!read_dynamic(exe, exe_info))
    return out;
  std::set<std::string> seen;  // real paths
  auto add = [&](const std::string &path) {
    if (!seen.insert(real_path(path)).second)
      return false;
    out.push_back(path);
    return true;
  };
  add(exe);
  if (!exe_info.interp.empty() && usable_library(exe_info.interp))
    add(exe_info.interp);

  const char *ld_library_path = getenv("LD_LIBRARY_PATH");
  static const char *const kDefaultDirs[] = {"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64",
                                             "/usr/lib", "/lib"};
  std::set<std::string> needed_seen;  // sonames already resolved (ld.so loads a soname once)
  std::deque<std::pair<std::string, DynamicInfo>> queue;
  queue.emplace_back(exe, exe_info);
  while (!queue.empty()) {
    auto [path, info] = std::move(queue.front());
    queue.pop_front();
    std::string origin = dirname_of(real_path(path));
    std::vector<std::string> dirs;
    if (info.runpath.empty()) {
      for (const auto &d : split_path_list(info.rpath, origin))
        dirs.push_back(d);
      if (path != exe && exe_info.runpath.empty())
        for (const auto &d : split_path_list(exe_info.rpath, dirname_of(real_path(exe))))
          dirs.push_back(d);
    }
    if (ld_library_path)
      for (const auto &d : split_path_list(ld_library_path, origin))
        dirs.push_back(d);
    for (const auto &d : split_path_list(info.runpath, origin))
      dirs.push_back(d);
    for (const char *d : kDefaultDirs)
      dirs.push_back(d);

    for (const auto &name : info.needed) {
      std::string found;
      if (name.find('/') != std::string::npos) {
        if (usable_library(name))
          found = name;
      } else {
        if (!needed_seen.insert(name).second)
          continue;
        for (const auto &d : dirs) {
          std::string candidate = d + "/" + name;
          if (usable_library(candidate)) {
            found = candidate;
            break;
          }
        }
      }
      DynamicInfo lib;
      if (found.empty() || !add(found) || !read_dynamic(found, lib))
        continue;
      queue.emplace_back(found, std::move(lib));
    }
  }
  return out;
}

}  // namespace gt::unwind
