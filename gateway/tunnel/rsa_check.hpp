// Forward tunnels and RSA: libssh2 1.10 verifies and signs only ssh-rsa (SHA-1), which
// OpenSSH 8.8+ no longer accepts or offers. These find the configurations that cannot
// work for that reason, so check-config and doctor can say so before a connect fails.
#pragma once

#include <string>
#include <vector>

#include "config/settings.hpp"

namespace sluice::tunnel {

// One message per problem: an RSA private/secondary key, or a known_hosts file whose
// only (unrevoked) entries for the bastion are ssh-rsa. Empty when none (or RSA works).
std::vector<std::string> rsa_problems(const config::tunnel& t);

// What to do about an RSA-only bastion (shared by fingerprint, check-config and doctor).
std::string rsa_host_key_fix(const std::string& host, unsigned port);

}  // namespace sluice::tunnel
