// `cpack -G DEB` builds a package whose metadata and contents are right, and whose
// files unpack into a throwaway root (dpkg -x) with a binary that runs.
#include <catch2/catch.hpp>

#include "tests/integration/ops/hardening_checks.hpp"
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

// Builds the .deb into `dir`/out and returns its path ("" on failure, logged).
std::string build_deb(const temp_dir& dir) {
  auto out = dir.path() + "/out";
  auto built = run("cd " + shell_quote(build_dir()) + " && cpack -G DEB -B " + shell_quote(out) +
                       " --config CPackConfig.cmake 2>&1",
                   std::chrono::seconds(300));
  UNSCOPED_INFO(built.output);
  if (built.exit_code != 0)
    return "";
  auto deb = run("ls " + shell_quote(out) + "/sluice_*.deb").output;
  while (!deb.empty() && deb.back() == '\n')
    deb.pop_back();
  return deb;
}

}  // namespace

TEST_CASE(
    "cpack builds a .deb with binary and unit and sysusers and tmpfiles and examples and docs") {
  temp_dir dir;
  const auto deb = build_deb(dir);
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

TEST_CASE("the .deb is lintian-clean, hardened, ships its conffile and computes its Depends",
          "[package]") {
  temp_dir dir;
  const auto deb = build_deb(dir);
  REQUIRE_FALSE(deb.empty());
  // No error and no warning (informational tags are listed in the log only).
  auto lint =
      run("lintian --tag-display-limit 0 " + shell_quote(deb) + " 2>&1", std::chrono::seconds(300));
  INFO(lint.output);
  CHECK(lint.output.find("E: ") == std::string::npos);
  CHECK(lint.output.find("W: ") == std::string::npos);

  auto info = run("dpkg-deb -I " + shell_quote(deb));
  INFO(info.output);
  // Computed by dpkg-shlibdeps: libgcc-s1 was missing from the hand-written list.
  CHECK_THAT(info.output, Catch::Contains("libgcc-s1"));
  CHECK_THAT(info.output, Catch::Contains("adduser"));
  auto conffiles = run("dpkg-deb -f " + shell_quote(deb) + " Package >/dev/null && dpkg-deb -e " +
                       shell_quote(deb) + " " + shell_quote(dir.file("control")) + " && cat " +
                       shell_quote(dir.file("control/conffiles")));
  CHECK(conffiles.output == "/etc/sluice/sluice.yaml\n");

  auto root = dir.path() + "/root";
  REQUIRE(run("dpkg-deb -x " + shell_quote(deb) + " " + shell_quote(root)).exit_code == 0);
  CHECK(read_file(root + "/etc/sluice/sluice.yaml") ==
        read_file(std::string(kSourceDir) + "/config/examples/sluice.example.yaml"));
  for (const char* f : {"/usr/share/doc/sluice/copyright", "/usr/share/doc/sluice/changelog.gz",
                        "/usr/share/man/man1/sluice.1.gz"})
    CHECK(run("test -s " + shell_quote(root + f)).exit_code == 0);
  // Stack protector, _FORTIFY_SOURCE, full RELRO (BIND_NOW) and PIE on the shipped binary.
  check_hardened(root + "/usr/bin/sluice");
}

TEST_CASE("purge removes the directories the package made, and nothing an operator put there",
          "[package]") {
  temp_dir dir;
  const std::string root = dir.path() + "/root";
  const std::string postrm = std::string(kSourceDir) + "/packaging/debian/postrm";
  auto make_dirs = [&] {
    run("mkdir -p " + shell_quote(root) + "/etc/sluice/tls " + shell_quote(root) +
        "/etc/sluice/secrets " + shell_quote(root) + "/var/lib/sluice/keys");
  };
  // Only the package's own (empty) directories: all of them go.
  make_dirs();
  auto r = run("DPKG_ROOT=" + shell_quote(root) + " sh " + shell_quote(postrm) + " purge 2>&1");
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(run("test -e " + shell_quote(root + "/etc/sluice")).exit_code != 0);
  CHECK(run("test -e " + shell_quote(root + "/var/lib/sluice")).exit_code != 0);

  // An operator's key and certificate stay, each listed; the empty directories go.
  make_dirs();
  dir.write("root/var/lib/sluice/keys/tunnel_ed25519", "key\n", 0600);
  dir.write("root/etc/sluice/tls/gw.crt", "cert\n", 0644);
  r = run("DPKG_ROOT=" + shell_quote(root) + " sh " + shell_quote(postrm) + " purge 2>&1");
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(read_file(root + "/var/lib/sluice/keys/tunnel_ed25519") == "key\n");
  CHECK(read_file(root + "/etc/sluice/tls/gw.crt") == "cert\n");
  CHECK(run("test -e " + shell_quote(root + "/etc/sluice/secrets")).exit_code != 0);
  CHECK_THAT(r.output, Catch::Contains("/var/lib/sluice/keys/tunnel_ed25519"));
  CHECK_THAT(r.output, Catch::Contains("/etc/sluice/tls/gw.crt"));
  // Remove (not purge) leaves everything.
  r = run("DPKG_ROOT=" + shell_quote(root) + " sh " + shell_quote(postrm) + " remove 2>&1");
  CHECK(r.exit_code == 0);
  CHECK(read_file(root + "/etc/sluice/tls/gw.crt") == "cert\n");
}
