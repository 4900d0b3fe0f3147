#include "gateway/auth/md5_auth.hpp"

#include "gateway/auth/scram_secret.hpp"

namespace sluice::auth {

std::string md5_secret(std::string_view password, std::string_view user) {
  std::string in(password);
  in.append(user);
  return "md5" + md5_hex(in);
}

std::string md5_response_from_secret(std::string_view secret, const md5_salt& salt) {
  std::string in(secret.substr(secret.size() >= 3 ? 3 : secret.size()));
  in.append(reinterpret_cast<const char*>(salt.data()), salt.size());
  return "md5" + md5_hex(in);
}

std::string md5_response_from_password(std::string_view password, std::string_view user,
                                       const md5_salt& salt) {
  return md5_response_from_secret(md5_secret(password, user), salt);
}

md5_server::md5_server(std::string user, std::optional<std::string> stored,
                       std::optional<md5_salt> salt)
    : user_(std::move(user)) {
  if (stored) {
    switch (classify_secret(*stored)) {
      case secret_kind::md5:
        secret_ = *stored;
        break;
      case secret_kind::plaintext:
        secret_ = md5_secret(*stored, user_);
        break;
      case secret_kind::scram_sha_256:
        break;  // no md5 answer can match a SCRAM secret
    }
  }
  if (salt) {
    salt_ = *salt;
  } else {
    auto r = random_bytes(salt_.size());
    std::copy(r.begin(), r.end(), salt_.begin());
  }
}

std::optional<auth_error> md5_server::check(std::string_view response) const {
  // Unknown users are compared against a throwaway value, so both paths do the same work.
  const std::string expected =
      md5_response_from_secret(secret_ ? *secret_ : md5_secret("", user_), salt_);
  if (!equal_ct(as_bytes(expected), as_bytes(response)) || !secret_)
    return password_failed(user_);
  return std::nullopt;
}

}  // namespace sluice::auth
