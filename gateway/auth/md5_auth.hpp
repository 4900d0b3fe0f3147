// PostgreSQL's md5 password authentication (AuthenticationMD5Password): the secret is
// "md5" + md5(password + user), the client answers "md5" + md5(hex(secret) + salt).
// Both sides, as pure functions and a small server object.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "gateway/auth/auth_error.hpp"
#include "gateway/auth/crypto.hpp"

namespace sluice::auth {

using md5_salt = std::array<uint8_t, 4>;

// What pg_authid stores for an md5 password.
std::string md5_secret(std::string_view password, std::string_view user);
// The PasswordMessage a client sends, from the stored md5 secret ("md5" + 32 hex).
std::string md5_response_from_secret(std::string_view secret, const md5_salt& salt);
// The same from the password (what libpq computes).
std::string md5_response_from_password(std::string_view password, std::string_view user,
                                       const md5_salt& salt);

// The client leg's md5 check. `stored` is the user's md5 secret or plaintext password;
// nullopt (unknown user, or a SCRAM secret, which cannot answer md5) still issues a salt
// and fails like a wrong password.
class md5_server {
 public:
  md5_server(std::string user, std::optional<std::string> stored,
             std::optional<md5_salt> salt = std::nullopt);
  const md5_salt& salt() const { return salt_; }
  // The PasswordMessage's string (without its NUL). Success, or 28P01.
  std::optional<auth_error> check(std::string_view response) const;

 private:
  std::string user_;
  std::optional<std::string> secret_;  // "md5..." or nullopt (doomed)
  md5_salt salt_{};
};

}  // namespace sluice::auth
