// The SASL messages the gateway parses from a backend during authentication. The input
// is one authentication request body (after 'R' and the length):
// - AuthenticationSASL (code 10, gateway/pg_wire.*): passthrough mode reads the mechanism
//   list, drops the channel-binding (-PLUS) ones it cannot honour and re-encodes the rest;
// - SASLContinue (11) and SASLFinal (12): auth.mode terminate's server leg logs in to
//   PostgreSQL itself and parses server-first- and server-final-message
//   (gateway/auth/scram_messages.*, scram_client.*).
// The client's SCRAM messages, which terminate mode's client leg parses, have their own
// target (fuzz_scram_login.cpp). A parser of another request adds its checker to
// `checkers` below and its seeds to corpus/sasl/.
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_check.hpp"
#include "gateway/auth/scram_client.hpp"
#include "gateway/auth/scram_messages.hpp"
#include "gateway/pg_wire.hpp"

using namespace sluice::pg;
namespace auth = sluice::auth;

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

std::string_view payload(byte_span body) {
  return {reinterpret_cast<const char*>(body.data()) + 4, body.size() - 4};
}

// server-first-message: what parses re-encodes and parses back the same; the nonce and
// salt are what a client needs. scram_client then answers it with client-final (only for
// small iteration counts: PBKDF2 runs them all).
void check_server_first(byte_span body) {
  if (body.size() < 4)
    return;
  auto m = auth::parse_server_first(payload(body));
  if (!m) {
    FUZZ_CHECK(!m.error().sqlstate.empty() && !m.error().message.empty());
    return;
  }
  FUZZ_CHECK(!m->nonce.empty() && auth::scram_printable(m->nonce));
  FUZZ_CHECK(!m->salt.empty() && m->iterations >= 1);
  const std::string again = "r=" + m->nonce + ",s=" + auth::base64_encode(m->salt) +
                            ",i=" + std::to_string(m->iterations);
  auto back = auth::parse_server_first(again);
  FUZZ_CHECK(back && back->nonce == m->nonce && back->salt == m->salt &&
             back->iterations == m->iterations);
  if (m->iterations > 16)
    return;
  auth::scram_client_options o;
  o.password = "pencil";
  o.client_nonce = "fyko+d2lbbFgONRv9qkxdawL";
  auth::scram_client c(o);
  FUZZ_CHECK(c.start({std::string(auth::kScramSha256)}).ok());
  auto final_message = c.on_server_first(payload(body));
  const bool ours = m->nonce.size() > o.client_nonce.size() &&
                    m->nonce.compare(0, o.client_nonce.size(), o.client_nonce) == 0;
  FUZZ_CHECK(final_message.ok() == ours);
  if (!ours)
    return;
  auto f = auth::parse_client_final(final_message.value());
  FUZZ_CHECK(f && f->nonce == m->nonce && f->channel_binding == "biws");
}

// server-final-message: an error or a 32-byte signature.
void check_server_final(byte_span body) {
  if (body.size() < 4)
    return;
  auto m = auth::parse_server_final(payload(body));
  if (!m) {
    FUZZ_CHECK(!m.error().sqlstate.empty() && !m.error().message.empty());
    return;
  }
  FUZZ_CHECK(!m->error.empty() || m->signature.size() == auth::kKeyLen);
}

struct checker {
  uint32_t code;
  void (*check)(byte_span body);
};

// One entry per authentication request the gateway parses.
constexpr checker checkers[] = {
    {kAuthSasl, check_sasl_mechanisms},
    {11, check_server_first},  // SASLContinue
    {12, check_server_final},  // SASLFinal
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
