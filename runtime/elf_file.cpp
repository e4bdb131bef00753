#include "runtime/elf_file.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <climits>
#include <cstdlib>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <sys/stat.h>
#include <unistd.h>

namespace gt::elf {

namespace {

struct FdCloser {
  int fd;
  ~FdCloser() {
    if (fd >= 0)
      close(fd);
  }
};

struct ElfCloser {
  Elf *e;
  ~ElfCloser() {
    if (e)
      elf_end(e);
  }
};

std::string hex(const unsigned char *p, size_t n) {
  static const char digits[] = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; i++) {
    s += digits[p[i] >> 4];
    s += digits[p[i] & 15];
  }
  return s;
}

}  // namespace

ElfFile::~ElfFile() = default;

std::unique_ptr<ElfFile> ElfFile::open(const std::string &path, std::string &error) {
  if (elf_version(EV_CURRENT) == EV_NONE) {
    error = "libelf initialization failed";
    return nullptr;
  }
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    error = "'" + path + "': " + strerror(errno);
    return nullptr;
  }
  FdCloser fc{fd};
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    error = "'" + path + "' is not a regular file";
    return nullptr;
  }
  Elf *e = elf_begin(fd, ELF_C_READ_MMAP, nullptr);
  ElfCloser ec{e};
  if (!e || elf_kind(e) != ELF_K_ELF) {
    error = "'" + path + "' is not an ELF file";
    return nullptr;
  }
  GElf_Ehdr ehdr;
  if (!gelf_getehdr(e, &ehdr)) {
    error = "'" + path + "' has no readable ELF header";
    return nullptr;
  }
  std::unique_ptr<ElfFile> f(new ElfFile());
  f->path_ = path;
  f->exec_or_dyn_ = ehdr.e_type == ET_EXEC || ehdr.e_type == ET_DYN;

  size_t nphdr = 0;
  elf_getphdrnum(e, &nphdr);
  for (size_t i = 0; i < nphdr; i++) {
    GElf_Phdr ph;
    if (!gelf_getphdr(e, i, &ph))
      continue;
    if (ph.p_type == PT_LOAD)
      f->segments_.push_back({ph.p_vaddr, ph.p_memsz, ph.p_offset, ph.p_filesz});
  }

  size_t shstrndx = 0;
  elf_getshdrstrndx(e, &shstrndx);
  bool is64 = gelf_getclass(e) == ELFCLASS64;
  struct RawUsdt {
    UsdtNote note;
    uint64_t base;
  };
  std::vector<RawUsdt> usdt;
  uint64_t stapsdt_base = 0;
  bool have_stapsdt_base = false;

  Elf_Scn *scn = nullptr;
  std::vector<Symbol> syms;
  // .symtab before .dynsym: the first definition of a name wins below.
  for (int pass = 0; pass < 2; pass++) {
    scn = nullptr;
    while ((scn = elf_nextscn(e, scn)) != nullptr) {
      GElf_Shdr sh;
      if (!gelf_getshdr(scn, &sh))
        continue;
      if (pass == 0 && sh.sh_type == SHT_NOTE) {
        Elf_Data *data = elf_getdata(scn, nullptr);
        size_t off = 0, name_off, desc_off;
        GElf_Nhdr nh;
        while (data && (off = gelf_getnote(data, off, &nh, &name_off, &desc_off)) > 0) {
          const char *base = static_cast<const char *>(data->d_buf);
          if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
              memcmp(base + name_off, "GNU", 4) == 0)
            f->build_id_ = hex(reinterpret_cast<const unsigned char *>(base) + desc_off, nh.n_descsz);
          // SystemTap SDT v3: desc = pc, base, semaphore (address-sized),
          // then "provider\0name\0args\0".
          if (nh.n_type == 3 && nh.n_namesz == 8 && memcmp(base + name_off, "stapsdt", 8) == 0) {
            size_t asz = is64 ? 8 : 4;
            if (nh.n_descsz < 3 * asz)
              continue;
            const char *d = base + desc_off;
            auto addr = [&](size_t i) {
              uint64_t v = 0;
              if (is64) {
                memcpy(&v, d + i * 8, 8);
              } else {
                uint32_t w;
                memcpy(&w, d + i * 4, 4);
                v = w;
              }
              return v;
            };
            RawUsdt r;
            r.note.address = addr(0);
            r.base = addr(1);
            r.note.semaphore = addr(2);
            const char *str = d + 3 * asz, *end = d + nh.n_descsz;
            std::string parts[3];
            for (int k = 0; k < 3 && str < end; k++) {
              const char *z = static_cast<const char *>(memchr(str, 0, size_t(end - str)));
              size_t len = z ? size_t(z - str) : size_t(end - str);
              parts[k].assign(str, len);
              str += len + 1;
            }
            r.note.provider = parts[0];
            r.note.name = parts[1];
            r.note.args = parts[2];
            usdt.push_back(std::move(r));
          }
        }
      }
      if (pass == 0 && shstrndx) {
        const char *sname = elf_strptr(e, shstrndx, sh.sh_name);
        if (sname && strcmp(sname, ".stapsdt.base") == 0) {
          stapsdt_base = sh.sh_addr;
          have_stapsdt_base = true;
        }
      }
      if ((pass == 0 && sh.sh_type != SHT_SYMTAB) || (pass == 1 && sh.sh_type != SHT_DYNSYM))
        continue;
      if (pass == 0)
        f->has_symtab_ = true;
      Elf_Data *data = elf_getdata(scn, nullptr);
      if (!data || sh.sh_entsize == 0)
        continue;
      size_t n = sh.sh_size / sh.sh_entsize;
      for (size_t i = 0; i < n; i++) {
        GElf_Sym sym;
        if (!gelf_getsym(data, i, &sym) || sym.st_shndx == SHN_UNDEF)
          continue;
        int type = GELF_ST_TYPE(sym.st_info);
        if (type != STT_FUNC && type != STT_OBJECT && type != STT_GNU_IFUNC)
          continue;
        const char *name = elf_strptr(e, sh.sh_link, sym.st_name);
        if (!name || !*name)
          continue;
        std::string s = name;
        // Versioned dynamic names ("memcpy@@GLIBC_2.14") are looked up without the version.
        if (auto at = s.find('@'); at != std::string::npos)
          s.resize(at);
        syms.push_back({s, sym.st_value, sym.st_size, type != STT_OBJECT});
      }
    }
  }
  std::stable_sort(syms.begin(), syms.end(),
                   [](const Symbol &a, const Symbol &b) { return a.name < b.name; });
  syms.erase(std::unique(syms.begin(), syms.end(),
                         [](const Symbol &a, const Symbol &b) { return a.name == b.name; }),
             syms.end());
  f->symbols_ = std::move(syms);
  // Prelinking moves .stapsdt.base; the notes keep the link-time address:
  // shift pc and semaphore by the difference.
  for (auto &r : usdt) {
    if (have_stapsdt_base && r.base) {
      uint64_t delta = stapsdt_base - r.base;
      r.note.address += delta;
      if (r.note.semaphore)
        r.note.semaphore += delta;
    }
    f->usdt_.push_back(std::move(r.note));
  }
  return f;
}

std::optional<Symbol> ElfFile::find_symbol(const std::string &name) const {
  auto it = std::lower_bound(symbols_.begin(), symbols_.end(), name,
                             [](const Symbol &s, const std::string &n) { return s.name < n; });
  if (it == symbols_.end() || it->name != name)
    return std::nullopt;
  return *it;
}

std::vector<Symbol> ElfFile::functions() const {
  std::vector<Symbol> out;
  for (const auto &s : symbols_)
    if (s.is_function)
      out.push_back(s);
  return out;
}

std::optional<uint64_t> ElfFile::address_to_offset(uint64_t address) const {
  for (const auto &seg : segments_)
    if (address >= seg.vaddr && address < seg.vaddr + seg.memsz)
      return address - seg.vaddr + seg.offset;
  return std::nullopt;
}

std::optional<uint64_t> ElfFile::offset_to_address(uint64_t offset) const {
  for (const auto &seg : segments_)
    if (offset >= seg.offset && offset < seg.offset + seg.filesz)
      return offset - seg.offset + seg.vaddr;
  return std::nullopt;
}

static bool is_file(const std::string &p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

static std::string absolute(const std::string &p) {
  char buf[PATH_MAX];
  if (realpath(p.c_str(), buf))
    return buf;
  if (!p.empty() && p[0] == '/')
    return p;
  if (getcwd(buf, sizeof buf))
    return std::string(buf) + "/" + p;
  return p;
}

std::string resolve_binary(const std::string &name) {
  if (name.find('/') != std::string::npos)
    return absolute(name);
  if (const char *path = getenv("PATH")) {
    std::string dirs = path;
    size_t start = 0;
    while (start <= dirs.size()) {
      size_t end = dirs.find(':', start);
      if (end == std::string::npos)
        end = dirs.size();
      std::string cand = dirs.substr(start, end - start) + "/" + name;
      if (end > start && is_file(cand) && access(cand.c_str(), X_OK) == 0)
        return absolute(cand);
      start = end + 1;
    }
  }
  static const char *libdirs[] = {"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64",
                                  "/usr/lib64", "/lib", "/usr/lib", "/usr/local/lib"};
  std::vector<std::string> names = {name};
  if (name.find(".so") == std::string::npos) {
    std::string base = name.rfind("lib", 0) == 0 ? name : "lib" + name;
    names = {base + ".so.6", base + ".so.1", base + ".so.0", base + ".so"};
  }
  for (const char *dir : libdirs)
    for (const auto &n : names)
      if (is_file(std::string(dir) + "/" + n))
        return absolute(std::string(dir) + "/" + n);
  return "";
}

}  // namespace gt::elf
