#include "gateway/tunnel/known_hosts.hpp"

#include <fnmatch.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "gateway/tunnel/ssh_format.hpp"

namespace sluice::tunnel {

namespace {

std::string_view next_field(std::string_view& s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  size_t end = s.find_first_of(" \t");
  auto f = s.substr(0, end);
  s.remove_prefix(end == std::string_view::npos ? s.size() : end);
  return f;
}

// "|1|base64(salt)|base64(HMAC-SHA1(salt, name))"
bool hashed_matches(std::string_view field, const std::string& name) {
  if (field.rfind("|1|", 0) != 0)
    return false;
  field.remove_prefix(3);
  auto bar = field.find('|');
  if (bar == std::string_view::npos)
    return false;
  auto salt = base64_decode(field.substr(0, bar));
  auto mac = base64_decode(field.substr(bar + 1));
  if (!salt || !mac)
    return false;
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int out_len = 0;
  HMAC(EVP_sha1(), salt->data(), static_cast<int>(salt->size()),
       reinterpret_cast<const unsigned char*>(name.data()), name.size(), out, &out_len);
  return out_len == mac->size() && std::string_view(reinterpret_cast<char*>(out), out_len) == *mac;
}

// OpenSSH patterns know only '*' and '?'; brackets in "[host]:port" are literal.
bool pattern_matches(std::string_view pattern, const std::string& name) {
  std::string p;
  for (char c : pattern) {
    if (c == '[' || c == ']' || c == '\\')
      p += '\\';
    p += c;
  }
  return fnmatch(p.c_str(), name.c_str(), FNM_CASEFOLD) == 0;
}

}  // namespace

std::string known_hosts_name(const std::string& host, uint16_t port) {
  if (port == 22)
    return host;
  return "[" + host + "]:" + std::to_string(port);
}

bool known_hosts_field_matches(std::string_view field, const std::string& host, uint16_t port) {
  const auto name = known_hosts_name(host, port);
  if (field.rfind("|1|", 0) == 0)
    return hashed_matches(field, name);
  bool matched = false;
  while (!field.empty()) {
    auto comma = field.find(',');
    auto pat = field.substr(0, comma);
    field.remove_prefix(comma == std::string_view::npos ? field.size() : comma + 1);
    if (pat.empty())
      continue;
    const bool negated = pat.front() == '!';
    if (negated)
      pat.remove_prefix(1);
    if (pattern_matches(pat, name)) {
      if (negated)
        return false;  // an explicit exclusion wins, as in OpenSSH
      matched = true;
    }
  }
  return matched;
}

std::optional<known_host_entry> parse_known_hosts_line(std::string_view line, int line_no) {
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n'))
    line.remove_suffix(1);
  known_host_entry e;
  e.line = line_no;
  auto first = next_field(line);
  if (first.empty() || first.front() == '#')
    return std::nullopt;
  if (first.front() == '@') {
    if (first == "@revoked") {
      e.revoked = true;
    } else {
      return std::nullopt;  // @cert-authority and unknown markers
    }
    first = next_field(line);
  }
  e.hosts = std::string(first);
  e.key_type = std::string(next_field(line));
  auto b64 = next_field(line);
  if (e.hosts.empty() || e.key_type.empty() || b64.empty())
    return std::nullopt;
  auto blob = base64_decode(b64);
  if (!blob || blob_key_type(*blob) != e.key_type)
    return std::nullopt;
  e.key_blob = std::move(*blob);
  return e;
}

std::vector<known_host_entry> parse_known_hosts(std::string_view text) {
  std::vector<known_host_entry> out;
  int n = 0;
  while (!text.empty()) {
    auto nl = text.find('\n');
    auto line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (auto e = parse_known_hosts_line(line, ++n))
      out.push_back(std::move(*e));
  }
  return out;
}

std::vector<known_host_entry> known_hosts_for(const std::vector<known_host_entry>& all,
                                              const std::string& host, uint16_t port) {
  std::vector<known_host_entry> out;
  for (const auto& e : all) {
    if (known_hosts_field_matches(e.hosts, host, port))
      out.push_back(e);
  }
  return out;
}

}  // namespace sluice::tunnel
