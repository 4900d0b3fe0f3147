// The SASL messages the gateway parses during authentication (gateway/pg_wire.*). Today
// that is AuthenticationSASL (code 10): the gateway reads the mechanism list, drops the
// channel-binding (-PLUS) ones it cannot honour and re-encodes the rest. The input is one
// authentication request body (after 'R' and the length). SASLContinue (11) and
// SASLFinal (12) are relayed untouched for now; a SCRAM parser adds its checker to
// `checkers` below and its seeds to corpus/sasl/.
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_check.hpp"
#include "gateway/pg_wire.hpp"

using namespace sluice::pg;

namespace {

// What session.cpp does with AuthenticationSASL; checks the result re-parses.
void check_sasl_mechanisms(byte_span body) {
  auto mechs = parse_sasl_mechanisms(body);
  if (!mechs)
    return;
  for (const auto& m : *mechs)
    FUZZ_CHECK(!m.empty() && m.find('\0') == std::string::npos);
  std::vector<std::string> kept;
  for (const auto& m : *mechs) {
    if (m.find("-PLUS") == std::string::npos)
      kept.push_back(m);
  }
  auto enc = encode_sasl_mechanisms(kept);
  message_view v;
  size_t used = 0;
  FUZZ_CHECK(next_message(enc, v, used) == frame_status::ok && used == enc.size());
  FUZZ_CHECK(v.type == 'R');
  auto back = parse_sasl_mechanisms(v.body);
  FUZZ_CHECK(back && *back == kept);
  // The mechanisms re-encode to the bytes the backend sent when none was dropped.
  if (kept.size() == mechs->size())
    FUZZ_CHECK(v.body.size() == body.size() &&
               std::equal(v.body.begin(), v.body.end(), body.begin()));
}

struct checker {
  uint32_t code;
  void (*check)(byte_span body);
};

// One entry per authentication request the gateway parses (11 SASLContinue and
// 12 SASLFinal join when SCRAM is implemented in the gateway).
constexpr checker checkers[] = {
    {kAuthSasl, check_sasl_mechanisms},
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  byte_span body(data, size);
  auto code = auth_code(body);
  FUZZ_CHECK(code.has_value() == (size >= 4));
  // Every checker sees every input, so a parser is also fed other codes' bodies.
  for (const auto& c : checkers)
    c.check(body);
  return 0;
}
