// The command line's contract from sluice(1): usage errors exit 2 (not CLI11's own 105,
// 106, ...), --help and --version exit 0, and -c defaults to /etc/sluice/sluice.yaml.
#include <catch2/catch.hpp>
#include <filesystem>

#include "tests/support/paths.hpp"
#include "tests/support/process.hpp"

using namespace sluice::test;

TEST_CASE("usage errors exit 2 as documented", "[cli][usage]") {
  const std::string bin = kSluiceBin;
  for (const char* args :
       {"--bogus", "run --bogus-flag", "check-config --nope", "ctl", "ctl kill",
        "ctl kill notanumber", "ctl sessions extra", "reload --pid", "nosuchcommand", ""}) {
    auto r = run(bin + " " + args);
    INFO("sluice " << args << "\n" << r.output);
    CHECK(r.exit_code == 2);
  }
  CHECK(run(bin + " --help").exit_code == 0);
  CHECK(run(bin + " --version").exit_code == 0);
  CHECK(run(bin + " ctl --help").exit_code == 0);
}

TEST_CASE("-c defaults to /etc/sluice/sluice.yaml", "[cli][config]") {
  const std::string bin = kSluiceBin;
  auto help = run(bin + " check-config --help");
  CHECK_THAT(help.output, Catch::Contains("/etc/sluice/sluice.yaml"));
  CHECK_THAT(run(bin + " ctl sessions --help").output, Catch::Contains("/etc/sluice/sluice.yaml"));
  if (std::filesystem::exists("/etc/sluice/sluice.yaml"))
    return;  // a machine with sluice installed: nothing more to learn here
  auto r = run(bin + " check-config");
  INFO(r.output);
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.output, Catch::Contains("/etc/sluice/sluice.yaml"));
}
