// How tunnel status (forward and reverse) writes times: UTC ISO 8601 instants and
// durations in seconds ("1.5s"), the same in /v1/status, `sluice tunnel status` and logs.
#pragma once

#include <chrono>
#include <ctime>
#include <sstream>
#include <string>

namespace sluice::tunnel {

inline std::string iso8601(std::chrono::system_clock::time_point t) {
  const std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

inline std::string secs(std::chrono::milliseconds d) {
  std::ostringstream s;
  s << static_cast<double>(d.count()) / 1000.0 << "s";
  return s.str();
}

}  // namespace sluice::tunnel
