#include "gateway/auth/scram_secret.hpp"

#include <charconv>
#include <climits>

#include "gateway/auth/salted_keys.hpp"

namespace sluice::auth {

namespace {

auth_error bad_secret(std::string detail) {
  return {sqlstate::kInternal, "invalid SCRAM secret", std::move(detail)};
}

outcome<key> decode_key(std::string_view text, const char* name) {
  auto raw = base64_decode(text);
  if (!raw)
    return bad_secret(std::string(name) + " is not valid base64");
  if (raw->size() != kKeyLen) {
    return bad_secret(std::string(name) + " decodes to " + std::to_string(raw->size()) +
                      " bytes, not 32");
  }
  key k{};
  std::copy(raw->begin(), raw->end(), k.begin());
  return k;
}

}  // namespace

outcome<scram_secret> parse_scram_secret(std::string_view text) {
  constexpr std::string_view kScheme = "SCRAM-SHA-256$";
  if (text.substr(0, kScheme.size()) != kScheme)
    return bad_secret("it does not start with \"SCRAM-SHA-256$\"");
  text.remove_prefix(kScheme.size());
  auto dollar = text.find('$');
  if (dollar == std::string_view::npos)
    return bad_secret("expected <iterations>:<salt>$<StoredKey>:<ServerKey>");
  auto params = text.substr(0, dollar);
  auto keys = text.substr(dollar + 1);
  auto colon = params.find(':');
  auto key_colon = keys.find(':');
  if (colon == std::string_view::npos || key_colon == std::string_view::npos)
    return bad_secret("expected <iterations>:<salt>$<StoredKey>:<ServerKey>");

  scram_secret s;
  auto iter_text = params.substr(0, colon);
  auto [end, ec] =
      std::from_chars(iter_text.data(), iter_text.data() + iter_text.size(), s.iterations);
  if (iter_text.empty() || ec != std::errc() || end != iter_text.data() + iter_text.size() ||
      s.iterations < 1) {
    return bad_secret("the iteration count \"" + std::string(iter_text) +
                      "\" is not a positive integer");
  }
  auto salt = base64_decode(params.substr(colon + 1));
  if (!salt || salt->empty())
    return bad_secret("the salt is not valid, non-empty base64");
  s.salt = std::move(*salt);
  auto stored = decode_key(keys.substr(0, key_colon), "StoredKey");
  if (!stored)
    return stored.error();
  auto server = decode_key(keys.substr(key_colon + 1), "ServerKey");
  if (!server)
    return server.error();
  s.stored_key = stored.value();
  s.server_key = server.value();
  return s;
}

std::string format_scram_secret(const scram_secret& s) {
  return "SCRAM-SHA-256$" + std::to_string(s.iterations) + ":" + base64_encode(s.salt) + "$" +
         base64_encode(s.stored_key) + ":" + base64_encode(s.server_key);
}

key client_key_from(const key& salted) {
  return hmac_sha256(salted, "Client Key");
}
key server_key_from(const key& salted) {
  return hmac_sha256(salted, "Server Key");
}

scram_secret make_scram_secret(std::string_view password, byte_view salt, int iterations) {
  scram_secret s;
  s.iterations = iterations;
  s.salt.assign(salt.begin(), salt.end());
  const auto keys = derive_salted_keys(password, salt, iterations);
  s.stored_key = sha256(keys.client_key);
  s.server_key = keys.server_key;
  return s;
}

scram_secret make_scram_secret(std::string_view password) {
  return make_scram_secret(password, random_bytes(kDefaultSaltLen));
}

namespace {
// True when `s` is well-formed UTF-8 (no overlongs, surrogates or values past U+10FFFF).
bool valid_utf8(std::string_view s) {
  static const uint32_t min_for_len[] = {0, 0x80, 0x800, 0x10000};
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t n;  // continuation bytes
    if (c < 0x80)
      n = 0;
    else if ((c & 0xe0) == 0xc0)
      n = 1;
    else if ((c & 0xf0) == 0xe0)
      n = 2;
    else if ((c & 0xf8) == 0xf0)
      n = 3;
    else
      return false;
    if (s.size() - i <= n)
      return false;
    uint32_t cp = c & (0x7f >> n);
    for (size_t k = 1; k <= n; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80)
        return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if (cp < min_for_len[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      return false;
    i += n + 1;
  }
  return true;
}
}  // namespace

outcome<std::string> prepare_password(std::string_view password) {
  bool ascii = true;
  for (char c : password)
    ascii = ascii && static_cast<unsigned char>(c) < 0x80;
  if (ascii || !valid_utf8(password))
    return std::string(password);
  return auth_error{sqlstate::kFeatureNotSupported,
                    "password with non-ASCII characters is not supported",
                    "PostgreSQL normalizes such passwords with SASLprep, which sluice does not "
                    "implement; store the role's SCRAM secret (SCRAM-SHA-256$...) instead of "
                    "the password"};
}

secret_kind classify_secret(std::string_view stored) {
  if (stored.size() == 35 && stored.substr(0, 3) == "md5" &&
      stored.find_first_not_of("0123456789abcdef", 3) == std::string_view::npos) {
    return secret_kind::md5;
  }
  if (parse_scram_secret(stored))
    return secret_kind::scram_sha_256;
  return secret_kind::plaintext;
}

const char* to_string(secret_kind k) {
  switch (k) {
    case secret_kind::scram_sha_256:
      return "SCRAM-SHA-256";
    case secret_kind::md5:
      return "md5";
    case secret_kind::plaintext:
      return "plaintext";
  }
  return "?";
}

outcome<scram_secret> scram_secret_for(std::string_view stored) {
  switch (classify_secret(stored)) {
    case secret_kind::scram_sha_256:
      return parse_scram_secret(stored);
    case secret_kind::md5:
      return auth_error{sqlstate::kFeatureNotSupported, "md5 secret cannot be used for SCRAM",
                        "The user's stored secret is md5; authenticate the user with md5."};
    case secret_kind::plaintext:
      break;
  }
  auto prepared = prepare_password(stored);
  if (!prepared)
    return prepared.error();
  // The same salt for the same password: the secret's keys are derived once, not per login.
  return make_scram_secret(prepared.value(), plaintext_salt(prepared.value()));
}

}  // namespace sluice::auth
