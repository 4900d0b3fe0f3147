// The startup negotiation: what to do with the client's first byte and with each first
// packet (SSLRequest, GSSENCRequest, CancelRequest, StartupMessage), as pure functions,
// so the rules (answer 'N' to GSSENC, refuse bytes pipelined after a request, ALPN on
// direct TLS) have table tests; session::negotiate() (negotiate.cpp) carries them out.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "gateway/pg_wire.hpp"

namespace sluice::gateway {

struct negotiate_policy {
  bool tls_offered = false;  // the listener terminates TLS and client_tls is not disabled
  bool passthrough = false;  // the listener relays the client's TLS to the backend
};

enum class first_byte_step {
  read_packet,   // plaintext: a length-prefixed first packet follows
  passthrough,   // a direct-TLS ClientHello, relayed untouched
  accept_tls,    // a direct-TLS ClientHello for this gateway (ALPN then required)
  refuse_close,  // direct TLS where none is offered: closed, no words the client would read
};

first_byte_step answer_first_byte(uint8_t first, const negotiate_policy& p);

enum class packet_step {
  read_more,               // the packet is not complete yet
  reply_then_tls,          // write `reply` ('S'), then the TLS handshake as the server
  reply_then_again,        // write `reply` ('N'), then read the next first packet
  reply_then_passthrough,  // write `reply` ('S'), then relay the client's TLS untouched
  refuse,                  // ErrorResponse 08P01 with `message`, then close
  cancel,                  // a CancelRequest: forward it, close
  startup,                 // the StartupMessage; bytes past `consumed` are the client's early bytes
};

struct packet_answer {
  packet_step step = packet_step::read_more;
  char reply = 0;
  std::string message;  // for refuse
};

// `buffered`: bytes read so far (packet included); `tls_done`: TLS already runs.
packet_answer answer_first_packet(const pg::first_packet& p, size_t buffered, bool tls_done,
                                  const negotiate_policy& policy);

// The refusal of a direct-TLS connection that did not negotiate ALPN "postgresql".
inline constexpr const char* kAlpnRequired =
    "direct TLS connections must negotiate ALPN protocol \"postgresql\"";

}  // namespace sluice::gateway
