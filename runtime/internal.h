// Helpers shared by the runtime's own files; not part of its API.
#pragma once

#include <string>

#include "runtime/elf_file.h"

namespace gt::rt::internal {

// ElfFile::open() once per path for the whole process (build-id checks and
// uprobe offsets use the same files). Returns nullptr with `error` set.
const gt::elf::ElfFile *elf_file(const std::string &path, std::string &error);

}  // namespace gt::rt::internal
