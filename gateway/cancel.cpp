#include "gateway/cancel.hpp"

#include <openssl/rand.h>

namespace sluice::gateway {

cancel_registry::cancel_registry(uint32_t instance_id)
    : instance_id_(instance_id & 0x7f), rng_(std::random_device{}()) {}

std::string cancel_registry::key_of(uint32_t pid, const pg::bytes& key) {
  std::string k(reinterpret_cast<const char*>(&pid), sizeof pid);
  k.append(key.begin(), key.end());
  return k;
}

pg::backend_key_data cancel_registry::mint(const pg::backend_key_data& backend, std::string route,
                                           runtime_ptr rt) {
  pg::backend_key_data minted;
  minted.key.resize(backend.key.size());
  std::lock_guard lock(mu_);
  do {
    // The secret must be unguessable: it is all that authorizes a cancel.
    RAND_bytes(minted.key.data(), static_cast<int>(minted.key.size()));
    minted.pid = (instance_id_ << 24) | static_cast<uint32_t>(rng_() & 0xffffff);
  } while (targets_.count(key_of(minted.pid, minted.key)));
  targets_.emplace(key_of(minted.pid, minted.key),
                   cancel_target{backend, std::move(route), std::move(rt)});
  return minted;
}

void cancel_registry::forget(const pg::backend_key_data& minted) {
  std::lock_guard lock(mu_);
  targets_.erase(key_of(minted.pid, minted.key));
}

std::optional<cancel_target> cancel_registry::find(const pg::cancel_request& c) const {
  std::lock_guard lock(mu_);
  auto it = targets_.find(key_of(c.pid, c.key));
  if (it == targets_.end())
    return std::nullopt;
  return it->second;
}

bool cancel_registry::admit(const config::ip_address& a, uint32_t per_second) {
  auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mu_);
  if (buckets_.size() > 100'000)
    buckets_.clear();  // bound memory under a flood
  auto& b = buckets_[a.str()];
  if (b.at.time_since_epoch().count() == 0)
    b.tokens = per_second;
  b.tokens = std::min<double>(
      per_second, b.tokens + per_second * std::chrono::duration<double>(now - b.at).count());
  b.at = now;
  if (b.tokens < 1)
    return false;
  b.tokens -= 1;
  return true;
}

size_t cancel_registry::size() const {
  std::lock_guard lock(mu_);
  return targets_.size();
}

}  // namespace sluice::gateway
