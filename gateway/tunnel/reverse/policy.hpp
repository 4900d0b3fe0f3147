// The reverse endpoint's decisions, kept pure (no libssh, no I/O) so they are
// table-tested: which agent key may log in as which tunnel, how many unauthenticated
// connections an address may hold, which forward a route's port selects, and the
// algorithm lists the endpoint offers.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "config/settings.hpp"

namespace sluice::tunnel::reverse {

// Modern algorithms only: curve25519 key exchange, AEAD ciphers (or CTR with EtM MACs),
// SHA-2 signatures. No SHA-1, no CBC, no DH groups.
extern const char* const kKeyExchange;
extern const char* const kCiphers;
extern const char* const kMacs;
extern const char* const kAgentKeyTypes;  // accepted user-key signature algorithms

// tunnel name -> the base64 of every authorized key blob.
using key_index = std::map<std::string, std::set<std::string>>;

// From the reverse tunnels of a snapshot; unreadable files or bad lines go to `errors`
// ("tunnel 'x': ...") and leave the tunnel's other keys in place.
key_index build_key_index(const config::settings& s, std::vector<std::string>& errors);

struct auth_verdict {
  bool allowed = false;
  std::string reason;  // why not, in words for the log
};

// May the key (base64 of its blob) log in as `user`? The user name is the tunnel name.
auth_verdict check_agent_key(const key_index& keys, const std::string& user,
                             const std::string& key_b64);

// Unauthenticated connections per client address.
class address_limiter {
 public:
  explicit address_limiter(uint32_t per_address = 10) : limit_(per_address) {}
  void set_limit(uint32_t per_address) { limit_ = per_address; }
  bool try_admit(const std::string& address);
  void release(const std::string& address);
  uint32_t count(const std::string& address) const;

 private:
  uint32_t limit_;
  std::map<std::string, uint32_t> counts_;
};

// A remote forward an agent announced (tcpip-forward): the address and port exactly as
// the agent sent them (its client matches forwarded-tcpip opens against them).
struct announced_forward {
  std::string bind_address;
  uint16_t port = 0;
  bool operator==(const announced_forward&) const = default;
};

// Why an announced forward is refused ("" when it is accepted).
std::string forward_refusal(const announced_forward& f);

// Agents of one tunnel as seen by channel selection.
struct agent_load {
  bool alive = false;
  std::vector<announced_forward> forwards;
  size_t channels = 0;
};
// Index of the live agent announcing `port` with the fewest channels, or -1.
int pick_agent(const std::vector<agent_load>& agents, uint16_t port);

}  // namespace sluice::tunnel::reverse
