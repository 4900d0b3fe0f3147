// Crypto wrappers, stored-secret formats and md5, against fixed vectors and against
// secrets made by a real PostgreSQL 15.
#include <catch2/catch.hpp>

#include "gateway/auth/crypto.hpp"
#include "gateway/auth/md5_auth.hpp"
#include "gateway/auth/scram_secret.hpp"
#include "tests/support/auth_error_maker.hpp"

using namespace sluice::auth;

namespace {
// Made once with PostgreSQL 15.x (`create role alice login password '...'`, then
// `set password_encryption = 'md5'; create role bob login password 'hunter2'`, and
// `select rolpassword from pg_authid`). The integration test in tests/integration/auth
// does the same against a live server.
constexpr const char* kPgAliceSecret =
    "SCRAM-SHA-256$4096:PY36Dqeq4n82Vxu0BCrlWw==$Z67TAOkFwh1dIqtpTBct8IN55/MPwMFpKbyJ3BRtoU0=:"
    "Dk4RFx2DWKH14Iy+GkiJTFLMOylbcVQ91dp5p6PZ9IY=";
constexpr const char* kPgAlicePassword = "correct horse battery staple";
constexpr const char* kPgBobMd5 = "md5a2cc14bcc08bcb211f578153967abd6d";
}  // namespace

TEST_CASE("base64: RFC 4648 vectors both ways, strict decoding", "[auth]") {
  const std::pair<std::string, std::string> rows[] = {
      {"", ""},
      {"f", "Zg=="},
      {"fo", "Zm8="},
      {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="},
      {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"},
  };
  for (const auto& [plain, enc] : rows) {
    INFO(plain);
    CHECK(base64_encode(as_bytes(plain)) == enc);
    auto dec = base64_decode(enc);
    REQUIRE(dec);
    CHECK(std::string(as_chars(*dec)) == plain);
  }
  for (const char* bad :
       {"Zg=", "Zg", "Z===", "Zm9v\n", " Zm9v", "Zm=v", "Zm9v====", "Zm-v", "====", "Zg==Zg=="}) {
    INFO(bad);
    CHECK_FALSE(base64_decode(bad));
  }
}

TEST_CASE("crypto: SHA-256, HMAC and PBKDF2 known answers", "[auth]") {
  CHECK(base64_encode(sha256(as_bytes("abc"))) == "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=");
  // RFC 4231 test case 2 (5bdcc146...ec3843).
  auto h = hmac_sha256(as_bytes("Jefe"), "what do ya want for nothing?");
  CHECK(base64_encode(h) == "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM=");
  CHECK(md5_hex("") == "d41d8cd98f00b204e9800998ecf8427e");
  CHECK(equal_ct(as_bytes("abc"), as_bytes("abc")));
  CHECK_FALSE(equal_ct(as_bytes("abc"), as_bytes("abd")));
  CHECK_FALSE(equal_ct(as_bytes("abc"), as_bytes("ab")));
  CHECK(random_bytes(18).size() == 18);
  CHECK(random_bytes(18) != random_bytes(18));
}

TEST_CASE("scram secret: PostgreSQL 15's rolpassword parses, round-trips and re-derives",
          "[auth]") {
  auto s = parse_scram_secret(kPgAliceSecret);
  REQUIRE(s);
  CHECK(s->iterations == 4096);
  CHECK(s->salt.size() == 16);
  CHECK(format_scram_secret(s.value()) == kPgAliceSecret);
  // The same password, salt and iteration count give PostgreSQL's StoredKey and ServerKey.
  CHECK(make_scram_secret(kPgAlicePassword, s->salt, s->iterations) == s.value());
  CHECK(make_scram_secret("correct horse battery stapl", s->salt, 4096) != s.value());
  CHECK(classify_secret(kPgAliceSecret) == secret_kind::scram_sha_256);
}

TEST_CASE("scram secret: every malformed form is refused with a reason", "[auth]") {
  const std::string salt = "PY36Dqeq4n82Vxu0BCrlWw==";
  const std::string k = "Z67TAOkFwh1dIqtpTBct8IN55/MPwMFpKbyJ3BRtoU0=";
  struct row {
    std::string in;
    const char* detail_has;
  };
  const row rows[] = {
      {"", "does not start"},
      {"SCRAM-SHA-1$4096:" + salt + "$" + k + ":" + k, "does not start"},
      {"SCRAM-SHA-256$4096:" + salt, "expected"},
      {"SCRAM-SHA-256$4096" + salt + "$" + k + ":" + k, "expected"},
      {"SCRAM-SHA-256$4096:" + salt + "$" + k + k, "expected"},
      {"SCRAM-SHA-256$:" + salt + "$" + k + ":" + k, "iteration"},
      {"SCRAM-SHA-256$0:" + salt + "$" + k + ":" + k, "iteration"},
      {"SCRAM-SHA-256$-1:" + salt + "$" + k + ":" + k, "iteration"},
      {"SCRAM-SHA-256$40x:" + salt + "$" + k + ":" + k, "iteration"},
      {"SCRAM-SHA-256$99999999999:" + salt + "$" + k + ":" + k, "iteration"},
      {"SCRAM-SHA-256$4096:$" + k + ":" + k, "salt"},
      {"SCRAM-SHA-256$4096:!!!!$" + k + ":" + k, "salt"},
      {"SCRAM-SHA-256$4096:" + salt + "$" + "AAAA:" + k, "StoredKey decodes to 3 bytes"},
      {"SCRAM-SHA-256$4096:" + salt + "$" + k + ":" + std::string(44, 'A'),
       "ServerKey decodes to 33 bytes"},
      {"SCRAM-SHA-256$4096:" + salt + "$" + k + ":" + k.substr(1), "ServerKey is not"},
  };
  for (const auto& r : rows) {
    INFO(r.in);
    auto s = parse_scram_secret(r.in);
    REQUIRE_FALSE(s);
    CHECK(s.error().message == "invalid SCRAM secret");
    CHECK_THAT(s.error().detail, Catch::Contains(r.detail_has));
    CHECK(classify_secret(r.in) == secret_kind::plaintext);
  }
}

TEST_CASE("stored secrets are told apart by PostgreSQL's rule", "[auth]") {
  CHECK(classify_secret(kPgBobMd5) == secret_kind::md5);
  CHECK(classify_secret("md5A2CC14BCC08BCB211F578153967ABD6D") == secret_kind::plaintext);
  CHECK(classify_secret("md5a2cc14bcc08bcb211f578153967abd6") == secret_kind::plaintext);
  CHECK(classify_secret("md5a2cc14bcc08bcb211f578153967abd6dd") == secret_kind::plaintext);
  CHECK(classify_secret("hunter2") == secret_kind::plaintext);
}

TEST_CASE("md5: PostgreSQL's secret and the client's salted answer", "[auth]") {
  CHECK(md5_secret("hunter2", "bob") == kPgBobMd5);
  CHECK(md5_secret("postgres", "postgres") == "md53175bce1d3201d16594cebf9d7eb3f9d");
  const md5_salt salt{0x01, 0x02, 0x03, 0x04};
  // md5(hex + salt), computed independently: python3 hashlib.
  CHECK(md5_response_from_secret(kPgBobMd5, salt) ==
        "md5" + md5_hex(std::string("a2cc14bcc08bcb211f578153967abd6d\x01\x02\x03\x04")));
  CHECK(md5_response_from_password("hunter2", "bob", salt) ==
        md5_response_from_secret(kPgBobMd5, salt));

  md5_server from_secret("bob", std::string(kPgBobMd5), salt);
  CHECK_FALSE(from_secret.check(md5_response_from_password("hunter2", "bob", salt)));
  auto wrong = from_secret.check(md5_response_from_password("hunter3", "bob", salt));
  REQUIRE(wrong);
  CHECK(wrong->sqlstate == "28P01");
  CHECK(wrong->message == "password authentication failed for user \"bob\"");
  CHECK(from_secret.check(""));
  CHECK(from_secret.check(md5_response_from_password("hunter2", "bob", {9, 9, 9, 9})));

  md5_server from_plain("bob", std::string("hunter2"), salt);
  CHECK_FALSE(from_plain.check(md5_response_from_password("hunter2", "bob", salt)));

  // Unknown user and a SCRAM-only user: the same error as a wrong password.
  md5_server unknown("bob", std::nullopt, salt);
  md5_server scram_only("bob", std::string(kPgAliceSecret), salt);
  for (const auto* s : {&unknown, &scram_only}) {
    auto e = s->check(md5_response_from_password("hunter2", "bob", salt));
    REQUIRE(e);
    CHECK(*e == *wrong);
  }
  CHECK(md5_server("bob", std::nullopt).salt() != md5_server("bob", std::nullopt).salt());
}

TEST_CASE("password preparation: ASCII and invalid UTF-8 as raw bytes, other UTF-8 refused",
          "[auth]") {
  CHECK(prepare_password("pencil").value() == "pencil");
  CHECK(prepare_password("tab\tand\x7f").value() == "tab\tand\x7f");
  CHECK(prepare_password("latin1 \xe9t\xe9").value() == "latin1 \xe9t\xe9");  // not UTF-8
  CHECK(prepare_password("overlong \xc0\xaf").ok());
  CHECK(prepare_password("truncated \xe2\x82").ok());
  auto u = prepare_password("caf\xc3\xa9");
  REQUIRE_FALSE(u);
  CHECK(u.error().sqlstate == "0A000");
  CHECK_THAT(u.error().detail, Catch::Contains("SCRAM-SHA-256$"));
}

TEST_CASE("scram_secret_for: SCRAM as is, plaintext made into SCRAM, md5 refused", "[auth]") {
  auto scram = scram_secret_for(kPgAliceSecret);
  REQUIRE(scram);
  CHECK(format_scram_secret(scram.value()) == kPgAliceSecret);
  auto plain = scram_secret_for("hunter2");
  REQUIRE(plain);
  CHECK(plain->iterations == 4096);
  CHECK(plain->salt.size() == 16);
  CHECK(make_scram_secret("hunter2", plain->salt, 4096) == plain.value());
  auto md5 = scram_secret_for(kPgBobMd5);
  REQUIRE_FALSE(md5);
  CHECK(md5.error().message == "md5 secret cannot be used for SCRAM");
  CHECK_FALSE(scram_secret_for("caf\xc3\xa9"));
}
