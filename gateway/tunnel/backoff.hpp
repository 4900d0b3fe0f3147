// Reconnect delays: exponential from `initial`, capped at `max`, with "equal jitter"
// (half fixed, half random) so many gateways do not reconnect to one bastion in step.
#pragma once

#include <chrono>
#include <cstdint>
#include <random>

namespace sluice::tunnel {

class backoff_schedule {
 public:
  using ms = std::chrono::milliseconds;
  backoff_schedule(ms initial, ms max, uint64_t seed = std::random_device{}());

  // The delay before the next attempt; grows with each call until reset().
  ms next();
  void reset() { attempt_ = 0; }
  uint32_t attempt() const { return attempt_; }
  // The un-jittered ceiling for attempt n (0-based): min(max, initial * 2^n).
  ms ceiling(uint32_t n) const;

 private:
  ms initial_, max_;
  uint32_t attempt_ = 0;
  std::mt19937_64 rng_;
};

}  // namespace sluice::tunnel
