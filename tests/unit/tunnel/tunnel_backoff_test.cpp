// Reconnect backoff: exponential, capped, jittered within [ceiling/2, ceiling].
#include <catch2/catch.hpp>

#include "gateway/tunnel/backoff.hpp"

using namespace sluice::tunnel;
using ms = std::chrono::milliseconds;

TEST_CASE("backoff doubles to the cap with equal jitter", "[tunnel]") {
  backoff_schedule b(ms(1000), ms(60000), 42);
  CHECK(b.ceiling(0) == ms(1000));
  CHECK(b.ceiling(1) == ms(2000));
  CHECK(b.ceiling(5) == ms(32000));
  CHECK(b.ceiling(6) == ms(60000));
  CHECK(b.ceiling(60) == ms(60000));
  for (uint32_t i = 0; i < 20; ++i) {
    const auto c = b.ceiling(i);
    const auto d = b.next();
    CHECK(d >= c / 2);
    CHECK(d <= c);
  }
  b.reset();
  CHECK(b.next() <= ms(1000));
}

TEST_CASE("backoff jitter spreads reconnects", "[tunnel]") {
  backoff_schedule a(ms(10000), ms(10000), 1), b(ms(10000), ms(10000), 2);
  int same = 0;
  for (int i = 0; i < 20; ++i)
    same += a.next() == b.next();
  CHECK(same < 5);
}

TEST_CASE("backoff tolerates odd settings", "[tunnel]") {
  backoff_schedule z(ms(0), ms(0), 3);
  CHECK(z.next() <= ms(1));
  backoff_schedule inv(ms(500), ms(100), 3);  // max below initial: initial wins
  CHECK(inv.next() <= ms(500));
}
