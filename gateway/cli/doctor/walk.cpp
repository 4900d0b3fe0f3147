#include <utility>

#include "gateway/cli/doctor/walk.hpp"

#include <unistd.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <thread>

#include "config/read_file.hpp"
#include "gateway/cli/doctor/network.hpp"
#include "gateway/cli/doctor/postgres.hpp"
#include "gateway/tunnel/manager.hpp"
#include "sync/checks.hpp"
#include "sync/destination.hpp"
#include "sync/pg_conn.hpp"

namespace sluice::doctor {

namespace {

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& x : v)
    out += (out.empty() ? "" : ", ") + x;
  return out;
}

std::string public_hint(const config::settings& s) {
  return s.public_addresses.empty()
             ? "the gateway's egress address (set public_addresses: in the config so this "
               "message can name it)"
             : "the gateway's public addresses " + join(s.public_addresses);
}

// DNS then TCP to host:port; on success returns a connected fd (caller closes), else -1.
int reach(const config::settings& s, const std::string& what, const std::string& host,
          uint16_t port, std::chrono::milliseconds timeout, report& out,
          std::string* connected = nullptr) {
  auto r = resolve(host);
  if (!r.error.empty() || r.addresses.empty())
    return out.fail("DNS", "cannot resolve " + host + ": " + r.error,
                    "the name " + host +
                        " does not resolve from the gateway (typo, a private "
                        "DNS zone the gateway cannot see, or a record not created yet)",
                    "fix the host in " + what + ", or use an address; check with `getent hosts " +
                        host + "` on the gateway"),
           -1;
  out.pass("DNS", host + " -> " + join(r.addresses));
  std::string last;
  for (const auto& addr : r.addresses) {
    auto t = tcp_connect(addr, port, timeout);
    std::string where = addr + ":" + std::to_string(port);
    if (t.outcome == tcp_outcome::connected) {
      if (connected)
        *connected = addr;
      out.pass("TCP", "connected to " + where);
      return t.fd;
    }
    if (&addr != &r.addresses.back())
      continue;  // try the next address; report the last one's failure
    if (t.outcome == tcp_outcome::timeout)
      return out.fail("TCP", "connecting to " + where + ": " + t.error,
                      "nothing answered: a firewall, security group or route drops the packets "
                      "between the gateway and " +
                          host,
                      "allow inbound TCP " + std::to_string(port) + " from " + public_hint(s) +
                          " on the database side (security group / firewall / NACL)"),
             -1;
    if (t.outcome == tcp_outcome::refused)
      return out.fail("TCP", "connecting to " + where + ": connection refused",
                      "the host answered but nothing listens on port " + std::to_string(port) +
                          " (wrong host or port, or the server is down / listen_addresses "
                          "excludes this interface)",
                      what.rfind("tunnel ", 0) == 0
                          ? "check host and port in " + what +
                                " against the bastion's sshd (Port in sshd_config; is sshd "
                                "running?)"
                          : "check host and port in " + what +
                                " against the server's port and listen_addresses"),
             -1;
    return out.fail("TCP", "connecting to " + where + ": " + t.error,
                    "the gateway has no route to " + addr,
                    "check the gateway's routing/VPC peering to " + host +
                        ", or reach it "
                        "through an SSH tunnel (upstream.via)"),
           -1;
  }
  return -1;
}

// Brings up one tunnel in a private manager and reports the SSH stage.
bool ssh_stage(const config::settings& s, const config::tunnel& t, tunnel::manager& mgr,
               report& out) {
  auto only = std::make_shared<config::settings>();
  only->region = s.region;
  only->public_addresses = s.public_addresses;
  only->tunnels.push_back(t);
  mgr.apply(only);
  auto deadline =
      std::chrono::steady_clock::now() + t.connect_timeout * 2 + std::chrono::seconds(5);
  nlohmann::json st;
  while (std::chrono::steady_clock::now() < deadline) {
    auto all = mgr.status();
    st = all.empty() ? nlohmann::json::object() : all[0];
    if (st.value("state", "") == "up")
      break;
    if (!st.value("last_error_stage", "").empty())
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::string where = "tunnel " + t.name;
  if (st.value("state", "") == "up")
    return out.pass("SSH", "logged in to " + t.user + "@" + t.host + ":" + std::to_string(t.port) +
                               " (host key " + st.value("host_key", "?") + ", key " +
                               st.value("key", "?") + ")");
  std::string stage = st.value("last_error_stage", "");
  std::string err = st.value("last_error", "no answer before the deadline");
  if (stage == "host-key")
    return out.fail("SSH", err,
                    "the bastion's host key is not the one pinned for " + where +
                        " (the server was rebuilt, the pin is wrong, or someone is in the middle)",
                    "confirm the fingerprint with the bastion's owner (`ssh-keygen -lf "
                    "/etc/ssh/ssh_host_ed25519_key.pub` on the bastion), then set host_key: or "
                    "known_hosts: in " +
                        where);
  if (stage == "auth")
    return out.fail("SSH", err, "the bastion refused sluice's key for user " + t.user,
                    "add the output of `sluice tunnel pubkey -c CONFIG " + t.name + "` to ~" +
                        t.user + "/.ssh/authorized_keys on " + t.host +
                        " (check the user name and that sshd allows publickey)");
  if (stage == "ssh-handshake")
    return out.fail("SSH", err,
                    "the port answers but the SSH handshake failed (not an SSH server, or no "
                    "common key exchange/host key algorithm)",
                    "check that " + t.host + ":" + std::to_string(t.port) +
                        " is the bastion's sshd; OpenSSH 7.4 or newer is known to work");
  return out.fail("SSH", (stage.empty() ? "" : stage + ": ") + err, "the tunnel did not come up",
                  "see the message; `sluice tunnel status` shows "
                  "the same state on a running gateway");
}

// SSLRequest + TLS + login to a PostgreSQL endpoint (already reached over TCP as fd).
bool postgres_stages(int fd, const std::string& host, const std::string& connect_host,
                     uint16_t connect_port, const config::upstream_tls& tls,
                     std::map<std::string, std::string> params, const std::string& where,
                     report& out) {
  std::string err;
  char answer = ssl_request(fd, 10'000, err);
  const std::string mode(config::to_string(tls.mode));
  bool requires_tls = tls.mode == config::sslmode::require ||
                      tls.mode == config::sslmode::verify_ca ||
                      tls.mode == config::sslmode::verify_full;
  bool ok = true;
  if (answer == 'S') {
    out.pass("SSLRequest", "server answered 'S' (TLS available)");
    if (tls.mode != config::sslmode::disable)
      ok = tls_handshake(fd, host, tls, out);
    else
      out.note("the server offers TLS but " + where +
               " has sslmode disable: traffic to the "
               "database travels in the clear; consider sslmode: verify-full");
  } else if (answer == 'N') {
    if (requires_tls) {
      close(fd);
      return out.fail("SSLRequest", "server answered 'N' (TLS not available)",
                      "the server has ssl = off, and sslmode " + std::string(mode) + " in " +
                          where + " insists on TLS",
                      "turn ssl = on on the database server (with a certificate), or set "
                      "tls.sslmode: prefer (TLS when offered) or disable in " +
                          where);
    }
    out.pass("SSLRequest", "server answered 'N' (TLS not available; sslmode " + std::string(mode) +
                               " continues without it)");
  } else {
    close(fd);
    return out.fail("SSLRequest",
                    answer == 0 ? err : std::string("unexpected answer '") + answer + "'",
                    "the port accepted TCP but did not answer like PostgreSQL",
                    "check that " + where +
                        " points at PostgreSQL's port (not pgbouncer admin, "
                        "an HTTP service or a TLS-only proxy expecting direct TLS)");
  }
  close(fd);
  if (!ok)
    return false;
  if (params.count("_login_elsewhere"))
    return true;  // the caller logs in with its own parameters (syncs)
  if (!params.count("user")) {
    out.note("authentication not tested: pass --user (and --password-file, --database) to log in");
    return true;
  }
  params["host"] = host;
  params["hostaddr"] = connect_host;
  params["port"] = std::to_string(connect_port);
  params["sslmode"] = mode;
  if (!tls.ca.empty())
    params["sslrootcert"] = tls.ca;
  if (!tls.cert.empty())
    params["sslcert"] = tls.cert, params["sslkey"] = tls.key;
  params["connect_timeout"] = "10";
  return authenticate(params, where, out);
}

// The upstream stages through a tunnel: SSH up, then a loopback forward to host:port.
bool via_tunnel(const config::settings& s, const config::tunnel& t, const std::string& host,
                uint16_t port, const config::upstream_tls& tls,
                std::map<std::string, std::string> params, const std::string& where, report& out) {
  int fd = reach(s, "tunnel " + t.name, t.host, t.port, t.connect_timeout, out);
  if (fd < 0)
    return false;
  close(fd);
  tunnel::manager mgr;
  if (!ssh_stage(s, t, mgr, out)) {
    mgr.stop();
    return false;
  }
  std::string err;
  auto fwd = mgr.loopback_forward(t.name, host, port, err);
  if (!fwd) {
    mgr.stop();
    return out.fail("forwarding", err, "sluice could not set up forwarding through the tunnel",
                    "see the message");
  }
  auto local = tcp_connect(fwd->host, fwd->port, std::chrono::seconds(5));
  if (local.outcome != tcp_outcome::connected) {
    mgr.stop();
    return out.fail("forwarding", local.error, "the local forward did not accept", "retry");
  }
  // A refused channel shows up as the forward closing the connection; ask the tunnel why.
  std::string probe_err;
  char answer = ssl_request(local.fd, 15'000, probe_err);
  close(local.fd);
  if (answer == 0) {
    auto st = mgr.status();
    std::string why = st.empty() ? probe_err : st[0].value("last_error", probe_err);
    mgr.stop();
    return out.fail("forwarding",
                    "opening a channel to " + host + ":" + std::to_string(port) + " through " +
                        t.host + " failed: " + why,
                    "the bastion accepted the login but could not (or may not) connect to " + host +
                        ":" + std::to_string(port),
                    "from the bastion, check `nc -vz " + host + " " + std::to_string(port) +
                        "`; allow forwarding for " + t.user +
                        " in sshd_config (AllowTcpForwarding yes, PermitOpen " + host + ":" +
                        std::to_string(port) + "); fix the host/port if wrong");
  }
  out.pass("forwarding", "channel through " + t.host + " to " + host + ":" + std::to_string(port));
  // Fresh connection for the real probe (the SSLRequest above was consumed).
  auto again = tcp_connect(fwd->host, fwd->port, std::chrono::seconds(5));
  bool ok =
      again.outcome == tcp_outcome::connected &&
      postgres_stages(again.fd, host, fwd->host, fwd->port, tls, std::move(params), where, out);
  mgr.stop();
  return ok;
}

}  // namespace

bool walk_route(const config::settings& s, const config::route& r, const credentials& creds,
                report& out) {
  const auto& u = r.upstream;
  std::string where = "route " + r.name;
  std::map<std::string, std::string> params;
  std::string user = !creds.user.empty()       ? creds.user
                     : !r.rewrite_user.empty() ? r.rewrite_user
                                               : r.match.user;
  if (!user.empty()) {
    params["user"] = user;
    params["dbname"] = !creds.database.empty()       ? creds.database
                       : !r.rewrite_database.empty() ? r.rewrite_database
                       : !r.match.database.empty()   ? r.match.database
                                                     : "postgres";
    if (!creds.password_file.empty())
      params["password"] = config::read_secret_file(creds.password_file).value_or("");
  }
  if (!u.via.empty()) {
    const auto* t = s.find_tunnel(u.via);
    if (!t)
      return out.fail("config", "route uses tunnel " + u.via + " which is not defined",
                      "upstream.via names a tunnel that does not exist",
                      "add the tunnel under tunnels: or fix upstream.via");
    out.note("the upstream " + u.host + ":" + std::to_string(u.port) +
             " is reached through tunnel " + t->name + " (" + t->host + ")");
    return via_tunnel(s, *t, u.host, u.port, u.tls, params, where, out);
  }
  std::string addr;
  int fd = reach(s, where, u.host, u.port, u.connect_timeout, out, &addr);
  if (fd < 0)
    return false;
  return postgres_stages(fd, u.host, addr, u.port, u.tls, params, where, out);
}

bool walk_tunnel(const config::settings& s, const config::tunnel& t, report& out) {
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
  config::upstream_tls tls;
  tls.mode = d.mode;
  tls.ca = d.ca;
  std::string host = d.host, via = d.via;
  uint16_t port = d.port;
  if (!d.route.empty()) {
    const auto* r = s.find_route(d.route);
    if (!r)
      return out.fail("config", "destination.route " + d.route + " is not defined",
                      "the sync reuses a route that does not exist", "fix destination.route");
    host = r->upstream.host, port = r->upstream.port, via = r->upstream.via, tls = r->upstream.tls;
  }
  std::string where = "sync " + y.name;
  std::unique_ptr<tunnel::manager> mgr;
  if (!via.empty()) {
    const auto* t = s.find_tunnel(via);
    if (!t)
      return out.fail("config", "tunnel " + via + " is not defined",
                      "the destination names a "
                      "tunnel that does not exist",
                      "add it under tunnels: or fix via");
    // Network stages through the tunnel; the login below uses the sync's own path.
    if (!via_tunnel(s, *t, host, port, tls, {{"_login_elsewhere", "1"}}, where, out))
      return false;
    mgr = std::make_unique<tunnel::manager>();
    auto only = std::make_shared<config::settings>(s);
    only->routes.clear();
    only->syncs.clear();
    mgr->apply(only);
  } else {
    std::string addr;
    int fd = reach(s, where, host, port, std::chrono::seconds(10), out, &addr);
    if (fd < 0)
      return false;
    if (!postgres_stages(fd, host, addr, port, tls, {{"_login_elsewhere", "1"}}, where, out))
      return false;
  }
  sync::forward_fn fwd;
  if (mgr)
    fwd = [&mgr](const std::string& t, const std::string& h, uint16_t p, std::string& e) {
      return mgr->loopback_forward(t, h, p, e);
    };
  bool ok = false;
  try {
    auto dest = sync::resolve_destination(s, y, fwd);
    dest.params["connect_timeout"] = "10";
    try {
      sync::pg_conn conn(dest.params);
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
      auto [cause, fix] = explain_login_error(e.what(), where + " destination",
                                              std::string(config::to_string(tls.mode)));
      auto c = sync::connection_check(e, y);
      if (cause.empty())
        cause = c.detail, fix = c.fix_sql.empty() ? "see the message" : c.fix_sql;
      out.fail("authentication", e.what(), cause, fix);
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
