#include "gateway/proxy_header.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <optional>
#include <string_view>

namespace sluice::gateway {

namespace {

constexpr uint8_t kV2Sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

proxy_header bad(std::string why) {
  proxy_header h;
  h.status = proxy_status::invalid;
  h.error = std::move(why);
  return h;
}

// A port as PROXY v1 writes it: 1..5 decimal digits, 0..65535; no sign, no spaces.
std::optional<uint16_t> v1_port(std::string_view p) {
  if (p.empty() || p.size() > 5 ||
      !std::all_of(p.begin(), p.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  unsigned port = 0;
  std::from_chars(p.data(), p.data() + p.size(), port);
  if (port > 65535)
    return std::nullopt;
  return static_cast<uint16_t>(port);
}

proxy_header parse_v1(std::span<const uint8_t> buf) {
  auto end = std::search(buf.begin(), buf.end(), std::begin("\r\n"), std::begin("\r\n") + 2);
  if (end == buf.end()) {
    if (buf.size() >= kMaxProxyV1)
      return bad("PROXY v1 header longer than 107 bytes");
    return {};
  }
  size_t len = static_cast<size_t>(end - buf.begin()) + 2;
  if (len > kMaxProxyV1)
    return bad("PROXY v1 header longer than 107 bytes");
  std::string_view line(reinterpret_cast<const char*>(buf.data()), len - 2);
  // "PROXY TCP4 src dst sport dport" or "PROXY UNKNOWN ..."
  std::string_view parts[6];
  size_t n = 0, start = 0;
  for (size_t i = 0; i <= line.size() && n < 6; ++i) {
    if (i == line.size() || line[i] == ' ') {
      parts[n++] = line.substr(start, i - start);
      start = i + 1;
    }
  }
  // Anything after the sixth field was ignored, so bytes no balancer sends (NULs, say)
  // were accepted: a trailing field is malformed. Each field checks its own bytes.
  const bool trailing = n == 6 && start <= line.size();
  proxy_header h;
  h.consumed = len;
  if (n >= 2 && parts[1] == "UNKNOWN") {
    if (line.find('\0') != std::string_view::npos)  // printable text, as every v1 line
      return bad("malformed PROXY v1 header");
    h.status = proxy_status::local;
    return h;
  }
  if (n != 6 || trailing || (parts[1] != "TCP4" && parts[1] != "TCP6"))
    return bad("malformed PROXY v1 header");
  auto src = config::ip_address::parse(parts[2]);
  if (!src || src->v4 != (parts[1] == "TCP4"))
    return bad("PROXY v1 header has a bad source address");
  // The destination is checked as strictly as the source: a header that is not
  // exactly what the spec allows is not trusted in part.
  auto dst = config::ip_address::parse(parts[3]);
  if (!dst || dst->v4 != (parts[1] == "TCP4"))
    return bad("PROXY v1 header has a bad destination address");
  auto source_port = v1_port(parts[4]);
  if (!source_port)
    return bad("PROXY v1 header has a bad source port");
  if (!v1_port(parts[5]))
    return bad("PROXY v1 header has a bad destination port");
  h.status = proxy_status::ok;
  h.source = *src;
  h.source_port = *source_port;
  return h;
}

proxy_header parse_v2(std::span<const uint8_t> buf) {
  if (buf.size() < 16)
    return {};
  const uint8_t ver_cmd = buf[12];
  if ((ver_cmd >> 4) != 2)
    return bad("unsupported PROXY protocol version");
  const size_t len = (size_t{buf[14]} << 8) | buf[15];
  if (buf.size() < 16 + len)
    return {};
  proxy_header h;
  h.consumed = 16 + len;
  const uint8_t cmd = ver_cmd & 0x0f;
  if (cmd == 0) {  // LOCAL: health check from the balancer itself
    h.status = proxy_status::local;
    return h;
  }
  if (cmd != 1)
    return bad("unknown PROXY v2 command");
  const uint8_t family = buf[13] >> 4;
  auto body = buf.subspan(16, len);
  if (family == 1) {  // AF_INET: src(4) dst(4) sport(2) dport(2)
    if (len < 12)
      return bad("PROXY v2 IPv4 block too short");
    h.source = config::ip_address::from_v4({body[0], body[1], body[2], body[3]});
    h.source_port = static_cast<uint16_t>((body[8] << 8) | body[9]);
  } else if (family == 2) {  // AF_INET6: src(16) dst(16) sport(2) dport(2)
    if (len < 36)
      return bad("PROXY v2 IPv6 block too short");
    std::array<uint8_t, 16> a{};
    std::memcpy(a.data(), body.data(), 16);
    h.source = config::ip_address::from_v6(a);
    h.source_port = static_cast<uint16_t>((body[32] << 8) | body[33]);
  } else {
    h.status = proxy_status::local;  // AF_UNSPEC / AF_UNIX: keep the peer address
    return h;
  }
  // TLVs after the addresses are not trusted for anything; their lengths were bounded
  // by `len` above and are not interpreted.
  h.status = proxy_status::ok;
  return h;
}

}  // namespace

bool looks_like_proxy_header(std::span<const uint8_t> buf) {
  static const char v1[] = "PROXY ";
  size_t n = std::min<size_t>(buf.size(), 6);
  if (n > 0 && std::memcmp(buf.data(), v1, n) == 0)
    return true;
  n = std::min<size_t>(buf.size(), 12);
  return n > 0 && std::memcmp(buf.data(), kV2Sig, n) == 0;
}

proxy_header parse_proxy_header(std::span<const uint8_t> buf) {
  if (buf.empty())
    return {};
  if (!looks_like_proxy_header(buf)) {
    proxy_header h;
    h.status = proxy_status::not_proxy;
    return h;
  }
  if (buf[0] == 'P') {
    if (buf.size() < 6)
      return {};
    return parse_v1(buf);
  }
  if (buf.size() < 12)
    return {};
  return parse_v2(buf);
}

}  // namespace sluice::gateway
