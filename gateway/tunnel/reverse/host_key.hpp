// The reverse endpoint's host key: loading it (ed25519 or ECDSA only), its fingerprint
// and known_hosts line for agents to pin, and generating one for `sluice keygen`.
#pragma once

#include <optional>
#include <string>

namespace sluice::tunnel::reverse {

struct host_key_info {
  std::string type;         // "ssh-ed25519", "ecdsa-sha2-nistp256", ...
  std::string algorithms;   // host key algorithms to offer for it
  std::string public_b64;   // the public key blob, base64
  std::string fingerprint;  // "SHA256:..."
  // "[host]:port ssh-ed25519 AAAA..." (OpenSSH's form for a non-22 port)
  std::string known_hosts_line(const std::string& host, unsigned port) const;
};

// Empty optional and `error` set when the file is missing, unreadable, group/other
// readable, not a private key, or an RSA key (refused: ed25519 or ECDSA).
std::optional<host_key_info> load_host_key(const std::string& path, std::string& error);

// Writes a new ed25519 private key (OpenSSH format, mode 0600) and PATH.pub; refuses to
// overwrite. Empty on success.
std::string generate_host_key(const std::string& path);

}  // namespace sluice::tunnel::reverse
