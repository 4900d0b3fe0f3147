#include "gateway/auth/scram_client.hpp"

#include <algorithm>

#include "gateway/auth/salted_keys.hpp"
#include "gateway/auth/scram_messages.hpp"

namespace sluice::auth {

namespace {

constexpr size_t kRawNonceLen = 18;

auth_error refused(std::string message, std::string detail = {}) {
  return {sqlstate::kInvalidAuthorization, std::move(message), std::move(detail)};
}

}  // namespace

scram_client::scram_client(scram_client_options opts) : opts_(std::move(opts)) {}

auth_error scram_client::fail(auth_error e) {
  state_ = state::failed;
  return e;
}

outcome<client_first> scram_client::start(const std::vector<std::string>& offered) {
  if (state_ != state::initial)
    return fail({sqlstate::kInternal, "invalid SCRAM exchange state", ""});
  if (opts_.client_key && !opts_.secret) {
    return fail({sqlstate::kInternal, "SCRAM client misconfigured",
                 "a recovered ClientKey needs the stored secret it belongs to"});
  }
  auto has = [&](std::string_view m) {
    return std::find(offered.begin(), offered.end(), m) != offered.end();
  };
  const bool on_tls = !opts_.channel_binding.empty();
  client_first out;
  if (on_tls && has(kScramSha256Plus)) {
    plus_ = true;
    out.mechanism = kScramSha256Plus;
    gs2_header_ = "p=" + std::string(kTlsServerEndPoint) + ",,";
  } else if (opts_.require_channel_binding) {
    return fail(
        refused("channel binding is required, but the server did not offer "
                "SCRAM-SHA-256-PLUS",
                on_tls ? "" : "the connection to the server is not TLS"));
  } else if (has(kScramSha256)) {
    out.mechanism = kScramSha256;
    // `y`: we could bind but the server offers no binding; a server that does support it
    // will take this as a downgrade attack and refuse, which is the point.
    gs2_header_ = on_tls ? "y,," : "n,,";
  } else {
    return fail({sqlstate::kFeatureNotSupported,
                 "none of the server's SASL authentication mechanisms are supported", ""});
  }
  nonce_ =
      opts_.client_nonce.empty() ? base64_encode(random_bytes(kRawNonceLen)) : opts_.client_nonce;
  // PostgreSQL takes the user from the startup packet; n= is normally empty.
  std::string user;
  for (char c : opts_.user)
    user += c == '=' ? "=3D" : c == ',' ? "=2C" : std::string(1, c);
  first_bare_ = "n=" + user + ",r=" + nonce_;
  out.message = gs2_header_ + first_bare_;
  state_ = state::sent_first;
  return out;
}

outcome<std::string> scram_client::on_server_first(std::string_view server_first) {
  if (state_ != state::sent_first)
    return fail({sqlstate::kInternal, "invalid SCRAM exchange state", ""});
  auto parsed = parse_server_first(server_first);
  if (!parsed)
    return fail(parsed.error());
  const auto& m = parsed.value();
  if (m.nonce.size() <= nonce_.size() || m.nonce.compare(0, nonce_.size(), nonce_) != 0)
    return fail({sqlstate::kProtocolViolation, "invalid SCRAM response", "Nonce does not match."});

  key client_key{};
  if (opts_.client_key) {
    if (m.salt != opts_.secret->salt || m.iterations != opts_.secret->iterations) {
      return fail(
          refused("the server's SCRAM secret differs from the stored one",
                  "The server sent another salt or iteration count: the password was changed since "
                  "the secret was read. Refresh the stored secret."));
    }
    client_key = *opts_.client_key;
    server_key_ = opts_.secret->server_key;
  } else {
    // The password path runs PBKDF2 with the server's count on a worker thread that
    // serves other sessions too: a server asking for 2^31 rounds would stall them for
    // minutes. PostgreSQL's default is 4096; a million is far above any real setting.
    if (m.iterations > kMaxServerIterations) {
      return fail(
          refused("the server asked for " + std::to_string(m.iterations) + " SCRAM iterations",
                  "sluice computes at most " + std::to_string(kMaxServerIterations) +
                      " (PostgreSQL's default is 4096). Lower scram_iterations where this password "
                      "was set and set the password again, or check that this is the database you "
                      "meant to reach."));
    }
    auto prepared = prepare_password(opts_.password);
    if (!prepared)
      return fail(prepared.error());
    // Kept per (password, salt, iterations): the next login to this server skips PBKDF2.
    const auto keys = derive_salted_keys(prepared.value(), m.salt, m.iterations);
    client_key = keys.client_key;
    server_key_ = keys.server_key;
  }
  const std::string without_proof =
      "c=" +
      channel_binding_attribute(gs2_header_,
                                plus_ ? byte_view(opts_.channel_binding) : byte_view()) +
      ",r=" + m.nonce;
  auth_message_ = auth_message(first_bare_, server_first, without_proof);
  const auto signature = hmac_sha256(sha256(client_key), auth_message_);
  key proof{};
  for (size_t i = 0; i < kKeyLen; ++i)
    proof[i] = client_key[i] ^ signature[i];
  state_ = state::sent_final;
  return without_proof + ",p=" + base64_encode(proof);
}

outcome<bool> scram_client::on_server_final(std::string_view server_final) {
  if (state_ != state::sent_final)
    return fail({sqlstate::kInternal, "invalid SCRAM exchange state", ""});
  auto parsed = parse_server_final(server_final);
  if (!parsed)
    return fail(parsed.error());
  if (!parsed->error.empty()) {
    return fail(refused("the server refused the SCRAM exchange",
                        "server-final-message says \"e=" + parsed->error + "\""));
  }
  const auto expected = hmac_sha256(server_key_, auth_message_);
  if (!equal_ct(expected, parsed->signature)) {
    return fail(refused("incorrect server signature",
                        "The server could not prove that it knows the user's secret."));
  }
  state_ = state::done;
  return true;
}

}  // namespace sluice::auth
