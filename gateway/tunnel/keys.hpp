// Client keys for tunnels: generation (libssh2 has none; OpenSSL writes PKCS#8 PEM, which
// libssh2_userauth_publickey_frommemory reads) and the OpenSSH public-key line for
// authorized_keys, derived from a private key file.
#pragma once

#include <string>

namespace sluice::tunnel {

enum class key_type { ed25519, ecdsa };

struct generated_key {
  std::string private_pem;  // PKCS#8 "-----BEGIN PRIVATE KEY-----"
  std::string public_line;  // "ssh-ed25519 AAAA... comment"
};

// True when this libssh2 can sign with RSA keys in a way OpenSSH >= 8.8 accepts.
bool rsa_supported();
std::string rsa_refusal_message();

// Throws std::runtime_error on OpenSSL failure.
generated_key generate_key(key_type type, const std::string& comment);

struct public_key_info {
  std::string type;  // "ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa", ...
  std::string blob;  // SSH wire encoding of the public key
  std::string line(const std::string& comment) const;
  std::string fingerprint() const;
};

// From private key text: PEM (PKCS#8, traditional EC/RSA) or the OpenSSH
// "BEGIN OPENSSH PRIVATE KEY" format (its public part is stored in clear).
// Empty `error` on success.
public_key_info public_key_from_private(const std::string& key_text, std::string& error);

// Writes `content` to a new file with mode 0600; refuses to overwrite. Empty on success.
std::string write_new_private_file(const std::string& path, const std::string& content,
                                   unsigned mode = 0600);

}  // namespace sluice::tunnel
