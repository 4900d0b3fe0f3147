// auth.mode: terminate's client leg (gateway/session/client_login.*): sluice is the
// server of the client's password authentication and parses what any client sends
// before it is authenticated: SASLInitialResponse (mechanism, client-first-message),
// SASLResponse (client-final-message) and md5's PasswordMessage.
// Input: one flags byte (bits 0-1: the user's secret: SCRAM, unknown user, md5;
// bit 2: the client leg is TLS, so -PLUS is offered), a 2-byte big-endian length and
// the first message's body, then the second message's body.
// Invariants: every failure carries a PostgreSQL SQLSTATE and message; a challenge
// answers exactly the client-first-message a plain reading of the body finds, with the
// client's nonce and the secret's salt and iterations; the exchange succeeds only with
// the right proof, and the right proof (computed here from RFC 5802) always succeeds,
// with the server signature and ClientKey it implies, while a wrong one fails with 28P01.
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "gateway/auth/md5_auth.hpp"
#include "gateway/auth/scram_messages.hpp"
#include "gateway/session/client_login.hpp"

using namespace sluice;
using namespace sluice::gateway;

namespace {

#define REFERENCE __attribute__((no_sanitize("coverage")))

constexpr std::string_view kUser = "alice";
constexpr std::string_view kPassword = "pencil";

struct fixture {
  auth::bytes salt{7, 6, 5, 4, 3, 2, 1, 0, 7, 6, 5, 4, 3, 2, 1, 0};
  // One iteration keeps the reference's PBKDF2 cheap; the server never runs PBKDF2.
  auth::scram_secret secret = auth::make_scram_secret(kPassword, salt, 1);
  std::string scram = auth::format_scram_secret(secret);
  std::string md5 = auth::md5_secret(kPassword, kUser);
  auth::bytes binding = auth::bytes(32, 0xab);  // a tls-server-end-point hash
  auth::key salted = auth::salted_password(kPassword, salt, 1);
};

const fixture& fx() {
  static const fixture f;
  return f;
}

enum class mode { scram, unknown, md5 };

REFERENCE bool known_sqlstate(const std::string& s) {
  return s == "08P01" || s == "28P01" || s == "28000" || s == "0A000";
}

REFERENCE void check_failure(const client_login::step& st) {
  FUZZ_CHECK(known_sqlstate(st.error.sqlstate));
  FUZZ_CHECK(!st.error.message.empty());
}

// The authentication request in an 'R' message sluice sends: its code and data.
REFERENCE std::optional<std::pair<uint32_t, std::string>> auth_request(const pg::bytes& msg) {
  pg::message_view m;
  size_t used = 0;
  if (pg::next_message(msg, m, used) != pg::frame_status::ok || used != msg.size() ||
      m.type != 'R' || m.body.size() < 4)
    return std::nullopt;
  return std::make_pair(
      pg::get_u32(m.body.data()),
      std::string(reinterpret_cast<const char*>(m.body.data()) + 4, m.body.size() - 4));
}

// SASLInitialResponse read plainly: mechanism NUL, int32 length, exactly that many bytes.
struct initial_response {
  std::string mechanism;
  std::string first;
};

REFERENCE std::optional<initial_response> read_initial(std::string_view body) {
  auto nul = body.find('\0');
  if (nul == std::string_view::npos || body.size() - nul - 1 < 4)
    return std::nullopt;
  const auto* p = reinterpret_cast<const uint8_t*>(body.data()) + nul + 1;
  const uint32_t len = pg::get_u32(p);
  if (len != body.size() - nul - 5)
    return std::nullopt;
  return initial_response{std::string(body.substr(0, nul)), std::string(body.substr(nul + 5))};
}

REFERENCE auth::bytes as_vector(std::string_view s) {
  return auth::bytes(s.begin(), s.end());
}

// RFC 5802 section 3, from the password, for a client-first-message `first` that the
// server answered with `server_first`. Returns client-final and the expected outcome.
struct exchange {
  std::string final_message;
  std::string server_final;  // "v=..."
  auth::key client_key{};
};

REFERENCE exchange correct_final(const auth::client_first_message& first,
                                 const auth::server_first_message& sf,
                                 const std::string& server_first, bool plus) {
  std::string cbind = first.gs2_header;
  if (plus)
    cbind.append(reinterpret_cast<const char*>(fx().binding.data()), fx().binding.size());
  std::string without_proof = "c=" + auth::base64_encode(auth::as_bytes(cbind)) + ",r=" + sf.nonce;
  std::string auth_message = first.bare + "," + server_first + "," + without_proof;
  exchange e;
  e.client_key = auth::hmac_sha256(fx().salted, std::string_view("Client Key"));
  const auto stored = auth::sha256(e.client_key);
  const auto signature = auth::hmac_sha256(stored, auth_message);
  auth::key proof{};
  for (size_t i = 0; i < proof.size(); ++i)
    proof[i] = e.client_key[i] ^ signature[i];
  e.final_message = without_proof + ",p=" + auth::base64_encode(proof);
  const auto server_key = auth::hmac_sha256(fx().salted, std::string_view("Server Key"));
  e.server_final = "v=" + auth::base64_encode(auth::hmac_sha256(server_key, auth_message));
  return e;
}

client_login make_login(mode m, bool tls) {
  std::optional<user_secret> secret;
  if (m == mode::scram)
    secret = user_secret{fx().scram};
  if (m == mode::md5)
    secret = user_secret{fx().md5};
  return client_login(std::string(kUser), secret, tls ? fx().binding : auth::bytes{});
}

pg::byte_span span(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

void check_md5(std::string_view body) {
  client_login cl = make_login(mode::md5, false);
  auto req = auth_request(cl.begin());
  FUZZ_CHECK(req && req->first == 5 && req->second.size() == 4);
  auth::md5_salt salt;
  std::memcpy(salt.data(), req->second.data(), 4);
  const std::string right = auth::md5_response_from_secret(fx().md5, salt);
  auto st = cl.on_message('p', span(body));
  if (st.result == client_login::step::kind::failed)
    check_failure(st);
  else
    FUZZ_CHECK(st.result == client_login::step::kind::done && body == right + '\0');
  // The right answer logs in.
  client_login fresh = make_login(mode::md5, false);
  auto req2 = auth_request(fresh.begin());
  std::memcpy(salt.data(), req2->second.data(), 4);
  auto ok = fresh.on_message('p', span(auth::md5_response_from_secret(fx().md5, salt) + '\0'));
  FUZZ_CHECK(ok.result == client_login::step::kind::done);
}

// Feeds `initial`; on a challenge checks it and returns the server-first it carried.
std::optional<std::string> challenge(client_login& cl, std::string_view initial, mode m, bool tls) {
  auto mechs = auth_request(cl.begin());
  FUZZ_CHECK(mechs && mechs->first == 10);
  auto st = cl.on_message('p', span(initial));
  if (st.result == client_login::step::kind::failed) {
    check_failure(st);
    return std::nullopt;
  }
  FUZZ_CHECK(st.result == client_login::step::kind::more);
  auto ir = read_initial(initial);
  FUZZ_CHECK(ir.has_value());
  FUZZ_CHECK(ir->mechanism == auth::kScramSha256 ||
             (tls && ir->mechanism == auth::kScramSha256Plus));
  auto first = auth::parse_client_first(ir->first);
  FUZZ_CHECK(first.ok());
  FUZZ_CHECK(first->gs2_header + first->bare == ir->first);
  FUZZ_CHECK(!(tls && first->cbind_flag == 'y'));  // a downgrade is refused
  FUZZ_CHECK((first->cbind_flag == 'p') == (ir->mechanism == auth::kScramSha256Plus));
  auto req = auth_request(st.to_client);
  FUZZ_CHECK(req && req->first == 11);
  auto sf = auth::parse_server_first(req->second);
  FUZZ_CHECK(sf.ok());
  FUZZ_CHECK(sf->nonce.size() > first->nonce.size() &&
             sf->nonce.compare(0, first->nonce.size(), first->nonce) == 0);
  if (m == mode::scram)
    FUZZ_CHECK(sf->salt == fx().salt && sf->iterations == 1);
  else
    FUZZ_CHECK(sf->salt.size() == auth::kDefaultSaltLen &&
               sf->iterations == auth::kDefaultIterations);
  return req->second;
}

void check_scram(std::string_view initial, std::string_view response, mode m, bool tls) {
  client_login cl = make_login(m, tls);
  auto server_first = challenge(cl, initial, m, tls);
  if (!server_first)
    return;
  auto st = cl.on_message('p', span(response));
  const auto ir = read_initial(initial);
  const auto first = auth::parse_client_first(ir->first);
  const auto sf = auth::parse_server_first(*server_first);
  const bool plus = ir->mechanism == auth::kScramSha256Plus;
  if (st.result == client_login::step::kind::failed) {
    check_failure(st);
  } else {
    // Only the right proof for this very exchange gets in.
    FUZZ_CHECK(m == mode::scram && st.result == client_login::step::kind::done);
    FUZZ_CHECK(response ==
               correct_final(first.value(), sf.value(), *server_first, plus).final_message);
  }

  // The right proof, then a wrong one, each in a fresh exchange.
  for (bool wrong : {false, true}) {
    client_login again = make_login(m, tls);
    auto sf2_text = challenge(again, initial, m, tls);
    FUZZ_CHECK(sf2_text.has_value());
    auto sf2 = auth::parse_server_first(*sf2_text);
    auto e = correct_final(first.value(), sf2.value(), *sf2_text, plus);
    if (wrong) {  // another proof of the same length: its first 4 base64 characters changed
      auto at = e.final_message.size() - 44;
      e.final_message.replace(at, 4, e.final_message.compare(at, 4, "AAAA") ? "AAAA" : "BBBB");
    }
    auto done = again.on_message('p', span(e.final_message));
    if (m != mode::scram || wrong) {
      FUZZ_CHECK(done.result == client_login::step::kind::failed);
      FUZZ_CHECK(done.error.sqlstate == "28P01");
      continue;
    }
    FUZZ_CHECK(done.result == client_login::step::kind::done);
    auto fin = auth_request(again.held_final());
    FUZZ_CHECK(fin && fin->first == 12 && fin->second == e.server_final);
    FUZZ_CHECK(again.client_key() && *again.client_key() == e.client_key);
    FUZZ_CHECK(again.channel_bound() == plus);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3)
    return 0;
  const uint8_t flags = data[0];
  const mode m = (flags & 3) == 2 ? mode::md5 : (flags & 3) == 1 ? mode::unknown : mode::scram;
  const bool tls = flags & 4;
  size_t first_len = (size_t{data[1]} << 8) | data[2];
  std::string_view rest(reinterpret_cast<const char*>(data) + 3, size - 3);
  first_len = std::min(first_len, rest.size());
  const std::string_view initial = rest.substr(0, first_len);
  const std::string_view response = rest.substr(first_len);
  if (m == mode::md5)
    check_md5(initial);
  else
    check_scram(initial, response, m, tls);
  return 0;
}
