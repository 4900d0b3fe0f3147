#include "gateway/tunnel/rsa_check.hpp"

#include "config/read_file.hpp"
#include "gateway/tunnel/keys.hpp"
#include "gateway/tunnel/known_hosts.hpp"

namespace sluice::tunnel {

std::string rsa_host_key_fix(const std::string& host, unsigned port) {
  return "an RSA host key cannot be verified with this libssh2 (" + rsa_refusal_message() +
         "); pin the bastion's ed25519 or ECDSA key instead: `sluice tunnel fingerprint " + host +
         ":" + std::to_string(port) +
         "` lists every key it offers (OpenSSH has an ed25519 key by default: "
         "/etc/ssh/ssh_host_ed25519_key)";
}

std::vector<std::string> rsa_problems(const config::tunnel& t) {
  std::vector<std::string> out;
  if (t.reverse || rsa_supported())
    return out;
  for (const auto& [label, path] :
       {std::pair<std::string, std::string>{"private_key", t.private_key},
        {"secondary_key", t.secondary_key}}) {
    if (path.empty())
      continue;
    std::string error;
    auto info = public_key_from_private(config::read_file(path).value_or(""), error);
    if (error.empty() && info.type == "ssh-rsa")
      out.push_back(label + " " + path + ": " + rsa_refusal_message());
  }
  if (!t.known_hosts.empty()) {
    auto entries = known_hosts_for(parse_known_hosts(config::read_file(t.known_hosts).value_or("")),
                                   t.host, t.port);
    bool rsa = false, other = false;
    for (const auto& e : entries) {
      if (e.revoked)
        continue;
      (e.key_type == "ssh-rsa" ? rsa : other) = true;
    }
    if (rsa && !other) {
      out.push_back("known_hosts " + t.known_hosts + " lists only an ssh-rsa key for " +
                    known_hosts_name(t.host, t.port) + ": " + rsa_host_key_fix(t.host, t.port));
    }
  }
  return out;
}

}  // namespace sluice::tunnel
