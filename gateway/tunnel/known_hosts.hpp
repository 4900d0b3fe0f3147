// OpenSSH known_hosts parsing and matching, without I/O: plain names, "[host]:port"
// entries, comma lists, '*'/'?' wildcards, '!' negations, hashed "|1|salt|hmac" names
// and the @revoked marker (@cert-authority lines are skipped: libssh2 has no certs).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::tunnel {

struct known_host_entry {
  std::string hosts;     // the host field as written
  std::string key_type;  // "ssh-ed25519", "ecdsa-sha2-nistp256", ...
  std::string key_blob;  // decoded base64
  bool revoked = false;
  int line = 0;
};

// Parses one line; nullopt for comments, blank lines, @cert-authority and malformed lines.
std::optional<known_host_entry> parse_known_hosts_line(std::string_view line, int line_no = 0);
std::vector<known_host_entry> parse_known_hosts(std::string_view text);

// The name OpenSSH looks up: "host" on port 22, "[host]:port" otherwise.
std::string known_hosts_name(const std::string& host, uint16_t port);
// True when the host field (patterns or hashed names) matches host:port.
bool known_hosts_field_matches(std::string_view field, const std::string& host, uint16_t port);

// Entries for host:port (revoked ones included, marked).
std::vector<known_host_entry> known_hosts_for(const std::vector<known_host_entry>& all,
                                              const std::string& host, uint16_t port);

}  // namespace sluice::tunnel
