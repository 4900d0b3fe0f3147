// The SCRAM-SHA-256 server side of PostgreSQL's SASL authentication, as a pure state
// machine: fed the client's two messages, it answers with server-first, then
// server-final, or ends with PostgreSQL's error. No I/O; the caller frames the messages
// (AuthenticationSASL / SASLContinue / SASLFinal, SASLInitialResponse / SASLResponse).
//
// - SCRAM-SHA-256-PLUS with tls-server-end-point when the caller gives the binding data
//   of the certificate it presented; a client sending gs2 flag `y` then is refused as a
//   downgrade (28000 "SCRAM channel binding negotiation error"), as PostgreSQL does.
// - Unknown users (no secret): a mock exchange with a salt derived from a server key and
//   the user name, so it is stable per name, ending exactly like a wrong password.
// - On success the ClientKey the client used is recovered (ClientProof XOR
//   ClientSignature): with the stored secret it lets the server leg log in as the user.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/auth/auth_error.hpp"
#include "gateway/auth/crypto.hpp"
#include "gateway/auth/scram_messages.hpp"
#include "gateway/auth/scram_secret.hpp"

namespace sluice::auth {

struct scram_server_options {
  std::string user;                    // from the startup packet (PostgreSQL ignores n=)
  std::optional<scram_secret> secret;  // nullopt: unknown user or no SCRAM secret → mock
  // tls-server-end-point hash of the certificate this side presented; empty when the
  // client leg is not TLS (then -PLUS is not offered).
  bytes channel_binding;
  // Key for mock salts; empty = the process's key (set_process_mock_key, else random).
  bytes mock_key;
  int mock_iterations = kDefaultIterations;
  std::string server_nonce;  // tests only; empty = 18 random bytes, base64
};

struct server_step {
  enum class kind { challenge, success, failure };
  kind result = kind::failure;
  std::string data;  // server-first (challenge) or server-final (success)
  auth_error error;  // failure
  // Why, for the log only; never sent (it would tell a prober which users exist).
  std::string log_detail;

  bool failed() const { return result == kind::failure; }
};

// The process's mock-salt key, kept across restarts by the caller (gateway/mock_key_file.hpp)
// so an unknown user's salt does not change when the gateway restarts while a real user's
// does not either. Call before any scram_server exists; an empty key is ignored.
void set_process_mock_key(bytes key);

// The mock salt PostgreSQL-style: HMAC-SHA-256(mock_key, user), first 16 bytes.
bytes mock_salt(byte_view mock_key, std::string_view user);

class scram_server {
 public:
  explicit scram_server(scram_server_options opts);

  // The mechanisms to list in AuthenticationSASL, preferred first.
  std::vector<std::string> mechanisms() const;

  // SASLInitialResponse: the mechanism the client chose and client-first-message.
  server_step start(std::string_view mechanism, std::string_view client_first);
  // SASLResponse: client-final-message.
  server_step finish(std::string_view client_final);

  bool succeeded() const { return state_ == state::done; }
  // The client's ClientKey, after success.
  const std::optional<key>& client_key() const { return client_key_; }
  // True when the exchange was SCRAM-SHA-256-PLUS (bound to our certificate).
  bool channel_bound() const { return plus_; }

 private:
  enum class state { initial, sent_first, done, failed };
  server_step fail(auth_error e, std::string log_detail = {});

  scram_server_options opts_;
  scram_secret secret_;
  bool doomed_ = false;  // mock exchange: ends with password_failed whatever the proof
  state state_ = state::initial;
  bool plus_ = false;
  client_first_message first_;
  std::string server_first_;
  std::string server_nonce_;
  std::optional<key> client_key_;
};

}  // namespace sluice::auth
