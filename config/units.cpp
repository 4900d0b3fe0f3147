#include "config/units.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "config/issues.hpp"

namespace sluice::config {

namespace {
template <class T>
std::optional<T> fail(std::string* why, std::string reason) {
  if (why)
    *why = std::move(reason);
  return std::nullopt;
}
}  // namespace

std::optional<duration> parse_duration(std::string_view text, std::string* why) {
  if (text.empty()) {
    return fail<duration>(why, "empty duration; write it like 10s, 500ms or 5m");
  }
  int64_t total_ms = 0;
  size_t i = 0;
  while (i < text.size()) {
    size_t start = i;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])))
      ++i;
    if (start == i) {
      return fail<duration>(
          why, "'" + std::string(text) + "' is not a duration; write it like 10s, 500ms or 5m");
    }
    int64_t n = 0;
    auto [end, ec] = std::from_chars(text.data() + start, text.data() + i, n);
    if (ec != std::errc{})  // more digits than 64 bits hold; from_chars leaves n at 0
      return fail<duration>(why, "'" + std::string(text) + "' is too long");
    size_t unit_start = i;
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i])))
      ++i;
    auto unit = text.substr(unit_start, i - unit_start);
    int64_t scale = 0;
    if (unit == "ms")
      scale = 1;
    else if (unit == "s")
      scale = 1000;
    else if (unit == "m")
      scale = 60'000;
    else if (unit == "h")
      scale = 3'600'000;
    else if (unit == "d")
      scale = 86'400'000;
    else if (unit.empty()) {
      return fail<duration>(
          why, "'" + std::string(text) + "' has no unit; write it like " + std::string(text) + "s");
    } else {
      return fail<duration>(why, "'" + std::string(text) + "': unknown unit '" + std::string(unit) +
                                     "' (use ms, s, m, h or d)");
    }
    if (n > (int64_t{1} << 40) / scale || total_ms + n * scale > (int64_t{1} << 40)) {
      return fail<duration>(why, "'" + std::string(text) + "' is too long");
    }
    total_ms += n * scale;
  }
  return duration{total_ms};
}

std::optional<uint64_t> parse_size(std::string_view text, std::string* why) {
  size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])))
    ++i;
  if (i == 0) {
    return fail<uint64_t>(
        why, "'" + std::string(text) + "' is not a size; write it like 16MiB, 512KiB or 1048576");
  }
  uint64_t n = 0;
  if (std::from_chars(text.data(), text.data() + i, n).ec != std::errc{})  // n stays 0
    return fail<uint64_t>(why, "'" + std::string(text) + "' is too large");
  auto unit = text.substr(i);
  while (!unit.empty() && unit.front() == ' ')
    unit.remove_prefix(1);
  uint64_t scale = 0;
  if (unit.empty() || unit == "B")
    scale = 1;
  else if (unit == "KiB")
    scale = 1ull << 10;
  else if (unit == "MiB")
    scale = 1ull << 20;
  else if (unit == "GiB")
    scale = 1ull << 30;
  else if (unit == "kB" || unit == "KB")
    scale = 1000;
  else if (unit == "MB")
    scale = 1000 * 1000;
  else if (unit == "GB")
    scale = 1000 * 1000 * 1000;
  else {
    return fail<uint64_t>(why, "'" + std::string(text) + "': unknown unit '" + std::string(unit) +
                                   "' (use B, KiB, MiB, GiB, kB, MB or GB)");
  }
  if (n > (uint64_t{1} << 50) / scale) {
    return fail<uint64_t>(why, "'" + std::string(text) + "' is too large");
  }
  return n * scale;
}

std::optional<host_port> parse_host_port(std::string_view text, std::string* why) {
  std::string_view host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return fail<host_port>(why, "'" + std::string(text) + "': write IPv6 as [addr]:port");
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return fail<host_port>(why, "'" + std::string(text) + "' has no port; write host:port");
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return fail<host_port>(why, "'" + std::string(text) + "': write IPv6 as [addr]:port");
    }
  }
  if (host.empty()) {
    return fail<host_port>(why, "'" + std::string(text) + "' has no host; write host:port");
  }
  // The host goes to C APIs (getaddrinfo, inet_pton) that stop at a NUL; a space or
  // control byte is a typo, never part of a name.
  if (std::any_of(host.begin(), host.end(), [](char c) {
        auto u = static_cast<unsigned char>(c);
        return u <= 0x20 || u == 0x7f;
      })) {
    return fail<host_port>(
        why, "the host in '" + printable(text) + "' has a space, a control character or a NUL");
  }
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc{} || ptr != port.data() + port.size() || value > 65535) {
    return fail<host_port>(why, "'" + printable(text) + "': port must be 0..65535");
  }
  return host_port{std::string(host), static_cast<uint16_t>(value)};
}

std::string format_duration(duration d) {
  auto ms = d.count();
  if (ms != 0 && ms % 86'400'000 == 0)
    return std::to_string(ms / 86'400'000) + "d";
  if (ms != 0 && ms % 3'600'000 == 0)
    return std::to_string(ms / 3'600'000) + "h";
  if (ms != 0 && ms % 60'000 == 0)
    return std::to_string(ms / 60'000) + "m";
  if (ms % 1000 == 0)
    return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

std::string host_port::str() const {
  if (host.find(':') != std::string::npos)
    return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

}  // namespace sluice::config
