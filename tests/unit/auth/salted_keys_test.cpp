// The derived-keys cache: the same keys as PBKDF2 computed each time, PBKDF2 run once per
// (password, salt, iterations), a stable salt per plaintext password, and a bounded size.
#include <catch2/catch.hpp>

#include "gateway/auth/crypto.hpp"
#include "gateway/auth/salted_keys.hpp"
#include "gateway/auth/scram_secret.hpp"

using namespace sluice::auth;

namespace {
bytes salt_of(const std::string& s) {
  return bytes(s.begin(), s.end());
}
}  // namespace

TEST_CASE("salted keys: the keys PBKDF2 gives, derived once per password, salt and count",
          "[auth]") {
  const auto salt = salt_of("0123456789abcdef");
  const auto direct = salted_password("pencil", salt, 4096);
  const auto before = salted_keys_derived();
  const auto first = derive_salted_keys("pencil", salt, 4096);
  CHECK(first.client_key == client_key_from(direct));
  CHECK(first.server_key == server_key_from(direct));
  CHECK(salted_keys_derived() == before + 1);
  CHECK(derive_salted_keys("pencil", salt, 4096) == first);
  CHECK(salted_keys_derived() == before + 1);  // from memory
  // Any input that differs is another derivation with other keys.
  const salted_keys others[] = {derive_salted_keys("pencil2", salt, 4096),
                                derive_salted_keys("pencil", salt_of("0123456789abcdeg"), 4096),
                                derive_salted_keys("pencil", salt, 4097)};
  CHECK(salted_keys_derived() == before + 4);
  for (const auto& o : others)
    CHECK_FALSE(o == first);
  // Lengths are part of the digest: a password ending where the salt begins is no clash.
  CHECK_FALSE(derive_salted_keys("ab", salt_of("c"), 1) ==
              derive_salted_keys("a", salt_of("bc"), 1));
}

TEST_CASE("salted keys: a plaintext password's secret keeps its salt, and PBKDF2 runs once",
          "[auth]") {
  const auto a = plaintext_salt("hunter2");
  CHECK(a.size() == kDefaultSaltLen);
  CHECK(plaintext_salt("hunter2") == a);
  CHECK_FALSE(plaintext_salt("hunter3") == a);
  const auto before = salted_keys_derived();
  auto one = scram_secret_for("correct horse battery staple, plaintext");
  auto two = scram_secret_for("correct horse battery staple, plaintext");
  REQUIRE(one);
  REQUIRE(two);
  CHECK(one.value() == two.value());
  CHECK(salted_keys_derived() == before + 1);
  // Still a secret that PostgreSQL's formula gives for that password and salt.
  const auto salted = salted_password("correct horse battery staple, plaintext", one->salt, 4096);
  CHECK(one->stored_key == sha256(client_key_from(salted)));
  CHECK(one->server_key == server_key_from(salted));
}

TEST_CASE("salted keys: the cache stays bounded however many salts a server sends", "[auth]") {
  // A server may send a new salt on every login; one iteration keeps this fast.
  for (size_t i = 0; i < kSaltedKeysKept + 10; ++i)
    derive_salted_keys("pw", salt_of("salt-" + std::to_string(i)), 1);
  CHECK(salted_keys_cached() <= kSaltedKeysKept);
  CHECK(salted_keys_cached() >= kSaltedKeysKept / 2);
  // The newest entries are the ones kept.
  const auto before = salted_keys_derived();
  derive_salted_keys("pw", salt_of("salt-" + std::to_string(kSaltedKeysKept + 9)), 1);
  CHECK(salted_keys_derived() == before);
}
