// auth.mode: terminate, the server leg as pure logic: sluice logs in to the database as
// the user. SCRAM-SHA-256(-PLUS, bound to the database's certificate on TLS) with the
// password or with the ClientKey the client leg recovered; md5 from the password or the
// md5 secret; cleartext only with a password. The server's SCRAM signature is verified
// before its AuthenticationOk is believed. Fed whole backend messages.
#pragma once

#include <optional>
#include <string>

#include "gateway/auth/scram_client.hpp"
#include "gateway/pg_wire.hpp"

namespace sluice::gateway {

struct server_credentials {
  std::string user;
  std::string password;                      // from auth_file plaintext or password_file
  std::optional<auth::key> client_key;       // recovered on the client leg
  std::optional<auth::scram_secret> secret;  // the secret client_key belongs to
  std::string md5_secret;                    // "md5..." when the stored secret is md5
  auth::bytes channel_binding;               // the database's certificate; empty = no TLS
};

class server_login {
 public:
  explicit server_login(server_credentials c);

  struct step {
    enum class kind { more, authenticated, failed } result = kind::failed;
    pg::bytes to_server;
    // failed: the backend's error (from_backend) or why sluice refused the server.
    pg::error_fields error;
    bool from_backend = false;
  };
  // One backend message. `authenticated` after a believed AuthenticationOk; what follows
  // (ParameterStatus, BackendKeyData, ReadyForQuery) belongs to auth_phase.
  step on_message(char type, pg::byte_span body);

  bool channel_bound() const { return scram_ && scram_->channel_bound(); }
  std::string mechanism() const { return mechanism_; }

 private:
  step fail(std::string sqlstate, std::string message, std::string detail = {});

  server_credentials c_;
  std::optional<auth::scram_client> scram_;
  std::string mechanism_;
  bool verified_ = false;  // SCRAM: the server's signature checked
};

// Frontend messages the two legs use.
pg::bytes encode_password_message(std::string_view s);  // 'p' with a NUL
pg::bytes encode_sasl_initial(std::string_view mechanism, std::string_view data);
pg::bytes encode_sasl_response(std::string_view data);

}  // namespace sluice::gateway
