// auth.mode: terminate, the client leg as pure logic: sluice is the server of the
// client's password authentication. SCRAM-SHA-256 (and SCRAM-SHA-256-PLUS bound to the
// certificate sluice presented, when the client leg is TLS) for SCRAM and plaintext
// secrets, md5 for md5 secrets; an unknown user gets the mock SCRAM exchange and ends
// like a wrong password. Fed whole frontend messages; the caller does the I/O.
#pragma once

#include <algorithm>
#include <optional>
#include <string>

#include "gateway/auth/md5_auth.hpp"
#include "gateway/auth/scram_server.hpp"
#include "gateway/pg_wire.hpp"

namespace sluice::gateway {

// What the secret lookup found for a user.
struct user_secret {
  std::string stored;  // rolpassword form: SCRAM secret, md5 secret or plaintext
  bool can_login = true;
  bool expired = false;  // rolvaliduntil in the past
};

class client_login {
 public:
  // `secret` nullopt: unknown user. `channel_binding`: tls-server-end-point of the
  // certificate sluice presented to this client (empty without TLS).
  client_login(std::string user, std::optional<user_secret> secret, auth::bytes channel_binding);

  // The first authentication request: AuthenticationSASL or AuthenticationMD5Password.
  pg::bytes begin();

  struct step {
    enum class kind { more, done, failed } result = kind::failed;
    pg::bytes to_client;  // SASLContinue while `more`
    auth::auth_error error;
    std::string log_detail;  // never sent
  };
  // One frontend message (type and body). `done`: the client proved the password; its
  // SASLFinal (if any) is in held_final(), to send with AuthenticationOk once the server
  // leg is logged in.
  step on_message(char type, pg::byte_span body);

  const pg::bytes& held_final() const { return held_final_; }
  bool used_md5() const { return md5_.has_value(); }
  bool channel_bound() const { return scram_ && scram_->channel_bound(); }
  const std::optional<auth::key>& client_key() const;

 private:
  step finish_ok(pg::bytes final_message);

  std::string user_;
  std::optional<user_secret> secret_;
  std::optional<auth::scram_server> scram_;
  std::optional<auth::md5_server> md5_;
  bool started_ = false;
  bool sent_first_ = false;
  bool done_ = false;
  pg::bytes held_final_;
};

// AuthenticationOk as a whole 'R' message.
pg::bytes encode_auth_ok();

}  // namespace sluice::gateway
