// The few primitives SCRAM and md5 authentication need, each a thin wrapper over OpenSSL
// (EVP digests, HMAC, PKCS5_PBKDF2_HMAC, RAND_bytes, EVP base64, CRYPTO_memcmp).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::auth {

using bytes = std::vector<uint8_t>;
using byte_view = std::span<const uint8_t>;

inline constexpr size_t kKeyLen = 32;  // SHA-256
using key = std::array<uint8_t, kKeyLen>;

inline byte_view as_bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}
inline std::string_view as_chars(byte_view b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

key sha256(byte_view data);
key hmac_sha256(byte_view k, byte_view data);
inline key hmac_sha256(byte_view k, std::string_view data) {
  return hmac_sha256(k, as_bytes(data));
}
// Hi() of RFC 5802: PBKDF2-HMAC-SHA-256, the SaltedPassword.
key salted_password(std::string_view password, byte_view salt, int iterations);
// Lower-case hex MD5, as PostgreSQL's md5 secrets spell it.
std::string md5_hex(std::string_view data);

// Cryptographically random bytes; throws std::runtime_error if OpenSSL cannot provide them.
bytes random_bytes(size_t n);

// Standard base64 with padding, no line breaks.
std::string base64_encode(byte_view data);
// Strict decoding: the standard alphabet only, length a multiple of 4, padding only at the
// end. nullopt for anything else (no whitespace skipping).
std::optional<bytes> base64_decode(std::string_view text);

// Constant-time comparison (lengths are compared first, which they may leak).
bool equal_ct(byte_view a, byte_view b);

}  // namespace sluice::auth
