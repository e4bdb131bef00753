#include "runtime/tracefs.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <sys/mount.h>
#include <sys/stat.h>

namespace gt::tracefs {

static bool is_tracefs_root(const std::string &dir) {
  struct stat st;
  return stat((dir + "/events").c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string root(std::string &error) {
  static std::string cached;
  if (!cached.empty())
    return cached;
  for (const char *dir : {"/sys/kernel/tracing", "/sys/kernel/debug/tracing"})
    if (is_tracefs_root(dir))
      return cached = dir;
  if (mount("nodev", "/sys/kernel/tracing", "tracefs", 0, nullptr) == 0 &&
      is_tracefs_root("/sys/kernel/tracing"))
    return cached = "/sys/kernel/tracing";
  error = std::string("tracefs is not mounted at /sys/kernel/tracing and mounting it failed: ") +
          strerror(errno);
  return "";
}

std::string read_event_format(const std::string &category, const std::string &event,
                              std::string &error) {
  std::string dir = root(error);
  if (dir.empty())
    return "";
  std::string path = dir + "/events/" + category + "/" + event + "/format";
  std::ifstream in(path);
  if (!in) {
    error = "tracepoint " + category + ":" + event + " does not exist (no " + path + ")";
    return "";
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace gt::tracefs
