// A plaintext client on a tunnel route is handed to the tunnel's thread once logged in
// (gateway/tunnel/handoff.hpp). These run a real gateway, sshd and PostgreSQL and check
// that nothing in flight at the hand-off is lost or reordered, and that every way such
// a session ends is still seen and logged by the gateway.
#include <sys/ioctl.h>

#include <catch2/catch.hpp>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/integration/gateway/fixture.hpp"
#include "tests/integration/tunnel/fixture.hpp"
#include "tests/support/raw_client.hpp"
#include "tests/support/scram_login.hpp"

using namespace sluice;
using namespace sluice::test;

namespace {

const std::string kReady("Z\0\0\0\x05I", 6);  // ReadyForQuery, idle

// PostgreSQL (scram-sha-256 on loopback), a bastion sshd and a gateway whose route "db" reaches
// the database through it. The listener is plaintext, so sessions are handed off.
struct tunnel_route {
  explicit tunnel_route(const std::string& route_extra = "",
                        const std::string& listener_extra = "") {
    sshd.authorize(keys.pub);
    port = free_port();
    admin_port = free_port();
    auto token = dir.write("admin.token", "handoff-token\n", 0600);
    yaml = "region: test\nshutdown_grace: 2s\nadmin:\n  listen: 127.0.0.1:" +
           std::to_string(admin_port) + "\n  token_file: " + token +
           "\nallowlists:\n  clients: [127.0.0.1/32]\ntunnels:\n" +
           keys.yaml(sshd, "bastion",
                     "    keepalive: {interval: 1s, max_missed: 3}\n"
                     "    reconnect: {initial: 200ms, max: 1s}\n") +
           "listeners:\n  - name: pg\n    listen: 127.0.0.1:" + std::to_string(port) +
           "\n    client_tls: disabled\n    allow: [clients]\n" + listener_extra +
           "routes:\n  - name: db\n" + route_extra +
           "    upstream: {host: 127.0.0.1, port: " + std::to_string(pg.port()) +
           ", via: bastion, connect_timeout: 5s, tls: {sslmode: disable}}\n";
    gw = std::make_unique<gateway_process>(dir, yaml);
  }
  std::string conninfo() const {
    return "host=127.0.0.1 port=" + std::to_string(port) +
           " user=postgres dbname=postgres sslmode=disable connect_timeout=10 password=" +
           pg_cluster::password();
  }
  // channels_handed_off from the admin API's tunnel status.
  uint64_t handed_off() const {
    auto r =
        run("curl -sS --max-time 5 http://127.0.0.1:" + std::to_string(admin_port) + "/v1/status",
            std::chrono::seconds(10));
    auto j = nlohmann::json::parse(r.output, nullptr, false);
    if (j.is_discarded() || !j.contains("tunnels"))
      return 0;
    for (const auto& t : j["tunnels"]) {
      if (t.value("name", "") == "bastion")
        return t.value("channels_handed_off", uint64_t{0});
    }
    return 0;
  }
  size_t count(const std::string& text) const { return count_of(gw->log(), text); }
  void log_in(raw_client& c) const { REQUIRE(!scram_log_in(c).empty()); }

  temp_dir dir{"sluice-handoff"};
  pg_cluster pg;
  sshd_server sshd;
  tunnel_setup keys;
  int port = 0, admin_port = 0;
  std::string yaml;
  std::unique_ptr<gateway_process> gw;
};

// The bytes of every DataRow's first column in `wire` (simple-query results), in order.
std::string first_columns(const std::string& wire) {
  std::string out;
  size_t i = 0;
  while (i + 5 <= wire.size()) {
    const auto* p = reinterpret_cast<const unsigned char*>(wire.data() + i);
    const uint32_t len =
        (uint32_t{p[1]} << 24) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 8) | uint32_t{p[4]};
    if (i + 1 + len > wire.size())
      break;
    if (wire[i] == 'D') {
      const auto* f = p + 7;  // type, length, column count
      const uint32_t flen =
          (uint32_t{f[0]} << 24) | (uint32_t{f[1]} << 16) | (uint32_t{f[2]} << 8) | uint32_t{f[3]};
      out.append(reinterpret_cast<const char*>(f + 4), flen);
    }
    i += 1 + len;
  }
  return out;
}

}  // namespace

TEST_CASE("a plaintext tunnel session is relayed by the tunnel thread, byte for byte",
          "[tunnel][handoff]") {
  tunnel_route t;
  // Bulk both ways after the hand-off, compared with the database's own answer.
  const std::string big =
      "select md5(string_agg(repeat(md5(i::text), 40), '' order by i)) from "
      "generate_series(1, 30000) i";
  auto direct = t.pg.psql(big);
  REQUIRE(direct.exit_code == 0);
  auto through = psql(t.conninfo(), big);
  INFO(through.output << t.gw->log());
  CHECK(through.output == direct.output);
  auto copy_md5 = [](const std::string& conninfo) {
    return run("psql -XAt '" + conninfo +
                   "' -c \"copy (select repeat(md5(i::text), 40) from generate_series(1, "
                   "30000) i) to stdout\" | md5sum",
               std::chrono::seconds(60))
        .output;
  };
  auto copy_out = copy_md5(t.conninfo());
  auto copy_direct = copy_md5(t.pg.superuser_conninfo());
  CHECK(copy_out == copy_direct);
  auto file = t.dir.file("rows.txt");
  REQUIRE(run("seq 1 200000 > " + file).exit_code == 0);
  auto copy_in = run("psql -XAt '" + t.conninfo() +
                         "' -c 'create table handed(n int)' -c '\\copy handed from " + file +
                         "' -c 'select count(*), sum(n) from handed'",
                     std::chrono::seconds(60));
  INFO(copy_in.output);
  CHECK(copy_in.output.find("200000|20000100000") != std::string::npos);
  CHECK(t.handed_off() >= 3);
  // The close lines still carry the bytes (moved by the tunnel thread).
  CHECK(
      eventually([&] { return t.count("event=connection_closed") == 3; }, std::chrono::seconds(5)));
  CHECK(t.count("reason=client_closed") == 3);
  CHECK(t.gw->log().find("bytes_out=0 ") == std::string::npos);
}

TEST_CASE("bytes in flight at the hand-off reach each side in order", "[tunnel][handoff]") {
  tunnel_route t;
  // The login's last message, two queries and Terminate in one write: the database
  // answers the queries right behind its ReadyForQuery, so the gateway hands off while
  // the result streams through the socketpair; then it closes (Terminate) before the
  // client does.
  raw_client c(t.port);
  std::vector<uint8_t> all = scram_start(c);
  REQUIRE(!all.empty());
  for (const char* q : {"select repeat('a', 400000)", "select repeat('b', 300000)"}) {
    auto m = raw_client::query(q);
    all.insert(all.end(), m.begin(), m.end());
  }
  all.insert(all.end(), {'X', 0, 0, 0, 4});
  c.send(all);
  auto wire = c.recv_all(15000);
  CHECK(first_columns(wire) == std::string(400000, 'a') + std::string(300000, 'b'));
  CHECK(
      eventually([&] { return t.count("event=connection_closed") == 1; }, std::chrono::seconds(5)));
  // The server's EOF came first, but the client had sent Terminate.
  CHECK(t.count("reason=client_closed") == 1);
  CHECK(t.handed_off() == 1);
}

TEST_CASE("a client pipelining megabytes both ways across the hand-off", "[tunnel][handoff]") {
  tunnel_route t;
  // The login's last message, a 3 MB result, 50,000 small queries, a 5 MB one and 20,000 small
  // ones, sent without waiting: the database blocks on its output while the gateway hands off,
  // so client bytes are still queued for the tunnel (some not even written to it) and results
  // sit in the socketpair. Nothing may stall or be lost or reordered; the database itself
  // checks the 5 MB literal against the same digits built on its side.
  std::vector<uint8_t> all;
  auto add = [&](const std::vector<uint8_t>& m) { all.insert(all.end(), m.begin(), m.end()); };
  add(raw_client::query("select repeat('a', 3000000)"));
  const auto one = raw_client::query("select 1");
  for (int i = 0; i < 50000; ++i)
    add(one);
  std::string digits;
  const int n = 800000;
  for (int i = 1; i <= n; ++i)
    digits += std::to_string(i);
  add(raw_client::query(
      "select ($L$" + digits +
      "$L$ = (select string_agg(i::text, '' order by i) from generate_series(1, " +
      std::to_string(n) + ") i))::text"));
  for (int i = 0; i < 20000; ++i)
    add(one);
  all.insert(all.end(), {'X', 0, 0, 0, 4});
  // What is in flight at the hand-off depends on timing: a few rounds cover more cases,
  // and a bulk COPY on the same SSH session keeps the tunnel thread busy, so results
  // pile up in the socketpair before it takes the client over.
  background_process bulk({"sh", "-c",
                           "psql -XAt '" + t.conninfo() +
                               "' -c \"copy (select repeat('x', 1000) from generate_series(1, "
                               "300000)) to stdout\" | wc -c"},
                          t.dir.file("bulk.log"));
  const int rounds = 3;
  for (int r = 0; r < rounds; ++r) {
    raw_client c(t.port);
    auto login = scram_start(c);
    REQUIRE(!login.empty());
    login.insert(login.end(), all.begin(), all.end());
    std::thread sender([&] { c.send(login); });
    auto wire = c.recv_all(60000);
    sender.join();
    const auto cols = first_columns(wire);
    CHECK(cols.size() == 3000000 + 50000 + 4 + 20000);
    CHECK(cols ==
          std::string(3000000, 'a') + std::string(50000, '1') + "true" + std::string(20000, '1'));
  }
  CHECK(bulk.wait(std::chrono::seconds(60)) == 0);
  CHECK(bulk.log() == "300300000\n");
  CHECK(eventually([&] { return t.count("event=connection_closed") == rounds + 1; },
                   std::chrono::seconds(5)));
  CHECK(t.count("reason=client_closed") == rounds + 1);
  CHECK(t.handed_off() == rounds + 1);
}

TEST_CASE("handed-off sessions still end for every reason the gateway knows", "[tunnel][handoff]") {
  SECTION("the backend is terminated") {
    tunnel_route t;
    raw_client c(t.port);
    t.log_in(c);
    REQUIRE(eventually([&] { return t.handed_off() == 1; }, std::chrono::seconds(5)));
    REQUIRE(t.pg.sql("select count(pg_terminate_backend(pid)) from pg_stat_activity where "
                     "backend_type = 'client backend' and pid <> pg_backend_pid()") == "1");
    CHECK(raw_client::error_code(c.recv_all()) == "57P01");
    CHECK(log_has(*t.gw, "reason=server_closed"));
  }
  SECTION("idle_timeout") {
    tunnel_route t("    idle_timeout: 1s\n");
    raw_client c(t.port);
    t.log_in(c);
    // Activity after the hand-off keeps it open past the timeout.
    for (int i = 0; i < 3; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      c.send(raw_client::query("select 1"));
      CHECK(c.recv_some().find(kReady) != std::string::npos);
    }
    CHECK(c.closed_by_peer(5000));
    CHECK(log_has(*t.gw, "reason=idle_timeout"));
    CHECK(t.handed_off() == 1);
  }
  SECTION("a reload removes the client's address from the allowlist") {
    tunnel_route t("", "    enforce_on_reload: true\n");
    raw_client c(t.port);
    t.log_in(c);
    REQUIRE(eventually([&] { return t.handed_off() == 1; }, std::chrono::seconds(5)));
    auto y = t.yaml;
    y.replace(y.find("clients: [127.0.0.1/32]"), 23, "clients: [10.9.9.9/32]");
    t.gw->rewrite(y);
    t.gw->reload();
    CHECK(c.closed_by_peer(5000));
    CHECK(log_has(*t.gw, "reason=reload_disallowed"));
  }
  SECTION("the SSH session dies") {
    tunnel_route t;
    raw_client c(t.port);
    t.log_in(c);
    REQUIRE(eventually([&] { return t.handed_off() == 1; }, std::chrono::seconds(5)));
    t.sshd.kill_all();
    CHECK(c.closed_by_peer(10000));
    CHECK(log_has(*t.gw, "reason=server_closed"));
    CHECK(t.gw->log().find("SSH tunnel lost") != std::string::npos);
  }
  SECTION("shutdown") {
    tunnel_route t;
    raw_client c(t.port);
    t.log_in(c);
    REQUIRE(eventually([&] { return t.handed_off() == 1; }, std::chrono::seconds(5)));
    t.gw->proc().signal(SIGTERM);
    CHECK(c.closed_by_peer(10000));
    CHECK(t.gw->proc().wait(std::chrono::seconds(10)) == 0);
  }
}

namespace {
struct end_seen {
  std::atomic<bool> ended{false}, client_ended{false};
  std::mutex mu;
  std::string message;
  tunnel::handoff::end_fn fn() {
    return [this](tunnel::handoff_end e) {
      std::lock_guard lk(mu);
      message = e.message;
      client_ended = e.client_ended;
      ended = true;
    };
  }
};

size_t queued(int fd) {
  int q = 0;
  ::ioctl(fd, FIONREAD, &q);
  return static_cast<size_t>(q);
}
}  // namespace

TEST_CASE_METHOD(echo_tunnel,
                 "manager::hand_off puts what the socketpair holds ahead of the client's bytes",
                 "[tunnel][handoff]") {
  auto r = open_channel(m, "bastion", "127.0.0.1", echo.port());
  REQUIRE(r.fd >= 0);
  REQUIRE(r.channel_id != 0);
  // An echo the worker has not read yet waits in its end of the socketpair.
  REQUIRE(write_all(r.fd, "first|", 6));
  REQUIRE(eventually([&] { return queued(r.fd) == 6; }, std::chrono::seconds(5)));
  int client[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, client) == 0);
  end_seen seen;
  auto h = std::make_shared<tunnel::handoff>(client[0], r.fd, seen.fn());
  const std::string rest = "rest|";  // read by the worker, not yet written to the tunnel
  h->to_server_first.assign(rest.begin(), rest.end());
  m.hand_off("bastion", r.channel_id, h);
  REQUIRE(write_all(client[1], "after", 5));
  std::string got(16, '\0');
  CHECK(read_n(client[1], got.data(), got.size(), 10) == got.size());
  CHECK(got == "first|rest|after");
  // Counted right after each send, so possibly a moment after the reader saw the bytes.
  CHECK(eventually([&] { return h->from_client.load() == 5 && h->to_client.load() == 16; },
                   std::chrono::seconds(5)));
  CHECK(tunnel_status(m, "bastion")["channels_handed_off"] == 1);
  // The client closing ends the channel and tells the session who ended it.
  ::close(client[1]);
  CHECK(eventually([&] { return seen.ended.load(); }, std::chrono::seconds(5)));
  CHECK(seen.client_ended.load());
  CHECK(eventually([&] { return tunnel_status(m, "bastion")["open_channels"] == 0; },
                   std::chrono::seconds(5)));

  SECTION("request_close ends a handed-off channel from the gateway's side") {
    auto r2 = open_channel(m, "bastion", "127.0.0.1", echo.port());
    REQUIRE(r2.fd >= 0);
    int c2[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, c2) == 0);
    end_seen seen2;
    auto h2 = std::make_shared<tunnel::handoff>(c2[0], r2.fd, seen2.fn());
    m.hand_off("bastion", r2.channel_id, h2);
    REQUIRE(write_all(c2[1], "ping", 4));
    std::string echo_back(4, '\0');
    CHECK(read_n(c2[1], echo_back.data(), 4, 10) == 4);
    h2->request_close();
    char b;
    CHECK(read_n(c2[1], &b, 1, 10) == 0);  // EOF
    CHECK(eventually([&] { return seen2.ended.load(); }, std::chrono::seconds(5)));
    CHECK_FALSE(seen2.client_ended.load());
    ::close(c2[1]);
  }
  SECTION("a channel that is gone: the database's last bytes still reach the client") {
    int fake[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, fake) == 0);
    REQUIRE(write_all(fake[1], "bye", 3));  // as if the tunnel had written them
    int c3[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, c3) == 0);
    end_seen seen3;
    auto h3 = std::make_shared<tunnel::handoff>(c3[0], fake[0], seen3.fn());
    m.hand_off("bastion", 999999999, h3);
    std::string last(3, '\0');
    CHECK(read_n(c3[1], last.data(), 3, 10) == 3);
    CHECK(last == "bye");
    char b;
    CHECK(read_n(c3[1], &b, 1, 10) == 0);
    CHECK(eventually([&] { return seen3.ended.load(); }, std::chrono::seconds(5)));
    CHECK(seen3.message == "the tunnel channel ended during the hand-off");
    ::close(c3[1]);
    ::close(fake[1]);
  }
}
