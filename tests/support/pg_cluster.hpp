// A throwaway PostgreSQL 15 cluster on 127.0.0.1 and a random port, for integration
// tests. initdb runs once per machine into a cached template (under a file lock); each
// cluster is a copy of it, so starting one costs about a second. As root, every server
// command runs as the `postgres` user, because Postgres refuses to run as root.
//
// Every connection, the fixture's own admin ones over the Unix socket included, logs in
// with scram-sha-256: the superuser's password is random, made when the template is
// initdb'd and kept beside it (password()). No test needs `trust` to reach its cluster.
#pragma once

#include <string>
#include <vector>

#include "tests/support/process.hpp"

namespace sluice::test {

struct pg_options {
  bool ssl = false;
  std::string cert, key;  // server certificate when ssl (copied into the data dir)
  std::string ca;         // CA for client certificates (optional)
  // pg_hba.conf lines for the network; empty = host scram-sha-256 on loopback. The
  // fixture's own line for its admin connections, `local all all scram-sha-256`, always
  // comes first.
  std::vector<std::string> hba;
  std::vector<std::string> conf;  // extra postgresql.conf lines
};

class pg_cluster {
 public:
  static constexpr const char* kSuperuser = "postgres";
  // The superuser's password (the same for every cluster of this machine's template).
  static const std::string& password();

  explicit pg_cluster(pg_options opts = {});
  ~pg_cluster();
  pg_cluster(const pg_cluster&) = delete;
  pg_cluster& operator=(const pg_cluster&) = delete;

  int port() const { return port_; }
  std::string host() const { return "127.0.0.1"; }
  const std::string& data_dir() const { return data_; }
  const std::string& socket_dir() const { return dir_.path(); }

  // libpq conninfo for the superuser over the Unix socket, password included: for
  // psql, pgbench and libpq connections a test makes to this cluster directly.
  std::string superuser_conninfo(const std::string& db = "postgres") const;
  // Superuser SQL over the Unix socket (scram-sha-256): -At output, ON_ERROR_STOP.
  run_result psql(const std::string& sql, const std::string& db = "postgres") const;
  // Same, but fails the calling test (throws) unless it succeeds.
  std::string sql(const std::string& sql, const std::string& db = "postgres") const;

  void start();
  void stop(const char* mode = "fast");
  void restart() {
    stop();
    start();
  }
  std::string log() const;

 private:
  temp_dir dir_{"sluice-pg"};
  std::string data_;
  int port_ = 0;
  bool running_ = false;
};

// Test PKI made with the openssl CLI: a CA, a server certificate for localhost and
// 127.0.0.1 (plus extra DNS names), and a client certificate. Keys are mode 0600.
struct test_pki {
  explicit test_pki(const std::string& dir, std::vector<std::string> extra_names = {});
  std::string ca_cert, ca_key;
  std::string server_cert, server_key;
  std::string client_cert, client_key;  // CN=client
  // Another certificate, signed by the same CA, for `names` (for SNI tests).
  std::pair<std::string, std::string> issue(const std::string& base,
                                            const std::vector<std::string>& names) const;

 private:
  std::string dir_;
};

// A cluster with ssl=on serving the PKI's server certificate.
inline pg_options ssl_on(const test_pki& pki) {
  pg_options o;
  o.ssl = true;
  o.cert = pki.server_cert;
  o.key = pki.server_key;
  return o;
}

bool running_as_root();

}  // namespace sluice::test
