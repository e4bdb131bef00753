// Source text, locations and diagnostics.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace gt {

struct SourceRange {
  uint32_t line = 0, col = 0;          // 1-based start
  uint32_t end_line = 0, end_col = 0;  // 1-based, exclusive column
};

class SourceFile {
public:
  SourceFile(std::string name, std::string text);
  const std::string &name() const { return name_; }
  const std::string &text() const { return text_; }
  // The text of line `line` (1-based) without its newline.
  std::string line(uint32_t line) const;

private:
  std::string name_;
  std::string text_;
  std::vector<size_t> line_starts_;
};

// Collects errors and prints them clang-style:
//   file:line:col: error: message
//   <source line>
//       ^~~~
class Diagnostics {
public:
  Diagnostics(const SourceFile &file, std::ostream &out) : file_(file), out_(out) {}
  void error(const SourceRange &loc, const std::string &msg);
  // An error that is not about a place in the script (missing file, ...).
  void error(const std::string &msg);
  void note(const SourceRange &loc, const std::string &msg);
  void warning(const SourceRange &loc, const std::string &msg);
  bool has_errors() const { return errors_ > 0; }
  int error_count() const { return errors_; }

private:
  void emit(const SourceRange &loc, const char *level, const std::string &msg);
  const SourceFile &file_;
  std::ostream &out_;
  int errors_ = 0;
};

}  // namespace gt
