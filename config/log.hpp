// One logfmt line per event on stderr, prefixed with a syslog priority ("<6>") that
// journald understands. Lines are built locally and written with one write(2), so
// threads never interleave within a line. Never pass secrets to it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace sluice::log {

enum class level : int { error = 3, warning = 4, notice = 5, info = 6, debug = 7 };

void set_min_level(level l);
bool enabled(level l);

// Appends ` key=value` to `out`, quoting the value when logfmt needs it.
void append_kv(std::string& out, std::string_view key, std::string_view value);

class line {
 public:
  line(level l, std::string_view event);
  ~line();
  line(const line&) = delete;
  line& operator=(const line&) = delete;

  line& kv(std::string_view key, std::string_view value);
  line& kv(std::string_view key, const std::string& value) {
    return kv(key, std::string_view(value));
  }
  line& kv(std::string_view key, const char* value) { return kv(key, std::string_view(value)); }
  line& kv(std::string_view key, int64_t value);
  line& kv(std::string_view key, uint64_t value);
  line& kv(std::string_view key, int value) { return kv(key, static_cast<int64_t>(value)); }
  line& kv(std::string_view key, unsigned value) { return kv(key, static_cast<uint64_t>(value)); }
  line& kv(std::string_view key, long long value) { return kv(key, static_cast<int64_t>(value)); }
  line& kv(std::string_view key, unsigned long long value) {
    return kv(key, static_cast<uint64_t>(value));
  }
  line& kv(std::string_view key, double value);
  line& kv(std::string_view key, bool value) { return kv(key, value ? "true" : "false"); }

 private:
  level level_;
  bool on_;
  std::string text_;
};

inline line info(std::string_view event) {
  return line(level::info, event);
}
inline line notice(std::string_view event) {
  return line(level::notice, event);
}
inline line warn(std::string_view event) {
  return line(level::warning, event);
}
inline line error(std::string_view event) {
  return line(level::error, event);
}
inline line debug(std::string_view event) {
  return line(level::debug, event);
}

}  // namespace sluice::log
