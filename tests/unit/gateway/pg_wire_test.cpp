#include <catch2/catch.hpp>
#include <random>

#include "gateway/pg_wire.hpp"

using namespace sluice::pg;

namespace {
bytes startup_bytes() {
  startup_message m;
  m.params = {{"user", "alice"}, {"database", "app"}, {"application_name", "psql"}};
  return encode_startup(m);
}
}  // namespace

TEST_CASE("first packet: a startup message fed byte by byte", "[wire]") {
  auto full = startup_bytes();
  for (size_t n = 0; n < full.size(); ++n) {
    INFO("prefix " << n);
    auto p = parse_first_packet(byte_span(full.data(), n));
    CHECK(p.kind == first_kind::need_more);
  }
  auto p = parse_first_packet(full);
  REQUIRE(p.kind == first_kind::startup);
  CHECK(p.consumed == full.size());
  CHECK(p.startup.major == 3);
  CHECK(p.startup.minor == 0);
  CHECK(p.startup.get("user") == "alice");
  CHECK(p.startup.get("database") == "app");
  CHECK(p.startup.get("missing").empty());
  CHECK(encode_startup(p.startup) == full);  // round trip, parameter order kept
}

TEST_CASE("first packet: SSLRequest GSSENCRequest CancelRequest", "[wire]") {
  CHECK(parse_first_packet(bytes{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}).kind ==
        first_kind::ssl_request);
  CHECK(parse_first_packet(bytes{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30}).kind ==
        first_kind::gssenc_request);
  cancel_request c{0x01020304, {9, 8, 7, 6}};
  auto enc = encode_cancel_request(c);
  CHECK(enc == bytes{0, 0, 0, 16, 0x04, 0xd2, 0x16, 0x2e, 1, 2, 3, 4, 9, 8, 7, 6});
  auto p = parse_first_packet(enc);
  REQUIRE(p.kind == first_kind::cancel_request);
  CHECK(p.cancel.pid == 0x01020304);
  CHECK(p.cancel.key == bytes{9, 8, 7, 6});
  // Protocol 3.2: a 32-byte key.
  cancel_request long_key{7, bytes(32, 0xab)};
  auto p32 = parse_first_packet(encode_cancel_request(long_key));
  REQUIRE(p32.kind == first_kind::cancel_request);
  CHECK(p32.cancel.key.size() == 32);
}

TEST_CASE("first packet: invalid input is named, never trusted", "[wire]") {
  struct row {
    bytes in;
    const char* error;
  };
  const row rows[] = {
      {{0, 0, 0, 4, 0, 3, 0, 0}, "invalid startup packet length 4"},
      {{0, 0, 0x27, 0x11, 0, 3, 0, 0},
       "startup packet of 10001 bytes exceeds the 10000-byte limit"},
      {{0, 0, 0, 9, 0, 2, 0, 0, 0},
       "unsupported frontend protocol 2.0: sluice and PostgreSQL speak protocol 3"},
      {{0, 0, 0, 12, 0x04, 0xd2, 0x16, 0x2f, 0, 0, 0, 0},
       "SSLRequest/GSSENCRequest must be 8 bytes"},
      {{0, 0, 0, 12, 0x04, 0xd2, 0x16, 0x2e, 0, 0, 0, 1}, "CancelRequest has an invalid length"},
      {{0, 0, 0, 13, 0, 3, 0, 0, 'u', 's', 'e', 'r', 0}, "startup parameter 'user' has no value"},
      {{0, 0, 0, 12, 0, 3, 0, 0, 'a', 'b', 'c', 'd'}, "startup packet is not NUL-terminated"},
      {{0, 0, 0, 9, 0, 3, 0, 0, 0}, "no PostgreSQL user name specified in startup packet"},
      {{0x16, 3, 1, 0, 0x40}, "direct TLS handshake where a startup packet was expected"},
  };
  for (const auto& r : rows) {
    auto p = parse_first_packet(r.in);
    INFO(r.error);
    CHECK(p.kind == first_kind::invalid);
    CHECK(p.error == r.error);
  }
  // Trailing bytes inside the declared length.
  bytes trailing = {0, 0, 0, 16, 0, 3, 0, 0, 'u', 0, 'x', 0, 0, 'z', 'z', 'z'};
  CHECK(parse_first_packet(trailing).error == "trailing bytes after the startup parameters");
}

TEST_CASE("first packet: random garbage never crashes and never over-reads", "[wire]") {
  std::mt19937 rng(42);
  for (int i = 0; i < 20000; ++i) {
    bytes junk(rng() % 64);
    for (auto& b : junk)
      b = static_cast<uint8_t>(rng());
    if (junk.size() >= 4 && i % 2) {  // plausible small lengths reach the body parser
      junk[0] = junk[1] = 0;
      junk[2] = 0;
      junk[3] = static_cast<uint8_t>(junk.size());
      if (junk.size() >= 8)
        junk[4] = 0, junk[5] = 3;
    }
    auto p = parse_first_packet(junk);
    CHECK(p.consumed <= junk.size());
  }
}

TEST_CASE("typed messages: framing, ErrorResponse, SASL, BackendKeyData", "[wire]") {
  auto err = encode_error({"FATAL", "28000", "nope", "detail", "hint"});
  message_view m;
  size_t used = 0;
  for (size_t n = 0; n < err.size(); ++n) {
    CHECK(next_message(byte_span(err.data(), n), m, used) == frame_status::need_more);
  }
  REQUIRE(next_message(err, m, used) == frame_status::ok);
  CHECK(m.type == 'E');
  CHECK(used == err.size());
  auto e = parse_error(m.body);
  REQUIRE(e);
  CHECK(e->severity == "FATAL");
  CHECK(e->code == "28000");
  CHECK(e->message == "nope");
  CHECK(e->detail == "detail");
  CHECK(e->hint == "hint");
  CHECK(next_message(bytes{'E', 0, 0, 0, 3}, m, used) == frame_status::invalid);
  CHECK(next_message(bytes{'D', 0x7f, 0, 0, 0, 0}, m, used, 1 << 20) == frame_status::invalid);

  auto sasl = encode_sasl_mechanisms({"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"});
  REQUIRE(next_message(sasl, m, used) == frame_status::ok);
  auto mechs = parse_sasl_mechanisms(m.body);
  REQUIRE(mechs);
  CHECK(*mechs == std::vector<std::string>{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"});
  CHECK(auth_code(m.body) == kAuthSasl);
  CHECK_FALSE(parse_sasl_mechanisms(bytes{0, 0, 0, 10, 'x'}));  // unterminated

  backend_key_data k{4242, {1, 2, 3, 4}};
  auto kb = encode_backend_key_data(k);
  CHECK(kb == bytes{'K', 0, 0, 0, 12, 0, 0, 0x10, 0x92, 1, 2, 3, 4});
  REQUIRE(next_message(kb, m, used) == frame_status::ok);
  auto back = parse_backend_key_data(m.body);
  REQUIRE(back);
  CHECK(back->pid == 4242);
  CHECK(back->key == bytes{1, 2, 3, 4});
  CHECK_FALSE(parse_backend_key_data(bytes{0, 0, 0, 1}));
}
