#include "frontend/source.h"

namespace gt {

SourceFile::SourceFile(std::string name, std::string text)
    : name_(std::move(name)), text_(std::move(text)) {
  line_starts_.push_back(0);
  for (size_t i = 0; i < text_.size(); i++)
    if (text_[i] == '\n')
      line_starts_.push_back(i + 1);
}

std::string SourceFile::line(uint32_t line) const {
  if (line == 0 || line > line_starts_.size())
    return "";
  size_t start = line_starts_[line - 1];
  size_t end = text_.find('\n', start);
  if (end == std::string::npos)
    end = text_.size();
  return text_.substr(start, end - start);
}

void Diagnostics::emit(const SourceRange &loc, const char *level, const std::string &msg) {
  out_ << file_.name() << ":" << loc.line << ":" << loc.col << ": " << level << ": " << msg
       << "\n";
  std::string text = file_.line(loc.line);
  out_ << text << "\n";
  std::string caret;
  for (uint32_t c = 1; c < loc.col && c <= text.size(); c++)
    caret += text[c - 1] == '\t' ? '\t' : ' ';
  caret += '^';
  if (loc.end_line == loc.line)
    for (uint32_t c = loc.col + 1; c < loc.end_col && c <= text.size(); c++)
      caret += '~';
  out_ << caret << "\n";
}

void Diagnostics::error(const SourceRange &loc, const std::string &msg) {
  errors_++;
  emit(loc, "error", msg);
}

void Diagnostics::error(const std::string &msg) {
  errors_++;
  out_ << file_.name() << ": error: " << msg << "\n";
}

void Diagnostics::warning(const SourceRange &loc, const std::string &msg) {
  emit(loc, "warning", msg);
}

void Diagnostics::note(const SourceRange &loc, const std::string &msg) {
  emit(loc, "note", msg);
}

}  // namespace gt
