// The one record of the last reload's outcome: what the metrics and /v1/status (and so
// the status page) read. Both views must tell the same story at every step.
#include <catch2/catch.hpp>

#include "gateway/admin/reload_history.hpp"

using sluice::admin::reload_history;

TEST_CASE("before any reload the start-up load counts as a success and status shows none",
          "[admin][reload_history]") {
  reload_history h(1, 1700000000.5);
  auto o = h.last();
  CHECK(o.ok);
  CHECK_FALSE(o.reloaded);
  CHECK(o.unix_time == 1700000000.5);  // sluice_config_last_reload_timestamp_seconds
  CHECK(o.generation == 1);
  CHECK(o.problems.empty());
  CHECK(h.to_json().is_null());  // the page shows no reload banner
}

TEST_CASE("a refused reload then an accepted one: metrics and status agree each time",
          "[admin][reload_history]") {
  reload_history h(1, 100);
  h.record(false, 1, {"sluice.yaml: unknown key bogus_key (line 9)"}, 200);
  auto o = h.last();
  CHECK_FALSE(o.ok);
  CHECK(o.reloaded);
  CHECK(o.unix_time == 200);
  auto j = h.to_json();
  REQUIRE(j.is_object());
  CHECK(j["ok"] == false);
  CHECK(j["at"] == 200.0);
  CHECK(j["generation"] == 1);  // the generation it kept
  REQUIRE(j["problems"].size() == 1);
  CHECK(j["problems"][0] == "sluice.yaml: unknown key bogus_key (line 9)");

  // A success with a warning (a change that needs a restart) replaces it entirely.
  h.record(true, 2, {"needs a restart to take effect: admin.listen"}, 300);
  o = h.last();
  CHECK(o.ok);
  CHECK(o.generation == 2);
  j = h.to_json();
  CHECK(j["ok"] == true);
  CHECK(j["at"] == 300.0);
  CHECK(j["generation"] == 2);
  CHECK(j["problems"] == nlohmann::json::array({"needs a restart to take effect: admin.listen"}));
  CHECK(o.unix_time == j["at"].get<double>());
}

TEST_CASE("the default clock is the wall clock", "[admin][reload_history]") {
  const double before = reload_history::now();
  reload_history h;
  h.record(true, 2, {});
  CHECK(h.last().unix_time >= before);
  CHECK(h.last().unix_time < before + 60);
}
