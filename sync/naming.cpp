#include "sync/naming.hpp"

#include <openssl/sha.h>

#include <array>
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

namespace {

bool is_lower_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

// What to_identifier() makes of a long name: a 50..53-byte head, "_h", 8 hex digits.
bool shortened_form(std::string_view name) {
  if (name.size() < kMaxIdentBytes - 3 || name.size() > kMaxIdentBytes)
    return false;
  auto tail = name.substr(name.size() - 10);
  if (tail.substr(0, 2) != "_h")
    return false;
  for (char c : tail.substr(2)) {
    if (!is_lower_hex(c))
      return false;
  }
  return true;
}

std::string common_problem(std::string_view name) {
  if (name.empty())
    return "must not be empty";
  if (name.find('\0') != std::string_view::npos)
    return "contains a NUL character (\\u0000), which PostgreSQL names cannot hold";
  if (name.substr(0, kReservedPrefix.size()) == kReservedPrefix)
    return "is reserved (names starting with _sync_ are the writer's own tables and columns)";
  if (shortened_form(name)) {
    return "is reserved (60..63 bytes ending in _h and 8 hex digits is the form the writer "
           "gives names longer than 63 bytes)";
  }
  return "";
}

}  // namespace

std::string collection_problem(std::string_view name) {
  if (name.size() > kMaxCollectionBytes) {
    return "is " + std::to_string(name.size()) + " bytes; collection names may have at most " +
           std::to_string(kMaxCollectionBytes);
  }
  return common_problem(name);
}

std::string field_problem(std::string_view name) {
  // Every table has these system columns; a user column cannot take their names.
  static constexpr std::array<std::string_view, 6> kSystemColumns = {"tableoid", "xmin", "cmin",
                                                                     "xmax",     "cmax", "ctid"};
  if (auto p = common_problem(name); !p.empty())
    return p;
  for (auto sys : kSystemColumns) {
    if (name == sys)
      return "is reserved (a PostgreSQL system column)";
  }
  if (name == "_del")
    return "is reserved (the writer's stage tables use it for the delete flag)";
  return "";
}

std::string id_problem(std::string_view collection, std::string_view id) {
  if (id.find('\0') != std::string_view::npos)
    return "contains a NUL character (\\u0000), which PostgreSQL text cannot hold";
  if (collection.size() + id.size() > kMaxKeyBytes) {
    return "is " + std::to_string(id.size()) + " bytes; with the collection name (" +
           std::to_string(collection.size()) + " bytes) an id may have at most " +
           std::to_string(kMaxKeyBytes) + " bytes (PostgreSQL's index entry limit)";
  }
  return "";
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
