#include "sync/log_throttle.hpp"

namespace sluice::sync {

std::optional<uint64_t> log_throttle::admit(clock::time_point now) {
  std::lock_guard g(mu_);
  if (last_ && now - *last_ < interval_) {
    ++suppressed_;
    return std::nullopt;
  }
  last_ = now;
  uint64_t n = suppressed_;
  suppressed_ = 0;
  return n;
}

}  // namespace sluice::sync
