// DNS and TCP probes from the gateway's own network position.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace sluice::doctor {

struct resolved {
  std::vector<std::string> addresses;  // numeric, IPv4 and IPv6
  std::string error;                   // gai_strerror text when empty
};
resolved resolve(const std::string& host);

enum class tcp_outcome { connected, refused, timeout, unreachable, other };
struct tcp_result {
  tcp_outcome outcome = tcp_outcome::other;
  int fd = -1;  // connected socket (caller closes) when outcome == connected
  std::string error;
};
tcp_result tcp_connect(const std::string& address, uint16_t port,
                       std::chrono::milliseconds timeout);

}  // namespace sluice::doctor
