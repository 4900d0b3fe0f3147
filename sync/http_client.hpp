// A small blocking HTTP(S) client for `sluice sync push` and the tests: one request,
// one connection. Throws std::runtime_error on connection or TLS failures.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace sluice::sync {

struct http_target {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  bool tls = false;
  std::string ca;             // verify the server against this CA (TLS); empty = no verification
  std::string local_address;  // bind the client here (allowlist tests); empty = any
};

struct http_response {
  int status = 0;
  std::string body;
  std::string retry_after;
};

http_response http_request(const http_target& t, const std::string& method, const std::string& path,
                           const std::string& token, const std::string& body,
                           std::chrono::seconds timeout = std::chrono::seconds(120));

}  // namespace sluice::sync
