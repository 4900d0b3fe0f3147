// Stored secrets in PostgreSQL's rolpassword formats: the SCRAM-SHA-256 secret
// (`SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`), md5 (`md5` + 32 hex) and
// plaintext, with PostgreSQL's rule for telling them apart.
#pragma once

#include <string>
#include <string_view>

#include "gateway/auth/auth_error.hpp"
#include "gateway/auth/crypto.hpp"

namespace sluice::auth {

inline constexpr int kDefaultIterations = 4096;  // PostgreSQL's scram_iterations default
inline constexpr size_t kDefaultSaltLen = 16;    // PostgreSQL's SCRAM_DEFAULT_SALT_LEN

struct scram_secret {
  int iterations = 0;
  bytes salt;
  key stored_key{};
  key server_key{};

  bool operator==(const scram_secret&) const = default;
};

// Parses a SCRAM secret; the error's detail names the part that is wrong.
outcome<scram_secret> parse_scram_secret(std::string_view text);
std::string format_scram_secret(const scram_secret& s);

// The secret PostgreSQL would store for `password` (already prepared, see below).
scram_secret make_scram_secret(std::string_view password, byte_view salt,
                               int iterations = kDefaultIterations);
// The same with a fresh random salt: how a plaintext password from an auth_file becomes
// a SCRAM secret for the client leg.
scram_secret make_scram_secret(std::string_view password);

// SaltedPassword-derived keys (RFC 5802): ClientKey, StoredKey = H(ClientKey), ServerKey.
key client_key_from(const key& salted);
key server_key_from(const key& salted);

// SASLprep stand-in. PostgreSQL SASLpreps a password and falls back to its raw bytes when
// that fails; for ASCII (and for invalid UTF-8) the result is the raw bytes, which is what
// this returns. Valid UTF-8 with non-ASCII characters would need Unicode normalization
// (NFKC), which sluice does not implement: that is an error naming the way out.
outcome<std::string> prepare_password(std::string_view password);

enum class secret_kind { scram_sha_256, md5, plaintext };
// PostgreSQL's get_password_type(): md5 is exactly "md5" + 32 lower-case hex digits; a
// string that parses as a SCRAM secret is one; anything else is a plaintext password.
secret_kind classify_secret(std::string_view stored);
const char* to_string(secret_kind k);

// The SCRAM secret the client leg checks a user against, from whatever is stored: a SCRAM
// secret as is, a plaintext password made into one (random salt, 4096 iterations), an md5
// secret not at all (an error: that user needs md5 authentication, see md5_auth.hpp).
outcome<scram_secret> scram_secret_for(std::string_view stored);

}  // namespace sluice::auth
