#include <catch2/catch.hpp>

#include "gateway/admin/history.hpp"

using namespace sluice;
using admin::history;
using admin::reading;
using admin::sample;

namespace {
sample at(double t, uint64_t sessions, uint64_t bytes) {
  sample s;
  s.at = t;
  s.routes["orders"] = reading{sessions, bytes};
  return s;
}
}  // namespace

TEST_CASE("history keeps 15 minutes of samples at the interval, oldest first", "[admin][history]") {
  history h(std::chrono::seconds(10), std::chrono::minutes(15));
  CHECK(h.capacity() == 90);
  history tiny(std::chrono::minutes(10), std::chrono::minutes(15));
  CHECK(tiny.capacity() == 2);  // never fewer than two: a rate needs two points
  for (int i = 0; i < 200; ++i)
    h.push(at(1000 + i * 10, static_cast<uint64_t>(i), 0));
  REQUIRE(h.size() == 90);
  auto all = h.samples();
  CHECK(all.front()->at == 1000 + 110 * 10);
  CHECK(all.back()->at == 1000 + 199 * 10);
  auto j = h.to_json();
  CHECK(j["interval_seconds"] == 10.0);
  CHECK(j["window_seconds"] == 900);
  CHECK(j["times"].size() == 90);
  CHECK(j["routes"]["orders"]["sessions"][0] == 110);
  CHECK(j["routes"]["orders"]["sessions"][89] == 199);
}

TEST_CASE("history turns cumulative bytes into rates per second", "[admin][history]") {
  history h(std::chrono::seconds(10), std::chrono::minutes(15));
  h.push(at(100, 1, 1000));
  h.push(at(110, 2, 11000));  // +10000 in 10 s
  h.push(at(120, 2, 11000));  // idle
  h.push(at(125, 0, 500));    // counter went down (restart): counts from zero
  h.push(at(125, 0, 900));    // same timestamp: no rate rather than a division by zero
  auto r = h.to_json()["routes"]["orders"]["bytes_per_second"];
  CHECK(r == nlohmann::json({0.0, 1000.0, 0.0, 100.0, 0.0}));
  CHECK(h.to_json()["routes"]["orders"]["sessions"] == nlohmann::json({1, 2, 2, 0, 0}));
}

TEST_CASE("a name missing from some samples reads zero there", "[admin][history]") {
  history h(std::chrono::seconds(1), std::chrono::minutes(15));
  sample a;
  a.at = 1;
  a.tunnels["bastion"] = {3, 100};
  h.push(a);
  sample b;  // bastion removed by a reload, "new" added
  b.at = 2;
  b.tunnels["new"] = {1, 50};
  h.push(b);
  sample c;  // bastion back: its counter restarted, no rate across the gap
  c.at = 3;
  c.tunnels["bastion"] = {1, 10};
  c.tunnels["new"] = {1, 150};
  h.push(c);
  auto j = h.to_json()["tunnels"];
  CHECK(j["bastion"]["sessions"] == nlohmann::json({3, 0, 1}));
  CHECK(j["bastion"]["bytes_per_second"] == nlohmann::json({0.0, 0.0, 0.0}));
  CHECK(j["new"]["sessions"] == nlohmann::json({0, 1, 1}));
  CHECK(j["new"]["bytes_per_second"] == nlohmann::json({0.0, 0.0, 100.0}));
  CHECK(h.to_json()["routes"].empty());
}

TEST_CASE("an empty history has empty series", "[admin][history]") {
  history h(std::chrono::seconds(10), std::chrono::minutes(15));
  auto j = h.to_json();
  CHECK(j["times"].empty());
  CHECK(j["routes"].empty());
  CHECK(j["tunnels"].empty());
}
