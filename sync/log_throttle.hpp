// At most one log line per interval for an event that a client can trigger at will
// (a wrong token, a refused connection): the first occurrence is logged at once, later
// ones within the interval are only counted, and the next line carries that count.
// Pure logic: the caller passes the time. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>

namespace sluice::sync {

class log_throttle {
 public:
  using clock = std::chrono::steady_clock;
  explicit log_throttle(clock::duration interval) : interval_(interval) {}

  // When a line should be written now: how many occurrences were suppressed since the
  // previous line. nullopt: count this one and write nothing.
  std::optional<uint64_t> admit(clock::time_point now);

 private:
  std::mutex mu_;
  clock::duration interval_;
  std::optional<clock::time_point> last_;
  uint64_t suppressed_ = 0;
};

}  // namespace sluice::sync
