// OpenSSH authorized_keys lines ("ssh-ed25519 AAAA... comment") for reverse tunnels.
// Pure parsing, no I/O: config validation and the SSH endpoint use the same rules.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::config {

struct authorized_key {
  std::string type;  // "ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa", ...
  std::string blob;  // SSH wire encoding of the public key (base64-decoded)
  std::string base64;
  std::string comment;
};

// One line. Option prefixes (from="...", command="...") are refused: a key here grants
// exactly one thing, forwards for its tunnel. Empty `error` on success.
std::optional<authorized_key> parse_authorized_key(std::string_view line, std::string& error);

// A whole file: blank lines and '#' comments are skipped; each bad line adds
// "line N: why" to `errors`.
std::vector<authorized_key> parse_authorized_keys(std::string_view text,
                                                  std::vector<std::string>& errors);

}  // namespace sluice::config
