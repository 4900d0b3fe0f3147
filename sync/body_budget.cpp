#include "sync/body_budget.hpp"

namespace sluice::sync {

bool body_budget::try_reserve(uint64_t bytes) {
  std::lock_guard g(mu_);
  // A body larger than the whole budget could never fit: callers check the batch
  // limit first, and validation keeps the budget at least that large.
  if (bytes > limit_ || in_use_ > limit_ - bytes)
    return false;
  in_use_ += bytes;
  return true;
}

void body_budget::release(uint64_t bytes) {
  std::lock_guard g(mu_);
  in_use_ = bytes > in_use_ ? 0 : in_use_ - bytes;
}

void body_budget::set_limit(uint64_t limit) {
  std::lock_guard g(mu_);
  limit_ = limit;
}

uint64_t body_budget::in_use() const {
  std::lock_guard g(mu_);
  return in_use_;
}

std::unique_ptr<body_budget::reservation> reserve(const std::shared_ptr<body_budget>& budget,
                                                  uint64_t bytes) {
  if (!budget->try_reserve(bytes))
    return nullptr;
  return std::make_unique<body_budget::reservation>(budget, bytes);
}

}  // namespace sluice::sync
