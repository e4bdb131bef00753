// tracec: compile a .gt script ahead of time into a BPF ELF object that
// `tracerun prog.o` runs without a compiler on the host.
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "frontend/driver.h"

static void usage(std::ostream &out) {
  out << "USAGE:\n"
         "    tracec [options] script.gt -o prog.o [ARGS...]\n"
         "    tracec [options] -e 'PROGRAM' -o prog.o [ARGS...]\n\n"
         "OPTIONS:\n"
         "    -o FILE        write the BPF object to FILE (required unless -d or --check)\n"
         "    -e PROGRAM     compile PROGRAM instead of a script file\n"
         "    -d ast|ir      print the typed AST or the optimized LLVM IR to stderr\n"
         "    --check        parse and type-check only\n"
         "    -h, --help     show this help\n"
         "    ARGS           positional parameters $1..$N, fixed at compile time\n";
}

int main(int argc, char **argv) {
  gt::CompileOptions opts;
  std::string output, script_path;
  bool have_program = false, check_only = false;
  std::vector<std::string> rest;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    auto need = [&](const char *what) -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "tracec: " << a << " needs " << what << "\n";
        exit(1);
      }
      return argv[++i];
    };
    if (a == "-h" || a == "--help") {
      usage(std::cout);
      return 0;
    } else if (a == "-o") {
      output = need("a file name");
    } else if (a == "-e") {
      opts.source = need("a program");
      opts.filename = "-e";
      have_program = true;
    } else if (a == "-d") {
      std::string what = need("ast or ir");
      if (what == "ast")
        opts.dump_ast = true;
      else if (what == "ir")
        opts.dump_ir = true;
      else {
        std::cerr << "tracec: -d takes ast or ir, not '" << what << "'\n";
        return 1;
      }
    } else if (a == "--check") {
      check_only = true;
    } else if (a.size() > 1 && a[0] == '-' && rest.empty() && !(have_program || !script_path.empty())) {
      std::cerr << "tracec: unknown option '" << a << "'\n";
      usage(std::cerr);
      return 1;
    } else if (!have_program && script_path.empty()) {
      script_path = a;
    } else {
      rest.push_back(a);
    }
  }
  if (!have_program) {
    if (script_path.empty()) {
      usage(std::cerr);
      return 1;
    }
    std::ifstream in(script_path);
    if (!in) {
      std::cerr << "tracec: cannot read '" << script_path << "': " << strerror(errno) << "\n";
      return 1;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    opts.source = ss.str();
    opts.filename = script_path;
  }
  opts.params = rest;
  if (output.empty() && !check_only && !opts.dump_ast && !opts.dump_ir) {
    std::cerr << "tracec: no output file (-o FILE)\n";
    return 1;
  }
  std::vector<char> object;
  if (!gt::compile(opts, object, std::cerr, std::cerr))
    return 1;
  if (!output.empty() && !check_only) {
    std::ofstream out(output, std::ios::binary | std::ios::trunc);
    if (!out.write(object.data(), static_cast<std::streamsize>(object.size()))) {
      std::cerr << "tracec: cannot write '" << output << "': " << strerror(errno) << "\n";
      return 1;
    }
  }
  return 0;
}
