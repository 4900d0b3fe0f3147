// The SCRAM-SHA-256 client side, for the server leg: sluice logging in to PostgreSQL as
// the user. A pure state machine like scram_server; the caller frames the messages.
//
// Credentials are either the password, or the ClientKey recovered by scram_server plus
// the stored secret it was checked against (its ServerKey verifies the server, its salt
// and iteration count must be what the server sends: otherwise the server holds another
// secret and the ClientKey cannot work). The server's signature is always verified: a
// server that cannot prove it knows the secret is refused.
//
// Channel binding as libpq does it: on TLS, SCRAM-SHA-256-PLUS with tls-server-end-point
// of the server's certificate when offered, gs2 flag `y` when not; `n` without TLS.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/auth/auth_error.hpp"
#include "gateway/auth/crypto.hpp"
#include "gateway/auth/scram_secret.hpp"

namespace sluice::auth {

struct scram_client_options {
  std::string user;      // n= of client-first (escaped); PostgreSQL clients send it empty
  std::string password;  // used when client_key is not set
  // Recovered ClientKey and the stored secret it belongs to.
  std::optional<key> client_key;
  std::optional<scram_secret> secret;
  // tls-server-end-point hash of the server's certificate; empty when the leg is not TLS.
  bytes channel_binding;
  bool require_channel_binding = false;  // refuse servers that do not offer -PLUS
  std::string client_nonce;              // tests only; empty = 18 random bytes, base64
};

// The highest iteration count the password path computes (see on_server_first).
inline constexpr int kMaxServerIterations = 1'000'000;

struct client_first {
  std::string mechanism;  // for SASLInitialResponse
  std::string message;    // client-first-message
};

class scram_client {
 public:
  explicit scram_client(scram_client_options opts);

  // AuthenticationSASL's mechanism list → the choice and client-first-message.
  outcome<client_first> start(const std::vector<std::string>& offered);
  // server-first-message → client-final-message.
  outcome<std::string> on_server_first(std::string_view server_first);
  // server-final-message → verified (true) or the reason it is refused. Only after this
  // succeeded may AuthenticationOk be believed.
  outcome<bool> on_server_final(std::string_view server_final);

  bool verified() const { return state_ == state::done; }
  bool channel_bound() const { return plus_; }

 private:
  enum class state { initial, sent_first, sent_final, done, failed };
  auth_error fail(auth_error e);

  scram_client_options opts_;
  state state_ = state::initial;
  bool plus_ = false;
  std::string gs2_header_;
  std::string nonce_;
  std::string first_bare_;
  std::string auth_message_;
  key server_key_{};
};

}  // namespace sluice::auth
