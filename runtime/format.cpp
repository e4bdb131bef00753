#include "runtime/format.h"

#include <cstdarg>
#include <cstdio>
#include <cstring>

namespace gt::rt {

uint64_t read_int(const uint8_t *p, uint32_t size, bool is_signed) {
  switch (size) {
  case 1: {
    uint8_t v = p[0];
    return is_signed ? uint64_t(int64_t(int8_t(v))) : v;
  }
  case 2: {
    uint16_t v;
    memcpy(&v, p, 2);
    return is_signed ? uint64_t(int64_t(int16_t(v))) : v;
  }
  case 4: {
    uint32_t v;
    memcpy(&v, p, 4);
    return is_signed ? uint64_t(int64_t(int32_t(v))) : v;
  }
  case 8: {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
  }
  default: {
    // Odd sizes never come from codegen; read what fits, little-endian.
    uint64_t v = 0;
    for (uint32_t i = 0; i < size && i < 8; i++)
      v |= uint64_t(p[i]) << (8 * i);
    if (is_signed && size > 0 && size < 8 && (v >> (8 * size - 1)) & 1)
      v |= ~uint64_t(0) << (8 * size);
    return v;
  }
  }
}

std::string read_str(const uint8_t *p, uint32_t size) {
  const void *nul = memchr(p, 0, size);
  size_t n = nul ? static_cast<const uint8_t *>(nul) - p : size;
  return std::string(reinterpret_cast<const char *>(p), n);
}

std::string value_to_string(const meta::Type &t, const uint8_t *p) {
  switch (t.kind) {
  case meta::Type::Kind::None:
    return "";
  case meta::Type::Kind::Int: {
    uint64_t v = read_int(p, t.size, t.is_signed);
    return t.is_signed ? std::to_string(int64_t(v)) : std::to_string(v);
  }
  case meta::Type::Kind::Str:
    return read_str(p, t.size);
  case meta::Type::Kind::Tuple: {
    std::string s = "(";
    for (size_t i = 0; i < t.elems.size(); i++) {
      if (i)
        s += ", ";
      s += value_to_string(t.elems[i], p + t.offsets[i]);
    }
    return s + ")";
  }
  }
  return "";
}

void append_format(std::string &out, const char *fmt, ...) {
  char buf[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n < 0)
    return;
  if (size_t(n) < sizeof buf) {
    out.append(buf, n);
    return;
  }
  size_t old = out.size();
  out.resize(old + n + 1);
  va_start(ap, fmt);
  vsnprintf(&out[old], n + 1, fmt, ap);
  va_end(ap);
  out.resize(old + n);
}

PrintfFormatter::PrintfFormatter(const meta::Printf &p) : args_(p.args), offsets_(p.offsets) {
  const std::string &f = p.format;
  std::string lit;
  int next_arg = 0;
  auto flush_lit = [&] {
    if (!lit.empty()) {
      pieces_.push_back(Piece{lit});
      lit.clear();
    }
  };
  size_t i = 0;
  while (i < f.size()) {
    char c = f[i];
    if (c != '%') {
      lit += c;
      i++;
      continue;
    }
    if (i + 1 < f.size() && f[i + 1] == '%') {
      lit += '%';
      i += 2;
      continue;
    }
    // %[flags][width][.precision][length]conv
    size_t j = i + 1;
    std::string flags, width, prec;
    bool has_prec = false;
    while (j < f.size() && strchr("-+ 0#", f[j]) && f[j])
      flags += f[j++];
    while (j < f.size() && f[j] >= '0' && f[j] <= '9')
      width += f[j++];
    if (j < f.size() && f[j] == '.') {
      has_prec = true;
      j++;
      while (j < f.size() && f[j] >= '0' && f[j] <= '9')
        prec += f[j++];
    }
    Len len = Len::Int;
    if (j + 1 < f.size() && f[j] == 'h' && f[j + 1] == 'h') {
      len = Len::Char;
      j += 2;
    } else if (j + 1 < f.size() && f[j] == 'l' && f[j + 1] == 'l') {
      len = Len::Long;
      j += 2;
    } else if (j < f.size() && f[j] == 'h') {
      len = Len::Short;
      j++;
    } else if (j < f.size() && strchr("ljztqL", f[j]) && f[j]) {
      len = Len::Long;
      j++;
    }
    if (j >= f.size() || !strchr("diuxXocsp", f[j]) || !f[j]) {
      // Not a conversion we know: keep the text as written.
      lit.append(f, i, j - i);
      i = j;
      continue;
    }
    char conv = f[j];
    i = j + 1;
    flush_lit();
    Piece piece;
    piece.conv = conv;
    piece.len = len;
    piece.arg = next_arg++;
    std::string cf = "%" + flags + width;
    if (has_prec)
      cf += "." + (prec.empty() ? std::string("0") : prec);
    switch (conv) {
    case 'd':
    case 'i':
    case 'u':
    case 'x':
    case 'X':
    case 'o':
      if (len == Len::Char)
        cf += "hh";
      else if (len == Len::Short)
        cf += "h";
      else if (len == Len::Long)
        cf += "ll";
      break;
    default:
      break;
    }
    piece.text = cf + conv;
    // Format used when a string argument meets an integer conversion (and
    // vice versa): same flags and width, as %s.
    pieces_.push_back(piece);
  }
  flush_lit();
}

void PrintfFormatter::format(const uint8_t *payload, size_t size, std::string &out) const {
  for (const Piece &p : pieces_) {
    if (!p.conv) {
      out += p.text;
      continue;
    }
    if (p.arg < 0 || size_t(p.arg) >= args_.size()) {
      out += "<?>";
      continue;
    }
    const meta::Type &t = args_[p.arg];
    uint32_t off = offsets_[p.arg];
    if (size_t(off) + t.size > size) {
      out += "<?>";
      continue;
    }
    const uint8_t *data = payload + off;
    if (t.kind != meta::Type::Kind::Int) {
      std::string s = value_to_string(t, data);
      if (p.conv == 's') {
        append_format(out, p.text.c_str(), s.c_str());
      } else {
        // Mismatched conversion (the compiler rejects these): print the text.
        out += s;
      }
      continue;
    }
    uint64_t v = read_int(data, t.size, t.is_signed);
    switch (p.conv) {
    case 's': {
      std::string s = t.is_signed ? std::to_string(int64_t(v)) : std::to_string(v);
      append_format(out, p.text.c_str(), s.c_str());
      break;
    }
    case 'c':
      append_format(out, p.text.c_str(), int(v));
      break;
    case 'p':
      append_format(out, p.text.c_str(), reinterpret_cast<void *>(uintptr_t(v)));
      break;
    case 'd':
    case 'i':
      if (p.len == Len::Long)
        append_format(out, p.text.c_str(), (long long)v);
      else
        append_format(out, p.text.c_str(), int(v));
      break;
    default:  // u x X o
      if (p.len == Len::Long)
        append_format(out, p.text.c_str(), (unsigned long long)v);
      else
        append_format(out, p.text.c_str(), unsigned(v));
      break;
    }
  }
}

}  // namespace gt::rt
