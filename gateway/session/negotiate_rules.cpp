// The pure half of negotiate.hpp (the coroutine is in negotiate.cpp).
#include "gateway/session/negotiate.hpp"

namespace sluice::gateway {

first_byte_step answer_first_byte(uint8_t first, const negotiate_policy& p) {
  if (first != pg::kTlsHandshakeByte)
    return first_byte_step::read_packet;
  if (p.passthrough)
    return first_byte_step::passthrough;
  return p.tls_offered ? first_byte_step::accept_tls : first_byte_step::refuse_close;
}

packet_answer answer_first_packet(const pg::first_packet& p, size_t buffered, bool tls_done,
                                  const negotiate_policy& policy) {
  const bool leftover = buffered > p.consumed;
  switch (p.kind) {
    case pg::first_kind::need_more:
      return {packet_step::read_more, 0, {}};
    case pg::first_kind::gssenc_request:
    case pg::first_kind::ssl_request: {
      const bool ssl = p.kind == pg::first_kind::ssl_request;
      if (tls_done)
        return {packet_step::refuse, 0,
                std::string(ssl ? "SSLRequest" : "GSSENCRequest") + " inside TLS"};
      if (leftover) {
        // Bytes sent before our answer would be trusted as if they were encrypted
        // (CVE-2021-23214): refuse them.
        return {packet_step::refuse, 0,
                std::string("received unencrypted data after ") + (ssl ? "SSL" : "GSSENC") +
                    " request"};
      }
      if (ssl && policy.passthrough)
        return {packet_step::reply_then_passthrough, 'S', {}};
      if (ssl && policy.tls_offered)
        return {packet_step::reply_then_tls, 'S', {}};
      return {packet_step::reply_then_again, 'N', {}};
    }
    case pg::first_kind::cancel_request:
      return {packet_step::cancel, 0, {}};
    case pg::first_kind::startup:
      return {packet_step::startup, 0, {}};
    case pg::first_kind::invalid:
      return {packet_step::refuse, 0, "invalid startup packet: " + p.error};
  }
  return {packet_step::refuse, 0, "invalid startup packet"};
}

}  // namespace sluice::gateway
