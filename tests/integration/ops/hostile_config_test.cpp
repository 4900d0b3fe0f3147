// Hostile configuration files against the real binary (issue 16, defect 4): a key like
// `[a, b]: 1` used to abort `check-config` with SIGABRT and kill a running gateway on
// SIGHUP, while POST /v1/reload survived the same file. Both reload paths must refuse
// such a file and keep serving the old configuration; check-config must exit 1.
#include <catch2/catch.hpp>

#include "tests/integration/ops/ops_fixture.hpp"
#include "tests/support/paths.hpp"

using namespace sluice::test;

namespace {

struct hostile {
  const char* what;
  std::string tail;  // appended to a good file
};

std::vector<hostile> hostile_tails() {
  std::string deep = "deep: ";
  for (int i = 0; i < 20000; ++i)
    deep += "[";
  for (int i = 0; i < 20000; ++i)
    deep += "]";
  return {
      {"a list as a key", "[a, b]: 1\n"},
      {"a mapping as a key", "{a: 1}: 2\n"},
      {"an explicit list key", "? [x]\n: 1\n"},
      {"a null key", "~: 1\n"},
      {"an alias to a mapping as a key", "anchor: &m {x: 1}\n*m : 2\n"},
      {"a complex key in a nested mapping", "cancel:\n  [instance_id]: 3\n"},
      {"a duplicate key", "region: a\nregion: b\n"},
      {"deep nesting", deep + "\n"},
      {"invalid UTF-8", "region: \xff\xfe\n"},
      {"a NUL byte", std::string("region: a") + '\0' + "b\n"},
      {"a tab as indentation", "cancel:\n\tinstance_id: 3\n"},
  };
}

}  // namespace

TEST_CASE("a hostile file on SIGHUP or POST /v1/reload keeps the gateway on its config") {
  temp_dir dir;
  auto c = make_ops_config(dir, false);
  gateway_process gw(dir, c.yaml);
  const std::string auth = "-H 'Authorization: Bearer t0ken-for-tests' ";
  size_t failed = 0;
  for (const auto& h : hostile_tails()) {
    INFO(h.what);
    gw.rewrite(c.yaml + h.tail);
    gw.reload();  // SIGHUP; waits for reload_done or reload_failed
    ++failed;
    REQUIRE(gw.proc().running());
    CHECK(count_of(gw.log(), "event=reload_failed") == failed);
    CHECK_THAT(curl(admin_url(c, "/readyz")).output, Catch::EndsWith("HTTP 200"));
    // The admin API refuses the same file the same way, with a line to look at.
    auto api = curl("-X POST " + auth + admin_url(c, "/v1/reload"));
    ++failed;
    INFO(api.output);
    CHECK_THAT(api.output, Catch::EndsWith("HTTP 422"));
    CHECK_THAT(api.output, Catch::Contains("\"generation\": 1"));
    CHECK_THAT(api.output, Catch::Contains("line "));
    REQUIRE(gw.proc().running());
  }
  CHECK(count_of(gw.log(), "event=reload_config_invalid") >= hostile_tails().size() * 2);
  // The old configuration served throughout; a good file is taken again.
  gw.rewrite(c.yaml);
  gw.reload();
  CHECK(count_of(gw.log(), "event=reload_done") == 1);
  CHECK_THAT(curl(admin_url(c, "/v1/status")).output, Catch::Contains("\"generation\": 2"));
}

TEST_CASE("check-config exits 1 and prints the problem for hostile files") {
  temp_dir dir;
  auto c = make_ops_config(dir, false);
  auto good = run(std::string(kSluiceBin) + " check-config -c " +
                  shell_quote(dir.write("good.yaml", c.yaml)));
  INFO(good.output);
  REQUIRE(good.exit_code == 0);
  for (const auto& h : hostile_tails()) {
    INFO(h.what);
    auto path = dir.write("bad.yaml", c.yaml + h.tail);
    auto r = run(std::string(kSluiceBin) + " check-config -c " + shell_quote(path));
    INFO(r.output);
    CHECK(r.exit_code == 1);  // not 128 + SIGABRT
    CHECK_THAT(r.output, Catch::Contains("bad.yaml: "));
    CHECK_THAT(r.output, Catch::Contains("line "));
    CHECK_THAT(r.output, Catch::Contains("configuration is invalid"));
  }
  // A file that is too large is refused without being read whole.
  auto big = run(std::string(kSluiceBin) + " check-config -c /dev/zero");
  CHECK(big.exit_code == 1);
  CHECK_THAT(big.output, Catch::Contains("larger than 16 MiB"));
}
