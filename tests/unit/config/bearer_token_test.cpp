// The bearer-token check of the admin and sync ingest APIs, table-driven, byte for byte.
#include <catch2/catch.hpp>

#include "config/bearer_token.hpp"
#include "tests/support/process.hpp"

using sluice::config::bearer_token_matches;
using sluice::config::read_token_file;

TEST_CASE("bearer_token_matches: scheme, token, spaces and lengths", "[bearer]") {
  struct row {
    std::string header, expected;
    bool match;
  };
  const std::vector<row> rows = {
      {"Bearer s3cret", "s3cret", true},
      {"bearer s3cret", "s3cret", true},  // the scheme is case-insensitive
      {"BEARER s3cret", "s3cret", true},
      {"Bearer  s3cret \t", "s3cret", true},  // spaces around the token
      {"Bearer S3cret", "s3cret", false},     // the token is not
      {"Bearer s3cre", "s3cret", false},
      {"Bearer s3crett", "s3cret", false},
      {"Bearer s3cret", "", false},  // no token configured: nothing matches
      {"Bearer ", "", false},
      {"Bearer", "s3cret", false},
      {"Basic s3cret", "s3cret", false},
      {"Bearers3cret", "s3cret", false},
      {"s3cret", "s3cret", false},
      {"", "s3cret", false},
      {std::string("Bearer s3c\0et", 13), "s3cret", false},
      {"Bearer s3cret", std::string("s3cret\0", 7), false},
  };
  for (const auto& r : rows) {
    INFO("header [" << r.header << "] expected [" << r.expected << "]");
    CHECK(bearer_token_matches(r.header, r.expected) == r.match);
  }
}

TEST_CASE("read_token_file: the token less surrounding whitespace", "[bearer]") {
  sluice::test::temp_dir dir{"sluice-bearer"};
  CHECK(read_token_file(dir.write("a", "tok\n", 0600)) == "tok");
  CHECK(read_token_file(dir.write("b", "  tok \r\n", 0600)) == "tok");
  std::string error;
  CHECK_FALSE(read_token_file(dir.write("c", " \n", 0600), &error));
  CHECK(error.find("holds no token") != std::string::npos);
  CHECK_FALSE(read_token_file(dir.file("missing"), &error));
  CHECK(error.find("cannot read") != std::string::npos);
}
