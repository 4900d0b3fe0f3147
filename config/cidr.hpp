// IP addresses and CIDR blocks as plain values: parsing and containment, no I/O.
// IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are normalised to IPv4 so a client
// arriving on a dual-stack socket matches the IPv4 rules a network team wrote.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::config {

struct ip_address {
  bool v4 = true;
  std::array<uint8_t, 16> bytes{};  // v4 uses the first 4 bytes

  static std::optional<ip_address> parse(std::string_view text);
  // From raw bytes (4 or 16); a v4-mapped v6 address becomes v4.
  static ip_address from_v4(const std::array<uint8_t, 4>& b);
  static ip_address from_v6(const std::array<uint8_t, 16>& b);
  std::string str() const;
  bool operator==(const ip_address&) const = default;
};

struct cidr {
  ip_address base;
  uint8_t prefix = 0;  // 0..32 for v4, 0..128 for v6

  // Accepts "a.b.c.d/n", "v6/n" and a bare address (a host route).
  // On failure returns nullopt and fills `why` with a human-readable reason.
  static std::optional<cidr> parse(std::string_view text, std::string* why = nullptr);
  bool contains(const ip_address& a) const;
  std::string str() const;
  bool operator==(const cidr&) const = default;
};

}  // namespace sluice::config

namespace sluice::config {
// Host-name pattern used by SNI matching in routes and certificates: exact
// (case-insensitive) or "*.suffix", where the wildcard covers exactly one label.
bool host_pattern_matches(std::string_view pattern, std::string_view name);
}  // namespace sluice::config
