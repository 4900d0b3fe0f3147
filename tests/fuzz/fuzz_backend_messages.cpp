// A backend's typed message stream as the gateway reads it during authentication
// (gateway/pg_wire.*: framing, ErrorResponse, AuthenticationRequest, BackendKeyData).
// The first byte picks the frame size limit, the rest is the stream. Invariants: frames
// tile the stream, and what the gateway re-encodes parses back to the same fields.
#include <cstdint>

#include "fuzz_check.hpp"
#include "gateway/pg_wire.hpp"

using namespace sluice::pg;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1)
    return 0;
  // The session's auth-phase limit is small; the relay's is 1 GiB.
  const size_t max_len = data[0] & 1 ? size_t{1} << 30 : size_t{data[0]} * 64 + 4;
  byte_span stream(data + 1, size - 1);
  size_t off = 0;
  while (off < stream.size()) {
    message_view m;
    size_t used = 0;
    auto st = next_message(stream.subspan(off), m, used, max_len);
    if (st != frame_status::ok)
      break;
    FUZZ_CHECK(used == m.body.size() + 5 && off + used <= stream.size());
    FUZZ_CHECK(m.body.data() == stream.data() + off + 5);
    FUZZ_CHECK(m.body.size() + 4 <= max_len);
    off += used;
    if (m.type == 'E' || m.type == 'N') {
      if (auto e = parse_error(m.body)) {
        auto enc = encode_error(*e);
        message_view m2;
        size_t used2 = 0;
        FUZZ_CHECK(next_message(enc, m2, used2) == frame_status::ok && used2 == enc.size());
        auto back = parse_error(m2.body);
        FUZZ_CHECK(back.has_value());
        FUZZ_CHECK(back->severity == (e->severity.empty() ? "FATAL" : e->severity));
        FUZZ_CHECK(back->code == (e->code.empty() ? "08006" : e->code));
        FUZZ_CHECK(back->message == e->message && back->detail == e->detail &&
                   back->hint == e->hint);
      }
    } else if (m.type == 'R') {
      auto code = auth_code(m.body);
      FUZZ_CHECK(code.has_value() == (m.body.size() >= 4));
      (void)parse_sasl_mechanisms(m.body);  // fuzz_sasl checks its round trip
    } else if (m.type == 'K') {
      if (auto k = parse_backend_key_data(m.body)) {
        FUZZ_CHECK(k->key.size() >= 4 && k->key.size() <= 256);
        auto enc = encode_backend_key_data(*k);
        message_view m2;
        size_t used2 = 0;
        FUZZ_CHECK(next_message(enc, m2, used2) == frame_status::ok && m2.type == 'K');
        auto back = parse_backend_key_data(m2.body);
        FUZZ_CHECK(back && back->pid == k->pid && back->key == k->key);
      }
    }
  }
  return 0;
}
