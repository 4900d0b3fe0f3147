// Reloads against running writers, through the real `sluice run`: a writer waiting for
// its advisory lock survives SIGHUPs and admin reloads (it once deadlocked the main
// thread), a reload storm against a primary and a standby leaves both answering and the
// standby still takes over, and a reload reconnects a writer only when its destination
// changed.
#include <signal.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <memory>
#include <optional>
#include <thread>

#include "sync_fixture.hpp"
#include "tests/support/gateway_process.hpp"

using namespace sluice::test;
using json = nlohmann::json;

namespace {

constexpr const char* kAdminToken = "admin-tok-reload-0123";

// One gateway instance running the fixture's sync: its own directory and ports, an
// admin API (with a token, so POST /v1/reload works) and a listener with one route.
struct instance {
  temp_dir dir{"sluice-reload"};
  int admin_port = free_port();
  int listen_port = free_port();
  int ingest_port = free_port();
  std::unique_ptr<gateway_process> gw;

  std::string yaml(sync_env& env, const std::string& sslmode = "disable") const {
    env.ingest_port = ingest_port;
    std::string syncs = read_file(env.config_path());
    const std::string from = "      sslmode: disable\n";
    if (auto at = syncs.find(from); at != std::string::npos)
      syncs.replace(at, from.size(), "      sslmode: " + sslmode + "\n");
    std::string token = dir.write("admin.token", std::string(kAdminToken) + "\n", 0600);
    return "region: test-region-1\nadmin:\n  listen: 127.0.0.1:" + std::to_string(admin_port) +
           "\n  token_file: " + token +
           "\nlisteners:\n  - name: pg\n    listen: 127.0.0.1:" + std::to_string(listen_port) +
           "\n    client_tls: disabled\nroutes:\n  - name: app\n    match: {database: app}\n"
           "    upstream: {host: 127.0.0.1, port: " +
           std::to_string(env.pg.port()) + ", tls: {sslmode: disable}}\n" + syncs;
  }

  void start(sync_env& env) { gw = std::make_unique<gateway_process>(dir, yaml(env)); }

  // A new config file in one step (rename), so a reload never reads half of it.
  void replace_config(const std::string& text) const {
    std::filesystem::rename(dir.write("next.yaml", text), gw->config_path());
  }

  // GET on the admin API, bounded: nullopt when it does not answer within 5 s.
  std::optional<std::string> admin_get(const std::string& path) const {
    auto r = run("curl -sS --max-time 5 -w '\\nHTTP %{http_code}' http://127.0.0.1:" +
                     std::to_string(admin_port) + path,
                 std::chrono::seconds(10));
    if (r.exit_code != 0)
      return std::nullopt;
    return r.output;
  }

  // The sync's row of /v1/status; null when the admin API does not answer.
  json sync_status() const {
    auto out = admin_get("/v1/status");
    if (!out || out->find("\nHTTP 200") == std::string::npos)
      return nullptr;
    return json::parse(out->substr(0, out->rfind("\nHTTP")))["syncs"][0];
  }

  // A boolean of the sync's status row; false when the admin API does not answer.
  bool sync_flag(const char* key) const {
    auto s = sync_status();
    return s.is_object() && s.value(key, false);
  }

  bool ready() const {
    auto out = admin_get("/readyz");
    return out && out->find("HTTP 200") != std::string::npos;
  }

  // POST /v1/reload, bounded; true when it answered 200.
  bool admin_reload() const {
    auto r =
        run("curl -sS --max-time 5 -o /dev/null -w '%{http_code}' -X POST -H "
            "'Authorization: Bearer " +
                std::string(kAdminToken) + "' http://127.0.0.1:" + std::to_string(admin_port) +
                "/v1/reload",
            std::chrono::seconds(10));
    return r.exit_code == 0 && r.output == "200";
  }

  sluice::sync::http_response post(sync_env& env, const std::string& body, int64_t seq) const {
    env.ingest_port = ingest_port;
    return env.post(body, seq);
  }
};

std::string customer(int64_t v) {
  return ndjson({{{"collection", "customer"},
                  {"id", "c1"},
                  {"op", "upsert"},
                  {"version", v},
                  {"data", {{"n", v}}}}});
}

// The backend holding the sync's writer lock (the main connection), "" when none does.
std::string writer_backend(const sync_env& env) {
  return env.pg.sql(
      "select a.pid from pg_locks l join pg_stat_activity a on a.pid = l.pid where "
      "l.locktype = 'advisory' and l.granted and a.application_name = 'sluice-sync/acme'");
}

// SIGTERM, and the process must be gone within 10 s (it drains for shutdown_grace).
bool terminates(gateway_process& gw) {
  gw.proc().signal(SIGTERM);
  return gw.proc().wait(std::chrono::milliseconds(10'000)) != -1;
}

}  // namespace

// The logs as they are when an assertion runs (INFO would keep the text of its own line).
#define CHECK_LOGGED(...) \
  do {                    \
    INFO(logs());         \
    CHECK(__VA_ARGS__);   \
  } while (0)
#define REQUIRE_LOGGED(...) \
  do {                      \
    INFO(logs());           \
    REQUIRE(__VA_ARGS__);   \
  } while (0)

TEST_CASE("reload: a writer waiting for its advisory lock survives SIGHUPs and admin reloads",
          "[sync][integration][reload]") {
  sync_env env;
  env.prepare_database();
  instance a, b;
  auto logs = [&] {
    return "--- A\n" + (a.gw ? a.gw->log() : "") + "--- B\n" + (b.gw ? b.gw->log() : "");
  };
  a.start(env);
  REQUIRE_LOGGED(a.post(env, customer(1), 1).status == 200);

  b.start(env);
  REQUIRE_LOGGED(
      eventually([&] { return b.sync_flag("waiting_for_lock"); }, std::chrono::seconds(10)));
  for (int i = 0; i < 3; ++i) {
    b.gw->reload();
    auto st = b.sync_status();  // hung here: the writer thread locked its mutex twice
    REQUIRE_LOGGED(st.is_object());
    CHECK_LOGGED(st["waiting_for_lock"] == true);
  }
  CHECK_LOGGED(b.admin_reload());
  CHECK_LOGGED(b.sync_flag("waiting_for_lock"));
  CHECK_LOGGED(count_of(b.gw->log(), "event=sync_connection_kept") >= 4);
  // A changed destination interrupts the wait for the lock (the path that deadlocked):
  // the writer reconnects and waits again.
  for (const char* mode : {"prefer", "disable", "prefer"}) {
    b.replace_config(b.yaml(env, mode));
    b.gw->reload();
    auto st = b.sync_status();
    REQUIRE_LOGGED(st.is_object());
    REQUIRE_LOGGED(
        eventually([&] { return b.sync_flag("waiting_for_lock"); }, std::chrono::seconds(10)));
  }
  CHECK_LOGGED(count_of(b.gw->log(),
                        "event=sync_reconnecting sync=acme reason=\"destination "
                        "changed\"") == 3);
  // The lock holder is unaffected.
  REQUIRE_LOGGED(a.post(env, customer(2), 2).status == 200);
  CHECK_LOGGED(terminates(*b.gw));
  CHECK_LOGGED(b.gw->log().find("event=shutdown_done") != std::string::npos);
}

TEST_CASE("reload: storm against a primary and a standby, then the standby takes over",
          "[sync][integration][reload][chaos]") {
  sync_env env;
  env.prepare_database();
  instance a, b;
  auto logs = [&] {
    return "--- A\n" + (a.gw ? a.gw->log() : "") + "--- B\n" + (b.gw ? b.gw->log() : "");
  };
  a.start(env);
  REQUIRE_LOGGED(a.post(env, customer(1), 1).status == 200);
  const std::string primary_backend = writer_backend(env);
  REQUIRE_LOGGED(!primary_backend.empty());
  b.start(env);
  REQUIRE_LOGGED(
      eventually([&] { return b.sync_flag("waiting_for_lock"); }, std::chrono::seconds(10)));

  // SIGHUPs to both every 20 ms and admin reloads to both, while batches keep arriving
  // at the primary; both admin APIs must keep answering throughout. Now and then the
  // standby's destination changes (sslmode), which interrupts its wait for the lock.
  const std::string b_yaml[2] = {b.yaml(env, "disable"), b.yaml(env, "prefer")};
  std::atomic<bool> storming{true};
  std::thread hups([&] {
    for (int i = 0; i < 150 && storming; ++i) {
      if (i % 25 == 24)
        b.replace_config(b_yaml[(i / 25) % 2 == 0 ? 1 : 0]);
      a.gw->proc().signal(SIGHUP);
      b.gw->proc().signal(SIGHUP);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    storming = false;
  });
  std::atomic<int> admin_reloads_ok{0}, admin_reloads{0};
  std::thread posts([&] {
    for (int i = 0; i < 10 && storming; ++i) {
      admin_reloads += 2;
      admin_reloads_ok += a.admin_reload() + b.admin_reload();
    }
  });
  int64_t seq = 1;
  int answered = 0, rounds = 0;
  for (; rounds < 6 || storming; ++rounds) {
    auto r = a.post(env, customer(seq + 1), seq + 1);
    INFO(r.body);
    CHECK_LOGGED(r.status == 200);
    if (r.status == 200)
      ++seq;
    answered += a.sync_status().is_object() + b.sync_status().is_object();
    answered += a.ready() + b.ready();
  }
  hups.join();
  posts.join();
  CHECK_LOGGED(answered == 4 * rounds);
  CHECK_LOGGED(admin_reloads_ok == admin_reloads.load());
  // Signals that arrive during a reload coalesce; still, many reloads ran on both.
  CHECK_LOGGED(count_of(a.gw->log(), "event=reload_done") >= 10);
  CHECK_LOGGED(count_of(b.gw->log(), "event=reload_done") >= 10);
  CHECK_LOGGED(count_of(b.gw->log(), "event=sync_reconnecting") >= 3);
  WARN("reloads done: A " << count_of(a.gw->log(), "event=reload_done") << ", B "
                          << count_of(b.gw->log(), "event=reload_done") << "; rounds " << rounds);

  // The reloads changed nothing the connection depends on: the primary kept its
  // backend, the standby still waits.
  REQUIRE_LOGGED(
      eventually([&] { return b.sync_flag("waiting_for_lock"); }, std::chrono::seconds(10)));
  CHECK_LOGGED(writer_backend(env) == primary_backend);
  CHECK_LOGGED(a.sync_flag("connected"));
  CHECK_LOGGED(a.gw->log().find("event=sync_reconnecting") == std::string::npos);

  a.gw->proc().signal(SIGKILL);
  a.gw->proc().wait(std::chrono::milliseconds(5000));
  auto r = b.post(env, customer(seq + 1), seq + 1);  // queued on B until it holds the lock
  INFO(r.body);
  REQUIRE_LOGGED(r.status == 200);
  CHECK_LOGGED(json::parse(r.body)["applied"] == 1);
  ++seq;
  CHECK_LOGGED(env.app("select n, _sync_version from stripe.customer") ==
               std::to_string(seq) + "|" + std::to_string(seq));
  CHECK_LOGGED(env.app("select sequence from stripe._sync_state") == std::to_string(seq));
  CHECK_LOGGED(!b.sync_flag("waiting_for_lock"));
  CHECK_LOGGED(b.sync_flag("connected"));
  // Reloads of the new primary still work, and so does SIGTERM.
  CHECK_LOGGED(b.admin_reload());
  CHECK_LOGGED(terminates(*b.gw));
}

TEST_CASE(
    "reload: an unchanged destination keeps the writer's connection, a changed one "
    "reconnects",
    "[sync][integration][reload]") {
  sync_env env;
  env.prepare_database();
  instance a;
  auto logs = [&] { return a.gw ? a.gw->log() : ""; };
  a.start(env);
  REQUIRE_LOGGED(a.post(env, customer(1), 1).status == 200);
  const std::string backend = writer_backend(env);
  REQUIRE_LOGGED(!backend.empty());

  a.gw->reload();
  CHECK_LOGGED(a.admin_reload());
  REQUIRE_LOGGED(a.post(env, customer(2), 2).status == 200);
  CHECK_LOGGED(writer_backend(env) == backend);
  CHECK_LOGGED(a.gw->log().find("event=sync_connection_kept") != std::string::npos);
  CHECK_LOGGED(a.gw->log().find("event=sync_reconnecting") == std::string::npos);

  // sslmode is part of the destination: the server has no TLS, so `prefer` still
  // connects, on a new backend.
  a.gw->rewrite(a.yaml(env, "prefer"));
  a.gw->reload();
  REQUIRE_LOGGED(eventually(
      [&] {
        auto now = writer_backend(env);
        return !now.empty() && now != backend;
      },
      std::chrono::seconds(10)));
  REQUIRE_LOGGED(a.post(env, customer(3), 3).status == 200);
  CHECK_LOGGED(env.app("select n from stripe.customer") == "3");
  CHECK_THAT(a.gw->log(),
             Catch::Contains("event=sync_reconnecting sync=acme reason=\"destination changed"));
}
