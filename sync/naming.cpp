#include "sync/naming.hpp"

#include <openssl/sha.h>

#include <cstdio>

namespace sluice::sync {

std::string to_identifier(const std::string& name) {
  if (name.size() <= kMaxIdentBytes)
    return name;
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(name.data()), name.size(), digest);
  char hex[9];
  std::snprintf(hex, sizeof hex, "%02x%02x%02x%02x", digest[0], digest[1], digest[2], digest[3]);
  size_t keep = kMaxIdentBytes - 10;  // "_h" + 8 hex
  // Never split a multi-byte UTF-8 sequence: back up over continuation bytes.
  while (keep > 0 && (static_cast<unsigned char>(name[keep]) & 0xC0) == 0x80)
    --keep;
  return name.substr(0, keep) + "_h" + hex;
}

std::optional<std::string> name_map::add(const std::string& name, std::string& error) {
  if (auto* known = find(name))
    return *known;
  std::string ident = to_identifier(name);
  if (auto it = by_ident_.find(ident); it != by_ident_.end() && it->second != name) {
    error = "'" + name + "' and '" + it->second + "' both map to identifier \"" + ident + "\"";
    return std::nullopt;
  }
  remember(name, ident);
  return ident;
}

void name_map::remember(const std::string& name, const std::string& ident) {
  by_name_[name] = ident;
  by_ident_[ident] = name;
}

const std::string* name_map::find(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &it->second;
}

}  // namespace sluice::sync
