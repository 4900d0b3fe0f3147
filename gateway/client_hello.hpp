// Reads the server name (SNI) out of a TLS ClientHello without terminating TLS, for
// passthrough listeners. Pure; the ClientHello may span several TLS records.
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace sluice::gateway {

enum class hello_status { need_more, ok, invalid };

struct client_hello_info {
  hello_status status = hello_status::need_more;
  std::string sni;  // empty when the client sent none
  std::string error;
};

// `records` is everything received so far, starting at the first TLS record header.
client_hello_info parse_client_hello(std::span<const uint8_t> records);

// Largest ClientHello we buffer before routing (a post-quantum key share fits easily).
constexpr size_t kMaxClientHello = 64 * 1024;

}  // namespace sluice::gateway
