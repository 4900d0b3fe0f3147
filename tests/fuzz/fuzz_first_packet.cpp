// The untyped first packet a client sends (StartupMessage, SSLRequest, GSSENCRequest,
// CancelRequest; gateway/pg_wire.*). Invariants: `consumed` is the announced length,
// and what the gateway re-encodes for the backend parses back to the same packet.
#include <cstdint>

#include "fuzz_check.hpp"
#include "gateway/pg_wire.hpp"

using namespace sluice::pg;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  byte_span in(data, size);
  auto p = parse_first_packet(in);
  switch (p.kind) {
    case first_kind::need_more:
      FUZZ_CHECK(p.consumed == 0);
      return 0;
    case first_kind::invalid:
      FUZZ_CHECK(!p.error.empty());
      return 0;
    default:
      break;
  }
  FUZZ_CHECK(p.consumed >= 8 && p.consumed <= size && p.consumed <= kMaxStartupPacket);
  FUZZ_CHECK(p.consumed == get_u32(data));
  if (p.kind == first_kind::ssl_request || p.kind == first_kind::gssenc_request) {
    FUZZ_CHECK(p.consumed == 8);
  } else if (p.kind == first_kind::cancel_request) {
    auto enc = encode_cancel_request(p.cancel);
    auto back = parse_first_packet(enc);
    FUZZ_CHECK(back.kind == first_kind::cancel_request);
    FUZZ_CHECK(back.cancel.pid == p.cancel.pid && back.cancel.key == p.cancel.key);
  } else if (p.kind == first_kind::startup) {
    FUZZ_CHECK(!p.startup.get("user").empty());
    // The gateway rewrites parameters (e.g. the database) and re-encodes for the backend.
    auto m = p.startup;
    m.set("database", m.get("database"));
    auto enc = encode_startup(m);
    auto back = parse_first_packet(enc);
    FUZZ_CHECK(back.kind == first_kind::startup);
    FUZZ_CHECK(back.consumed == enc.size());
    FUZZ_CHECK(back.startup.major == m.major && back.startup.minor == m.minor);
    FUZZ_CHECK(back.startup.params == m.params);
  }
  return 0;
}
