#include <catch2/catch.hpp>
#include <functional>
#include <stdexcept>

#include "sync/reconnect_rule.hpp"

using namespace sluice;
using sync::reconnect_reason;
using sync::writer_phase;

namespace {

// Two destinations: a direct one (sync "direct") and one through a route whose
// upstream goes through tunnel "bastion" (sync "routed").
config::settings base() {
  config::settings s;
  config::tunnel t;
  t.name = "bastion";
  t.host = "10.0.0.1";
  t.user = "sluice";
  s.tunnels.push_back(t);
  config::route r;
  r.name = "orders";
  r.upstream.host = "db.internal";
  r.upstream.port = 5432;
  r.upstream.via = "bastion";
  r.upstream.tls.mode = config::sslmode::verify_full;
  r.upstream.tls.ca = "/etc/sluice/ca.pem";
  s.routes.push_back(r);
  config::sync d;
  d.name = "direct";
  d.destination.host = "127.0.0.1";
  d.destination.port = 5432;
  d.destination.database = "app";
  d.destination.user = "sync_user";
  d.destination.password_file = "/etc/sluice/sync.pw";
  d.schema = "stripe";
  d.read_role.name = "sync_read";
  d.read_role.grant_to = {"analyst"};
  s.syncs.push_back(d);
  config::sync rt = d;
  rt.name = "routed";
  rt.destination = {};
  rt.destination.route = "orders";
  rt.destination.database = "orders";
  rt.destination.user = "sync_user";
  s.syncs.push_back(rt);
  return s;
}

const writer_phase kConnected{true, false, false};

// The reason a reload from base() to base() changed by `edit` gives for `sync`.
std::string reason_after(const std::string& sync,
                         const std::function<void(config::settings&)>& edit,
                         writer_phase now = kConnected) {
  auto before = base();
  auto after = base();
  edit(after);
  return reconnect_reason(before, *before.find_sync(sync), after, *after.find_sync(sync), now);
}

config::sync& sync_named(config::settings& s, const std::string& name) {
  for (auto& x : s.syncs)
    if (x.name == name)
      return x;
  throw std::logic_error("no sync " + name);
}

}  // namespace

TEST_CASE("reconnect rule: what a reload keeps and what needs a new connection", "[sync]") {
  struct row {
    const char* what;
    const char* sync;
    std::function<void(config::settings&)> edit;
    const char* reason;  // "" = keep the connection
  };
  const std::vector<row> rows = {
      {"nothing", "direct", [](auto&) {}, ""},
      {"events", "direct", [](auto& s) { sync_named(s, "direct").events = false; }, ""},
      {"deletes", "direct",
       [](auto& s) { sync_named(s, "direct").deletes = config::delete_mode::soft; }, ""},
      {"ingest token file", "direct",
       [](auto& s) { sync_named(s, "direct").ingest_token_file = "/other"; }, ""},
      {"another sync's destination", "direct",
       [](auto& s) { sync_named(s, "routed").destination.database = "x"; }, ""},
      {"tunnel keepalive (applies to its next connection)", "routed",
       [](auto& s) { s.tunnels[0].keepalive.max_missed = 9; }, ""},
      {"a route's idle timeout", "routed",
       [](auto& s) { s.routes[0].idle_timeout = std::chrono::milliseconds(5000); }, ""},
      {"host", "direct", [](auto& s) { sync_named(s, "direct").destination.host = "::1"; },
       "destination changed"},
      {"port", "direct", [](auto& s) { sync_named(s, "direct").destination.port = 6432; },
       "destination changed"},
      {"database", "direct", [](auto& s) { sync_named(s, "direct").destination.database = "app2"; },
       "destination changed"},
      {"user", "direct", [](auto& s) { sync_named(s, "direct").destination.user = "other"; },
       "destination changed"},
      {"password file path", "direct",
       [](auto& s) { sync_named(s, "direct").destination.password_file = "/new.pw"; },
       "destination changed"},
      {"sslmode", "direct",
       [](auto& s) { sync_named(s, "direct").destination.mode = config::sslmode::require; },
       "destination changed"},
      {"ca", "direct", [](auto& s) { sync_named(s, "direct").destination.ca = "/ca.pem"; },
       "destination changed"},
      {"client cert", "direct",
       [](auto& s) { sync_named(s, "direct").destination.cert = "/client.crt"; },
       "destination changed"},
      {"client key", "direct",
       [](auto& s) { sync_named(s, "direct").destination.key = "/client.key"; },
       "destination changed"},
      {"via", "direct", [](auto& s) { sync_named(s, "direct").destination.via = "bastion"; },
       "destination changed"},
      {"route name", "routed", [](auto& s) { sync_named(s, "routed").destination.route = "other"; },
       "destination changed"},
      {"route upstream host", "routed", [](auto& s) { s.routes[0].upstream.host = "db2"; },
       "destination route 'orders' changed its upstream"},
      {"route upstream tls ca", "routed", [](auto& s) { s.routes[0].upstream.tls.ca = "/x"; },
       "destination route 'orders' changed its upstream"},
      {"route upstream via", "routed", [](auto& s) { s.routes[0].upstream.via = ""; },
       "destination route 'orders' changed its upstream"},
      {"route removed", "routed", [](auto& s) { s.routes.clear(); },
       "destination route 'orders' changed its upstream"},
      {"tunnel bastion host", "routed", [](auto& s) { s.tunnels[0].host = "10.0.0.2"; },
       "tunnel 'bastion' changed its bastion"},
      {"tunnel user", "routed", [](auto& s) { s.tunnels[0].user = "other"; },
       "tunnel 'bastion' changed its bastion"},
      {"tunnel removed", "routed", [](auto& s) { s.tunnels.clear(); },
       "tunnel 'bastion' changed its bastion"},
      {"schema", "direct", [](auto& s) { sync_named(s, "direct").schema = "billing"; },
       "schema changed"},
      {"read role", "direct", [](auto& s) { sync_named(s, "direct").read_role.name = "r2"; },
       "read_role changed"},
      {"read role members", "direct",
       [](auto& s) { sync_named(s, "direct").read_role.grant_to.push_back("bob"); },
       "read_role changed"},
  };
  for (const auto& r : rows) {
    INFO(r.what);
    CHECK(reason_after(r.sync, r.edit) == r.reason);
  }
}

TEST_CASE("reconnect rule: where the writer is decides an unchanged reload", "[sync]") {
  auto nothing = [](config::settings&) {};
  // Connected, or still connecting / waiting for the lock: carry on.
  CHECK(reason_after("direct", nothing, {true, false, false}).empty());
  CHECK(reason_after("direct", nothing, {false, true, false}).empty());
  // Stopped: a reload is how the operator resumes it.
  CHECK(reason_after("direct", nothing, {true, false, true}) ==
        "the sync was stopped; a reload retries it on a fresh connection");
  // Between attempts (backoff): retry now, the reload may have fixed the cause.
  CHECK(reason_after("direct", nothing, {false, false, false}) ==
        "not connected; retrying now instead of after the backoff");
  // Read-role grants that failed at the last setup (a grant_to user that did not exist):
  // setup tries them again; while still connecting there is nothing to redo yet.
  CHECK(reason_after("direct", nothing, {true, false, false, true}) ==
        "read-role grants failed at the last setup; setup tries them again");
  CHECK(reason_after("direct", nothing, {false, true, false, true}).empty());
  // A change wins over the phase.
  CHECK(reason_after("direct", [](auto& s) { sync_named(s, "direct").schema = "x"; },
                     {false, true, false}) == "schema changed");
}
