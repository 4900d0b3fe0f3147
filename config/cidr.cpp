#include "config/cidr.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstring>

#include "config/issues.hpp"

namespace sluice::config {

namespace {
constexpr std::array<uint8_t, 12> kV4MappedPrefix{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

bool is_v4_mapped(const std::array<uint8_t, 16>& b) {
  return std::memcmp(b.data(), kV4MappedPrefix.data(), kV4MappedPrefix.size()) == 0;
}
}  // namespace

ip_address ip_address::from_v4(const std::array<uint8_t, 4>& b) {
  ip_address a;
  a.v4 = true;
  std::memcpy(a.bytes.data(), b.data(), 4);
  return a;
}

ip_address ip_address::from_v6(const std::array<uint8_t, 16>& b) {
  if (is_v4_mapped(b)) {
    return from_v4({b[12], b[13], b[14], b[15]});
  }
  ip_address a;
  a.v4 = false;
  a.bytes = b;
  return a;
}

std::optional<ip_address> ip_address::parse(std::string_view text) {
  // inet_pton reads a C string: a NUL would end the address early and the bytes after
  // it ("127.0.0.1\0zz") would go unchecked.
  if (text.find('\0') != std::string_view::npos)
    return std::nullopt;
  std::string s(text);
  if (s.size() > 2 && s.front() == '[' && s.back() == ']') {
    s = s.substr(1, s.size() - 2);
  }
  std::array<uint8_t, 4> v4{};
  if (inet_pton(AF_INET, s.c_str(), v4.data()) == 1) {
    return from_v4(v4);
  }
  std::array<uint8_t, 16> v6{};
  if (inet_pton(AF_INET6, s.c_str(), v6.data()) == 1) {
    return from_v6(v6);
  }
  return std::nullopt;
}

std::string ip_address::str() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(v4 ? AF_INET : AF_INET6, bytes.data(), buf, sizeof buf);
  return buf;
}

std::optional<cidr> cidr::parse(std::string_view text, std::string* why) {
  auto fail = [&](std::string reason) -> std::optional<cidr> {
    if (why)
      *why = std::move(reason);
    return std::nullopt;
  };
  auto slash = text.find('/');
  auto addr_text = text.substr(0, slash);
  auto addr = ip_address::parse(addr_text);
  if (!addr) {
    return fail("'" + printable(text) + "' is not an IPv4 or IPv6 address or CIDR block");
  }
  // A v4-mapped base written as v6 keeps v6 prefix semantics; shift it to v4.
  const bool written_as_v6 = addr_text.find(':') != std::string_view::npos;
  const int max_prefix = addr->v4 ? 32 : 128;
  int prefix = max_prefix;
  if (slash != std::string_view::npos) {
    auto p = text.substr(slash + 1);
    // Digits only: from_chars alone takes a sign, so "/-0" read as 0 (match everything).
    const bool digits = !p.empty() && p.size() <= 3 && std::all_of(p.begin(), p.end(), [](char c) {
      return c >= '0' && c <= '9';
    });
    int value = -1;
    auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), value);
    if (!digits || ec != std::errc{} || ptr != p.data() + p.size()) {
      return fail("'" + printable(text) + "': prefix length must be a number");
    }
    if (addr->v4 && written_as_v6) {
      if (value < 96 || value > 128) {
        return fail("'" + printable(text) + "': an IPv4-mapped block needs a prefix of 96..128");
      }
      value -= 96;
    }
    if (value < 0 || value > max_prefix) {
      return fail("'" + printable(text) + "': prefix length must be 0.." +
                  std::to_string(max_prefix));
    }
    prefix = value;
  }
  cidr c{*addr, static_cast<uint8_t>(prefix)};
  // Host bits beyond the prefix are almost always a typo; say what was meant.
  cidr masked = c;
  for (int bit = prefix; bit < max_prefix; ++bit) {
    masked.base.bytes[bit / 8] &= static_cast<uint8_t>(~(0x80u >> (bit % 8)));
  }
  if (!(masked.base == c.base)) {
    return fail("'" + printable(text) + "' has host bits set; did you mean " + masked.str() + "?");
  }
  return c;
}

bool cidr::contains(const ip_address& a) const {
  if (a.v4 != base.v4) {
    return false;
  }
  const int full = prefix / 8;
  if (std::memcmp(a.bytes.data(), base.bytes.data(), full) != 0) {
    return false;
  }
  const int rest = prefix % 8;
  if (rest == 0) {
    return true;
  }
  const uint8_t mask = static_cast<uint8_t>(0xff00u >> rest);
  return (a.bytes[full] & mask) == (base.bytes[full] & mask);
}

std::string cidr::str() const {
  return base.str() + "/" + std::to_string(prefix);
}

}  // namespace sluice::config

#include <strings.h>

namespace sluice::config {

bool host_pattern_matches(std::string_view pattern, std::string_view name) {
  auto iequal = [](std::string_view a, std::string_view b) {
    return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
  };
  if (pattern.size() > 2 && pattern.substr(0, 2) == "*.") {
    auto suffix = pattern.substr(1);  // ".example.com"
    if (name.size() <= suffix.size())
      return false;
    auto head = name.substr(0, name.size() - suffix.size());
    return head.find('.') == std::string_view::npos &&
           iequal(name.substr(name.size() - suffix.size()), suffix);
  }
  return iequal(pattern, name);
}

}  // namespace sluice::config
