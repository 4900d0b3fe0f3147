// SCRAM's ClientKey and ServerKey from a password, derived once per (password, salt,
// iterations) and kept, process-wide. PBKDF2 is the expensive part of SCRAM (4,096 rounds
// of HMAC-SHA-256 by default: milliseconds of a worker's CPU), and auth.mode terminate
// with a plaintext auth_file entry paid it twice per login: for the client leg's secret
// and for the server's salt. The keys depend on nothing else, so the next login with the
// same password reuses them. Thread-safe.
#pragma once

#include <cstddef>
#include <string_view>

#include "gateway/auth/crypto.hpp"

namespace sluice::auth {

struct salted_keys {
  key client_key{};
  key server_key{};
  bool operator==(const salted_keys&) const = default;
};

// The keys of SaltedPassword = Hi(password, salt, iterations); `password` already
// prepared (SASLprep). Computed on the first call for these inputs, then from memory.
salted_keys derive_salted_keys(std::string_view password, byte_view salt, int iterations);

// The salt of the SCRAM secret made for a plaintext password: the same for the same
// password while the process runs, so that secret's keys are derived once; unrelated to
// the password for anyone without the process's random key. A changed password gets
// another salt.
bytes plaintext_salt(std::string_view password);

// How many derivations are kept; past it the oldest half is dropped. For tests.
inline constexpr size_t kSaltedKeysKept = 1024;
size_t salted_keys_cached();
size_t salted_keys_derived();  // PBKDF2 runs so far, cached or not

}  // namespace sluice::auth
