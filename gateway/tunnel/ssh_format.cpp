#include "gateway/tunnel/ssh_format.hpp"

#include <openssl/sha.h>

#include <array>

namespace sluice::tunnel {

namespace {
constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int b64_value(char c) {
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+')
    return 62;
  if (c == '/')
    return 63;
  return -1;
}

std::string_view strip_padding(std::string_view s) {
  while (!s.empty() && s.back() == '=')
    s.remove_suffix(1);
  return s;
}
}  // namespace

std::string base64_encode(std::string_view bytes, bool pad) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    uint32_t v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8) | uint8_t(bytes[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  const size_t rest = bytes.size() - i;
  if (rest == 1) {
    uint32_t v = uint8_t(bytes[i]) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    if (pad)
      out += "==";
  } else if (rest == 2) {
    uint32_t v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    if (pad)
      out += '=';
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  text = strip_padding(text);
  if (text.size() % 4 == 1)
    return std::nullopt;
  std::string out;
  out.reserve(text.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    int v = b64_value(c);
    if (v < 0)
      return std::nullopt;
    acc = (acc << 6) | uint32_t(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += char((acc >> bits) & 0xff);
    }
  }
  return out;
}

void put_ssh_string(std::string& out, std::string_view s) {
  const auto n = static_cast<uint32_t>(s.size());
  out += char(n >> 24);
  out += char(n >> 16);
  out += char(n >> 8);
  out += char(n);
  out.append(s);
}

std::optional<uint32_t> get_u32(std::string_view in, size_t& pos) {
  if (in.size() < pos + 4)
    return std::nullopt;
  uint32_t n = (uint32_t(uint8_t(in[pos])) << 24) | (uint32_t(uint8_t(in[pos + 1])) << 16) |
               (uint32_t(uint8_t(in[pos + 2])) << 8) | uint32_t(uint8_t(in[pos + 3]));
  pos += 4;
  return n;
}

std::optional<std::string_view> get_ssh_string(std::string_view in, size_t& pos) {
  size_t p = pos;
  auto n = get_u32(in, p);
  if (!n || in.size() - p < *n)
    return std::nullopt;
  pos = p + *n;
  return in.substr(p, *n);
}

std::string fingerprint_of_digest(std::string_view sha256_digest) {
  return "SHA256:" + base64_encode(sha256_digest, false);
}

std::string fingerprint_of_blob(std::string_view key_blob) {
  std::array<unsigned char, SHA256_DIGEST_LENGTH> d{};
  SHA256(reinterpret_cast<const unsigned char*>(key_blob.data()), key_blob.size(), d.data());
  return fingerprint_of_digest(std::string_view(reinterpret_cast<const char*>(d.data()), d.size()));
}

bool same_fingerprint(std::string_view a, std::string_view b) {
  return strip_padding(a) == strip_padding(b);
}

std::string blob_key_type(std::string_view key_blob) {
  size_t pos = 0;
  auto t = get_ssh_string(key_blob, pos);
  return t ? std::string(*t) : std::string();
}

}  // namespace sluice::tunnel
