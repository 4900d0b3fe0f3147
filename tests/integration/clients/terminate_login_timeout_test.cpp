// upstream.login_timeout (issue 18): with auth.mode: terminate sluice logs in to the
// database itself, so a backend (or a tunnel's far end) that accepts TCP and then never
// answers must not hold the client. Real listening sockets that stall at each step:
// silent after accept, 'N' to the SSLRequest then silent, TLS and AuthenticationSASL
// then silent; and a real PostgreSQL 15 (ssl = on, scram-sha-256) on a route with the
// same short login_timeout still logs in.
#include "tests/integration/clients/clients_fixture.hpp"

using namespace sluice::test;
using namespace sluice::test::clients;

namespace {

const std::string kAlicePw = "alice-lt-pw";

// One listening port per mode; each accepted connection is held open, never closed.
const char* const kStallServer = R"PY(
import socket, ssl, sys, threading
cert, key = sys.argv[1], sys.argv[2]
held = []

def exact(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError
        b += c
    return b

def serve(mode, c):
    held.append(c)
    try:
        if mode == "silent":
            return
        exact(c, 8)  # SSLRequest
        if mode == "ssl_no":
            c.sendall(b"N")
            return  # the startup packet comes, no answer ever
        c.sendall(b"S")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        t = ctx.wrap_socket(c, server_side=True)
        held.append(t)
        n = int.from_bytes(exact(t, 4), "big")
        exact(t, n - 4)  # StartupMessage
        body = (10).to_bytes(4, "big") + b"SCRAM-SHA-256\0\0"
        t.sendall(b"R" + (4 + len(body)).to_bytes(4, "big") + body)
        t.recv(4096)  # SASLInitialResponse: never answered
        print("sasl initial response read", flush=True)
    except Exception as e:
        print("stall server:", mode, e, flush=True)

def listen(mode, port):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(16)
    held.append(ls)
    while True:
        c, _ = ls.accept()
        threading.Thread(target=serve, args=(mode, c), daemon=True).start()

for arg in sys.argv[3:]:
    mode, port = arg.split(":")
    threading.Thread(target=listen, args=(mode, int(port)), daemon=True).start()
threading.Event().wait()
)PY";

class stall_env {
 public:
  stall_env() : pki_(dir_.path()), pg_(make_pg(pki_)) {
    pg_.sql("create role alice login password '" + kAlicePw + "'");
    pg_.sql("create database app owner alice");
    users_ = dir_.write("users.txt", "\"alice\" \"" + kAlicePw + "\"\n", 0600);
    silent_ = free_port();
    ssl_no_ = free_port();
    sasl_ = free_port();
    const auto script = dir_.write("stall.py", kStallServer);
    stall_ =
        background_process({"/usr/bin/python3", script, pki_.server_cert, pki_.server_key,
                            "silent:" + std::to_string(silent_),
                            "ssl_no:" + std::to_string(ssl_no_), "sasl:" + std::to_string(sasl_)},
                           dir_.file("stall.log"));
    for (int p : {silent_, ssl_no_, sasl_})
      REQUIRE(wait_for_port("127.0.0.1", p, std::chrono::seconds(10)));
    port_ = free_port();
    gw_ = std::make_unique<gateway_process>(dir_, yaml());
  }

  std::string yaml() const {
    const std::string auth = "{mode: terminate, file: " + users_ + "}";
    auto route = [&](const std::string& name, int port, const std::string& more) {
      return "  - name: " + name + "\n    match: {database: " + name +
             "}\n    rewrite: {database: app}\n    upstream: {host: 127.0.0.1, port: " +
             std::to_string(port) + ", " + more + "}\n    auth: " + auth + "\n";
    };
    return "region: test\nshutdown_grace: 2s\nlisteners:\n  - name: pg\n    listen: 127.0.0.1:" +
           std::to_string(port_) + "\n    tls: {cert: " + pki_.server_cert +
           ", key: " + pki_.server_key + "}\n    client_tls: optional\nroutes:\n" +
           route("silent_plain", silent_,
                 "connect_timeout: 5s, login_timeout: 1s, tls: {sslmode: disable}") +
           route("silent_tls", silent_,
                 "connect_timeout: 1s, login_timeout: 5s, tls: {sslmode: require}") +
           route("ssl_no", ssl_no_,
                 "connect_timeout: 5s, login_timeout: 1s, tls: {sslmode: prefer}") +
           route("sasl", sasl_, "connect_timeout: 5s, login_timeout: 1s, tls: {sslmode: require}") +
           route("real", pg_.port(),
                 "connect_timeout: 5s, login_timeout: 1s, tls: {sslmode: require}");
  }

  // psql to the route named `db`; how long it took.
  run_result sql(const std::string& db, const std::string& q, long long& took_ms) const {
    const auto t0 = clock::now();
    auto r = psql("host=localhost hostaddr=127.0.0.1 port=" + std::to_string(port_) +
                      " user=alice dbname=" + db + " sslmode=require connect_timeout=20",
                  q, kAlicePw, std::chrono::seconds(40));
    took_ms = ms_since(t0);
    return r;
  }
  gateway_process& gw() { return *gw_; }
  std::string stall_log() const { return stall_.log(); }

 private:
  static pg_options make_pg(const test_pki& pki) {
    auto o = ssl_on(pki);
    o.hba = {"local all all trust", "host all all 127.0.0.1/32 scram-sha-256"};
    return o;
  }

  temp_dir dir_{"sluice-login-timeout"};
  test_pki pki_;
  pg_cluster pg_;
  std::string users_;
  int silent_ = 0, ssl_no_ = 0, sasl_ = 0, port_ = 0;
  background_process stall_;
  std::unique_ptr<gateway_process> gw_;
};

}  // namespace

TEST_CASE("terminate: a backend that accepts and never answers the login is bounded",
          "[clients][terminate][login_timeout]") {
  stall_env e;
  struct cell {
    const char* route;
    const char* step;
  };
  // Each stalls after a different step; login_timeout (1s) ends each, not the client.
  for (const auto& c : {cell{"silent_plain", "the startup packet"},
                        cell{"ssl_no", "SSLRequest answered N, then the startup packet"},
                        cell{"sasl", "TLS, then AuthenticationSASL"}}) {
    long long took = 0;
    auto r = e.sql(c.route, "select 1", took);
    INFO(c.route << " (" << c.step << "): " << took << " ms\n"
                 << r.output << e.gw().log() << e.stall_log());
    CHECK(r.exit_code != 0);
    CHECK(has(r.output,
              "accepted the connection but did not log sluice in as \"alice\" within "
              "1s (upstream.login_timeout of route \"" +
                  std::string(c.route) + "\")"));
    CHECK(has(r.output, "HINT:  the database (or the tunnel's far end) accepts connections"));
    CHECK(took >= 900);
    CHECK(took < 6000);
    CHECK(eventually(
        [&] {
          return has(e.gw().log(),
                     "route=" + std::string(c.route) + " reason=upstream_login_timeout");
        },
        std::chrono::seconds(5)));
  }
  CHECK(has(e.stall_log(), "sasl initial response read"));
  // Silent before the SSLRequest's answer: connect_timeout bounds that step, as before.
  long long took = 0;
  auto r = e.sql("silent_tls", "select 1", took);
  INFO(took << " ms\n" << r.output << e.gw().log());
  CHECK(r.exit_code != 0);
  CHECK(has(r.output,
            "accepted the connection but did not complete the PostgreSQL/TLS "
            "handshake within 1s"));
  CHECK(took < 6000);
  CHECK(eventually([&] { return has(e.gw().log(), "route=silent_tls reason=upstream_timeout"); },
                   std::chrono::seconds(5)));
  // A real PostgreSQL on a route with the same short login_timeout logs in as usual.
  auto ok = e.sql("real",
                  "select current_user, ssl from pg_stat_ssl where pid = "
                  "pg_backend_pid()",
                  took);
  INFO(ok.output << e.gw().log());
  CHECK(ok.exit_code == 0);
  CHECK(ok.output == "alice|t\n");
}
