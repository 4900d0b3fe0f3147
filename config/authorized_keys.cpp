#include "config/authorized_keys.hpp"

#include <array>
#include <cstdint>

namespace sluice::config {

namespace {

std::optional<std::string> decode_base64(std::string_view in) {
  static const std::array<int8_t, 256> table = [] {
    std::array<int8_t, 256> t{};
    t.fill(-1);
    const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int i = 0; i < 64; ++i)
      t[static_cast<uint8_t>(a[i])] = static_cast<int8_t>(i);
    return t;
  }();
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  size_t pad = 0;
  for (char c : in) {
    if (c == '=') {
      ++pad;
      continue;
    }
    if (pad > 0)
      return std::nullopt;  // data after padding
    const int v = table[static_cast<uint8_t>(c)];
    if (v < 0)
      return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  if (pad > 2 || (in.size() % 4 != 0 && pad > 0))
    return std::nullopt;
  return out;
}

// The key type string at the start of a public key blob.
std::optional<std::string> blob_type(std::string_view blob) {
  if (blob.size() < 4)
    return std::nullopt;
  const uint32_t n = (uint32_t(uint8_t(blob[0])) << 24) | (uint32_t(uint8_t(blob[1])) << 16) |
                     (uint32_t(uint8_t(blob[2])) << 8) | uint32_t(uint8_t(blob[3]));
  if (n == 0 || n > 64 || blob.size() < 4 + n)
    return std::nullopt;
  return std::string(blob.substr(4, n));
}

bool known_type(std::string_view t) {
  return t == "ssh-ed25519" || t == "ecdsa-sha2-nistp256" || t == "ecdsa-sha2-nistp384" ||
         t == "ecdsa-sha2-nistp521" || t == "ssh-rsa";
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

std::string_view next_field(std::string_view& s) {
  s = trim(s);
  size_t end = s.find_first_of(" \t");
  auto f = s.substr(0, end);
  s = end == std::string_view::npos ? std::string_view() : s.substr(end);
  return f;
}

}  // namespace

std::optional<authorized_key> parse_authorized_key(std::string_view line, std::string& error) {
  error.clear();
  auto rest = trim(line);
  if (rest.empty()) {
    error = "empty key line";
    return std::nullopt;
  }
  const auto type = next_field(rest);
  if (!known_type(type)) {
    if (type.find('=') != std::string_view::npos || type.find(',') != std::string_view::npos) {
      error =
          "authorized_keys options (like from= or command=) are not supported; give the "
          "bare key line \"ssh-ed25519 AAAA... comment\"";
    } else {
      error = "'" + std::string(type.substr(0, 40)) +
              "' is not a supported key type (ssh-ed25519, ecdsa-sha2-nistp256/384/521, ssh-rsa)";
    }
    return std::nullopt;
  }
  const auto b64 = next_field(rest);
  if (b64.empty()) {
    error = "the key data after '" + std::string(type) + "' is missing";
    return std::nullopt;
  }
  auto blob = decode_base64(b64);
  if (!blob) {
    error = "the key data is not valid base64 (was the line cut or wrapped?)";
    return std::nullopt;
  }
  auto inner = blob_type(*blob);
  if (!inner || *inner != type) {
    error = "the key data does not encode a " + std::string(type) + " key";
    return std::nullopt;
  }
  authorized_key k;
  k.type = std::string(type);
  k.blob = std::move(*blob);
  k.base64 = std::string(b64);
  k.comment = std::string(trim(rest));
  return k;
}

std::vector<authorized_key> parse_authorized_keys(std::string_view text,
                                                  std::vector<std::string>& errors) {
  std::vector<authorized_key> out;
  size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    const size_t nl = text.find('\n');
    auto line = trim(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (line.empty() || line.front() == '#')
      continue;
    std::string error;
    if (auto k = parse_authorized_key(line, error))
      out.push_back(std::move(*k));
    else
      errors.push_back("line " + std::to_string(line_no) + ": " + error);
  }
  return out;
}

}  // namespace sluice::config
