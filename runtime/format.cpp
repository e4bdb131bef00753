#include "runtime/format.h"

#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <algorithm>

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

namespace {

std::string pointer_text(uint64_t addr) {
  // As std::ostream prints a void *: "0" for null, else 0x and lowercase hex.
  if (!addr)
    return "0";
  char buf[32];
  snprintf(buf, sizeof buf, "0x%llx", (unsigned long long)addr);
  return buf;
}

uint64_t u64_at(const uint8_t *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}

// " (file:line)" of a source frame; "" when the file is unknown.
std::string source_text(const SourceFrame &f) {
  if (f.file.empty())
    return "";
  return " (" + f.file + (f.line ? ":" + std::to_string(f.line) : std::string()) + ")";
}

}  // namespace

std::string format_ksym(uint64_t addr, Symbolizer *sym, bool offset) {
  std::string name;
  uint64_t off = 0;
  if (sym && sym->kernel_symbol(addr, name, off))
    return offset ? name + "+" + std::to_string(off) : name;
  return pointer_text(addr);
}

std::string format_usym(uint64_t addr, uint32_t pid, Symbolizer *sym, bool offset) {
  std::string name;
  uint64_t off = 0;
  if (sym && sym->user_symbol(addr, pid, name, off))
    return offset ? name + "+" + std::to_string(off) : name;
  return pointer_text(addr);
}

std::string format_stack(int64_t id, bool user, uint32_t pid, uint32_t limit, int indent,
                         Symbolizer *sym, meta::Type::StackMode mode) {
  using Mode = meta::Type::StackMode;
  std::vector<uint64_t> addrs;
  std::string incomplete;
  if (!sym || !sym->stack(id, user, addrs, incomplete))
    return "";
  std::string out = "\n";
  std::string pad(size_t(indent > 0 ? indent : 0), ' ');
  uint32_t n = 0;
  // The frame under a signal frame was interrupted, not calling: its own
  // address is its line (glibc's x86-64 sigreturn trampoline).
  bool after_signal = false;
  for (uint64_t a : addrs) {
    if (!a || (limit && n >= limit))
      break;
    n++;
    char hex[24];
    snprintf(hex, sizeof hex, "%llx", (unsigned long long)a);
    std::vector<SourceFrame> src;
    if (mode == Mode::Raw) {
      out += hex;
    } else if (mode == Mode::Bpftrace && user &&
               sym->user_source(a, pid, n > 1 && !after_signal, src) && !src.empty()) {
      for (const SourceFrame &f : src)
        if (f.inlined)
          out += pad + f.function + source_text(f) + " [inlined]\n";
      std::string name = format_usym(a, pid, sym, true);
      after_signal = name.compare(0, 13, "__restore_rt+") == 0;
      out += pad + name + source_text(src.back());
    } else {
      out += mode == Mode::Perf ? "\t" + std::string(hex) + " " : pad;
      std::string name = user ? format_usym(a, pid, sym, true) : format_ksym(a, sym, true);
      after_signal = user && name.compare(0, 13, "__restore_rt+") == 0;
      out += name;
      std::string module;
      if (mode == Mode::Perf && user)
        out += sym->user_module(a, pid, module) ? " (" + module + ")" : " ([unknown])";
    }
    out += "\n";
  }
  if (!incomplete.empty() && !(limit && n >= limit))
    out += (mode == Mode::Perf ? "\t" : mode == Mode::Raw ? "" : pad) + "[incomplete: " +
           incomplete + "]\n";
  return out;
}

std::string format_inet(const uint8_t *p) {
  uint64_t family = u64_at(p);
  char buf[INET6_ADDRSTRLEN] = {};
  if (family == AF_INET) {
    if (!inet_ntop(AF_INET, p + 8, buf, sizeof buf))
      return "";
  } else if (family == AF_INET6) {
    if (!inet_ntop(AF_INET6, p + 8, buf, sizeof buf))
      return "";
  } else {
    return "";
  }
  return buf;
}

std::string format_buf(const uint8_t *p, uint32_t size) {
  if (size < 8)
    return "";
  uint64_t len = std::min<uint64_t>(u64_at(p), size - 8);
  std::string out;
  for (uint64_t i = 0; i < len; i++) {
    uint8_t c = p[8 + i];
    if (c >= 0x20 && c <= 0x7e) {
      out += char(c);
    } else {
      char b[8];
      snprintf(b, sizeof b, "\\x%02x", c);
      out += b;
    }
  }
  return out;
}

std::string format_wall_time(const std::string &fmt, int64_t wall_ns) {
  if (fmt.empty())
    return "";
  int64_t secs = wall_ns / 1000000000;
  int64_t ns = wall_ns % 1000000000;
  if (ns < 0) {
    ns += 1000000000;
    secs--;
  }
  // bpftrace's %f: the microseconds, 6 digits. "%%" stays for strftime.
  char us[16];
  snprintf(us, sizeof us, "%06lld", (long long)(ns / 1000));
  std::string f;
  for (size_t i = 0; i < fmt.size(); i++) {
    if (fmt[i] == '%' && i + 1 < fmt.size()) {
      if (fmt[i + 1] == 'f') {
        f += us;
        i++;
        continue;
      }
      f += fmt[i];
      f += fmt[++i];
      continue;
    }
    f += fmt[i];
  }
  time_t t = time_t(secs);
  struct tm tm;
  if (!localtime_r(&t, &tm))
    return "(?)";
  std::vector<char> buf(f.size() * 4 + 256);
  size_t n = strftime(buf.data(), buf.size(), f.c_str(), &tm);
  if (n == 0)
    return "(?)";
  return std::string(buf.data(), n);
}

std::string format_strftime(const std::string &fmt, uint64_t boot_ns, int64_t boot_to_wall_ns) {
  return format_wall_time(fmt, int64_t(boot_ns) + boot_to_wall_ns);
}

std::string value_to_string(const meta::Type &t, const uint8_t *p, Symbolizer *sym, int indent) {
  using K = meta::Type::Kind;
  switch (t.kind) {
  case K::None:
    return "";
  case K::Int: {
    uint64_t v = read_int(p, t.size, t.is_signed);
    return t.is_signed ? std::to_string(int64_t(v)) : std::to_string(v);
  }
  case K::Str:
    return read_str(p, t.size);
  case K::Tuple: {
    std::string s = "(";
    for (size_t i = 0; i < t.elems.size(); i++) {
      if (i)
        s += ", ";
      s += value_to_string(t.elems[i], p + t.offsets[i], sym, indent);
    }
    return s + ")";
  }
  case K::Ksym:
    return format_ksym(u64_at(p), sym);
  case K::Usym:
    return format_usym(u64_at(p), uint32_t(u64_at(p + 8)), sym);
  case K::Kstack:
  case K::Ustack:
    return format_stack(int64_t(u64_at(p)), t.kind == K::Ustack, uint32_t(u64_at(p + 8)),
                        t.stack_frames, indent, sym, t.stack_mode);
  case K::Inet:
    return format_inet(p);
  case K::Timestamp:
    return format_strftime(t.format, u64_at(p), sym ? sym->boot_to_wall_ns() : 0);
  case K::Buf:
    return format_buf(p, t.size);
  }
  return "";
}

std::string json_string(const std::string &s) {
  std::string out = "\"";
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char b[8];
          snprintf(b, sizeof b, "\\u%04x", c);
          out += b;
        } else {
          out += char(c);
        }
      }
      i++;
      continue;
    }
    // A complete UTF-8 sequence passes through; a stray byte is escaped.
    size_t len = (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
    bool ok = len && i + len <= s.size() && c != 0xc0 && c != 0xc1 && c < 0xf5;
    for (size_t k = 1; ok && k < len; k++)
      ok = (static_cast<unsigned char>(s[i + k]) & 0xc0) == 0x80;
    if (ok) {
      out.append(s, i, len);
      i += len;
    } else {
      char b[8];
      snprintf(b, sizeof b, "\\u%04x", c);
      out += b;
      i++;
    }
  }
  return out + "\"";
}

std::string value_to_json(const meta::Type &t, const uint8_t *p, Symbolizer *sym, int indent) {
  using K = meta::Type::Kind;
  switch (t.kind) {
  case K::None:
    return "null";
  case K::Int:
    return value_to_string(t, p, sym, indent);
  case K::Tuple: {
    std::string s = "[";
    for (size_t i = 0; i < t.elems.size(); i++) {
      if (i)
        s += ",";
      s += value_to_json(t.elems[i], p + t.offsets[i], sym, indent);
    }
    return s + "]";
  }
  default:
    // Strings, symbols, stacks, addresses, buffers. (bpftrace 0.17 writes
    // strftime() values unquoted, which is not JSON; we quote them.)
    return json_string(value_to_string(t, p, sym, indent));
  }
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

PrintfFormatter::PrintfFormatter(const meta::Printf &p)
    : args_(p.args), offsets_(p.offsets), payload_size_(p.payload_size),
      error_mask_(p.error_mask) {
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
    if (j >= f.size() || !strchr("diuxXocspr", f[j]) || !f[j]) {
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
    piece.text = cf + (conv == 'r' ? 's' : conv);
    // Format used when a string argument meets an integer conversion (and
    // vice versa): same flags and width, as %s.
    pieces_.push_back(piece);
  }
  flush_lit();
}

void PrintfFormatter::format(const uint8_t *payload, size_t size, std::string &out,
                             Symbolizer *sym) const {
  uint64_t failed = 0;
  if (error_mask_ && size >= size_t(payload_size_) + 8)
    failed = read_int(payload + payload_size_, 8, false);
  for (const Piece &p : pieces_) {
    if (!p.conv) {
      out += p.text;
      continue;
    }
    if (p.arg < 0 || size_t(p.arg) >= args_.size()) {
      out += "<?>";
      continue;
    }
    if (p.arg < 64 && (failed >> p.arg) & 1) {
      out += "<read error>";
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
      std::string s = value_to_string(t, data, sym);
      if (p.conv == 's' || p.conv == 'r') {
        append_format(out, p.text.c_str(), s.c_str());
      } else {
        // Mismatched conversion (the compiler rejects these): print the text.
        out += s;
      }
      continue;
    }
    uint64_t v = read_int(data, t.size, t.is_signed);
    switch (p.conv) {
    case 'r':
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
