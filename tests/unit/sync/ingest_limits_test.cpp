// The ingest API's limits: their config keys (defaults, ranges, validation) and the
// pure counters behind them (connections per address and in total, the body budget,
// the log throttle for lines a client can trigger at will).
#include <catch2/catch.hpp>

#include "config/load.hpp"
#include "sync/body_budget.hpp"
#include "sync/connection_limiter.hpp"
#include "sync/log_throttle.hpp"

using namespace sluice;

namespace {

config::load_result parse_ingest(const std::string& ingest_keys) {
  return config::load_string("ingest:\n  listen: 127.0.0.1:8443\n" + ingest_keys, "/etc/sluice",
                             {false});
}

}  // namespace

TEST_CASE("ingest limits: documented defaults", "[config][ingest]") {
  auto r = parse_ingest("");
  INFO(r.issues.str());
  REQUIRE(r.settings);
  REQUIRE(r.settings->ingest);
  const auto& in = *r.settings->ingest;
  CHECK(in.max_connections == 512);
  CHECK(in.max_connections_per_address == 32);
  CHECK(in.max_body_memory == 0);
  CHECK(in.body_memory() == 256ull << 20);
  CHECK(in.header_timeout == config::duration{10'000});
}

TEST_CASE("ingest limits: keys are read", "[config][ingest]") {
  auto r = parse_ingest(
      "  max_connections: 100\n  max_connections_per_address: 5\n  max_body_memory: 64MiB\n"
      "  header_timeout: 3s\n");
  INFO(r.issues.str());
  REQUIRE(r.settings);
  const auto& in = *r.settings->ingest;
  CHECK(in.max_connections == 100);
  CHECK(in.max_connections_per_address == 5);
  CHECK(in.body_memory() == 64ull << 20);
  CHECK(in.header_timeout == config::duration{3'000});
  CHECK(r.issues.str().empty());
}

TEST_CASE("ingest limits: the default body budget grows with max_batch_bytes", "[config][ingest]") {
  auto r = parse_ingest("  max_batch_bytes: 512MiB\n");
  REQUIRE(r.settings);
  CHECK(r.settings->ingest->body_memory() == 512ull << 20);
}

TEST_CASE("ingest limits: bad values are refused with the key named", "[config][ingest]") {
  struct row {
    const char* keys;
    const char* expected;  // a substring of the problems
  };
  const row rows[] = {
      {"  max_connections: 0\n", "ingest.max_connections"},
      {"  max_connections_per_address: 0\n", "ingest.max_connections_per_address"},
      {"  max_connections: many\n", "ingest.max_connections"},
      {"  max_body_memory: 1MiB\n", "ingest.max_body_memory (line 3): is smaller than"},
      {"  max_body_memory: lots\n", "ingest.max_body_memory"},
      {"  header_timeout: forever\n", "ingest.header_timeout"},
      {"  header_timeout: 0s\n", "ingest.header_timeout (line 3): must be longer than 0s"},
  };
  for (const auto& row : rows) {
    INFO(row.keys);
    auto r = parse_ingest(row.keys);
    CHECK(!r.settings);
    CHECK_THAT(r.issues.str(), Catch::Contains(row.expected));
  }
}

TEST_CASE("ingest limits: a per-address limit above the total is a warning", "[config][ingest]") {
  auto r = parse_ingest("  max_connections: 10\n  max_connections_per_address: 20\n");
  REQUIRE(r.settings);
  CHECK_THAT(r.issues.str(), Catch::Contains("ingest.max_connections_per_address"));
}

TEST_CASE("connection limiter: per address, in total, released by the slot", "[ingest][unit]") {
  auto l = std::make_shared<sync::connection_limiter>(3, 2);
  sync::admit_result why;
  auto a1 = sync::admit(l, "10.0.0.1", why);
  auto a2 = sync::admit(l, "10.0.0.1", why);
  CHECK(a1);
  CHECK(a2);
  CHECK(!sync::admit(l, "10.0.0.1", why));
  CHECK(why == sync::admit_result::too_many_from_address);
  auto b1 = sync::admit(l, "10.0.0.2", why);
  CHECK(b1);
  CHECK(l->total() == 3);
  CHECK(!sync::admit(l, "10.0.0.3", why));
  CHECK(why == sync::admit_result::too_many_total);
  a1.reset();
  CHECK(l->from("10.0.0.1") == 1);
  CHECK(sync::admit(l, "10.0.0.3", why));  // a temporary: released at once
  CHECK(l->total() == 2);
  a2.reset();
  b1.reset();
  CHECK(l->total() == 0);
  CHECK(l->from("10.0.0.1") == 0);
  // A reload lowers the limits: new connections see them.
  l->set_limits(1, 1);
  auto c = sync::admit(l, "10.0.0.9", why);
  CHECK(c);
  CHECK(!sync::admit(l, "10.0.0.8", why));
  CHECK(why == sync::admit_result::too_many_total);
}

TEST_CASE("body budget: reservations add up to the limit and are given back", "[ingest][unit]") {
  auto b = std::make_shared<sync::body_budget>(100);
  auto r1 = sync::reserve(b, 60);
  CHECK(r1);
  CHECK(!sync::reserve(b, 41));
  auto r2 = sync::reserve(b, 40);
  CHECK(r2);
  CHECK(b->in_use() == 100);
  CHECK(!sync::reserve(b, 1));
  r1.reset();
  CHECK(b->in_use() == 40);
  CHECK(!sync::reserve(b, 101));         // never fits
  CHECK(!sync::reserve(b, UINT64_MAX));  // no overflow
  CHECK(sync::reserve(b, 0));
  r2.reset();
  CHECK(b->in_use() == 0);
}

TEST_CASE("log throttle: one line per interval carrying the suppressed count", "[ingest][unit]") {
  using namespace std::chrono_literals;
  sync::log_throttle t(10s);
  sync::log_throttle::clock::time_point t0{};
  auto first = t.admit(t0);
  REQUIRE(first);
  CHECK(*first == 0);
  for (int i = 1; i <= 5; ++i)
    CHECK(!t.admit(t0 + std::chrono::seconds(i)));
  auto next = t.admit(t0 + 10s);
  REQUIRE(next);
  CHECK(*next == 5);
  CHECK(!t.admit(t0 + 19s));
  auto after = t.admit(t0 + 60s);
  REQUIRE(after);
  CHECK(*after == 1);
}
