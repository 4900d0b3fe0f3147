// PgBouncer's auth_file format: quoting, comments, secret kinds, and errors by line.
#include <catch2/catch.hpp>

#include "gateway/auth/auth_file.hpp"

using namespace sluice::auth;

namespace {
constexpr const char* kScram =
    "SCRAM-SHA-256$4096:PY36Dqeq4n82Vxu0BCrlWw==$Z67TAOkFwh1dIqtpTBct8IN55/MPwMFpKbyJ3BRtoU0=:"
    "Dk4RFx2DWKH14Iy+GkiJTFLMOylbcVQ91dp5p6PZ9IY=";
}

TEST_CASE("auth_file: users with SCRAM, md5 and plaintext secrets", "[auth_file]") {
  const std::string text = std::string("; written by mkauth\n") + "\"alice\" \"" + kScram +
                           "\"\n"
                           "\n"
                           "   # indented comment\n"
                           "\"bob\"\t\"md5a2cc14bcc08bcb211f578153967abd6d\" trailing fields\r\n"
                           "\"say \"\"hi\"\"\" \"pa\"\"ss word\"\n"
                           "  \"carol\"   \"plain;text#\"";  // no final newline
  auto r = parse_auth_file(text);
  INFO((r.ok() ? "" : r.errors[0].describe()));
  REQUIRE(r.ok());
  REQUIRE(r.entries.size() == 4);
  CHECK(r.entries[0].user == "alice");
  CHECK(r.entries[0].secret == kScram);
  CHECK(r.entries[0].kind == secret_kind::scram_sha_256);
  CHECK(r.entries[0].line == 2);
  CHECK(r.entries[1].user == "bob");
  CHECK(r.entries[1].kind == secret_kind::md5);
  CHECK(r.entries[1].line == 5);
  CHECK(r.entries[2].user == "say \"hi\"");
  CHECK(r.entries[2].secret == "pa\"ss word");
  CHECK(r.entries[2].kind == secret_kind::plaintext);
  CHECK(r.entries[3].user == "carol");
  CHECK(r.entries[3].secret == "plain;text#");
  CHECK(r.entries[3].line == 7);
}

TEST_CASE("auth_file: empty files and comment-only files have no users", "[auth_file]") {
  for (const char* t : {"", "\n\n", "; only\n# comments\n", "   \t\r\n"}) {
    auto r = parse_auth_file(t);
    CHECK(r.ok());
    CHECK(r.entries.empty());
  }
}

TEST_CASE("auth_file: every broken line is named, good lines are kept", "[auth_file]") {
  struct row {
    std::string line;
    const char* message;
  };
  const row rows[] = {
      {"alice \"pw\"", "expected the user name in double quotes, found 'a'"},
      {"\"alice\"", "expected the password in double quotes, found the end of the line"},
      {"\"alice\"   ", "expected the password in double quotes, found the end of the line"},
      {"\"alice\" pw", "expected the password in double quotes, found 'p'"},
      {"\"alice\"x\"pw\"", "expected blanks between the user name and the password"},
      {"\"alice\"\"pw\"", "expected the password in double quotes, found the end of the line"},
      {"\"alice\" \"pw", "the password has no closing double quote on this line"},
      {"\"alice", "the user name has no closing double quote on this line"},
      {"\"\" \"pw\"", "the user name is empty"},
      {"\"alice\" \"\"", "the password of user \"alice\" is empty"},
      {"\"alice\" \"SCRAM-SHA-256$4096:salt\"",
       "the SCRAM secret of user \"alice\" is malformed: expected "
       "<iterations>:<salt>$<StoredKey>:<ServerKey>"},
      {std::string("\"al\0ce\" \"pw\"", 12), "contains a NUL byte"},
  };
  for (const auto& r : rows) {
    INFO(r.line);
    auto res = parse_auth_file("\"first\" \"pw\"\n" + r.line + "\n\"last\" \"pw\"\n");
    REQUIRE(res.errors.size() == 1);
    CHECK(res.errors[0].line == 2);
    CHECK(res.errors[0].message == r.message);
    CHECK(res.errors[0].describe() == "auth_file line 2: " + std::string(r.message));
    REQUIRE(res.entries.size() == 2);
    CHECK(res.entries[1].line == 3);
  }
}

TEST_CASE("auth_file: a user listed twice is an error naming both lines", "[auth_file]") {
  auto r = parse_auth_file("\"alice\" \"a\"\n\"bob\" \"b\"\n\"alice\" \"c\"\n");
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].describe() == "auth_file line 3: user \"alice\" is already listed on line 1");
  REQUIRE(r.entries.size() == 2);
  CHECK(r.entries[0].secret == "a");
}

TEST_CASE("auth_file: a field cannot run across lines", "[auth_file]") {
  auto r = parse_auth_file("\"alice\" \"multi\nline\"\n");
  REQUIRE(r.errors.size() == 2);
  CHECK(r.errors[0].line == 1);
  CHECK(r.errors[1].line == 2);
  CHECK(r.entries.empty());
}
