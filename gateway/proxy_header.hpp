// PROXY protocol v1 (text) and v2 (binary) headers sent by load balancers, parsed
// safely: every length is checked, TLVs are skipped, only the addresses are used.
// Spec: https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "config/cidr.hpp"

namespace sluice::gateway {

enum class proxy_status { need_more, ok, local, not_proxy, invalid };

struct proxy_header {
  proxy_status status = proxy_status::need_more;
  size_t consumed = 0;  // header length, to be removed from the stream
  config::ip_address source;
  uint16_t source_port = 0;
  std::string error;
};

// Longest header: v1 is at most 107 bytes; v2 is 16 + up to 65535.
constexpr size_t kMaxProxyV1 = 107;

proxy_header parse_proxy_header(std::span<const uint8_t> buf);

// True when the first bytes look like the start of a PROXY header (v1 or v2).
bool looks_like_proxy_header(std::span<const uint8_t> buf);

}  // namespace sluice::gateway
