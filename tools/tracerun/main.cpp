// tracerun: run a .gt script (compiled in-process by libgtcompiler.so) or a
// BPF object made by tracec. See docs/cli.md.
#include <cerrno>
#include <climits>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <fcntl.h>
#include <fstream>
#include <getopt.h>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>
#include <wordexp.h>

#include "runtime/probe_list.h"
#include "runtime/runtime.h"
#include "tools/compiler_api.h"

#ifndef GT_VERSION
#define GT_VERSION "0.1.0"
#endif

namespace {

const char *kUsage =
    "USAGE:\n"
    "    tracerun [options] FILE [ARGS...]\n"
    "    tracerun [options] -e 'PROGRAM' [ARGS...]\n"
    "    tracerun -l [PATTERN]    (-lv: with tracepoint fields)\n"
    "\n"
    "FILE is a .gt script (compiled in-process), a BPF object made by tracec\n"
    "(recognized by its ELF header), or - to read a script from stdin.\n"
    "ARGS are the script's positional parameters $1..$N.\n"
    "\n"
    "OPTIONS:\n"
    "    -e PROGRAM     run this program\n"
    "    -l [PATTERN]   list probes: uprobe:BIN:GLOB, usdt:BIN[:PROV:NAME], tracepoint:CAT:NAME,\n"
    "                   software:GLOB, or any glob on the full names\n"
    "    -v             with -l: also print each tracepoint's fields\n"
    "    -c 'CMD'       run CMD, trace it (target pid = its pid), stop when it exits\n"
    "    -p PID         trace only process PID (uprobes attach for it), stop when it exits\n"
    "    -o FILE        write the output to FILE\n"
    "    -q             quiet: no 'Attaching N probes...' line\n"
    "    -f FORMAT      output format: text (default) or json (one JSON object a line)\n"
    "    --unsafe       allow system() to run commands\n"
    "    --unwind=MODE  user stacks (ustack): auto (frame pointers where a module keeps\n"
    "                   them, else DWARF CFI; the default), fp, or dwarf; the\n"
    "                   environment variable TRACERUN_UNWIND sets the default\n"
    "    --stack-lines  user stack frames also show their source file:line and the\n"
    "                   functions inlined there (needs DWARF, or a debug package)\n"
    "    -d WHAT        debug output to stderr: ast, ir (scripts only), verifier\n"
    "    --dry-run      compile and load through the verifier, attach nothing\n"
    "    -h, --help     show this help\n"
    "    -V, --version  show the version\n"
    "\n"
    "EXAMPLES:\n"
    "    tracerun -e 'uprobe:./server:handle { @n = count(); }' -c ./server\n"
    "    tracec script.gt -o prog.o && tracerun prog.o -p 1234\n";

[[noreturn]] void fail(const std::string &msg) {
  fflush(stdout);
  fprintf(stderr, "ERROR: %s\n", msg.c_str());
  exit(1);
}

[[noreturn]] void usage_error(const std::string &msg) {
  fprintf(stderr, "ERROR: %s\n%s", msg.c_str(), kUsage);
  exit(1);
}

std::string self_dir() {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0)
    return ".";
  buf[n] = 0;
  std::string s = buf;
  size_t slash = s.rfind('/');
  return slash == std::string::npos ? "." : s.substr(0, slash);
}

gt_compile_fn load_compiler() {
  std::string dir = self_dir();
  std::string errors;
  for (const std::string &path : {dir + "/libgtcompiler.so", dir + "/../lib/libgtcompiler.so"}) {
    if (access(path.c_str(), F_OK) != 0)
      continue;
    void *h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!h) {
      errors += std::string("; ") + dlerror();
      continue;
    }
    auto fn = reinterpret_cast<gt_compile_fn>(dlsym(h, "gt_compile"));
    if (!fn)
      fail("'" + path + "' has no gt_compile entry point");
    return fn;
  }
  fail("cannot load the compiler (libgtcompiler.so, looked in " + dir + " and " + dir +
       "/../lib)" + errors + "; to run without a compiler, compile with tracec and run the object");
}

bool read_all(std::istream &in, std::string &out) {
  std::stringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return !in.bad();
}

// Is this file an ELF object? Reads only the first 4 bytes.
bool is_elf(const std::string &path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    fail("cannot open '" + path + "': " + strerror(errno));
  char magic[4] = {};
  ssize_t n = read(fd, magic, 4);
  close(fd);
  return n == 4 && memcmp(magic, "\177ELF", 4) == 0;
}

// --unwind / TRACERUN_UNWIND: a gt_unwind_mode.
uint32_t parse_unwind_mode(const char *text, const char *what) {
  if (!strcmp(text, "auto"))
    return 0;
  if (!strcmp(text, "fp"))
    return 1;
  if (!strcmp(text, "dwarf"))
    return 2;
  fail(std::string(what) + " takes auto, fp or dwarf, not '" + text + "'");
}

bool find_in_path(const std::string &name, std::string &found) {
  if (name.find('/') != std::string::npos) {
    found = name;
    return access(name.c_str(), X_OK) == 0;
  }
  const char *path = getenv("PATH");
  std::string p = path ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t pos = 0;
  while (true) {
    size_t colon = p.find(':', pos);
    std::string dir = p.substr(pos, colon == std::string::npos ? std::string::npos : colon - pos);
    if (dir.empty())
      dir = ".";
    std::string full = dir + "/" + name;
    struct stat st;
    if (stat(full.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(full.c_str(), X_OK) == 0) {
      found = full;
      return true;
    }
    if (colon == std::string::npos)
      return false;
    pos = colon + 1;
  }
}

// The -c child: forked before attaching, waits on a pipe until the probes
// are attached, then execs the command.
struct Child {
  pid_t pid = 0;
  int go_fd = -1;
  std::string path;  // the executable, as found in PATH  // write end; one byte means "exec now", EOF means "give up"

  void start(const std::string &cmd) {
    wordexp_t we;
    int r = wordexp(cmd.c_str(), &we, WRDE_NOCMD | WRDE_SHOWERR);
    if (r != 0 || we.we_wordc == 0) {
      if (r == 0)
        wordfree(&we);
      fail("cannot parse the command '" + cmd + "'");
    }
    std::string prog = we.we_wordv[0];
    if (!find_in_path(prog, path)) {
      wordfree(&we);
      fail("cannot run '" + prog + "': command not found or not executable");
    }
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
      fail(std::string("pipe: ") + strerror(errno));
    fflush(nullptr);
    pid = fork();
    if (pid < 0)
      fail(std::string("fork: ") + strerror(errno));
    if (pid == 0) {
      close(fds[1]);
      char c;
      ssize_t n;
      do
        n = read(fds[0], &c, 1);
      while (n < 0 && errno == EINTR);
      if (n != 1)
        _exit(1);
      close(fds[0]);
      execvp(we.we_wordv[0], we.we_wordv);
      fprintf(stderr, "ERROR: cannot run '%s': %s\n", we.we_wordv[0], strerror(errno));
      _exit(127);
    }
    wordfree(&we);
    close(fds[0]);
    go_fd = fds[1];
  }
  void go() {
    if (go_fd < 0)
      return;
    char c = 1;
    if (write(go_fd, &c, 1) != 1) {
    }
    close(go_fd);
    go_fd = -1;
  }
  // Releases (or cancels) the child and reaps it; terminates it if it is
  // still running.
  void finish() {
    if (!pid)
      return;
    if (go_fd >= 0) {
      close(go_fd);  // the child sees EOF and exits without running CMD
      go_fd = -1;
    }
    int status;
    if (waitpid(pid, &status, WNOHANG) == 0) {
      kill(pid, SIGTERM);
      waitpid(pid, &status, 0);
    }
    pid = 0;
  }
};

Child g_child;

void finish_child() { g_child.finish(); }

}  // namespace

int main(int argc, char **argv) {
  std::string program_text, cmd, out_path, format = "text";
  bool have_program = false, quiet = false, dry_run = false, dump_verifier = false;
  bool unsafe = false, list = false, verbose = false;
  unsigned dump_flags = 0;
  long target_pid = 0;

  enum { OPT_DRY_RUN = 1000, OPT_UNSAFE, OPT_UNWIND, OPT_STACK_LINES };
  bool stack_lines = false;
  // The environment sets the default (a site-wide choice); --unwind wins.
  uint32_t unwind_mode = 0;
  if (const char *env = getenv("TRACERUN_UNWIND"))
    unwind_mode = parse_unwind_mode(env, "TRACERUN_UNWIND");
  static const struct option longopts[] = {
      {"dry-run", no_argument, nullptr, OPT_DRY_RUN},
      {"unsafe", no_argument, nullptr, OPT_UNSAFE},
      {"unwind", required_argument, nullptr, OPT_UNWIND},
      {"stack-lines", no_argument, nullptr, OPT_STACK_LINES},
      {"help", no_argument, nullptr, 'h'},
      {"version", no_argument, nullptr, 'V'},
      {nullptr, 0, nullptr, 0},
  };
  opterr = 0;
  int c;
  // Options may follow FILE (`tracerun prog.o -c ./t`); ARGS that start
  // with '-' go after "--".
  while ((c = getopt_long(argc, argv, ":e:c:p:o:qd:f:hVlv", longopts, nullptr)) != -1) {
    switch (c) {
    case 'e':
      program_text = optarg;
      have_program = true;
      break;
    case 'c':
      cmd = optarg;
      break;
    case 'p': {
      char *end = nullptr;
      errno = 0;
      target_pid = strtol(optarg, &end, 10);
      if (errno || !end || *end || target_pid <= 0 || target_pid > INT_MAX)
        usage_error(std::string("invalid pid '") + optarg + "'");
      break;
    }
    case 'o':
      out_path = optarg;
      break;
    case 'q':
      quiet = true;
      break;
    case 'l':
      list = true;
      break;
    case 'v':
      verbose = true;
      break;
    case 'd':
      if (!strcmp(optarg, "ast"))
        dump_flags |= GT_DUMP_AST;
      else if (!strcmp(optarg, "ir"))
        dump_flags |= GT_DUMP_IR;
      else if (!strcmp(optarg, "verifier"))
        dump_verifier = true;
      else
        usage_error(std::string("unknown -d value '") + optarg +
                    "' (expected ast, ir or verifier)");
      break;
    case 'f':
      format = optarg;
      break;
    case OPT_DRY_RUN:
      dry_run = true;
      break;
    case OPT_UNWIND:
      unwind_mode = parse_unwind_mode(optarg, "--unwind");
      break;
    case OPT_UNSAFE:
      unsafe = true;
      break;
    case OPT_STACK_LINES:
      stack_lines = true;
      break;
    case 'h':
      fputs(kUsage, stdout);
      return 0;
    case 'V':
      printf("tracerun v%s\n", GT_VERSION);
      return 0;
    case ':':
      usage_error(std::string("option '") + argv[optind - 1] + "' needs an argument");
    default:
      usage_error(std::string("unknown option '") + argv[optind - 1] + "'");
    }
  }
  if (format != "text" && format != "json")
    usage_error("unknown output format '" + format + "' (expected text or json)");
  if (target_pid && !cmd.empty())
    usage_error("-p and -c cannot be used together");

  std::vector<std::string> args(argv + optind, argv + argc);
  if (list) {
    if (args.size() > 1)
      usage_error("-l takes one pattern");
    std::vector<std::string> lines;
    std::string err;
    if (!gt::rt::list_probes(args.empty() ? "" : args[0], verbose, lines, err))
      fail(err);
    std::string text;
    for (const auto &l : lines)
      text += l + "\n";
    fwrite(text.data(), 1, text.size(), stdout);
    return 0;
  }
  std::string file;
  if (!have_program) {
    if (args.empty())
      usage_error("no program given: pass a FILE or -e 'PROGRAM'");
    file = args.front();
    args.erase(args.begin());
  }

  if (target_pid && kill(pid_t(target_pid), 0) != 0 && errno == ESRCH)
    fail("no process with pid " + std::to_string(target_pid));

  // The object: compiled in-process from a script, or read from FILE.
  std::unique_ptr<gt::rt::Object> obj;
  try {
    if (!have_program && file != "-" && is_elf(file)) {
      if (dump_flags)
        usage_error("-d ast and -d ir need a script; '" + file + "' is a compiled object");
      if (!args.empty())
        usage_error("'" + file +
                    "' is a compiled object: its positional parameters were fixed by tracec");
      obj = gt::rt::Object::open_file(file);
    } else {
      std::string filename = have_program ? "-e" : file == "-" ? "stdin" : file;
      if (!have_program) {
        if (file == "-") {
          read_all(std::cin, program_text);
        } else {
          std::ifstream in(file);
          if (!in || !read_all(in, program_text))
            fail("cannot read '" + file + "': " + strerror(errno));
        }
      }
      gt_compile_fn compile = load_compiler();
      std::vector<const char *> params;
      for (const auto &a : args)
        params.push_back(a.c_str());
      gt_compile_request req;
      memset(&req, 0, sizeof req);
      req.api_version = GT_COMPILER_API_VERSION;
      req.source = program_text.c_str();
      req.filename = filename.c_str();
      req.params = params.data();
      req.nparams = int(params.size());
      req.dump_flags = dump_flags;
      gt_compile_result res;
      memset(&res, 0, sizeof res);
      if (compile(&req, &res) != 0 || !res.object)
        return 1;  // diagnostics already printed
      obj = gt::rt::Object::open_memory(res.object, res.size, filename);
    }
  } catch (const std::exception &e) {
    fail(e.what());
  }

  FILE *out = stdout;
  if (!out_path.empty()) {
    out = fopen(out_path.c_str(), "w");
    if (!out)
      fail("cannot open '" + out_path + "' for writing: " + strerror(errno));
  }
  static char outbuf[1 << 16];
  setvbuf(out, outbuf, _IOFBF, sizeof outbuf);

  gt::rt::RunOptions opts;
  opts.quiet = quiet;
  opts.dry_run = dry_run;
  opts.dump_verifier = dump_verifier;
  opts.out = out;
  opts.json = format == "json";
  opts.unsafe = unsafe;
  opts.unwind_mode = unwind_mode;
  opts.stack_lines = stack_lines;
  if (target_pid) {
    opts.target_pid = uint32_t(target_pid);
    opts.watch_pid = pid_t(target_pid);
  }
  if (!cmd.empty() && !dry_run) {
    g_child.start(cmd);
    atexit(finish_child);
    opts.target_pid = uint32_t(g_child.pid);
    opts.watch_pid = g_child.pid;
    opts.on_attached = [] { g_child.go(); };
    opts.command_path = g_child.path;
    opts.hold_child_exit = true;
  }

  int rc;
  try {
    rc = gt::rt::run(*obj, opts);
  } catch (const std::exception &e) {
    fflush(out);
    g_child.finish();
    fail(e.what());
  }
  fflush(out);
  g_child.finish();
  if (out != stdout)
    fclose(out);
  return rc;
}
