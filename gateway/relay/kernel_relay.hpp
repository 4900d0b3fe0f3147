// The process's BPF sockmap relay (relay: kernel): the verdict program of
// bpf/sockmap_relay.bpf.c, loaded once on first use, and the slots of its `ends` array,
// two per session. Thread-safe: sessions on every worker enter and leave it.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "gateway/relay/bpf/relay_end.h"

struct sockmap_relay_bpf;

namespace sluice::gateway {

class kernel_relay {
 public:
  // Loaded on the first call. nullptr when the kernel refuses the program or the
  // process lacks CAP_BPF/CAP_NET_ADMIN: logged once (event=kernel_relay_unavailable),
  // and sessions use the user-space relay.
  static kernel_relay* get();

  // A session's two sockets in the map; `client`/`server` index ends().
  struct pair {
    uint32_t client = 0, server = 0;
    uint64_t client_cookie = 0, server_cookie = 0;
  };
  // Puts both sockets in the sockhash, unarmed (the program passes their bytes up until
  // the session arms them). `error` says why when it returns nullopt.
  std::optional<pair> enter(int client_fd, int server_fd, std::string& error);
  // After both sockets are closed (closing takes them out of the sockhash).
  void leave(const pair& p);
  relay_end& end(uint32_t slot) { return ends_[slot]; }

  ~kernel_relay();

 private:
  kernel_relay() = default;
  bool load(std::string& why);

  sockmap_relay_bpf* skel_ = nullptr;
  relay_end* ends_ = nullptr;  // the mmap-ed `ends` array
  size_t ends_bytes_ = 0;
  int socks_fd_ = -1, slots_fd_ = -1;
  std::mutex mu_;
  std::vector<uint32_t> free_;
};

// Plain loads and stores of fields the BPF program shares: relaxed atomics on the
// mmap-ed memory (the program updates them with its own atomics or plain stores).
inline uint64_t shared_load(const uint64_t& v) {
  return __atomic_load_n(&v, __ATOMIC_ACQUIRE);
}
inline void shared_store(uint64_t& v, uint64_t x) {
  __atomic_store_n(&v, x, __ATOMIC_RELEASE);
}
inline void shared_store(uint32_t& v, uint32_t x) {
  __atomic_store_n(&v, x, __ATOMIC_RELEASE);
}

}  // namespace sluice::gateway
