#include <catch2/catch.hpp>

#include "gateway/session/negotiate.hpp"

using namespace sluice;
using gateway::first_byte_step;
using gateway::negotiate_policy;
using gateway::packet_step;

namespace {
pg::bytes ssl_request() {
  return pg::encode_ssl_request();
}
pg::bytes gssenc_request() {
  return {0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30};
}
pg::bytes startup() {
  pg::startup_message m;
  m.params = {{"user", "alice"}, {"database", "app"}};
  return pg::encode_startup(m);
}
pg::bytes plus(pg::bytes a, const pg::bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}
}  // namespace

TEST_CASE("negotiate: the first byte picks plaintext, direct TLS or passthrough",
          "[session][negotiate]") {
  struct row {
    uint8_t first;
    negotiate_policy policy;
    first_byte_step step;
  };
  const row rows[] = {
      {0x00, {false, false}, first_byte_step::read_packet},
      {0x00, {true, false}, first_byte_step::read_packet},
      {0x00, {false, true}, first_byte_step::read_packet},
      {0x16, {true, false}, first_byte_step::accept_tls},
      {0x16, {false, false}, first_byte_step::refuse_close},
      {0x16, {false, true}, first_byte_step::passthrough},
  };
  for (const auto& r : rows) {
    INFO("first " << int(r.first) << " tls_offered " << r.policy.tls_offered << " passthrough "
                  << r.policy.passthrough);
    CHECK(gateway::answer_first_byte(r.first, r.policy) == r.step);
  }
}

TEST_CASE("negotiate: the answer to each first packet", "[session][negotiate]") {
  const negotiate_policy plain{false, false}, tls{true, false}, pass{false, true};
  struct row {
    const char* what;
    pg::bytes in;
    bool tls_done;
    negotiate_policy policy;
    packet_step step;
    char reply;
    const char* message;  // for refuse
  };
  const row rows[] = {
      {"SSLRequest, TLS offered", ssl_request(), false, tls, packet_step::reply_then_tls, 'S', ""},
      {"SSLRequest, no TLS", ssl_request(), false, plain, packet_step::reply_then_again, 'N', ""},
      {"SSLRequest, passthrough", ssl_request(), false, pass, packet_step::reply_then_passthrough,
       'S', ""},
      {"GSSENCRequest is always N", gssenc_request(), false, tls, packet_step::reply_then_again,
       'N', ""},
      {"GSSENCRequest on passthrough", gssenc_request(), false, pass, packet_step::reply_then_again,
       'N', ""},
      {"SSLRequest inside TLS", ssl_request(), true, tls, packet_step::refuse, 0,
       "SSLRequest inside TLS"},
      {"GSSENCRequest inside TLS", gssenc_request(), true, tls, packet_step::refuse, 0,
       "GSSENCRequest inside TLS"},
      {"bytes pipelined after SSLRequest", plus(ssl_request(), startup()), false, tls,
       packet_step::refuse, 0, "received unencrypted data after SSL request"},
      {"bytes pipelined after GSSENCRequest", plus(gssenc_request(), {1}), false, tls,
       packet_step::refuse, 0, "received unencrypted data after GSSENC request"},
      {"startup", startup(), false, plain, packet_step::startup, 0, ""},
      {"startup with early bytes", plus(startup(), {'Q', 0, 0, 0, 4}), false, plain,
       packet_step::startup, 0, ""},
      {"cancel", pg::encode_cancel_request({7, {1, 2, 3, 4}}), false, plain, packet_step::cancel, 0,
       ""},
      {"invalid length",
       {0, 0, 0, 4, 0, 3, 0, 0},
       false,
       plain,
       packet_step::refuse,
       0,
       "invalid startup packet: invalid startup packet length 4"},
      {"half a packet", {0, 0, 0, 8, 0x04}, false, plain, packet_step::read_more, 0, ""},
  };
  for (const auto& r : rows) {
    INFO(r.what);
    auto p = pg::parse_first_packet(r.in);
    auto a = gateway::answer_first_packet(p, r.in.size(), r.tls_done, r.policy);
    CHECK(a.step == r.step);
    CHECK(a.reply == r.reply);
    CHECK(a.message == r.message);
  }
}

TEST_CASE("negotiate: every prefix of a first packet asks for more", "[session][negotiate]") {
  for (const auto& full : {ssl_request(), gssenc_request(), startup()}) {
    for (size_t n = 0; n < full.size(); ++n) {
      INFO("prefix " << n);
      auto p = pg::parse_first_packet(pg::byte_span(full.data(), n));
      CHECK(gateway::answer_first_packet(p, n, false, {true, false}).step ==
            packet_step::read_more);
    }
  }
}
