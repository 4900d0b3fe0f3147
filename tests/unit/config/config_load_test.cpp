#include <catch2/catch.hpp>
#include <filesystem>
#include <vector>

#include "config/load.hpp"
#include "config/validate.hpp"
#include "tests/support/paths.hpp"

using namespace sluice::config;

namespace {
load_result parse(const std::string& yaml) {
  return load_string(yaml, "/etc/sluice", {false});
}
std::string problems(const std::string& yaml) {
  return parse(yaml).issues.str();
}

const char* kMinimal = R"(
region: test
listeners:
  - name: pg
    listen: 127.0.0.1:6432
    client_tls: disabled
routes:
  - name: db
    upstream: {host: 127.0.0.1, port: 5432}
)";
}  // namespace

TEST_CASE("a minimal config loads with documented defaults", "[config]") {
  auto r = parse(kMinimal);
  INFO(r.issues.str());
  REQUIRE(r.settings);
  const auto& s = *r.settings;
  CHECK(s.region == "test");
  REQUIRE(s.listeners.size() == 1);
  CHECK(s.listeners[0].startup_timeout == duration{10'000});
  CHECK(s.listeners[0].max_connections == 20'000);
  CHECK(s.routes[0].upstream.tls.mode == sslmode::prefer);
  CHECK(s.routes[0].upstream.connect_timeout == duration{10'000});
  CHECK(s.shutdown_grace == duration{30'000});
  CHECK(s.relay == settings::relay_mode::copy);
}

TEST_CASE("relay takes copy, splice or kernel", "[config]") {
  for (auto [word, mode] : {std::pair{"copy", settings::relay_mode::copy},
                            {"splice", settings::relay_mode::splice},
                            {"kernel", settings::relay_mode::kernel}}) {
    auto r = parse(std::string("relay: ") + word + "\n" + kMinimal);
    REQUIRE(r.settings);
    CHECK(r.settings->relay == mode);
  }
  CHECK(problems(std::string("relay: bpf\n") + kMinimal).find("relay") != std::string::npos);
}

TEST_CASE("the shipped example configuration parses", "[config]") {
  for (const auto& entry : std::filesystem::directory_iterator(
           std::string(sluice::test::kSourceDir) + "/config/examples")) {
    if (entry.path().extension() != ".yaml")
      continue;
    INFO(entry.path());
    auto r = load_file(entry.path().string(), {false});
    INFO(r.issues.str());
    CHECK(r.settings);
  }
}

TEST_CASE("config errors name the path and line, exactly", "[config]") {
  struct row {
    const char* yaml;
    const char* expected;
  };
  const row rows[] = {
      {R"(
listeners:
  - name: pg
    listen: 127.0.0.1:6432
    client_tls: disabled
routes:
  - name: db
    upstream:
      host: db
      port: 70000
)",
       "routes[0].upstream.port (line 10): must be 1..65535\n"},
      {R"(
listeners:
  - name: pg
    listen: 127.0.0.1:6432
    client_tls: disabled
    alow: [office]
)",
       "listeners[0].alow (line 6): unknown key; did you mean 'allow'?\n"},
      {R"(
regoin: x
)",
       "regoin (line 2): unknown key; did you mean 'region'?\n"},
      {R"(
listeners:
  - name: pg
    listen: 127.0.0.1:6432
    client_tls: disabled
    allow: [ofice]
allowlists:
  office: [198.51.100.0/24]
)",
       "listeners[0].allow (line 6): unknown allowlist 'ofice'; did you mean 'office'?\n"},
      {R"(
allowlists:
  office: [198.51.100.1/24, banana]
)",
       "allowlists.office[0] (line 3): '198.51.100.1/24' has host bits set; did you mean "
       "198.51.100.0/24?\nallowlists.office[1] (line 3): 'banana' is not an IPv4 or IPv6 address "
       "or CIDR block\n"},
      {R"(
listeners:
  - name: pg
    listen: 0.0.0.0:5432
    client_tls: disabled
  - name: pg
    listen: 127.0.0.1:5432
    client_tls: disabled
)",
       "listeners[1].name (line 6): duplicate name 'pg'\nlisteners[1] (pg).listen: 127.0.0.1:5432 "
       "overlaps listeners[0] (pg) on 0.0.0.0:5432\n"},
      {R"(
listeners:
  - name: pg
    listen: 127.0.0.1:5432
    client_tls: required
    startup_timeout: 10
)",
       "listeners[0].startup_timeout (line 6): '10' has no unit; write it like 10s\n"
       "listeners[0].client_tls (line 5): client_tls: required needs a tls: section with cert and "
       "key (or set client_tls: disabled)\n"},
      {R"(
routes:
  - name: r
    match: {listener: pgg}
    upstream: {host: db, via: bastion, tls: {sslmode: verify_full}}
)",
       "routes[0].upstream.tls.sslmode (line 5): 'verify_full' is not one of: disable, allow, "
       "prefer, require, verify-ca, verify-full\nroutes[0].upstream.via (line 5): unknown tunnel "
       "'bastion'; define it under tunnels:\nroutes[0].match.listener (line 4): unknown listener "
       "'pgg'\n"},
      {R"(
tunnels:
  - name: b
    host: bastion.example.com
    user: sluice
    private_key: /k
)",
       "tunnels[0].host_key (line 3): host key verification is mandatory: set host_key: "
       "\"SHA256:...\" (see `sluice tunnel fingerprint HOST:PORT`) or known_hosts: FILE\n"},
      {R"(
listeners: {name: pg}
)",
       "listeners (line 2): expected a list of entries (each starting with '- ')\n"},
      {"listeners: [\n", nullptr},  // syntax error: checked separately below
  };
  for (const auto& r : rows) {
    if (!r.expected)
      continue;
    INFO(r.yaml);
    CHECK(problems(r.yaml) == r.expected);
  }
  auto syntax = parse("listeners: [\n");
  CHECK_FALSE(syntax.settings);
  CHECK(syntax.issues.str().rfind("line ", 0) == 0);
  CHECK(syntax.issues.str().find("YAML syntax error") != std::string::npos);
}

TEST_CASE("key files readable by group or others are refused", "[config]") {
  auto dir = std::filesystem::temp_directory_path() / "sluice-config-test";
  std::filesystem::create_directories(dir);
  auto key = (dir / "k.key").string();
  FILE* f = fopen(key.c_str(), "w");
  fputs("x", f);
  fclose(f);
  std::filesystem::permissions(key, std::filesystem::perms(0644));
  CHECK(private_file_problem(key) ==
        key + " is readable by group/others (mode 0644); run: chmod 600 " + key);
  std::filesystem::permissions(key, std::filesystem::perms(0600));
  CHECK(private_file_problem(key).empty());
  CHECK(private_file_problem((dir / "missing").string()).find("No such file") != std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST_CASE("reload reports what needs a restart", "[config]") {
  auto a = parse(kMinimal).settings;
  std::string moved = kMinimal;
  moved.replace(moved.find("6432"), 4, "7432");
  auto b = parse(moved).settings;
  REQUIRE(a);
  REQUIRE(b);
  auto why = restart_required(*a, *b);
  REQUIRE(why.size() == 1);
  CHECK(why[0] == "listener 'pg' moved from 127.0.0.1:6432 to 127.0.0.1:7432");
}

namespace {
const char* kAuthBase = R"(
listeners:
  - name: pg
    listen: 127.0.0.1:6432
    client_tls: disabled
routes:
  - name: db
    upstream: {host: 127.0.0.1, port: 5432, tls: {sslmode: disable}}
)";
std::string with_auth(const std::string& auth) {
  return std::string(kAuthBase) + "    auth:\n" + auth;
}
}  // namespace

TEST_CASE("routes auth is passthrough by default and terminate reads query and file", "[config]") {
  auto r = parse(kAuthBase);
  REQUIRE(r.settings);
  CHECK(r.settings->routes[0].auth.mode == auth_mode::passthrough);
  CHECK(r.settings->routes[0].auth.cache_ttl == duration{60'000});
  CHECK_FALSE(r.settings->routes[0].auth.query);

  auto t = parse(with_auth(R"(      mode: terminate
      query: {user: sluice_auth, password_file: secrets/auth.pw}
      file: users.txt
      cache_ttl: 5s
)"));
  INFO(t.issues.str());
  REQUIRE(t.settings);
  const auto& a = t.settings->routes[0].auth;
  CHECK(a.mode == auth_mode::terminate);
  REQUIRE(a.query);
  CHECK(a.query->user == "sluice_auth");
  CHECK(a.query->password_file == "/etc/sluice/secrets/auth.pw");
  CHECK(a.query->sql.empty());
  CHECK(a.file == "/etc/sluice/users.txt");
  CHECK(a.cache_ttl == duration{5'000});
  CHECK(t.issues.str().empty());
}

TEST_CASE("routes auth errors are exact", "[config]") {
  CHECK(problems(with_auth("      mode: terminate\n")) ==
        "routes[0].auth.mode (line 10): mode: terminate needs where the secrets are: query: "
        "{user, password_file} and/or file: (a PgBouncer auth_file)\n");
  CHECK(problems(with_auth("      mode: terminated\n      file: u.txt\n"))
            .find("routes[0].auth.mode (line 10)") != std::string::npos);
  CHECK(problems(with_auth("      mode: terminate\n      query: {user: a}\n")) ==
        "routes[0].auth.query.password_file (line 11): is required\n");
  CHECK(
      problems(with_auth(
          "      mode: terminate\n      query: {user: a, password_file: p, sql: 'select 1'}\n")) ==
      "routes[0].auth.query.sql (line 11): must use $1 for the user name (it returns that "
      "user's row)\n");
  CHECK(problems(with_auth("      file: u.txt\n")).find("only used with mode: terminate") !=
        std::string::npos);
  CHECK(problems(with_auth("      mode: terminate\n      file: u.txt\n      extra: 1\n"))
            .find("routes[0].auth.extra") != std::string::npos);
}

TEST_CASE("auth secret files must be private like other secrets", "[config]") {
  auto dir = std::filesystem::temp_directory_path() / "sluice-config-auth-test";
  std::filesystem::create_directories(dir);
  auto users = (dir / "users.txt").string();
  FILE* f = fopen(users.c_str(), "w");
  fputs("\"a\" \"b\"\n", f);
  fclose(f);
  std::filesystem::permissions(users, std::filesystem::perms(0644));
  auto yaml =
      with_auth("      mode: terminate\n      file: " + users +
                "\n      query: {user: a, password_file: " + (dir / "none.pw").string() + "}\n");
  auto r = load_string(yaml, "/etc/sluice", {true});
  auto text = r.issues.str();
  CHECK(text.find("routes[0].auth.file") != std::string::npos);
  CHECK(text.find("chmod 600 " + users) != std::string::npos);
  CHECK(text.find("routes[0].auth.query.password_file") != std::string::npos);
  CHECK(text.find("No such file") != std::string::npos);
  std::filesystem::permissions(users, std::filesystem::perms(0600));
  auto ok = load_string(with_auth("      mode: terminate\n      file: " + users + "\n"),
                        "/etc/sluice", {true});
  CHECK(ok.issues.str().find("auth.file") == std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST_CASE("check-config warns about the passthrough TLS downgrade", "[config]") {
  const std::string tls_listener = R"(
listeners:
  - name: pg
    listen: 127.0.0.1:6432
    client_tls: CLIENT
    tls: {cert: c.pem, key: k.pem}
routes:
  - name: db
    upstream: {host: 127.0.0.1, port: 5432, tls: {sslmode: SSLMODE}}
)";
  auto make = [&](const std::string& client, const std::string& mode, const std::string& extra) {
    auto y = tls_listener;
    y.replace(y.find("CLIENT"), 6, client);
    y.replace(y.find("SSLMODE"), 7, mode);
    return y + extra;
  };
  const auto warning = downgrade_warning("pg", "db");
  CHECK(warning.find("silently reconnect WITHOUT TLS") != std::string::npos);
  CHECK(problems(make("optional", "require", "")).find(warning) != std::string::npos);
  CHECK(problems(make("optional", "prefer", "")).find(warning) != std::string::npos);
  CHECK(problems(make("optional", "verify-full", "")).find("routes[0].auth.mode (line 8)") !=
        std::string::npos);
  // No TLS upstream, TLS required from clients, or sluice running SCRAM: no downgrade.
  CHECK(problems(make("optional", "disable", "")).find("TLS downgrade") == std::string::npos);
  CHECK(problems(make("required", "require", "")).find("TLS downgrade") == std::string::npos);
  CHECK(problems(make("optional", "require", "    auth: {mode: terminate, file: u.txt}\n"))
            .find("TLS downgrade") == std::string::npos);
}

TEST_CASE("routes pool is off by default and session reads every key", "[config][pool]") {
  auto r = parse(kAuthBase);
  REQUIRE(r.settings);
  const auto& off = r.settings->routes[0].pool;
  CHECK(off.mode == pool_mode::off);
  CHECK(off.size == 20);
  CHECK(off.min_idle == 0);
  CHECK(off.idle_timeout == duration{600'000});
  CHECK(off.max_lifetime == duration{3'600'000});
  CHECK(off.reset == "DISCARD ALL");
  CHECK(off.wait_timeout == duration{5'000});

  auto t = parse(with_auth("      mode: terminate\n      file: users.txt\n") +
                 "    pool: {mode: session, size: 3, min_idle: 1, idle_timeout: 30s, "
                 "max_lifetime: 5m, reset: 'RESET ALL', wait_timeout: 250ms}\n");
  INFO(t.issues.str());
  REQUIRE(t.settings);
  const auto& p = t.settings->routes[0].pool;
  CHECK(p.mode == pool_mode::session);
  CHECK(p.size == 3);
  CHECK(p.min_idle == 1);
  CHECK(p.idle_timeout == duration{30'000});
  CHECK(p.max_lifetime == duration{300'000});
  CHECK(p.reset == "RESET ALL");
  CHECK(p.wait_timeout == duration{250});
  CHECK(t.issues.str().empty());
}

TEST_CASE("routes pool errors are exact and name the key's line", "[config][pool]") {
  // Without auth: line 9 is "    pool:", line 10 its first key.
  CHECK(problems(std::string(kAuthBase) + "    pool:\n      mode: session\n") ==
        "routes[0].pool.mode (line 10): pool mode: session needs auth.mode: terminate on the "
        "route (sluice must check each client's password before handing it a logged-in "
        "backend)\n");
  const auto terminate = with_auth("      mode: terminate\n      file: users.txt\n");
  CHECK(
      problems(terminate + "    pool:\n      mode: session\n      size: 2\n      min_idle: 3\n") ==
      "routes[0].pool.min_idle (line 15): must not exceed size (2)\n");
  CHECK(problems(terminate + "    pool:\n      mode: session\n      wait_timeout: 0s\n") ==
        "routes[0].pool.wait_timeout (line 14): must be more than 0 (how long a client waits "
        "for a free backend)\n");
  CHECK(problems(terminate + "    pool:\n      mode: transaction\n")
            .find("routes[0].pool.mode (line 13): 'transaction' is not one of: off, session") !=
        std::string::npos);
  CHECK(problems(terminate + "    pool:\n      mode: session\n      sise: 2\n")
            .find("routes[0].pool.sise") != std::string::npos);
  CHECK(problems(terminate + "    pool:\n      mode: session\n      size: 0\n")
            .find("routes[0].pool.size (line 14)") != std::string::npos);
}

TEST_CASE("errors about references and files point at the key's own line", "[config][lines]") {
  struct row {
    const char* yaml;
    std::vector<const char*> expected;  // lines of the issues, exactly
  };
  const row rows[] = {
      // A route naming a tunnel that does not exist: the line of `via:`.
      {R"(
routes:
  - name: r
    match:
      database: app
    upstream:
      host: db
      port: 5432
      via: bastoin
tunnels: []
)",
       {"routes[0].upstream.via (line 9): unknown tunnel 'bastoin'; define it under tunnels:"}},
      // A route's allowlist that does not exist: the line of `allow:`.
      {R"(
routes:
  - name: r
    idle_timeout: 5m
    allow: [nowhere]
    upstream: {host: db}
)",
       {"routes[0].allow (line 5): unknown allowlist 'nowhere'; define it under allowlists:"}},
      // A match on an unknown listener: the line of `listener:` inside match.
      {R"(
listeners:
  - name: pg
    listen: 127.0.0.1:6432
    client_tls: disabled
routes:
  - name: r
    match:
      database: app
      listener: pgg
    upstream: {host: db}
)",
       {"routes[0].match.listener (line 10): unknown listener 'pgg'; did you mean 'pg'?"}},
      // A sync's destination route that does not exist: the line of `route:`.
      {R"(
syncs:
  - name: s
    schema: stripe
    destination:
      database: app
      user: u
      route: nope
)",
       {"syncs[0].destination.route (line 8): unknown route 'nope'"}},
      // Missing certificate and key files: the lines of `cert:` and `key:`, not the
      // listener's.
      {R"(
listeners:
  - name: pg
    listen: 127.0.0.1:6432
    client_tls: required
    tls:
      cert: /nonexistent/server.crt
      key: /nonexistent/server.key
)",
       {"listeners[0].tls.cert (line 7): ", "listeners[0].tls.key (line 8): "}},
      // A route's missing CA file: the line of `ca:`.
      {R"(
routes:
  - name: r
    upstream:
      host: db
      tls:
        sslmode: verify-full
        ca: /nonexistent/ca.crt
)",
       {"routes[0].upstream.tls.ca (line 8): "}},
  };
  for (const auto& r : rows) {
    INFO(r.yaml);
    auto issues = load_string(r.yaml, "/etc/sluice", {true}).issues.str();
    INFO(issues);
    for (const char* line : r.expected)
      CHECK(issues.find(line) != std::string::npos);
  }
}

TEST_CASE("routes upstream login_timeout defaults to 10s and must be positive", "[config]") {
  auto r = parse(kAuthBase);
  REQUIRE(r.settings);
  CHECK(r.settings->routes[0].upstream.login_timeout == duration{10'000});
  const std::string base =
      "\nlisteners:\n  - name: pg\n    listen: 127.0.0.1:6432\n    client_tls: disabled\n"
      "routes:\n  - name: db\n    upstream: {host: 127.0.0.1, port: 5432, login_timeout: ";
  auto t = parse(base + "2500ms}\n");
  INFO(t.issues.str());
  REQUIRE(t.settings);
  CHECK(t.settings->routes[0].upstream.login_timeout == duration{2'500});
  CHECK(problems(base + "0s}\n") ==
        "routes[0].upstream.login_timeout (line 8): must be more than 0 (how long sluice waits "
        "for the database to log it in)\n");
}
