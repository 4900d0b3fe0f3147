// `cpack -G DEB` builds a package whose metadata and contents are right, and whose
// files unpack into a throwaway root (dpkg -x) with a binary that runs.
#include <catch2/catch.hpp>

#include "tests/integration/ops/ops_fixture.hpp"
#include "tests/support/paths.hpp"

using namespace sluice::test;

namespace {

// The build directory: SLUICE_BIN is <build>/gateway/sluice.
std::string build_dir() {
  std::string bin = kSluiceBin;
  auto gw = bin.rfind("/gateway/");
  return bin.substr(0, gw);
}

}  // namespace

TEST_CASE(
    "cpack builds a .deb with binary and unit and sysusers and tmpfiles and examples and docs") {
  temp_dir dir;
  auto out = dir.path() + "/out";
  auto built = run("cd " + shell_quote(build_dir()) + " && cpack -G DEB -B " + shell_quote(out) +
                       " --config CPackConfig.cmake 2>&1",
                   std::chrono::seconds(300));
  INFO(built.output);
  REQUIRE(built.exit_code == 0);
  auto deb = run("ls " + shell_quote(out) + "/sluice_*.deb").output;
  while (!deb.empty() && deb.back() == '\n')
    deb.pop_back();
  REQUIRE_FALSE(deb.empty());

  auto info = run("dpkg-deb -I " + shell_quote(deb));
  INFO(info.output);
  CHECK(info.exit_code == 0);
  CHECK_THAT(info.output, Catch::Contains("Package: sluice"));
  CHECK_THAT(info.output, Catch::Contains("Version: "));
  for (const char* dep : {"libssh2-1", "libpq5", "libyaml-cpp0.7", "libssl3", "libsystemd0"})
    CHECK_THAT(info.output, Catch::Contains(dep));
  CHECK_THAT(info.output, Catch::Contains("postinst"));

  auto contents = run("dpkg-deb -c " + shell_quote(deb));
  INFO(contents.output);
  for (const char* path :
       {"./usr/bin/sluice", "./usr/lib/systemd/system/sluice.service",
        "./usr/lib/sysusers.d/sluice.conf", "./usr/lib/tmpfiles.d/sluice.conf",
        "./usr/share/doc/sluice/examples/sluice.example.yaml",
        "./usr/share/doc/sluice/operations.md", "./usr/share/doc/sluice/troubleshooting.md"})
    CHECK_THAT(contents.output, Catch::Contains(path));

  // Unpacked into a throwaway root, the binary runs and the unit file is the repo's.
  auto root = dir.path() + "/root";
  REQUIRE(run("dpkg-deb -x " + shell_quote(deb) + " " + shell_quote(root)).exit_code == 0);
  auto version = run(shell_quote(root + "/usr/bin/sluice") + " version");
  CHECK(version.exit_code == 0);
  CHECK_THAT(version.output, Catch::Contains("sluice"));
  CHECK(read_file(root + "/usr/lib/systemd/system/sluice.service") ==
        read_file(std::string(kSourceDir) + "/systemd/sluice.service"));
}

TEST_CASE("systemd unit rates 2.0 or lower in systemd-analyze security") {
  auto unit = std::string(kSourceDir) + "/systemd/sluice.service";
  auto r = run("systemd-analyze security --offline=true --no-pager " + shell_quote(unit) + " 2>&1");
  INFO(r.output);
  auto pos = r.output.find("Overall exposure level for sluice.service: ");
  REQUIRE(pos != std::string::npos);
  double level = std::stod(r.output.substr(pos + 43));
  CHECK(level <= 2.0);
  // The sync threads' SCHED_BATCH needs sched_setscheduler back from @resources.
  CHECK(r.output.find("sched_setscheduler is allowed") != std::string::npos);
  // Anything systemd would refuse to parse shows up as a warning line.
  CHECK(r.output.find("Unknown key") == std::string::npos);
  CHECK(r.output.find("Failed to parse") == std::string::npos);
}
