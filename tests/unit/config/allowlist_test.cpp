#include <catch2/catch.hpp>
#include <random>

#include "config/allowlist.hpp"

using namespace sluice::config;

namespace {
ip_address ip(const char* s) {
  return *ip_address::parse(s);
}
std::map<std::string, std::vector<cidr>> lists(
    std::initializer_list<std::pair<const char*, std::vector<const char*>>> in) {
  std::map<std::string, std::vector<cidr>> out;
  for (auto& [name, blocks] : in) {
    for (auto* b : blocks)
      out[name].push_back(*cidr::parse(b));
  }
  return out;
}
}  // namespace

TEST_CASE("allowlist verdicts, table-driven", "[allowlist]") {
  auto l = lists({{"office", {"198.51.100.0/24", "2001:db8:100::/48"}},
                  {"workers", {"192.0.2.80/32", "192.0.2.81/32"}},
                  {"loop", {"127.0.0.1/32"}},
                  {"any4", {"0.0.0.0/0"}},
                  {"odd", {"10.1.2.128/25"}}});
  struct row {
    std::vector<std::string> names;
    const char* addr;
    bool allowed;
    const char* matched;
  };
  const row rows[] = {
      {{"office"}, "198.51.100.7", true, "office:198.51.100.0/24"},
      {{"office"}, "198.51.101.7", false, ""},
      {{"office"}, "2001:db8:100:ffff::1", true, "office:2001:db8:100::/48"},
      {{"office"}, "2001:db8:101::1", false, ""},
      {{"office", "workers"}, "192.0.2.81", true, "workers:192.0.2.81/32"},
      {{"office", "workers"}, "192.0.2.82", false, ""},
      {{"loop"}, "127.0.0.1", true, "loop:127.0.0.1/32"},
      {{"loop"}, "127.0.0.2", false, ""},
      // IPv4-mapped IPv6 (dual-stack sockets) matches the IPv4 rules.
      {{"loop"}, "::ffff:127.0.0.1", true, "loop:127.0.0.1/32"},
      {{"loop"}, "::ffff:127.0.0.2", false, ""},
      // An IPv4 rule never matches a real IPv6 client and vice versa.
      {{"any4"}, "::1", false, ""},
      {{"any4"}, "203.0.113.9", true, "any4:0.0.0.0/0"},
      {{"odd"}, "10.1.2.128", true, "odd:10.1.2.128/25"},
      {{"odd"}, "10.1.2.255", true, "odd:10.1.2.128/25"},
      {{"odd"}, "10.1.2.127", false, ""},
      {{}, "8.8.8.8", true, "(no allowlist)"},
  };
  for (const auto& r : rows) {
    INFO(r.addr);
    allowlist a(r.names, l);
    auto d = a.check(ip(r.addr));
    CHECK(d.allowed == r.allowed);
    CHECK(d.matched == r.matched);
  }
  CHECK(allowlist({"office", "workers"}, l).describe() == "office, workers");
}

TEST_CASE("allowlist agrees with a naive bit-by-bit reference on random input", "[allowlist]") {
  std::mt19937_64 rng(20261124);
  auto reference = [](const cidr& c, const ip_address& a) {
    if (c.base.v4 != a.v4)
      return false;
    for (int bit = 0; bit < c.prefix; ++bit) {
      int byte = bit / 8, shift = 7 - bit % 8;
      if (((c.base.bytes[byte] >> shift) & 1) != ((a.bytes[byte] >> shift) & 1))
        return false;
    }
    return true;
  };
  for (int round = 0; round < 200; ++round) {
    std::map<std::string, std::vector<cidr>> l;
    std::vector<cidr> blocks;
    for (int i = 0; i < 8; ++i) {
      cidr c;
      c.base.v4 = rng() % 2;
      int max = c.base.v4 ? 32 : 128;
      for (auto& b : c.base.bytes)
        b = static_cast<uint8_t>(rng());
      if (c.base.v4)
        std::fill(c.base.bytes.begin() + 4, c.base.bytes.end(), 0);
      c.prefix = static_cast<uint8_t>(rng() % (max + 1));
      for (int bit = c.prefix; bit < max; ++bit) {
        c.base.bytes[bit / 8] &= static_cast<uint8_t>(~(0x80u >> (bit % 8)));
      }
      blocks.push_back(c);
    }
    l["r"] = blocks;
    allowlist a({"r"}, l);
    for (int probe = 0; probe < 100; ++probe) {
      ip_address addr;
      // Half the probes start from a block base so matches are common.
      if (probe % 2) {
        addr = blocks[rng() % blocks.size()].base;
        int bit = static_cast<int>(rng() % (addr.v4 ? 32 : 128));
        addr.bytes[bit / 8] ^= static_cast<uint8_t>(0x80u >> (bit % 8));
      } else {
        addr.v4 = rng() % 2;
        for (auto& b : addr.bytes)
          b = static_cast<uint8_t>(rng());
        if (addr.v4)
          std::fill(addr.bytes.begin() + 4, addr.bytes.end(), 0);
      }
      bool expected = false;
      for (const auto& c : blocks)
        expected = expected || reference(c, addr);
      REQUIRE(a.check(addr).allowed == expected);
    }
  }
}
