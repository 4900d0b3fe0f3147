// The built sluice binary carries the hardening of cmake/hardening.cmake, as
// `hardening-check` (devscripts) sees it: PIE, stack protector, _FORTIFY_SOURCE, full
// RELRO (read-only relocations + immediate binding), stack clash protection.
#include <catch2/catch.hpp>
#include <string>

#include "tests/support/paths.hpp"
#include "tests/support/process.hpp"

using namespace sluice::test;

namespace {

// This test is compiled with the same flags as sluice: _FORTIFY_SOURCE is only on in
// optimised builds without ASan (cmake/hardening.cmake).
#if defined(__OPTIMIZE__) && !defined(__SANITIZE_ADDRESS__)
constexpr bool kFortified = true;
#else
constexpr bool kFortified = false;
#endif

}  // namespace

TEST_CASE("the sluice binary is PIE with stack protector, fortify and full RELRO", "[hardening]") {
  auto r = run("hardening-check " + shell_quote(kSluiceBin) + " 2>&1");
  INFO(r.output);
  REQUIRE_THAT(r.output, Catch::Contains("Position Independent Executable"));
  CHECK_THAT(r.output, Catch::Contains("Position Independent Executable: yes"));
  CHECK_THAT(r.output, Catch::Contains("Stack protected: yes"));
  CHECK_THAT(r.output, Catch::Contains("Read-only relocations: yes"));
  CHECK_THAT(r.output, Catch::Contains("Immediate binding: yes"));
  CHECK_THAT(r.output, Catch::Contains("Stack clash protection: yes"));
  // Not checked: "Control flow integrity" stays "no" although -fcf-protection is on,
  // since not every object linked in carries the CET property note.
  if (kFortified)
    CHECK_THAT(r.output, Catch::Contains("Fortify Source functions: yes"));
}
