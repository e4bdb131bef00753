// libgtcompiler.so: the C entry point tracerun calls (tools/compiler_api.h).
#include "tools/compiler_api.h"

#include <cstdlib>
#include <cstring>
#include <iostream>

#include "frontend/driver.h"

extern "C" __attribute__((visibility("default"))) int
gt_compile(const struct gt_compile_request *req, struct gt_compile_result *out) {
  if (!req || !out || req->api_version != GT_COMPILER_API_VERSION) {
    std::cerr << "ERROR: tracerun and libgtcompiler.so are from different builds\n";
    return 2;
  }
  gt::CompileOptions opts;
  opts.source = req->source ? req->source : "";
  opts.filename = req->filename ? req->filename : "stdin";
  for (int i = 0; i < req->nparams; i++)
    opts.params.push_back(req->params[i]);
  opts.dump_ast = req->dump_flags & GT_DUMP_AST;
  opts.dump_ir = req->dump_flags & GT_DUMP_IR;
  std::vector<char> object;
  if (!gt::compile(opts, object, std::cerr, std::cerr))
    return 1;
  out->object = malloc(object.size());
  if (!out->object)
    return 1;
  memcpy(out->object, object.data(), object.size());
  out->size = object.size();
  return 0;
}
