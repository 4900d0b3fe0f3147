#include "config/bearer_token.hpp"

#include "config/read_file.hpp"

namespace sluice::config {

namespace {

std::string_view trim(std::string_view s) {
  const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && space(s.front()))
    s.remove_prefix(1);
  while (!s.empty() && space(s.back()))
    s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size())
    return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if ((a[i] | 0x20) != (b[i] | 0x20))
      return false;
  }
  return true;
}

// Every byte compared whatever differs first, so timing does not tell how much matched.
bool same_bytes(std::string_view a, std::string_view b) {
  if (a.size() != b.size())
    return false;
  volatile unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i)
    diff = diff | static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace

bool bearer_token_matches(std::string_view authorization, std::string_view expected) {
  constexpr std::string_view scheme = "bearer ";
  if (expected.empty() || authorization.size() <= scheme.size() ||
      !iequals(authorization.substr(0, scheme.size()), scheme))
    return false;
  return same_bytes(trim(authorization.substr(scheme.size())), expected);
}

std::optional<std::string> read_token_file(const std::string& path, std::string* error) {
  auto text = read_file(path, error);
  if (!text)
    return std::nullopt;
  auto token = trim(*text);
  if (token.empty()) {
    if (error)
      *error = path + " holds no token (it is empty)";
    return std::nullopt;
  }
  return std::string(token);
}

}  // namespace sluice::config
