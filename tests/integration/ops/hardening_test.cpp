// The built sluice binary carries the hardening of cmake/hardening.cmake, as
// `hardening-check` (devscripts) sees it (tests/integration/ops/hardening_checks.hpp).
#include <catch2/catch.hpp>

#include "tests/integration/ops/hardening_checks.hpp"
#include "tests/support/paths.hpp"

using namespace sluice::test;

TEST_CASE("the sluice binary is PIE with stack protector, fortify and full RELRO", "[hardening]") {
  check_hardened(kSluiceBin);
}
