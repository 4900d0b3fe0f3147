#include "config/log.hpp"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>

namespace sluice::log {

namespace {
std::atomic<int> g_min{static_cast<int>(level::info)};
// Under journald the timestamp is the journal's; elsewhere (tests, a terminal) add one.
const bool g_timestamps = std::getenv("JOURNAL_STREAM") == nullptr;
}  // namespace

void set_min_level(level l) {
  g_min = static_cast<int>(l);
}
bool enabled(level l) {
  return static_cast<int>(l) <= g_min.load(std::memory_order_relaxed);
}

namespace {

// Length of the well-formed UTF-8 sequence at the start of `s` (RFC 3629: no overlong
// forms, no surrogates, nothing above U+10FFFF), or 0 when it is not one.
size_t utf8_sequence(std::string_view s) {
  const auto b = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char c = b(0);
  if (c < 0x80)
    return 1;
  size_t n = c >= 0xC2 && c <= 0xDF   ? 2
             : c >= 0xE0 && c <= 0xEF ? 3
             : c >= 0xF0 && c <= 0xF4 ? 4
                                      : 0;
  if (n == 0 || s.size() < n)
    return 0;
  for (size_t i = 1; i < n; ++i)
    if ((b(i) & 0xC0) != 0x80)
      return 0;
  if ((c == 0xE0 && b(1) < 0xA0) || (c == 0xED && b(1) > 0x9F) || (c == 0xF0 && b(1) < 0x90) ||
      (c == 0xF4 && b(1) > 0x8F))
    return 0;
  return n;
}

bool needs_quotes(std::string_view value) {
  if (value.empty())
    return true;
  for (size_t i = 0; i < value.size();) {
    const auto c = static_cast<unsigned char>(value[i]);
    if (c == ' ' || c == '"' || c == '=' || c == '\\' || c < 0x20 || c == 0x7F)
      return true;
    const size_t n = utf8_sequence(value.substr(i));
    if (n == 0)
      return true;
    i += n;
  }
  return false;
}

}  // namespace

// Values may carry client-supplied names (user, database, SNI): everything a strict
// logfmt/JSON-style decoder would refuse is escaped. Control characters, DEL and every
// byte that is not part of well-formed UTF-8 become \u00XX (the byte's value), so the
// line stays valid UTF-8 and nothing is lost.
void append_kv(std::string& out, std::string_view key, std::string_view value) {
  out += ' ';
  out += key;
  out += '=';
  if (!needs_quotes(value)) {
    out += value;
    return;
  }
  out += '"';
  for (size_t i = 0; i < value.size();) {
    const char c = value[i];
    const auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (u >= 0x80) {
          if (size_t n = utf8_sequence(value.substr(i)); n > 0) {
            out.append(value.substr(i, n));
            i += n;
            continue;
          }
        }
        if (u < 0x20 || u >= 0x7F) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", u);
          out += buf;
        } else {
          out += c;
        }
    }
    ++i;
  }
  out += '"';
}

line::line(level l, std::string_view event) : level_(l), on_(enabled(l)) {
  if (!on_)
    return;
  text_.reserve(256);
  text_ += '<';
  text_ += static_cast<char>('0' + static_cast<int>(l));
  text_ += '>';
  if (g_timestamps) {
    using namespace std::chrono;
    auto now = system_clock::now();
    auto t = system_clock::to_time_t(now);
    auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[64];
    std::snprintf(buf, sizeof buf, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03dZ ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(ms));
    text_ += buf;
  }
  const char* names[] = {"", "", "", "error", "warning", "notice", "info", "debug"};
  text_ += "level=";
  text_ += names[static_cast<int>(l)];
  append_kv(text_, "event", event);
}

line::~line() {
  if (!on_)
    return;
  text_ += '\n';
  // One write per line; a failed log write has nowhere better to go.
  [[maybe_unused]] auto n = ::write(STDERR_FILENO, text_.data(), text_.size());
}

line& line::kv(std::string_view key, std::string_view value) {
  if (on_)
    append_kv(text_, key, value);
  return *this;
}
line& line::kv(std::string_view key, int64_t value) {
  if (on_)
    append_kv(text_, key, std::to_string(value));
  return *this;
}
line& line::kv(std::string_view key, uint64_t value) {
  if (on_)
    append_kv(text_, key, std::to_string(value));
  return *this;
}
line& line::kv(std::string_view key, double value) {
  if (on_) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3f", value);
    append_kv(text_, key, buf);
  }
  return *this;
}

}  // namespace sluice::log
