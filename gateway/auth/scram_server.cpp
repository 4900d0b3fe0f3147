#include "gateway/auth/scram_server.hpp"

namespace sluice::auth {

namespace {

constexpr size_t kRawNonceLen = 18;  // PostgreSQL's SCRAM_RAW_NONCE_LEN

// Set once at start-up (before any session) by set_process_mock_key; a random key until then.
bytes& process_mock_key() {
  static bytes k = random_bytes(32);
  return k;
}

auth_error invalid_mechanism() {
  return {sqlstate::kProtocolViolation, "client selected an invalid SASL authentication mechanism",
          ""};
}

}  // namespace

void set_process_mock_key(bytes key) {
  if (!key.empty())
    process_mock_key() = std::move(key);
}

bytes mock_salt(byte_view mock_key, std::string_view user) {
  auto h = hmac_sha256(mock_key, user);
  return bytes(h.begin(), h.begin() + kDefaultSaltLen);
}

scram_server::scram_server(scram_server_options opts) : opts_(std::move(opts)) {
  if (opts_.secret) {
    secret_ = *opts_.secret;
  } else {
    const bytes& k = opts_.mock_key.empty() ? process_mock_key() : opts_.mock_key;
    secret_.salt = mock_salt(k, opts_.user);
    secret_.iterations = opts_.mock_iterations;
    doomed_ = true;  // StoredKey stays zero: no proof can match it
  }
}

std::vector<std::string> scram_server::mechanisms() const {
  std::vector<std::string> m;
  if (!opts_.channel_binding.empty())
    m.emplace_back(kScramSha256Plus);
  m.emplace_back(kScramSha256);
  return m;
}

server_step scram_server::fail(auth_error e, std::string log_detail) {
  state_ = state::failed;
  server_step s;
  s.result = server_step::kind::failure;
  s.error = std::move(e);
  s.log_detail = std::move(log_detail);
  return s;
}

server_step scram_server::start(std::string_view mechanism, std::string_view client_first) {
  if (state_ != state::initial)
    return fail({sqlstate::kInternal, "invalid SCRAM exchange state", ""});
  const bool can_bind = !opts_.channel_binding.empty();
  if (mechanism == kScramSha256Plus && can_bind)
    plus_ = true;
  else if (mechanism == kScramSha256)
    plus_ = false;
  else
    return fail(invalid_mechanism());

  // The gs2 flag against the mechanism, checked before the rest, in PostgreSQL's order.
  const char flag = client_first.empty() ? '\0' : client_first[0];
  if ((flag == 'n' || flag == 'y') && plus_) {
    return fail(
        malformed("The client selected SCRAM-SHA-256-PLUS, but the SCRAM message does not include "
                  "channel binding data."));
  }
  if (flag == 'y' && can_bind) {
    return fail({sqlstate::kInvalidAuthorization, "SCRAM channel binding negotiation error",
                 "The client supports SCRAM channel binding but thinks the server does not.  "
                 "However, this server does support channel binding."},
                "the client was not offered SCRAM-SHA-256-PLUS (gs2 flag y): a downgrade");
  }
  if (flag == 'p' && !plus_) {
    return fail(malformed(
        "The client selected SCRAM-SHA-256 without channel binding, but the SCRAM message "
        "includes channel binding data."));
  }
  auto parsed = parse_client_first(client_first);
  if (!parsed)
    return fail(parsed.error());
  first_ = std::move(parsed).value();

  server_nonce_ =
      opts_.server_nonce.empty() ? base64_encode(random_bytes(kRawNonceLen)) : opts_.server_nonce;
  server_first_ = "r=" + first_.nonce + server_nonce_ + ",s=" + base64_encode(secret_.salt) +
                  ",i=" + std::to_string(secret_.iterations);
  state_ = state::sent_first;
  server_step s;
  s.result = server_step::kind::challenge;
  s.data = server_first_;
  return s;
}

server_step scram_server::finish(std::string_view client_final) {
  if (state_ != state::sent_first)
    return fail({sqlstate::kInternal, "invalid SCRAM exchange state", ""});
  auto parsed = parse_client_final(client_final);
  if (!parsed)
    return fail(parsed.error());
  const auto& m = parsed.value();

  if (plus_) {
    if (m.channel_binding != channel_binding_attribute(first_.gs2_header, opts_.channel_binding))
      return fail({sqlstate::kInvalidAuthorization, "SCRAM channel binding check failed", ""});
  } else if (!(m.channel_binding == "biws" && first_.cbind_flag == 'n') &&
             !(m.channel_binding == "eSws" && first_.cbind_flag == 'y')) {
    return fail({sqlstate::kProtocolViolation,
                 "unexpected SCRAM channel-binding attribute in client-final-message", ""});
  }
  if (m.nonce != first_.nonce + server_nonce_) {
    return fail({sqlstate::kProtocolViolation, "invalid SCRAM response", "Nonce does not match."},
                "nonce mismatch (a replayed or foreign client-final-message)");
  }

  // The proof is checked in mock exchanges too, so that timing does not tell them apart.
  const auto auth = auth_message(first_.bare, server_first_, m.without_proof);
  const auto client_signature = hmac_sha256(secret_.stored_key, auth);
  key client_key{};
  for (size_t i = 0; i < kKeyLen; ++i)
    client_key[i] = m.proof[i] ^ client_signature[i];
  const bool proof_ok = equal_ct(sha256(client_key), secret_.stored_key);
  if (!proof_ok || doomed_) {
    return fail(password_failed(opts_.user),
                doomed_ ? "no SCRAM secret for this user (mock exchange)" : "wrong proof");
  }
  client_key_ = client_key;
  const auto server_signature = hmac_sha256(secret_.server_key, auth);
  state_ = state::done;
  server_step s;
  s.result = server_step::kind::success;
  s.data = "v=" + base64_encode(server_signature);
  return s;
}

}  // namespace sluice::auth
