// The gateway's first verify step for a destination via a reverse tunnel: from the
// tunnel status document, is an agent there, forwarding the destination's port?
#include <catch2/catch.hpp>

#include "sync/reverse_check.hpp"

using namespace sluice;

namespace {

struct setup {
  config::settings s;
  config::tunnel t;
  setup() {
    config::ssh_server_settings ss;
    ss.listen = {"0.0.0.0", 2222};
    s.ssh_server = ss;
    t.name = "acme";
    t.reverse = config::reverse_tunnel{};
  }
};

nlohmann::json entry(nlohmann::json agents, nlohmann::json forwards,
                     const std::string& last_error = "") {
  return nlohmann::json::array({{{"name", "other"}, {"agents", {{{"address", "x"}}}}},
                                {{"name", "acme"},
                                 {"type", "reverse"},
                                 {"agents", agents},
                                 {"forwards", forwards},
                                 {"last_error", last_error}}});
}

}  // namespace

TEST_CASE("no agent: the check fails naming the tunnel and the commands that start one",
          "[sync][reverse]") {
  setup u;
  auto c = sync::reverse_agent_check(
      u.s, u.t, "db.internal", 5432,
      entry(nlohmann::json::array(), nlohmann::json::array(), "no agent connected"));
  CHECK(c.status == sync::check_status::fail);
  CHECK(c.name == "reverse tunnel acme has an agent forwarding port 5432");
  CHECK_THAT(c.detail, Catch::StartsWith("no agent is connected to this gateway for reverse "
                                         "tunnel acme, so nothing can reach db.internal:5432"));
  CHECK_THAT(c.detail, Catch::Contains("`ssh -N -R 5432:db.internal:5432 -p 2222 acme@GATEWAY`"));
  CHECK_THAT(c.detail, Catch::Contains("--forward 5432:db.internal:5432"));
  CHECK_THAT(c.detail, Catch::Contains("sluice doctor tunnel acme"));
  CHECK(c.fix_sql.empty());  // no SQL fixes this
  CHECK(sync::is_missing_agent(c));

  // Why the last one left is kept.
  auto left = sync::reverse_agent_check(
      u.s, u.t, "db.internal", 5432,
      entry(nlohmann::json::array(), nlohmann::json::array(),
            "no agent connected (10.0.0.5 left at 2026-12-02T01:00:00Z: keepalive timeout)"));
  CHECK_THAT(left.detail, Catch::Contains("(no agent connected (10.0.0.5 left"));
}

TEST_CASE("agents without the destination's port: fails with the -R to add", "[sync][reverse]") {
  setup u;
  auto c = sync::reverse_agent_check(u.s, u.t, "db.internal", 5432,
                                     entry({{{"address", "198.51.100.7:40000"}}}, {6543}));
  CHECK(c.status == sync::check_status::fail);
  CHECK(c.detail ==
        "1 agent(s) connected, announcing ports [6543], none for port 5432: run the "
        "agent with -R 5432:db.internal:5432 (or --forward 5432:db.internal:5432)");
  CHECK(sync::is_missing_agent(c));
}

TEST_CASE("an agent forwarding the port passes and an unknown tunnel asks for a reload",
          "[sync][reverse]") {
  setup u;
  auto ok = sync::reverse_agent_check(u.s, u.t, "db.internal", 5432,
                                      entry({{{"address", "198.51.100.7:40000"}}}, {5432, 6543}));
  CHECK(ok.status == sync::check_status::pass);
  CHECK(ok.detail == "1 agent(s): 198.51.100.7:40000");
  CHECK_FALSE(sync::is_missing_agent(ok));

  auto gone = sync::reverse_agent_check(u.s, u.t, "db", 5432, nlohmann::json::array());
  CHECK(gone.status == sync::check_status::fail);
  CHECK_THAT(gone.detail, Catch::Contains("reload it"));
  // Not an array at all (no tunnels document): the same, no crash.
  CHECK(sync::reverse_agent_check(u.s, u.t, "db", 5432, nullptr).status ==
        sync::check_status::fail);

  // Without an ssh_server section the command shows a placeholder for the port.
  u.s.ssh_server.reset();
  auto none = sync::reverse_agent_check(u.s, u.t, "db", 5432,
                                        entry(nlohmann::json::array(), nlohmann::json::array()));
  CHECK_THAT(none.detail, Catch::Contains("-p SSHPORT acme@GATEWAY"));
}
