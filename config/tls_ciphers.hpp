// sluice's TLS defaults and the check of an operator's cipher strings. The strings are
// given to OpenSSL as they are; this refuses one that selects nothing, names an unknown
// TLS 1.3 suite, or lets in a weak cipher (no forward secrecy is allowed, but NULL,
// anonymous, export, RC4, DES/3DES, MD5 and CBC-SHA1-era suites are not).
#pragma once

#include <string>
#include <string_view>

namespace sluice::config {

// Mozilla "intermediate": ECDHE with AES-GCM or ChaCha20-Poly1305.
inline constexpr const char* kDefaultCiphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
// OpenSSL 3's TLS 1.3 default, spelled out so the documentation can name it.
inline constexpr const char* kDefaultCiphersuites =
    "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256";

// Empty when usable; else a sentence saying what is wrong.
std::string cipher_list_problem(std::string_view ciphers);
std::string ciphersuites_problem(std::string_view suites);

}  // namespace sluice::config
