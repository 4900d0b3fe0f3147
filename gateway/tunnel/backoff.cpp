#include "gateway/tunnel/backoff.hpp"

#include <algorithm>

namespace sluice::tunnel {

backoff_schedule::backoff_schedule(ms initial, ms max, uint64_t seed)
    : initial_(std::max(initial, ms(1))), max_(std::max(max, initial)), rng_(seed) {}

backoff_schedule::ms backoff_schedule::ceiling(uint32_t n) const {
  auto v = initial_.count();
  for (uint32_t i = 0; i < n && v < max_.count(); ++i)
    v *= 2;
  return ms(std::min<int64_t>(v, max_.count()));
}

backoff_schedule::ms backoff_schedule::next() {
  const auto c = ceiling(attempt_).count();
  if (attempt_ < 64)
    ++attempt_;
  std::uniform_int_distribution<int64_t> dist(0, c / 2);
  return ms(c - c / 2 + dist(rng_));
}

}  // namespace sluice::tunnel
