#include <catch2/catch.hpp>

#include "gateway/session/record.hpp"
#include "gateway/worker.hpp"

using namespace sluice::gateway;

TEST_CASE("close record: the first cause wins, later ones are ignored", "[session][record]") {
  struct row {
    const char* what;
    std::vector<std::pair<close_reason, std::string>> ends;
    close_reason reason;
    const char* detail;
  };
  const row rows[] = {
      {"nothing recorded: the client went away", {}, close_reason::client_closed, ""},
      {"one cause", {{close_reason::no_route, "no route"}}, close_reason::no_route, "no route"},
      // The startup timer closes the socket; the read that fails because of it says
      // client_closed, which must not replace the timeout.
      {"timeout then the failed read",
       {{close_reason::startup_timeout, "no complete startup packet within 10s"},
        {close_reason::client_closed, "client disconnected during startup"}},
       close_reason::startup_timeout,
       "no complete startup packet within 10s"},
      {"terminate then the server's EOF",
       {{close_reason::reload_disallowed, "no longer allowed"}, {close_reason::server_closed, ""}},
       close_reason::reload_disallowed,
       "no longer allowed"},
      {"a refusal, then a terminate racing it",
       {{close_reason::rejected_allowlist, "refused"},
        {close_reason::shutdown, "shutting down"},
        {close_reason::client_closed, ""}},
       close_reason::rejected_allowlist,
       "refused"},
  };
  for (const auto& r : rows) {
    INFO(r.what);
    close_record rec;
    CHECK_FALSE(rec.ended());
    bool first = true;
    for (const auto& [why, detail] : r.ends) {
      CHECK(rec.end(why, detail) == first);
      first = false;
    }
    CHECK(rec.ended() == !r.ends.empty());
    CHECK(rec.reason() == r.reason);
    CHECK(rec.detail() == r.detail);
  }
}

TEST_CASE("close record: publish counts the session once under its reason", "[session][record]") {
  metrics stats;
  worker_counters counters;
  close_record rec;
  rec.listener = "pg";
  rec.route = "acme";
  rec.bytes_in = 10;
  rec.bytes_out = 20;
  rec.end(close_reason::idle_timeout, "idle");
  rec.end(close_reason::client_closed);
  rec.publish(stats, counters);
  CHECK(stats.closed.size() == 1);
  CHECK(stats.closed[{"pg", "idle_timeout"}] == 1);
  CHECK(stats.routes["acme"].sessions == 1);
  CHECK(stats.routes["acme"].bytes_client_to_server == 10);
  CHECK(stats.routes["acme"].bytes_server_to_client == 20);
  CHECK(counters.bytes_client_to_server.load() == 10);
  CHECK(counters.bytes_server_to_client.load() == 20);

  close_record no_route;  // a session that never got a route counts under no route
  no_route.listener = "pg";
  no_route.publish(stats, counters);
  CHECK(stats.closed[{"pg", "client_closed"}] == 1);
  CHECK(stats.routes.size() == 1);
}

TEST_CASE("close reason: the spellings logs, metrics and alerts depend on", "[session][record]") {
  struct row {
    close_reason r;
    const char* spelled;
    bool normal;
  };
  const row rows[] = {
      {close_reason::client_closed, "client_closed", true},
      {close_reason::server_closed, "server_closed", true},
      {close_reason::startup_timeout, "startup_timeout", false},
      {close_reason::tls_handshake_failed, "tls_handshake_failed", false},
      {close_reason::protocol_violation, "protocol_violation", false},
      {close_reason::proxy_header_missing, "proxy_header_missing", false},
      {close_reason::proxy_header_untrusted, "proxy_header_untrusted", false},
      {close_reason::proxy_header_invalid, "proxy_header_invalid", false},
      {close_reason::max_connections, "max_connections", false},
      {close_reason::rejected_allowlist, "rejected_allowlist", false},
      {close_reason::tls_required, "tls_required", false},
      {close_reason::no_route, "no_route", false},
      {close_reason::rejected_route_allowlist, "rejected_route_allowlist", false},
      {close_reason::upstream_timeout, "upstream_timeout", false},
      {close_reason::upstream_refused, "upstream_refused", false},
      {close_reason::upstream_dns, "upstream_dns", false},
      {close_reason::upstream_tls_unsupported, "upstream_tls_unsupported", false},
      {close_reason::upstream_tls_handshake, "upstream_tls_handshake", false},
      {close_reason::upstream_certificate, "upstream_certificate", false},
      {close_reason::upstream_io, "upstream_io", false},
      {close_reason::tunnel, "tunnel", false},
      {close_reason::upstream_login_timeout, "upstream_login_timeout", false},
      {close_reason::cancel_rejected_allowlist, "cancel_rejected_allowlist", false},
      {close_reason::cancel_rate_limited, "cancel_rate_limited", false},
      {close_reason::cancel_forwarded, "cancel_forwarded", false},
      {close_reason::cancel_failed, "cancel_failed", false},
      {close_reason::cancel_to_peer, "cancel_to_peer", false},
      {close_reason::cancel_peer_failed, "cancel_peer_failed", false},
      {close_reason::cancel_broadcast, "cancel_broadcast", false},
      {close_reason::cancel_unknown_key, "cancel_unknown_key", false},
      {close_reason::idle_timeout, "idle_timeout", false},
      {close_reason::reload_disallowed, "reload_disallowed", false},
      {close_reason::shutdown, "shutdown", false},
      {close_reason::internal_error, "internal_error", false},
  };
  for (const auto& r : rows) {
    CHECK(to_string(r.r) == r.spelled);
    CHECK(is_normal(r.r) == r.normal);
  }
}
