#include "sync/json_scan.hpp"

#include <charconv>
#include <cstring>

namespace sluice::sync {

namespace {

constexpr uint64_t kOnes = 0x0101010101010101ull;
constexpr uint64_t kHigh = 0x8080808080808080ull;

// Non-zero when one of the 8 bytes is '"', '\\', a control character or non-ASCII: the
// string loop then looks at them one by one.
inline uint64_t special_bytes(uint64_t w) {
  auto zero = [](uint64_t v) { return (v - kOnes) & ~v & kHigh; };
  return zero(w ^ (kOnes * '"')) | zero(w ^ (kOnes * '\\')) | ((w - kOnes * 0x20) & ~w & kHigh) |
         (w & kHigh);
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

// Four hex digits at p (known to be in bounds and valid).
unsigned hex4(const char* p) {
  unsigned v = 0;
  for (int i = 0; i < 4; ++i)
    v = v * 16 + static_cast<unsigned>(hex_digit(p[i]));
  return v;
}

void put_utf8(std::string& out, unsigned cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Decodes validated string text; `copy` also escapes the bytes COPY text reserves.
void unescape(std::string& out, std::string_view raw, bool copy) {
  const char* p = raw.data();
  const char* e = p + raw.size();
  while (p < e) {
    const char* run = p;
    while (p < e && *p != '\\')
      ++p;
    out.append(run, static_cast<size_t>(p - run));  // raw JSON text holds no \t \n \r
    if (p == e)
      break;
    char c = p[1];
    p += 2;
    unsigned cp = 0;
    switch (c) {
      case 'b':
        cp = '\b';
        break;
      case 'f':
        cp = '\f';
        break;
      case 'n':
        cp = '\n';
        break;
      case 'r':
        cp = '\r';
        break;
      case 't':
        cp = '\t';
        break;
      case 'u':
        cp = hex4(p);
        p += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF) {  // a high surrogate; the low one follows
          cp = 0x10000 + ((cp - 0xD800) << 10) + (hex4(p + 2) - 0xDC00);
          p += 6;
        }
        break;
      default:  // " \ /
        cp = static_cast<unsigned char>(c);
    }
    if (copy && cp == 0) {
      // PostgreSQL text cannot hold NUL: stripped, as other syncs do (counted per batch).
    } else if (copy && (cp == '\\' || cp == '\n' || cp == '\r' || cp == '\t')) {
      out += '\\';
      out += cp == '\\' ? '\\' : cp == '\n' ? 'n' : cp == '\r' ? 'r' : 't';
    } else {
      put_utf8(out, cp);
    }
  }
}

}  // namespace

std::string json_scanner::got() const {
  if (p_ >= end_)
    return ", got the end of the input";
  unsigned char c = static_cast<unsigned char>(*p_);
  if (c < 0x20 || c >= 0x7F) {
    static const char* hex = "0123456789ABCDEF";
    return std::string(", got byte 0x") + hex[c >> 4] + hex[c & 15];
  }
  return std::string(", got '") + static_cast<char>(c) + "'";
}

void json_scanner::enter(int depth, char open) {
  if (p_ >= end_ || *p_ != open)
    fail(p_, std::string("expected '") + open + "'" + got());
  if (depth >= kMaxJsonDepth) {
    fail(p_, "nesting deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  }
  ++p_;
}

std::string_view json_scanner::string_body(bool& escaped) {
  const char* start = p_;
  escaped = false;
  while (true) {
    while (end_ - p_ >= 8) {
      uint64_t w;
      std::memcpy(&w, p_, 8);
      if (special_bytes(w))
        break;
      p_ += 8;
    }
    if (p_ >= end_)
      fail(start - 1, "unterminated string");
    unsigned char c = static_cast<unsigned char>(*p_);
    if (c == '"') {
      std::string_view s(start, static_cast<size_t>(p_ - start));
      ++p_;
      return s;
    }
    if (c == '\\') {
      escaped = true;
      if (end_ - p_ < 2)
        fail(start - 1, "unterminated string");
      char e = p_[1];
      if (e == 'u') {
        if (end_ - p_ < 6 || hex_digit(p_[2]) < 0 || hex_digit(p_[3]) < 0 || hex_digit(p_[4]) < 0 ||
            hex_digit(p_[5]) < 0) {
          fail(p_, "\\u must be followed by four hex digits");
        }
        unsigned cp = hex4(p_ + 2);
        if (cp >= 0xDC00 && cp <= 0xDFFF)
          fail(p_, "lone low surrogate \\u" + std::string(p_ + 2, 4));
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          const char* lo = p_ + 6;
          if (end_ - lo < 6 || lo[0] != '\\' || lo[1] != 'u' || hex_digit(lo[2]) < 0 ||
              hex_digit(lo[3]) < 0 || hex_digit(lo[4]) < 0 || hex_digit(lo[5]) < 0 ||
              hex4(lo + 2) < 0xDC00 || hex4(lo + 2) > 0xDFFF) {
            fail(p_, "high surrogate \\u" + std::string(p_ + 2, 4) +
                         " must be followed by a low surrogate \\uDC00..\\uDFFF");
          }
          p_ += 12;
        } else {
          p_ += 6;
        }
        continue;
      }
      if (e != '"' && e != '\\' && e != '/' && e != 'b' && e != 'f' && e != 'n' && e != 'r' &&
          e != 't') {
        std::string shown = e >= 0x20 && e < 0x7F ? std::string(" \\") + e : std::string();
        fail(p_, "invalid escape" + shown + " in a string");
      }
      p_ += 2;
      continue;
    }
    if (c < 0x20)
      fail(p_, "control character in a string (must be escaped)");
    if (c < 0x80) {
      ++p_;
      continue;
    }
    // UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF.
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      n = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 2;
      if (c == 0xE0)
        lo = 0xA0;
      if (c == 0xED)
        hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3;
      if (c == 0xF0)
        lo = 0x90;
      if (c == 0xF4)
        hi = 0x8F;
    } else {
      fail(p_, "invalid UTF-8 in a string");
    }
    if (static_cast<size_t>(end_ - p_) <= n)
      fail(p_, "invalid UTF-8 in a string");
    auto b1 = static_cast<unsigned char>(p_[1]);
    if (b1 < lo || b1 > hi)
      fail(p_, "invalid UTF-8 in a string");
    for (size_t i = 2; i <= n; ++i) {
      auto b = static_cast<unsigned char>(p_[i]);
      if (b < 0x80 || b > 0xBF)
        fail(p_, "invalid UTF-8 in a string");
    }
    p_ += n + 1;
  }
}

jvalue json_scanner::number() {
  const char* start = p_;
  jvalue v;
  v.kind = jkind::integer;
  if (*p_ == '-')
    ++p_;
  auto digit = [this] { return p_ < end_ && *p_ >= '0' && *p_ <= '9'; };
  if (!digit())
    fail(p_, "expected a digit" + got());
  if (*p_ == '0') {
    ++p_;
    if (digit())
      fail(start, "leading zeros are not allowed in numbers");
  } else {
    while (digit())
      ++p_;
  }
  if (p_ < end_ && *p_ == '.') {
    ++p_;
    if (!digit())
      fail(p_, "expected a digit after the decimal point" + got());
    while (digit())
      ++p_;
    v.kind = jkind::number;
  }
  if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
    ++p_;
    if (p_ < end_ && (*p_ == '+' || *p_ == '-'))
      ++p_;
    if (!digit())
      fail(p_, "expected a digit in the exponent" + got());
    while (digit())
      ++p_;
    v.kind = jkind::number;
  }
  v.text = std::string_view(start, static_cast<size_t>(p_ - start));
  if (v.kind == jkind::integer) {
    int64_t n = 0;
    auto r = std::from_chars(start, p_, n);
    v.int64 = r.ec == std::errc() && r.ptr == p_;
  }
  return v;
}

void json_scanner::literal(std::string_view word) {
  if (static_cast<size_t>(end_ - p_) < word.size() ||
      std::memcmp(p_, word.data(), word.size()) != 0) {
    fail(p_, "invalid literal (expected " + std::string(word) + ")");
  }
  p_ += word.size();
}

jvalue json_scanner::value(int depth) {
  jvalue v;
  const char* start = p_;
  switch (p_ < end_ ? *p_ : '\0') {
    case '"':
      ++p_;
      v.kind = jkind::string;
      v.text = string_body(v.escaped);
      return v;
    case '{':
      object(depth, [&](std::string_view, bool) { value(depth + 1); });
      v.kind = jkind::object;
      break;
    case '[':
      array(depth, [&] { value(depth + 1); });
      v.kind = jkind::array;
      break;
    case 't':
      literal("true");
      v.kind = jkind::boolean;
      break;
    case 'f':
      literal("false");
      v.kind = jkind::boolean;
      break;
    case 'n':
      literal("null");
      v.kind = jkind::null;
      break;
    case '-':
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
    case '8':
    case '9':
      return number();
    default:
      fail(p_, "expected a value" + got());
  }
  v.text = std::string_view(start, static_cast<size_t>(p_ - start));
  return v;
}

std::string json_unescape(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  unescape(out, raw, false);
  return out;
}

void append_copy_json_string(std::string& out, std::string_view raw) {
  unescape(out, raw, true);
}

}  // namespace sluice::sync
