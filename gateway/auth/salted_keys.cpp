#include "gateway/auth/salted_keys.hpp"

#include <atomic>
#include <deque>
#include <map>
#include <mutex>

#include "gateway/auth/scram_secret.hpp"

namespace sluice::auth {

namespace {

// The cache holds a digest of the inputs, not the password: entries are found by it.
key digest_of(std::string_view password, byte_view salt, int iterations) {
  bytes in;
  const auto put_len = [&](size_t n) {
    for (int i = 0; i < 8; ++i)
      in.push_back(static_cast<uint8_t>(n >> (8 * i)));
  };
  put_len(password.size());
  in.insert(in.end(), password.begin(), password.end());
  put_len(salt.size());
  in.insert(in.end(), salt.begin(), salt.end());
  put_len(static_cast<size_t>(iterations));
  return sha256(in);
}

struct cache {
  std::mutex mu;
  std::map<key, salted_keys> kept;
  std::deque<key> order;  // oldest first
  std::atomic<size_t> derived{0};
};

cache& the_cache() {
  static cache c;
  return c;
}

}  // namespace

salted_keys derive_salted_keys(std::string_view password, byte_view salt, int iterations) {
  auto& c = the_cache();
  const key id = digest_of(password, salt, iterations);
  {
    std::lock_guard lock(c.mu);
    if (auto it = c.kept.find(id); it != c.kept.end())
      return it->second;
  }
  // Outside the lock: other sessions' logins do not wait for this one's PBKDF2.
  const key salted = salted_password(password, salt, iterations);
  ++c.derived;
  const salted_keys out{client_key_from(salted), server_key_from(salted)};
  std::lock_guard lock(c.mu);
  if (c.kept.emplace(id, out).second) {
    c.order.push_back(id);
    if (c.order.size() > kSaltedKeysKept) {
      while (c.order.size() > kSaltedKeysKept / 2) {
        c.kept.erase(c.order.front());
        c.order.pop_front();
      }
    }
  }
  return out;
}

bytes plaintext_salt(std::string_view password) {
  static const bytes process_key = random_bytes(32);
  const key h = hmac_sha256(process_key, password);
  return bytes(h.begin(), h.begin() + kDefaultSaltLen);
}

size_t salted_keys_cached() {
  auto& c = the_cache();
  std::lock_guard lock(c.mu);
  return c.kept.size();
}

size_t salted_keys_derived() {
  return the_cache().derived.load();
}

}  // namespace sluice::auth
