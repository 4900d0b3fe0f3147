// The one small blocking HTTP(S) client: one request, one connection. Used by `sluice
// sync push`, the commands that ask a running gateway's admin API (`sluice reload`,
// `sluice ctl`, doctor) and the tests. Throws http_unreachable on connection or TLS
// failures.
#pragma once

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace sluice::sync {

struct http_target {
  std::string host = "127.0.0.1";  // an address or a name (resolved)
  uint16_t port = 0;
  bool tls = false;
  // Verify the server against this PEM file (TLS); empty = no verification. A
  // certificate in it is trusted itself, so it may be the server's own self-signed one.
  std::string ca;
  std::string local_address;  // bind the client here (allowlist tests); empty = any
  std::string user_agent = "sluice-sync-push";
  std::string content_type = "application/x-ndjson";  // empty: no Content-Type
};

struct http_response {
  int status = 0;
  std::string body;
  std::string retry_after;
};

// what(): "http HOST:PORT: REASON"; reason(): REASON alone.
class http_unreachable : public std::runtime_error {
 public:
  http_unreachable(const http_target& t, std::string reason);
  const std::string& reason() const { return reason_; }

 private:
  std::string reason_;
};

// `token` empty: no Authorization header; otherwise "Bearer TOKEN".
http_response http_request(const http_target& t, const std::string& method, const std::string& path,
                           const std::string& token, const std::string& body,
                           std::chrono::seconds timeout = std::chrono::seconds(120));

}  // namespace sluice::sync
