// IP addresses, CIDR blocks and allowlists (config/cidr.*, config/allowlist.*), which
// decide who may connect. The input is lines of text; each of the first 16 is tried as an
// address and as a block, and blocks go to lists "a" and "b" in turn. Invariants:
// str() -> parse() round trips, and the allowlist agrees with a bit-by-bit reference on
// every parsed address and on each block's first and last address and the addresses
// just outside it.
#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "config/allowlist.hpp"
#include "fuzz_check.hpp"

using namespace sluice::config;

namespace {

// The reference is not instrumented for coverage: its bit loops would add thousands of
// features that say nothing about the code under test (the corpus grew on them) and
// trace every comparison, which made this target run at a few hundred execs/s.
#define REFERENCE __attribute__((no_sanitize("coverage")))

REFERENCE bool bit(const ip_address& a, int i) {
  return (a.bytes[static_cast<size_t>(i / 8)] >> (7 - i % 8)) & 1;
}

REFERENCE bool reference_contains(const cidr& c, const ip_address& a) {
  if (a.v4 != c.base.v4)
    return false;
  for (int i = 0; i < c.prefix; ++i) {
    if (bit(a, i) != bit(c.base, i))
      return false;
  }
  return true;
}

REFERENCE ip_address flip(ip_address a, int i) {
  a.bytes[static_cast<size_t>(i / 8)] ^= static_cast<uint8_t>(0x80u >> (i % 8));
  return a;
}

REFERENCE ip_address last_of(const cidr& c) {
  ip_address a = c.base;
  for (int i = c.prefix; i < (c.base.v4 ? 32 : 128); ++i)
    a.bytes[static_cast<size_t>(i / 8)] |= static_cast<uint8_t>(0x80u >> (i % 8));
  return a;
}

REFERENCE bool plain_text(std::string_view s) {
  return s.find('\0') == std::string_view::npos;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::map<std::string, std::vector<cidr>> lists;
  std::vector<ip_address> probes;
  size_t n = 0;
  for (size_t pos = 0; pos <= in.size() && n < 16; ++n) {
    size_t nl = std::min(in.find('\n', pos), in.size());
    std::string_view line = in.substr(pos, nl - pos);
    pos = nl + 1;
    if (auto a = ip_address::parse(line)) {
      FUZZ_CHECK(plain_text(line));
      auto back = ip_address::parse(a->str());
      FUZZ_CHECK(back && *back == *a);
      if (a->v4)
        FUZZ_CHECK(
            std::all_of(a->bytes.begin() + 4, a->bytes.end(), [](uint8_t b) { return b == 0; }));
      probes.push_back(*a);
    }
    std::string why;
    if (auto c = cidr::parse(line, &why)) {
      FUZZ_CHECK(plain_text(line));
      auto slash = line.find('/');
      FUZZ_CHECK(slash == std::string_view::npos ||
                 line.find_first_not_of("0123456789", slash + 1) == std::string_view::npos);
      FUZZ_CHECK(c->prefix <= (c->base.v4 ? 32 : 128));
      auto back = cidr::parse(c->str());
      FUZZ_CHECK(back && *back == *c);
      FUZZ_CHECK(c->contains(c->base) && c->contains(last_of(*c)));
      probes.push_back(c->base);
      probes.push_back(last_of(*c));
      if (c->prefix > 0) {
        probes.push_back(flip(c->base, c->prefix - 1));
        probes.push_back(flip(last_of(*c), c->prefix - 1));
      }
      lists[n % 2 ? "b" : "a"].push_back(*c);
    } else {
      FUZZ_CHECK(!why.empty());
    }
  }
  // Each block against each probe once: the implementation and the reference.
  std::map<std::string, std::vector<std::vector<bool>>> inside;  // [list][block][probe]
  for (const auto& [name, blocks] : lists) {
    auto& rows = inside[name];
    for (const auto& c : blocks) {
      rows.emplace_back(probes.size());
      for (size_t i = 0; i < probes.size(); ++i) {
        const bool ref = reference_contains(c, probes[i]);
        FUZZ_CHECK(c.contains(probes[i]) == ref);
        rows.back()[i] = ref;
      }
    }
  }
  const std::vector<std::vector<std::string>> namings = {{"a"}, {"b", "a"}, {"missing", "b"}};
  for (const auto& names : namings) {
    allowlist list(names, lists);
    FUZZ_CHECK(!list.admits_everyone());
    for (size_t i = 0; i < probes.size(); ++i) {
      bool expect = false;
      for (const auto& name : names) {
        auto it = inside.find(name);
        if (it == inside.end())
          continue;
        for (const auto& row : it->second)
          expect = expect || row[i];
      }
      auto d = list.check(probes[i]);
      FUZZ_CHECK(d.allowed == expect);
      FUZZ_CHECK(d.allowed == !d.matched.empty());
    }
  }
  return 0;
}
