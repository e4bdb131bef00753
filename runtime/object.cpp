#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <map>
#include <memory>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/internal.h"
#include "runtime/runtime.h"

namespace gt::rt {

namespace internal {

const gt::elf::ElfFile *elf_file(const std::string &path, std::string &error) {
  static std::map<std::string, std::unique_ptr<gt::elf::ElfFile>> cache;
  static std::map<std::string, std::string> errors;
  auto it = cache.find(path);
  if (it != cache.end())
    return it->second.get();
  auto e = errors.find(path);
  if (e != errors.end()) {
    error = e->second;
    return nullptr;
  }
  auto f = gt::elf::ElfFile::open(path, error);
  if (!f) {
    errors[path] = error;
    return nullptr;
  }
  return (cache[path] = std::move(f)).get();
}

}  // namespace internal

std::string read_meta_section(const void *data, size_t size, const std::string &name) {
  if (elf_version(EV_CURRENT) == EV_NONE)
    throw Error("libelf initialization failed");
  if (size < 4 || memcmp(data, ELFMAG, SELFMAG) != 0)
    throw Error("'" + name + "' is not an ELF file");
  Elf *e = elf_memory(static_cast<char *>(const_cast<void *>(data)), size);
  if (!e)
    throw Error("'" + name + "': " + elf_errmsg(-1));
  std::unique_ptr<Elf, int (*)(Elf *)> guard(e, elf_end);
  size_t shstrndx;
  if (elf_getshdrstrndx(e, &shstrndx) != 0)
    throw Error("'" + name + "' is not a valid ELF object: " + elf_errmsg(-1));
  for (Elf_Scn *scn = nullptr; (scn = elf_nextscn(e, scn));) {
    GElf_Shdr sh;
    if (!gelf_getshdr(scn, &sh))
      continue;
    const char *sname = elf_strptr(e, shstrndx, sh.sh_name);
    if (!sname || strcmp(sname, meta::kSectionName) != 0)
      continue;
    if (sh.sh_type == SHT_NOBITS || sh.sh_offset + sh.sh_size > size)
      throw Error("'" + name + "': section " + meta::kSectionName + " is truncated");
    const char *p = static_cast<const char *>(data) + sh.sh_offset;
    size_t n = sh.sh_size;
    while (n > 0 && p[n - 1] == '\0')  // tolerate NUL padding
      n--;
    return std::string(p, n);
  }
  throw Error("'" + name + "' has no " + meta::kSectionName +
              " section: it is not a program compiled by tracec");
}

std::unique_ptr<Object> Object::open_file(const std::string &path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    throw Error("cannot open '" + path + "': " + strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    throw Error("'" + path + "' is not a regular file");
  }
  if (st.st_size == 0) {
    close(fd);
    throw Error("'" + path + "' is empty");
  }
  // Private writable mapping: libelf may want to write; pages are only
  // copied if it does.
  void *p = mmap(nullptr, st.st_size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  int err = errno;
  close(fd);
  if (p == MAP_FAILED)
    throw Error("cannot map '" + path + "': " + strerror(err));
  std::unique_ptr<Object> o(new Object());
  o->name_ = path;
  o->data_ = p;
  o->size_ = st.st_size;
  o->mmapped_ = true;
  o->init();
  return o;
}

std::unique_ptr<Object> Object::open_memory(void *data, size_t size, const std::string &name) {
  std::unique_ptr<Object> o(new Object());
  o->name_ = name;
  o->data_ = data;
  o->size_ = size;
  o->init();
  return o;
}

Object::~Object() {
  if (mmapped_)
    munmap(data_, size_);
  else
    free(data_);
}

void Object::init() {
  std::string json = read_meta_section(data_, size_, name_);
  try {
    program_ = meta::deserialize(json);
  } catch (const std::exception &e) {
    throw Error("'" + name_ + "': " + e.what());
  }
  for (const auto &b : program_.binaries) {
    std::string err;
    const gt::elf::ElfFile *f = internal::elf_file(b.path, err);
    if (!f)
      throw Error("cannot check the build-id of " + b.path + " (the program was compiled against it): " + err);
    if (!b.build_id.empty() && f->build_id() != b.build_id)
      throw Error(b.path + " has changed since the program was compiled: its build-id is " +
                  (f->build_id().empty() ? std::string("none") : f->build_id()) +
                  ", the program was compiled against build-id " + b.build_id +
                  "; recompile the script");
  }
}

}  // namespace gt::rt
