#include "gateway/tunnel/reverse/policy.hpp"

#include "config/load_reverse.hpp"

namespace sluice::tunnel::reverse {

const char* const kKeyExchange = "curve25519-sha256,curve25519-sha256@libssh.org";
const char* const kCiphers =
    "chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-gcm@openssh.com,"
    "aes256-ctr,aes128-ctr";
const char* const kMacs = "hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com";
const char* const kAgentKeyTypes =
    "ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,rsa-sha2-512,"
    "rsa-sha2-256";

key_index build_key_index(const config::settings& s, std::vector<std::string>& errors) {
  key_index out;
  for (const auto& t : s.tunnels) {
    if (!t.reverse)
      continue;
    auto& set = out[t.name];
    std::vector<std::string> errs;
    for (const auto& k : config::reverse_tunnel_keys(t, errs))
      set.insert(k.base64);
    for (auto& e : errs)
      errors.push_back("tunnel '" + t.name + "': " + e);
  }
  return out;
}

auth_verdict check_agent_key(const key_index& keys, const std::string& user,
                             const std::string& key_b64) {
  auto it = keys.find(user);
  if (it != keys.end() && it->second.count(key_b64))
    return {true, {}};
  std::string owner;
  for (const auto& [name, set] : keys) {
    if (set.count(key_b64)) {
      owner = name;
      break;
    }
  }
  if (it == keys.end()) {
    std::string why = "no reverse tunnel is named '" + user +
                      "' (agents log in with the tunnel's name as the user name)";
    if (!owner.empty())
      why += "; this key belongs to tunnel '" + owner + "'";
    return {false, why};
  }
  if (!owner.empty()) {
    return {false, "this key is authorized for tunnel '" + owner + "', not '" + user +
                       "': a key opens only its own tunnel"};
  }
  return {false, "key is not in tunnel '" + user +
                     "' reverse.authorized_keys (add the agent's public key there, then reload)"};
}

bool address_limiter::try_admit(const std::string& address) {
  auto& n = counts_[address];
  if (n >= limit_)
    return false;
  ++n;
  return true;
}

void address_limiter::release(const std::string& address) {
  auto it = counts_.find(address);
  if (it == counts_.end())
    return;
  if (--it->second == 0)
    counts_.erase(it);
}

uint32_t address_limiter::count(const std::string& address) const {
  auto it = counts_.find(address);
  return it == counts_.end() ? 0 : it->second;
}

std::string forward_refusal(const announced_forward& f) {
  if (f.port == 0) {
    return "a dynamic remote forward (port 0) cannot be routed: announce the database port "
           "that routes use, e.g. -R 5432:db.internal:5432";
  }
  return {};
}

int pick_agent(const std::vector<agent_load>& agents, uint16_t port) {
  int best = -1;
  for (size_t i = 0; i < agents.size(); ++i) {
    const auto& a = agents[i];
    if (!a.alive)
      continue;
    bool has = false;
    for (const auto& f : a.forwards)
      has = has || f.port == port;
    if (!has)
      continue;
    if (best < 0 || a.channels < agents[static_cast<size_t>(best)].channels)
      best = static_cast<int>(i);
  }
  return best;
}

}  // namespace sluice::tunnel::reverse
