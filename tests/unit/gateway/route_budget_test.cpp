#include <catch2/catch.hpp>
#include <thread>
#include <vector>

#include "gateway/route_budget.hpp"

using sluice::gateway::route_budget;
using verdict = route_budget::verdict;

TEST_CASE("route budget: max_connections counts every session on the route", "[route_budget]") {
  route_budget b;
  verdict why{};
  auto a = b.acquire("db", "alice", 2, 0, why);
  CHECK(why == verdict::admitted);
  auto c = b.acquire("db", "bob", 2, 0, why);
  REQUIRE(c);
  CHECK(b.on_route("db") == 2);
  CHECK_FALSE(b.acquire("db", "carol", 2, 0, why));
  CHECK(why == verdict::route_full);
  // Another route has its own count.
  CHECK(b.acquire("other", "carol", 2, 0, why));
  // A place given back is taken again.
  c.reset();
  CHECK(b.on_route("db") == 1);
  CHECK(b.acquire("db", "carol", 2, 0, why));
}

TEST_CASE("route budget: max_connections_per_user counts one user on one route", "[route_budget]") {
  route_budget b;
  verdict why{};
  auto a1 = b.acquire("db", "alice", 0, 2, why);
  auto a2 = b.acquire("db", "alice", 0, 2, why);
  REQUIRE(a2);
  CHECK_FALSE(b.acquire("db", "alice", 0, 2, why));
  CHECK(why == verdict::user_full);
  CHECK(b.of_user("db", "alice") == 2);
  CHECK(b.on_route("db") == 2);  // a refusal takes no place
  CHECK(b.acquire("db", "bob", 0, 2, why));
  CHECK(b.acquire("other", "alice", 0, 2, why));
  a1.reset();
  CHECK(b.acquire("db", "alice", 0, 2, why));
}

TEST_CASE("route budget: 0 means no limit, and no user name counts only the route",
          "[route_budget]") {
  route_budget b;
  verdict why{};
  std::vector<std::unique_ptr<route_budget::slot>> held;
  for (int i = 0; i < 1000; ++i)
    held.push_back(b.acquire("db", "u", 0, 0, why));
  CHECK(b.on_route("db") == 1000);
  held.clear();
  CHECK(b.on_route("db") == 0);
  CHECK(b.of_user("db", "u") == 0);
  // A passthrough session has no user: the per-user limit cannot apply to it.
  auto p1 = b.acquire("pass", "", 0, 1, why);
  auto p2 = b.acquire("pass", "", 0, 1, why);
  CHECK(p2);
  CHECK(b.on_route("pass") == 2);
}

TEST_CASE("route budget: concurrent acquires never exceed the limit", "[route_budget]") {
  route_budget b;
  std::atomic<int> admitted{0};
  std::vector<std::thread> threads;
  std::vector<std::vector<std::unique_ptr<route_budget::slot>>> kept(8);
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 100; ++i) {
        verdict why{};
        if (auto s = b.acquire("db", "u" + std::to_string(t), 50, 0, why)) {
          kept[t].push_back(std::move(s));
          ++admitted;
        }
      }
    });
  }
  for (auto& th : threads)
    th.join();
  CHECK(admitted == 50);
  CHECK(b.on_route("db") == 50);
}
