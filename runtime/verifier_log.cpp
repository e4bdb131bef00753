#include "runtime/verifier_log.h"

#include <cctype>
#include <vector>

namespace gt::rt {

namespace {

bool starts_with(const std::string &s, const char *p) { return s.rfind(p, 0) == 0; }

// "12: (79) r1 = ..." or "12: R1=..." (an instruction or a register state).
bool is_insn_line(const std::string &s) {
  size_t i = 0;
  while (i < s.size() && isdigit(static_cast<unsigned char>(s[i])))
    i++;
  return i > 0 && i < s.size() && s[i] == ':';
}

bool is_stats_line(const std::string &s) {
  return starts_with(s, "processed ") || starts_with(s, "verification time") ||
         starts_with(s, "stack depth") || starts_with(s, "mark_precise") ||
         starts_with(s, "-- BEGIN") || starts_with(s, "-- END");
}

std::string trim(const std::string &s) {
  size_t b = 0, e = s.size();
  while (b < e && isspace(static_cast<unsigned char>(s[b])))
    b++;
  while (e > b && isspace(static_cast<unsigned char>(s[e - 1])))
    e--;
  return s.substr(b, e - b);
}

}  // namespace

VerifierDiagnosis diagnose_verifier_log(const std::string &log) {
  std::vector<std::string> lines;
  size_t pos = 0;
  while (pos < log.size()) {
    size_t nl = log.find('\n', pos);
    if (nl == std::string::npos)
      nl = log.size();
    std::string line = log.substr(pos, nl - pos);
    // A rotated (truncated) log can start in the middle of a line and
    // contain NULs at the end of the buffer.
    size_t z = line.find('\0');
    if (z != std::string::npos)
      line.resize(z);
    lines.push_back(line);
    pos = nl + 1;
  }
  VerifierDiagnosis d;
  // Drop trailing blank and statistics lines.
  size_t end = lines.size();
  while (end > 0 && (trim(lines[end - 1]).empty() || is_stats_line(lines[end - 1])))
    end--;
  if (end == 0)
    return d;
  // The reason: lines after the last instruction / source / state line.
  size_t start = end;
  while (start > 0) {
    const std::string &l = lines[start - 1];
    if (is_insn_line(l) || starts_with(l, ";") || trim(l).empty())
      break;
    start--;
  }
  if (start == end)  // the log ends with an instruction: show that line
    start = end - 1;
  for (size_t i = start; i < end; i++) {
    if (!d.reason.empty())
      d.reason += '\n';
    d.reason += trim(lines[i]);
  }
  // The last source annotation before the reason.
  for (size_t i = start; i-- > 0;) {
    const std::string &l = lines[i];
    if (!starts_with(l, ";"))
      continue;
    size_t at = l.rfind(" @ ");
    if (at == std::string::npos)
      continue;
    std::string text = trim(l.substr(1, at - 1));
    std::string where = trim(l.substr(at + 3));
    d.location = where + ": " + text;
    break;
  }
  return d;
}

}  // namespace gt::rt
