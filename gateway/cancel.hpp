// Cancel keys. Clients see a key minted here, never the backend's: the pid's top bits
// name this instance (so a peer can forward a cancel that a load balancer sent it), the
// rest and the secret are random, and a key seen on one route cannot cancel another.
// Shared by all workers; touched only at session start/end and on CancelRequest.
#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>

#include "config/cidr.hpp"
#include "gateway/pg_wire.hpp"
#include "gateway/runtime.hpp"

namespace sluice::gateway {

struct cancel_target {
  pg::backend_key_data backend;  // what the backend issued
  std::string route;
  runtime_ptr rt;  // the snapshot the session was routed under (its TLS, tunnel)
};

class cancel_registry {
 public:
  explicit cancel_registry(uint32_t instance_id);

  // Stores the backend's key and returns the one to give the client (same key length).
  pg::backend_key_data mint(const pg::backend_key_data& backend, std::string route, runtime_ptr rt);
  void forget(const pg::backend_key_data& minted);
  std::optional<cancel_target> find(const pg::cancel_request& c) const;

  uint32_t instance_id() const { return instance_id_; }
  static uint32_t instance_of(uint32_t pid) { return (pid >> 24) & 0x7f; }

  // Token bucket per client address: false when this address sends cancels too fast.
  bool admit(const config::ip_address& a, uint32_t per_second);
  size_t size() const;

 private:
  static std::string key_of(uint32_t pid, const pg::bytes& key);
  uint32_t instance_id_;
  mutable std::mutex mu_;
  std::mt19937_64 rng_;
  std::unordered_map<std::string, cancel_target> targets_;
  struct bucket {
    double tokens = 0;
    std::chrono::steady_clock::time_point at;
  };
  std::unordered_map<std::string, bucket> buckets_;
};

}  // namespace sluice::gateway
