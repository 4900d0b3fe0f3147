// libssh2's per-session allocator: packet-sized blocks are reused, the rest is malloc's.
#include <catch2/catch.hpp>
#include <cstdint>
#include <cstring>
#include <vector>

#include "gateway/tunnel/packet_cache.hpp"

using sluice::tunnel::packet_cache;

TEST_CASE("packet cache reuses a freed packet-sized block", "[tunnel]") {
  packet_cache c;
  void* a = c.alloc(32 * 1024 + 100);
  REQUIRE(a != nullptr);
  REQUIRE(reinterpret_cast<uintptr_t>(a) % 16 == 0);
  std::memset(a, 0x5a, 32 * 1024 + 100);
  c.free(a);
  CHECK(c.cached_bytes() == 64 * 1024);
  void* b = c.alloc(40 * 1024);  // same size class
  CHECK(b == a);
  CHECK(c.cached_bytes() == 0);
  c.free(b);
}

TEST_CASE("packet cache leaves small and huge blocks to malloc", "[tunnel]") {
  packet_cache c;
  void* s = c.alloc(100);
  void* h = c.alloc(1 << 20);
  REQUIRE(s != nullptr);
  REQUIRE(h != nullptr);
  c.free(s);
  c.free(h);
  CHECK(c.cached_bytes() == 0);
  c.free(nullptr);
}

TEST_CASE("packet cache holds at most kMaxCached bytes", "[tunnel]") {
  packet_cache c;
  std::vector<void*> blocks;
  for (int i = 0; i < 64; ++i)
    blocks.push_back(c.alloc(60 * 1024));
  for (void* b : blocks)
    c.free(b);
  CHECK(c.cached_bytes() == packet_cache::kMaxCached);
}

TEST_CASE("packet cache realloc keeps the contents", "[tunnel]") {
  packet_cache c;
  auto* p = static_cast<char*>(c.realloc(nullptr, 10));
  std::memcpy(p, "0123456789", 10);
  auto* q = static_cast<char*>(c.realloc(p, 5000));  // moves into a cached size class
  REQUIRE(q != nullptr);
  CHECK(std::memcmp(q, "0123456789", 10) == 0);
  auto* r = static_cast<char*>(c.realloc(q, 6000));  // fits the same 8 KiB block
  CHECK(r == q);
  auto* t = static_cast<char*>(c.realloc(r, 100 * 1024));
  CHECK(std::memcmp(t, "0123456789", 10) == 0);
  c.free(t);
}
