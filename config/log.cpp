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

void append_kv(std::string& out, std::string_view key, std::string_view value) {
  out += ' ';
  out += key;
  out += '=';
  bool quote = value.empty();
  for (char c : value) {
    if (c == ' ' || c == '"' || c == '=' || c == '\\' || static_cast<unsigned char>(c) < 0x20) {
      quote = true;
      break;
    }
  }
  if (!quote) {
    out += value;
    return;
  }
  out += '"';
  for (char c : value) {
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
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\x%02x", c);
          out += buf;
        } else {
          out += c;
        }
    }
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
