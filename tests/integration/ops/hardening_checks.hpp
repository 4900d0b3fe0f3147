// What `hardening-check` (devscripts) must report for a sluice binary built with
// cmake/hardening.cmake: PIE, stack protector, _FORTIFY_SOURCE, full RELRO (read-only
// relocations + immediate binding), stack clash protection. Shared by the test of the
// built binary and the test of the packaged one.
#pragma once

#include <catch2/catch.hpp>
#include <string>

#include "tests/support/process.hpp"

namespace sluice::test {

inline void check_hardened(const std::string& binary) {
  // Compiled with the same flags as sluice: _FORTIFY_SOURCE is only on in optimised
  // builds without ASan (cmake/hardening.cmake).
#if defined(__OPTIMIZE__) && !defined(__SANITIZE_ADDRESS__)
  constexpr bool fortified = true;
#else
  constexpr bool fortified = false;
#endif
  auto r = run("hardening-check " + shell_quote(binary) + " 2>&1");
  INFO(r.output);
  REQUIRE_THAT(r.output, Catch::Contains("Position Independent Executable"));
  CHECK_THAT(r.output, Catch::Contains("Position Independent Executable: yes"));
  CHECK_THAT(r.output, Catch::Contains("Stack protected: yes"));
  CHECK_THAT(r.output, Catch::Contains("Read-only relocations: yes"));
  CHECK_THAT(r.output, Catch::Contains("Immediate binding: yes"));
  CHECK_THAT(r.output, Catch::Contains("Stack clash protection: yes"));
  // Not checked: "Control flow integrity" stays "no" although -fcf-protection is on,
  // since not every object linked in carries the CET property note.
  if (fortified)
    CHECK_THAT(r.output, Catch::Contains("Fortify Source functions: yes"));
}

}  // namespace sluice::test
