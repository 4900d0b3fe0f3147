// The commands that talk to a running gateway (`sluice reload`, `sluice ctl ...`) find
// its admin API and bearer token in the configuration file and make one HTTP request.
#pragma once

#include <optional>
#include <string>

namespace sluice::cmd {

struct admin_target {
  std::string host;  // to connect to: 0.0.0.0 / :: become loopback
  uint16_t port = 0;
  std::string token_file;  // empty: none configured
  std::string tls_cert;    // admin.tls.cert: set = HTTPS, this certificate is trusted
};

// Reads admin.listen, admin.token_file and admin.tls from `path` without validating the
// rest, so a file the gateway would refuse still names the gateway to ask. nullopt with
// `why` set when the file cannot be read as YAML or has no admin section.
std::optional<admin_target> find_admin(const std::string& path, std::string& why);

struct admin_reply {
  int status = 0;  // HTTP status; 0 = no answer (then `error` says why)
  std::string body;
  std::string error;
};

// One request with `Authorization: Bearer <token>` (from token_file, when set).
admin_reply admin_request(const admin_target& t, const std::string& method,
                          const std::string& target);

}  // namespace sluice::cmd
