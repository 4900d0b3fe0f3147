#include "sync/connection_limiter.hpp"

namespace sluice::sync {

const char* to_string(admit_result r) {
  switch (r) {
    case admit_result::admitted:
      return "admitted";
    case admit_result::too_many_total:
      return "too many connections in total";
    case admit_result::too_many_from_address:
      return "too many connections from this address";
  }
  return "?";
}

connection_limiter::connection_limiter(uint32_t max_total, uint32_t max_per_address)
    : max_total_(max_total), max_per_address_(max_per_address) {}

admit_result connection_limiter::try_admit(const std::string& address) {
  std::lock_guard g(mu_);
  if (total_ >= max_total_)
    return admit_result::too_many_total;
  auto& n = per_address_[address];
  if (n >= max_per_address_) {
    if (n == 0)
      per_address_.erase(address);
    return admit_result::too_many_from_address;
  }
  ++n;
  ++total_;
  return admit_result::admitted;
}

void connection_limiter::release(const std::string& address) {
  std::lock_guard g(mu_);
  auto it = per_address_.find(address);
  if (it == per_address_.end())
    return;
  if (--it->second == 0)
    per_address_.erase(it);
  --total_;
}

void connection_limiter::set_limits(uint32_t max_total, uint32_t max_per_address) {
  std::lock_guard g(mu_);
  max_total_ = max_total;
  max_per_address_ = max_per_address;
}

uint32_t connection_limiter::total() const {
  std::lock_guard g(mu_);
  return total_;
}

uint32_t connection_limiter::from(const std::string& address) const {
  std::lock_guard g(mu_);
  auto it = per_address_.find(address);
  return it == per_address_.end() ? 0 : it->second;
}

connection_limiter::slot::slot(std::shared_ptr<connection_limiter> owner, std::string address)
    : owner_(std::move(owner)), address_(std::move(address)) {}

connection_limiter::slot::~slot() {
  owner_->release(address_);
}

std::unique_ptr<connection_limiter::slot> admit(const std::shared_ptr<connection_limiter>& limiter,
                                                const std::string& address, admit_result& why) {
  why = limiter->try_admit(address);
  if (why != admit_result::admitted)
    return nullptr;
  return std::make_unique<connection_limiter::slot>(limiter, address);
}

}  // namespace sluice::sync
