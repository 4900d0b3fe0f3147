// `sluice doctor route R`: the route's way walked by the gateway's own code. After the
// DNS/TCP (or bastion and SSH) stages that explain network failures, the connection is
// made by connect_upstream (the same SSLRequest, the same tls::client_context, the same
// tunnel channel as a session), the login by the gateway's own SCRAM/md5 client, and for
// auth.mode: terminate the secret sources are read as the gateway reads them. So doctor
// cannot pass where the gateway fails, nor the reverse.
#include <utility>  // before Asio (GCC 12 + Boost 1.74)

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <exception>
#include <memory>
#include <optional>
#include <string>

#include "config/read_file.hpp"
#include "gateway/auth/auth_file.hpp"
#include "gateway/auth_query.hpp"
#include "gateway/cli/doctor/postgres.hpp"
#include "gateway/cli/doctor/reach.hpp"
#include "gateway/cli/doctor/reverse.hpp"
#include "gateway/cli/doctor/walk.hpp"
#include "gateway/runtime.hpp"
#include "gateway/upstream.hpp"
#include "gateway/upstream_login.hpp"

namespace sluice::doctor {

namespace {

namespace net = boost::asio;
using gateway::upstream_failure;
using gateway::upstream_step;

// Runs one coroutine of the data plane to its end on a private io_context.
template <class T>
T run(net::io_context& io, net::awaitable<T> task) {
  std::optional<T> result;
  std::exception_ptr error;
  net::co_spawn(io, std::move(task), [&](std::exception_ptr e, T v) {
    if (e)
      error = e;
    else
      result = std::move(v);
  });
  io.restart();
  io.run();
  if (error)
    std::rethrow_exception(error);
  return std::move(*result);
}

std::string target_of(const config::upstream_settings& u) {
  return config::host_port{u.host, u.port}.str();
}

// The user, database and password doctor logs in with (empty user: it does not).
struct login {
  std::string user, database, password;
};

login login_for(const config::route& r, const credentials& creds) {
  login l;
  l.user = !creds.user.empty()       ? creds.user
           : !r.rewrite_user.empty() ? r.rewrite_user
                                     : r.match.user;
  l.database = !creds.database.empty()       ? creds.database
               : !r.rewrite_database.empty() ? r.rewrite_database
               : !r.match.database.empty()   ? r.match.database
                                             : "postgres";
  if (!creds.password_file.empty())
    l.password = config::read_secret_file(creds.password_file).value_or("");
  return l;
}

// The SSLRequest and TLS stages of a connection connect_upstream made.
bool tls_stages_passed(const config::route& r, const gateway::upstream_connection& up,
                       report& out) {
  const auto& tls = r.upstream.tls;
  const std::string mode(config::to_string(tls.mode));
  if (up.ssl_answer == 'S')
    out.pass("SSLRequest", "server answered 'S' (TLS available)");
  else if (up.ssl_answer == 'N')
    out.pass("SSLRequest",
             "server answered 'N' (TLS not available; sslmode " + mode + " continues without it)");
  if (!up.tls) {
    if (tls.mode == config::sslmode::disable || tls.mode == config::sslmode::allow)
      out.note("route " + r.name + " has sslmode " + mode +
               ": traffic to the database travels in the clear; consider sslmode: verify-full");
    return true;
  }
  SSL* ssl = up.stream->tls().native_handle();
  std::string detail = std::string(SSL_get_version(ssl)) + " " + SSL_get_cipher_name(ssl);
  if (tls.mode == config::sslmode::verify_full)
    detail += ", certificate and host name " + r.upstream.host + " verified";
  else if (tls.mode == config::sslmode::verify_ca)
    detail += ", certificate verified (host name not checked: verify-ca)";
  else
    detail += ", certificate not verified (sslmode " + mode + ")";
  return out.pass("TLS", detail);
}

// A failure of connect_upstream as the stage it happened in, with cause and fix.
bool connect_failed(const config::settings& s, const config::route& r, const upstream_failure& f,
                    report& out) {
  const std::string where = "route " + r.name;
  const auto& tls = r.upstream.tls;
  const setting_keys keys = route_keys();
  const std::string mode(config::to_string(tls.mode));
  switch (f.step) {
    case upstream_step::tunnel: {
      const auto& u = r.upstream;
      const auto* t = s.find_tunnel(u.via);
      const std::string bastion = t ? t->host : u.via;
      const std::string user = t ? t->user : "the tunnel's user";
      const std::string port = std::to_string(u.port);
      return out.fail(
          "forwarding",
          "opening a channel to " + target_of(u) + " through " + bastion + " failed: " + f.message,
          "the bastion accepted the login but could not (or may not) connect to " + target_of(u),
          "from the bastion, check `nc -vz " + u.host + " " + port + "`; allow forwarding for " +
              user + " in sshd_config (AllowTcpForwarding yes, PermitOpen " + u.host + ":" + port +
              "); fix the host/port if wrong");
    }
    case upstream_step::resolve:
    case upstream_step::connect:
      // The DNS and TCP stages passed a moment ago: report what the gateway met.
      return out.fail("TCP", f.message, "the gateway's own connection failed", f.hint);
    case upstream_step::ssl_request:
      if (f.ssl_answer == 'N')
        return out.fail(
            "SSLRequest", "server answered 'N' (TLS not available)",
            "the server has ssl = off, and sslmode " + mode + " in " + where + " insists on TLS",
            "turn ssl = on on the database server (with a certificate), or set " + keys.sslmode +
                ": prefer (TLS when offered) or disable in " + where);
      return out.fail("SSLRequest", f.message,
                      "the port accepted TCP but did not answer like PostgreSQL",
                      "check that " + where +
                          " points at PostgreSQL's port (not pgbouncer admin, an HTTP service or "
                          "a TLS-only proxy expecting direct TLS; that one needs "
                          "upstream.tls.sslnegotiation: direct)");
    case upstream_step::tls:
      if (f.ssl_answer == 'S')
        out.pass("SSLRequest", "server answered 'S' (TLS available)");
      if (f.verify_result == X509_V_ERR_HOSTNAME_MISMATCH)
        return out.fail("TLS",
                        "certificate does not match the host name " + r.upstream.host + " (" +
                            X509_verify_cert_error_string(f.verify_result) + ")",
                        "the database's certificate is valid but names another host; with sslmode "
                        "verify-full the name in " +
                            keys.host + " must be one of its names",
                        "set " + keys.host +
                            " to a name in the certificate, or reissue the certificate with " +
                            r.upstream.host + " as a subjectAltName, or use sslmode: verify-ca");
      if (f.verify_result != X509_V_OK)
        return out.fail("TLS",
                        std::string("certificate verification failed: ") +
                            X509_verify_cert_error_string(f.verify_result),
                        "the database's certificate was not signed by the CA sluice was given" +
                            std::string(tls.ca.empty() ? " (system roots)" : " (" + tls.ca + ")"),
                        "set " + keys.ca +
                            " to the CA that issued the database's certificate (ask the database "
                            "owner for it; for RDS/Cloud SQL download their CA bundle)");
      if (tls.negotiation == config::sslnegotiation::direct)
        return out.fail("TLS", f.message,
                        "sslnegotiation: direct starts TLS without an SSLRequest, and the server "
                        "did not take it (PostgreSQL before 17 does not; nor does a server "
                        "behind a proxy that expects the SSLRequest)",
                        "set upstream.tls.sslnegotiation: postgres in " + where +
                            " unless the server is PostgreSQL 17+ or a direct-TLS proxy");
      return out.fail("TLS", f.message,
                      "the server accepted SSLRequest but the TLS handshake did not complete "
                      "(protocol or cipher mismatch, or not a PostgreSQL TLS endpoint)",
                      "check the database's ssl_min_protocol_version against upstream.tls "
                      "min_version/ciphers (sluice needs TLS 1.2+) and that the port is "
                      "PostgreSQL's, not a TLS-terminating proxy speaking another protocol");
    case upstream_step::startup:
      break;
  }
  return out.fail("startup", f.message, "the server closed the connection before the login",
                  f.hint.empty() ? "see the server's log" : f.hint);
}

std::string secret_kind_name(std::string_view stored) {
  switch (auth::classify_secret(stored)) {
    case auth::secret_kind::scram_sha_256:
      return "a SCRAM-SHA-256 secret";
    case auth::secret_kind::md5:
      return "an md5 secret";
    case auth::secret_kind::plaintext:
      break;
  }
  return "a plaintext password";
}

// auth.file: readable, in PgBouncer's format, and (when a user is known) holding the
// user. Returns false on a failed stage; `found` says whether the user has an entry.
bool auth_file_stage(const config::route& r, const std::string& user, report& out, bool& found) {
  const std::string& path = r.auth.file;
  found = false;
  std::string why;
  auto text = config::read_file(path, &why);
  if (!text)
    return out.fail("auth.file", why, "sluice cannot read route " + r.name + "'s auth.file",
                    "make " + path +
                        " readable by the user sluice runs as (e.g. chown root:sluice, chmod "
                        "0640), or fix routes[].auth.file");
  auto parsed = auth::parse_auth_file(*text);
  if (!parsed.ok()) {
    std::string lines;
    for (const auto& e : parsed.errors)
      lines += (lines.empty() ? "" : "; ") + e.describe();
    return out.fail("auth.file", path + ": " + lines,
                    "the file is not in PgBouncer's auth_file format, so the gateway refuses "
                    "the logins it would serve",
                    "one user per line, two double-quoted fields: \"user\" "
                    "\"SCRAM-SHA-256$...\" (or \"md5...\", or a password); fix the lines named");
  }
  const std::string count =
      std::to_string(parsed.entries.size()) + " user" + (parsed.entries.size() == 1 ? "" : "s");
  if (user.empty())
    return out.pass("auth.file", path + ": " + count);
  for (const auto& e : parsed.entries) {
    if (e.user == user) {
      found = true;
      return out.pass("auth.file", path + ": " + count + "; " + user + " has " +
                                       secret_kind_name(e.secret) + " (line " +
                                       std::to_string(e.line) + ")");
    }
  }
  if (r.auth.query)
    return out.pass("auth.file", path + ": " + count + "; " + user +
                                     " is not in it (the auth query is asked next)");
  return out.fail("auth.file", path + ": " + count + ", none for user " + user,
                  "the route looks secrets up in auth.file only; " + user +
                      " is not in it, so the gateway refuses every login of " + user,
                  "add a line \"" + user + "\" \"SCRAM-SHA-256$...\" to " + path +
                      " (the secret is pg_authid.rolpassword of the user), or set auth.query");
}

// auth.query: the auth user logs in over the route's own way and reads `user`'s secret.
bool auth_query_stage(net::io_context& io, const gateway::route_runtime& rt,
                      tunnel::manager* tunnels, const std::string& user,
                      const std::string& database, report& out) {
  const auto& q = *rt.cfg->auth.query;
  auto r = run(io, gateway::run_auth_query(rt, tunnels, user, database));
  if (r.failure) {
    const bool login = r.failure->message.find("cannot log in") != std::string::npos;
    return out.fail(
        "auth.query", r.failure->message,
        login ? "the auth query's user " + q.user + " cannot log in to database " + database
              : "the auth query cannot read user secrets as " + q.user,
        !r.failure->hint.empty() ? r.failure->hint
        : login                  ? "check auth.query.password_file and that " + q.user +
                      " has LOGIN and a pg_hba.conf line (docs/security.md)"
                : "see the message; docs/security.md has the SECURITY DEFINER recipe");
  }
  const std::string found_as = "logged in as " + q.user + " and read";
  if (!r.secret)
    return out.fail("auth.query", "the auth query returned no password for user " + user,
                    "no such role, or it has no password: the gateway refuses its logins "
                    "(as a wrong password, so user names cannot be probed)",
                    "create the role with a password (CREATE ROLE \"" + user +
                        "\" LOGIN PASSWORD '...', password_encryption = scram-sha-256), fix the "
                        "user name, or check auth.query.sql");
  if (!r.secret->can_login)
    return out.fail("auth.query", "role " + user + " has rolcanlogin = false",
                    "the gateway refuses a role that may not log in",
                    "ALTER ROLE \"" + user + "\" LOGIN, if it should");
  if (r.secret->expired)
    return out.fail("auth.query", "role " + user + "'s password has expired (rolvaliduntil)",
                    "the gateway refuses a role whose password has expired",
                    "ALTER ROLE \"" + user + "\" VALID UNTIL 'infinity' (or a later date)");
  return out.pass("auth.query", found_as + " the secret of " + user + " (" +
                                    secret_kind_name(r.secret->stored) + ")");
}

// The login stage on the connection connect_upstream made.
bool login_stage(net::io_context& io, const config::route& r, gateway::upstream_connection& up,
                 const login& l, report& out) {
  const std::string where = "route " + r.name;
  const std::string mode(config::to_string(r.upstream.tls.mode));
  std::shared_ptr<gateway::pg_stream> stream(std::move(up.stream));
  gateway::message_reader in(std::move(up.pending));
  auto task = [](std::shared_ptr<gateway::pg_stream> s, gateway::message_reader& in, bool tls,
                 std::string user, std::string password,
                 config::duration limit) -> net::awaitable<gateway::upstream_login> {
    // The same bound as the gateway's: no answer in time closes the connection.
    net::steady_timer deadline(s->socket().get_executor());
    deadline.expires_after(limit);
    deadline.async_wait([s](gateway::error_code ec) {
      if (!ec)
        s->close();
    });
    auto result = co_await gateway::log_in(*s, in, tls, user, password);
    deadline.cancel();
    co_return result;
  };
  auto res = run(io, task(stream, in, up.tls, l.user, l.password, r.upstream.connect_timeout));
  stream->close();
  using kind = gateway::upstream_login::kind;
  if (res.result == kind::ok) {
    std::string detail = "logged in as " + l.user + " to database " + l.database +
                         (up.tls ? " over TLS" : " without TLS");
    if (!res.mechanism.empty())
      detail += " (" + res.mechanism + (res.channel_bound ? ", channel bound)" : ")");
    if (!res.server_version.empty())
      detail += ", server " + res.server_version;
    return out.pass("authentication", detail);
  }
  if (res.result == kind::io)
    return out.fail("authentication",
                    "the server closed the connection or did not answer within " +
                        std::to_string(r.upstream.connect_timeout.count()) + " ms",
                    "the login did not complete", "see the server's log");
  const auto& e = res.error;
  const std::string message = e.message + (e.code.empty() ? "" : " (SQLSTATE " + e.code + ")") +
                              (e.detail.empty() ? "" : "; " + e.detail);
  if (!res.from_backend && l.password.empty())
    return out.fail("authentication", message, "the server asks for a password and none was given",
                    "pass --password-file FILE");
  auto [cause, fix] = explain_login_error(e.message, where, mode);
  if (cause.empty()) {
    cause = res.from_backend ? "the server refused the login" : "sluice refused the server";
    fix = e.hint.empty() ? "read the message above" : e.hint;
  }
  return out.fail("authentication", message, cause, fix);
}

}  // namespace

bool walk_route(const config::settings& s, const config::route& r, const credentials& creds,
                report& out) {
  const auto& u = r.upstream;
  const std::string where = "route " + r.name;
  std::unique_ptr<tunnel::manager> tunnels;
  if (!u.via.empty()) {
    const auto* t = s.find_tunnel(u.via);
    if (!t)
      return out.fail("config", "route uses tunnel " + u.via + " which is not defined",
                      "upstream.via names a tunnel that does not exist",
                      "add the tunnel under tunnels: or fix upstream.via");
    if (t->reverse) {
      out.note("the upstream " + target_of(u) + " is reached through reverse tunnel " + t->name +
               " (its agents dial in)");
      return walk_reverse_tunnel(s, *t, u.port, out);
    }
    out.note("the upstream " + target_of(u) + " is reached through tunnel " + t->name + " (" +
             t->host + ")");
    int fd = reach(s, "tunnel " + t->name, t->host, t->port, t->connect_timeout, out);
    if (fd < 0)
      return false;
    ::close(fd);
    tunnels = std::make_unique<tunnel::manager>();
    if (!ssh_stage(s, *t, *tunnels, out)) {
      tunnels->stop();
      return false;
    }
  } else {
    int fd = reach(s, where, u.host, u.port, u.connect_timeout, out);
    if (fd < 0)
      return false;
    ::close(fd);
  }
  struct stop_tunnels {
    std::unique_ptr<tunnel::manager>& m;
    ~stop_tunnels() {
      if (m)
        m->stop();
    }
  } stopper{tunnels};

  // The data plane's snapshot of this route alone (its TLS client context).
  auto only = std::make_shared<config::settings>(s);
  only->listeners.clear();
  only->routes = {r};
  only->syncs.clear();
  gateway::runtime_ptr rt;
  try {
    rt = gateway::runtime::build(only, 0);
  } catch (const std::exception& e) {
    return out.fail("TLS", e.what(), "sluice cannot load the route's TLS client settings",
                    "fix upstream.tls (ca, cert, key) named in the message: the file must exist, "
                    "be PEM and readable by the user sluice runs as");
  }
  const auto& route = *rt->route(r.name);
  const login l = login_for(r, creds);
  net::io_context io;

  pg::bytes startup;
  if (!l.user.empty()) {
    pg::startup_message sm;
    sm.set("user", l.user);
    sm.set("database", l.database);
    sm.set("application_name", "sluice doctor");
    startup = pg::encode_startup(sm);
  }
  gateway::upstream_connection up;
  auto failed = run(io, gateway::connect_upstream(route, tunnels.get(), startup, up));
  if (failed)
    return connect_failed(s, r, *failed, out);
  if (tunnels)
    out.pass("forwarding", "channel through " + s.find_tunnel(u.via)->host + " to " + target_of(u));
  if (!tls_stages_passed(r, up, out))
    return false;

  if (r.auth.mode == config::auth_mode::terminate) {
    // The gateway checks the client's password against this secret: without it no
    // login through the route can work, whatever the database says.
    bool in_file = false;
    if (!r.auth.file.empty() && !auth_file_stage(r, l.user, out, in_file))
      return false;
    if (r.auth.query && !in_file) {
      std::string lookup = l.user;
      if (lookup.empty()) {
        lookup = r.auth.query->user;
        out.note("no --user: the auth query is checked by reading the secret of its own user " +
                 lookup);
      }
      if (!auth_query_stage(io, route, tunnels.get(), lookup, l.database, out))
        return false;
    }
  }
  if (l.user.empty()) {
    out.note("authentication not tested: pass --user (and --password-file, --database) to log in");
    return true;
  }
  return login_stage(io, r, up, l, out);
}

}  // namespace sluice::doctor
