// Shared pieces for the operations tests: a gateway config with an admin listener, a
// tunnel and a sync whose far ends are closed ports (so their rows show an error),
// and a curl wrapper.
#pragma once

#include <string>

#include "tests/support/gateway_process.hpp"
#include "tests/support/process.hpp"

namespace sluice::test {

struct ops_config {
  int admin_port = 0;
  int listen_port = 0;
  int ingest_port = 0;
  std::string token_file;
  std::string yaml;
};

// A tunnel to a closed port (state: error) and a sync whose destination is a closed
// port: both render with their last error.
inline ops_config make_ops_config(const temp_dir& dir, bool with_tunnel_and_sync = true) {
  ops_config c;
  c.admin_port = free_port();
  c.listen_port = free_port();
  c.ingest_port = free_port();
  int dead = free_port();  // nothing listens here
  c.token_file = dir.write("admin.token", "t0ken-for-tests\n", 0600);
  run("ssh-keygen -q -t ed25519 -N '' -f " + shell_quote(dir.file("tunnel_key")));
  dir.write("sync.pw", "pw\n", 0600);
  dir.write("ingest.token", "ingest-token\n", 0600);
  c.yaml =
      "region: test-region-1\npublic_addresses: [203.0.113.10]\n"
      "admin:\n  listen: 127.0.0.1:" +
      std::to_string(c.admin_port) + "\n  token_file: " + c.token_file +
      "\nlisteners:\n  - name: pg\n    listen: 127.0.0.1:" + std::to_string(c.listen_port) +
      "\n    client_tls: disabled\n";
  if (with_tunnel_and_sync) {
    c.yaml +=
        "tunnels:\n  - name: bastion\n    host: 127.0.0.1\n    port: " + std::to_string(dead) +
        "\n    user: sluice\n    private_key: " + dir.file("tunnel_key") +
        "\n    host_key: \"SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"\n"
        "    reconnect: {initial: 1s, max: 2s}\n    connect_timeout: 1s\n";
  }
  c.yaml +=
      "routes:\n  - name: orders\n    match: {database: orders}\n    upstream: {host: "
      "127.0.0.1, port: " +
      std::to_string(dead) + (with_tunnel_and_sync ? ", via: bastion" : "") +
      ", tls: {sslmode: disable}}\n";
  if (with_tunnel_and_sync) {
    c.yaml += "ingest:\n  listen: 127.0.0.1:" + std::to_string(c.ingest_port) +
              "\nsyncs:\n  - name: stripe\n    destination:\n      host: 127.0.0.1\n      port: " +
              std::to_string(dead) +
              "\n      database: app\n      user: sync_user\n"
              "      password_file: " +
              dir.file("sync.pw") +
              "\n      sslmode: disable\n    schema: stripe\n    ingest:\n      token_file: " +
              dir.file("ingest.token") + "\n";
  }
  return c;
}

// curl with the HTTP status appended as a last line "HTTP <code>".
inline run_result curl(const std::string& args) {
  return run("curl -sS --max-time 20 -w '\\nHTTP %{http_code}' " + args, std::chrono::seconds(30));
}

inline std::string admin_url(const ops_config& c, const std::string& path) {
  return "http://127.0.0.1:" + std::to_string(c.admin_port) + path;
}

}  // namespace sluice::test
