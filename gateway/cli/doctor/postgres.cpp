#include "gateway/cli/doctor/postgres.hpp"

#include <arpa/inet.h>
#include <libpq-fe.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include "gateway/pg_wire.hpp"
#include "gateway/session/auth_phase.hpp"
#include "tls/client_context.hpp"

namespace sluice::doctor {

char ssl_request(int fd, int timeout_ms, std::string& error) {
  const auto pkt = pg::encode_ssl_request();  // the data plane's own encoder
  if (send(fd, pkt.data(), pkt.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(pkt.size())) {
    error = std::strerror(errno);
    return 0;
  }
  pollfd p{fd, POLLIN, 0};
  if (poll(&p, 1, timeout_ms) <= 0) {
    error = "no answer within " + std::to_string(timeout_ms) + " ms";
    return 0;
  }
  char c = 0;
  ssize_t n = recv(fd, &c, 1, 0);
  if (n == 1)
    return c;
  error = n == 0 ? "the connection was closed without an answer" : std::strerror(errno);
  return 0;
}

bool tls_handshake(int fd, const std::string& host, const config::upstream_tls& tls, report& out) {
  const auto mode = tls.mode;
  const auto& ca = tls.ca;
  const bool verify = mode == config::sslmode::verify_ca || mode == config::sslmode::verify_full;
  // The data plane's client context: the same protocol floor, verification and SNI.
  std::unique_ptr<tls::client_context> ctx;
  try {
    ctx = std::make_unique<tls::client_context>(tls);
  } catch (const std::exception& e) {
    if (verify && !ca.empty())
      return out.fail("TLS", "cannot read the CA file " + ca + " (" + e.what() + ")",
                      "sslmode " + std::string(config::to_string(mode)) +
                          " needs the CA certificate that signed the database's certificate",
                      "put the CA certificate (PEM) at " + ca + " or point tls.ca at it");
    return out.fail("TLS", e.what(), "sluice cannot load the route's TLS client settings",
                    "fix tls.cert/tls.key named in the message");
  }
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(ctx->native().native_handle()), &SSL_free);
  SSL_set_fd(ssl.get(), fd);
  if (!ctx->prepare(ssl.get(), host))
    return out.fail("TLS", "OpenSSL refused the server name " + host,
                    "the host name cannot be used for SNI or certificate checks",
                    "check upstream.host");
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (SSL_connect(ssl.get()) == 1) {
    std::string detail =
        std::string(SSL_get_version(ssl.get())) + " " + SSL_get_cipher_name(ssl.get());
    if (verify)
      detail += mode == config::sslmode::verify_full
                    ? ", certificate and host name " + host + " verified"
                    : ", certificate verified (host name not checked: verify-ca)";
    else
      detail += ", certificate not verified (sslmode " + std::string(config::to_string(mode)) + ")";
    return out.pass("TLS", detail);
  }
  long v = SSL_get_verify_result(ssl.get());
  if (v != X509_V_OK) {
    std::string why = X509_verify_cert_error_string(v);
    if (v == X509_V_ERR_HOSTNAME_MISMATCH)
      return out.fail("TLS", "certificate does not match the host name " + host + " (" + why + ")",
                      "the database's certificate is valid but names another host; with sslmode "
                      "verify-full the name in upstream.host must be one of its names",
                      "set upstream.host to a name in the certificate (keep the IP out of it), or "
                      "reissue the certificate with " +
                          host + " as a subjectAltName, or use sslmode: verify-ca");
    return out.fail("TLS", "certificate verification failed: " + why,
                    "the database's certificate was not signed by the CA sluice was given" +
                        std::string(ca.empty() ? " (system roots)" : " (" + ca + ")"),
                    "set tls.ca to the CA that issued the database's certificate (ask the "
                    "database owner for it; for RDS/Cloud SQL download their CA bundle)");
  }
  unsigned long e = ERR_get_error();
  char buf[256] = "handshake failed";
  if (e)
    ERR_error_string_n(e, buf, sizeof buf);
  return out.fail("TLS", std::string("TLS handshake failed: ") + buf,
                  "the server accepted SSLRequest but the TLS handshake did not complete "
                  "(protocol or cipher mismatch, or not a PostgreSQL TLS endpoint)",
                  "check the database's ssl_min_protocol_version (sluice needs TLS 1.2+) and "
                  "that the port is PostgreSQL's, not a TLS-terminating proxy speaking another "
                  "protocol");
}

std::pair<std::string, std::string> explain_login_error(const std::string& m,
                                                        const std::string& where,
                                                        const std::string& sslmode) {
  auto has = [&](const char* s) { return m.find(s) != std::string::npos; };
  if (has("no pg_hba.conf entry") && has("no encryption")) {
    // A route: the hint the data plane gives a client that meets this error.
    const std::string route_prefix = "route ";
    const std::string change =
        where.rfind(route_prefix, 0) == 0
            ? gateway::hint_upstream_refuses_plaintext(where.substr(route_prefix.size()))
            : "in " + where + " set tls.sslmode: require (or verify-full with tls.ca)";
    return {
        "invalid_authorization_specification: pg_hba.conf only accepts this user over TLS "
        "(a hostssl line) and sluice connected without TLS (sslmode " +
            sslmode + ")",
        change + "; or add a 'host' line for the gateway's address to pg_hba.conf"};
  }
  if (has("no pg_hba.conf entry") && (has("SSL encryption") || has("GSS encryption")))
    return {
        "invalid_authorization_specification: pg_hba.conf has no line for this user, "
        "database and address over TLS (only hostnossl/host lines that do not match)",
        "in " + where +
            " set tls.sslmode: disable if the server must be reached in the "
            "clear, or add a 'hostssl DB USER <gateway public address>/32 scram-sha-256' line "
            "to pg_hba.conf and reload PostgreSQL"};
  if (has("no pg_hba.conf entry"))
    return {
        "invalid_authorization_specification: pg_hba.conf has no line that lets this user "
        "in to this database from the gateway's address",
        "add 'hostssl DB USER <gateway public address>/32 scram-sha-256' to pg_hba.conf and "
        "reload PostgreSQL (SELECT pg_reload_conf())"};
  if (has("pg_hba.conf rejects"))
    return {
        "invalid_authorization_specification: a 'reject' line in pg_hba.conf matches the "
        "gateway's address",
        "move a host/hostssl line for the gateway's address above the reject line"};
  if (has("password authentication failed") || has("SCRAM authentication"))
    return {"wrong password for this user (invalid_password)",
            "check the password file you passed (no trailing spaces; a newline at the end is "
            "fine) or reset it: ALTER ROLE USER PASSWORD '...'"};
  if (has("no password supplied") || has("fe_sendauth"))
    return {"the server asks for a password and none was given",
            "pass --password-file FILE (for syncs: destination.password_file)"};
  if (has("does not exist") && has("role"))
    return {"the user does not exist on the database server",
            "create it (CREATE ROLE ... LOGIN "
            "PASSWORD '...') or fix --user"};
  if (has("does not exist") && has("database"))
    return {"the database does not exist",
            "fix --database (or the route's rewrite.database), or "
            "CREATE DATABASE"};
  if (has("does not support SSL") || has("server does not support SSL"))
    return {"the server has ssl = off but sslmode " + sslmode + " requires TLS",
            "turn ssl = on in postgresql.conf (with a certificate), or in " + where +
                " set tls.sslmode: prefer (encryption when offered) or disable"};
  if (has("certificate verify failed"))
    return {"the server's certificate was not signed by the configured CA",
            "set tls.ca in " + where + " to the CA that issued the database's certificate"};
  if (has("does not match host name"))
    return {"the server's certificate names another host",
            "use a host name from the certificate in upstream.host, or sslmode: verify-ca"};
  if (has("too many connections") || has("remaining connection slots"))
    return {"the server is out of connection slots",
            "raise max_connections or close idle "
            "sessions (PgBouncer in front helps)"};
  return {};
}

bool authenticate(const std::map<std::string, std::string>& params, const std::string& where,
                  report& out) {
  std::vector<const char*> keys, values;
  for (const auto& [k, v] : params) {
    keys.push_back(k.c_str());
    values.push_back(v.c_str());
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  PGconn* c = PQconnectdbParams(keys.data(), values.data(), 0);
  std::unique_ptr<PGconn, decltype(&PQfinish)> conn(c, &PQfinish);
  auto who = [&](const char* k) {
    auto it = params.find(k);
    return it == params.end() ? std::string("?") : it->second;
  };
  if (PQstatus(c) == CONNECTION_OK) {
    std::string detail = "logged in as " + who("user") + " to database " + who("dbname");
    detail += PQsslInUse(c) ? " over TLS" : " without TLS";
    detail += ", server " + std::to_string(PQserverVersion(c) / 10000);
    return out.pass("authentication", detail);
  }
  std::string m = PQerrorMessage(c);
  while (!m.empty() && (m.back() == '\n' || m.back() == ' '))
    m.pop_back();
  auto mode = params.count("sslmode") ? params.at("sslmode") : "prefer";
  auto [cause, fix] = explain_login_error(m, where, mode);
  if (cause.empty())
    cause = "the server refused the login", fix = "read the server's message above";
  return out.fail("authentication", m, cause, fix);
}

}  // namespace sluice::doctor
