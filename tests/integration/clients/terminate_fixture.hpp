// The environment of the auth.mode: terminate tests (issue 18): PostgreSQL 15 (ssl = on,
// scram-sha-256, md5 for bob), a TLS-terminating listener with client_tls: optional, and
// one route per cell of {secret from the auth query (q_), from an auth_file (f_)} x
// {upstream sslmode disable, require, verify-full}, plus routes for the refusal cases.
#pragma once

#include "tests/integration/clients/clients_fixture.hpp"

namespace sluice::test::clients {

inline const std::string kAlicePw = "alice-pw";  // a SCRAM user
inline const std::string kBobPw = "bob-pw";      // an md5 user (pg_hba says md5 for bob)

class terminate_env {
 public:
  terminate_env() : pki_(dir_.path()), pg_(make_pg(pki_)) {
    pg_.sql("create role alice login password '" + kAlicePw + "'");
    pg_.sql("set password_encryption = 'md5'; create role bob login password '" + kBobPw + "'");
    pg_.sql("create role old login password 'old-pw' valid until '2001-01-01'");
    pg_.sql("create role nologin_user nologin password 'nl-pw'");
    pg_.sql("create role weak login password 'weak-pw'");  // an auth user without rights
    for (const char* db : {"q_require", "q_full", "q_disable", "f_require", "f_full", "f_disable",
                           "weak_db", "pt", "down"})
      pg_.sql(std::string("create database ") + db + " owner alice");
    pg_.sql("grant connect on database q_require to bob");
    const std::string bob_md5 =
        trim(pg_.sql("select rolpassword from pg_authid where rolname='bob'"));
    auth_pw_ = dir_.write("auth.pw", pg_cluster::password() + "\n", 0600);
    weak_pw_ = dir_.write("weak.pw", "weak-pw\n", 0600);
    users_ = dir_.write("users.txt",
                        "\"alice\" \"" + kAlicePw + "\"\n\"bob\" \"" + bob_md5 + "\"\n", 0600);
    port_ = free_port();
    dead_port_ = free_port();
    gw_ = std::make_unique<gateway_process>(dir_, yaml());
  }

  std::string yaml() const {
    const std::string pgp = std::to_string(pg_.port());
    const std::string query = "{user: postgres, password_file: " + auth_pw_ + "}";
    auto route = [&](const std::string& db, const std::string& upstream, const std::string& auth) {
      return "  - name: " + db + "\n    match: {database: " + db + "}\n    upstream: " + upstream +
             "\n    auth: " + auth + "\n";
    };
    const std::string up = "{host: 127.0.0.1, port: " + pgp + ", connect_timeout: 3s, ";
    // The matrix cells: secret source (q_ auth query, f_ auth_file) x upstream sslmode.
    const std::string tls_of[][2] = {{"require", "{sslmode: require}"},
                                     {"full", "{sslmode: verify-full, ca: " + pki_.ca_cert + "}"},
                                     {"disable", "{sslmode: disable}"}};
    std::string cells;
    for (const auto& [suffix, tls] : tls_of) {
      cells += route("q_" + suffix, up + "tls: " + tls + "}",
                     "{mode: terminate, query: " + query + ", cache_ttl: 60s}");
      cells +=
          route("f_" + suffix, up + "tls: " + tls + "}", "{mode: terminate, file: " + users_ + "}");
    }
    return "region: test\nshutdown_grace: 2s\nlisteners:\n  - name: pg\n    listen: 127.0.0.1:" +
           std::to_string(port_) + "\n    tls: {cert: " + pki_.server_cert +
           ", key: " + pki_.server_key + "}\n    client_tls: optional\nroutes:\n" + cells +
           route("weak_db", up + "tls: {sslmode: require}}",
                 "{mode: terminate, query: {user: weak, password_file: " + weak_pw_ + "}}") +
           route("down",
                 "{host: 127.0.0.1, port: " + std::to_string(dead_port_) +
                     ", connect_timeout: 2s, tls: {sslmode: require}}",
                 "{mode: terminate, query: " + query + "}") +
           route("pt", up + "tls: {sslmode: require}}", "{mode: passthrough}");
  }

  // libpq defaults (sslmode=prefer, channel_binding=prefer) unless `extra` says otherwise.
  std::string conninfo(const std::string& db, const std::string& user,
                       const std::string& extra = "") const {
    return "host=localhost hostaddr=127.0.0.1 port=" + std::to_string(port_) + " user=" + user +
           " dbname=" + db + " connect_timeout=10 " + extra;
  }
  std::string verify_full() const { return "sslmode=verify-full sslrootcert=" + pki_.ca_cert; }
  run_result sql(const std::string& db, const std::string& user, const std::string& pw,
                 const std::string& q, const std::string& extra = "") const {
    return psql(conninfo(db, user, extra), q, pw);
  }

  // Each of `parts` is in the gateway's log within 5 s (a session's connection_closed
  // line is written after the client has already gone); the log is shown when one is not.
  void check_log_has(std::initializer_list<std::string> parts) {
    for (const auto& part : parts)
      eventually([&] { return has(gw().log(), part); }, std::chrono::seconds(5));
    const auto log = gw().log();
    INFO(log);
    for (const auto& part : parts) {
      INFO("missing: " << part);
      CHECK(has(log, part));
    }
  }

  const test_pki& pki() const { return pki_; }
  pg_cluster& pg() { return pg_; }
  gateway_process& gw() { return *gw_; }
  const temp_dir& dir() const { return dir_; }
  int port() const { return port_; }

 private:
  static pg_options make_pg(const test_pki& pki) {
    auto o = ssl_on(pki);
    o.hba = {"host all bob 127.0.0.1/32 md5", "host all all 127.0.0.1/32 scram-sha-256"};
    o.conf = {"max_connections = 100"};
    return o;
  }

  temp_dir dir_{"sluice-terminate"};
  test_pki pki_;
  pg_cluster pg_;
  std::string auth_pw_, weak_pw_, users_;
  int port_ = 0;
  int dead_port_ = 0;
  std::unique_ptr<gateway_process> gw_;
};

// What the database says about the session running the query.
inline const std::string kWhoAmI =
    "select current_user, s.ssl from pg_stat_ssl s join pg_stat_activity a using (pid) "
    "where pid = pg_backend_pid()";

}  // namespace sluice::test::clients
