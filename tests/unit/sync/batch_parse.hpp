// Parsing an ingest batch in the sync unit tests: the batch when the body must parse,
// the error when it must not. The test fails at once otherwise, naming the line.
#pragma once

#include <catch2/catch.hpp>
#include <string>
#include <string_view>
#include <variant>

#include "sync/batch.hpp"

namespace sluice::sync {

inline batch parse_ok(std::string_view body) {
  auto r = parse_batch(std::string(body));
  if (auto* e = std::get_if<parse_error>(&r))
    FAIL("line " << e->line << ": " << e->reason);
  return std::get<batch>(r);
}

inline parse_error parse_bad(std::string_view body) {
  auto r = parse_batch(std::string(body));
  REQUIRE(std::holds_alternative<parse_error>(r));
  return std::get<parse_error>(r);
}

}  // namespace sluice::sync
