// The C entry point of libgtcompiler.so. tracerun dlopen()s the library only
// when it is given a script, so running an AOT object never maps LLVM.
#pragma once

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GT_COMPILER_API_VERSION 1

enum gt_dump_flags {
  GT_DUMP_AST = 1 << 0,  // print the AST to stderr
  GT_DUMP_IR = 1 << 1,   // print the LLVM IR to stderr
};

struct gt_compile_request {
  int api_version;           // GT_COMPILER_API_VERSION
  const char *source;        // script text, NUL-terminated
  const char *filename;      // for diagnostics: "script.gt", or "-e" / "stdin"
  const char *const *params; // positional parameters $1..$N
  int nparams;
  unsigned dump_flags;       // gt_dump_flags
};

struct gt_compile_result {
  void *object;  // BPF ELF object, malloc()ed; caller frees
  size_t size;
};

// Returns 0 on success. On failure diagnostics have been printed to stderr
// (file:line:col, the source line and a caret) and a non-zero value returned.
int gt_compile(const struct gt_compile_request *req, struct gt_compile_result *out);

typedef int (*gt_compile_fn)(const struct gt_compile_request *, struct gt_compile_result *);

#ifdef __cplusplus
}
#endif
