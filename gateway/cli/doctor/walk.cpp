// The tunnel and sync walks; routes are walked in route.cpp (with the data plane's code).
#include "gateway/cli/doctor/walk.hpp"

#include <unistd.h>

#include <algorithm>
#include <memory>

#include "gateway/cli/doctor/postgres.hpp"
#include "gateway/cli/doctor/reach.hpp"
#include "gateway/cli/doctor/reverse.hpp"
#include "gateway/tunnel/manager.hpp"
#include "gateway/tunnel/rsa_check.hpp"
#include "sync/checks.hpp"
#include "sync/destination.hpp"
#include "sync/pg_conn.hpp"

namespace sluice::doctor {

bool walk_tunnel(const config::settings& s, const config::tunnel& t, report& out) {
  if (t.reverse) {
    uint16_t port = 0;  // the port its routes need, when they agree on one
    for (const auto& r : s.routes)
      if (r.upstream.via == t.name)
        port = r.upstream.port;
    return walk_reverse_tunnel(s, t, port, out);
  }
  for (const auto& p : tunnel::rsa_problems(t))
    return out.fail("config", p, "this libssh2 cannot use RSA with OpenSSH 8.8 or newer",
                    "see the message");
  int fd = reach(s, "tunnel " + t.name, t.host, t.port, t.connect_timeout, out);
  if (fd < 0)
    return false;
  close(fd);
  tunnel::manager mgr;
  bool ok = ssh_stage(s, t, mgr, out);
  mgr.stop();
  return ok;
}

bool walk_sync(const config::settings& s, const config::sync& y, report& out) {
  const auto& d = y.destination;
  // Fixes name the keys this sync really has: its own, or its route's.
  setting_keys keys = d.route.empty() ? sync_keys() : route_keys();
  std::string host = d.host, via = d.via;
  uint16_t port = d.port;
  std::string sslmode(config::to_string(d.mode));
  config::duration timeout = config::upstream_settings{}.connect_timeout;
  if (!d.route.empty()) {
    const auto* r = s.find_route(d.route);
    if (!r)
      return out.fail("config", "destination.route " + d.route + " is not defined",
                      "the sync reuses a route that does not exist", "fix destination.route");
    host = r->upstream.host, port = r->upstream.port, via = r->upstream.via;
    sslmode = config::to_string(r->upstream.tls.mode);
    timeout = r->upstream.connect_timeout;
  }
  std::string where = d.route.empty()
                          ? "sync " + y.name
                          : "route " + d.route + " (the destination of sync " + y.name + ")";
  // The network stages, then the sync writer's own way in: libpq through
  // resolve_destination (and, through a tunnel, its loopback forward), as the writer does.
  std::unique_ptr<tunnel::manager> mgr;
  const config::tunnel* t = nullptr;
  if (!via.empty()) {
    t = s.find_tunnel(via);
    if (!t)
      return out.fail("config", "tunnel " + via + " is not defined",
                      "the destination names a tunnel that does not exist",
                      "add it under tunnels: or fix via");
    if (t->reverse)
      return walk_reverse_tunnel(s, *t, port, out);
    int fd = reach(s, "tunnel " + t->name, t->host, t->port, t->connect_timeout, out);
    if (fd < 0)
      return false;
    close(fd);
    mgr = std::make_unique<tunnel::manager>();
    if (!ssh_stage(s, *t, *mgr, out)) {
      mgr->stop();
      return false;
    }
  } else {
    int fd = reach(s, where, host, port, timeout, out);
    if (fd < 0)
      return false;
    close(fd);
  }
  sync::forward_fn fwd;
  if (mgr)
    fwd = [&mgr](const std::string& tn, const std::string& h, uint16_t p, std::string& e) {
      return mgr->loopback_forward(tn, h, p, e);
    };
  bool ok = false;
  try {
    auto dest = sync::resolve_destination(s, y, fwd);
    dest.params["connect_timeout"] = std::to_string(
        std::max<int64_t>(1, std::chrono::duration_cast<std::chrono::seconds>(timeout).count()));
    try {
      sync::pg_conn conn(dest.params);
      if (mgr)
        out.pass("forwarding",
                 "channel through " + t->host + " to " + config::host_port{host, port}.str());
      out.pass("authentication", "logged in as " + d.user + " to database " + d.database);
      auto checks = sync::verify(conn, y);
      if (sync::all_pass(checks)) {
        ok = out.pass("privileges", "every sync check passed");
      } else {
        std::string fixes;
        for (const auto& c : checks)
          if (c.status == sync::check_status::fail)
            fixes += (fixes.empty() ? "" : "\n              ") +
                     (c.fix_sql.empty() ? c.detail : c.fix_sql);
        out.fail("privileges", "some sync checks failed:\n" + sync::render(checks),
                 "the sync user " + d.user + " lacks what the sync needs on " + d.database,
                 "run as the database owner or a superuser:\n              " + fixes);
      }
    } catch (const sync::pg_error& e) {
      // Through a tunnel, a refused channel shows as a closed connection: ask the tunnel.
      auto st = mgr ? mgr->status() : nlohmann::json::array();
      std::string channel_error = st.empty() ? "" : st[0].value("last_error", "");
      if (mgr && !channel_error.empty()) {
        out.fail("forwarding",
                 "opening a channel to " + config::host_port{host, port}.str() + " through " +
                     t->host + " failed: " + channel_error,
                 "the bastion accepted the login but could not (or may not) connect to " +
                     config::host_port{host, port}.str(),
                 "from the bastion, check `nc -vz " + host + " " + std::to_string(port) +
                     "`; allow forwarding for " + t->user +
                     " in sshd_config (AllowTcpForwarding yes, PermitOpen " + host + ":" +
                     std::to_string(port) + "); fix the host/port if wrong");
      } else {
        auto [cause, fix] = explain_login_error(e.what(), where, sslmode, keys);
        auto c = sync::connection_check(e, y);
        if (cause.empty())
          cause = c.detail, fix = c.fix_sql.empty() ? "see the message" : c.fix_sql;
        out.fail("authentication", e.what(), cause, fix);
      }
    }
  } catch (const std::exception& e) {
    out.fail("config", e.what(), "the sync's destination cannot be used as configured",
             "fix the destination settings named in the message");
  }
  if (mgr)
    mgr->stop();
  return ok;
}

}  // namespace sluice::doctor
