// PostgreSQL identifiers for collections and fields: names are kept as written (and
// always quoted), cut to 63 bytes with a hash suffix when longer, and checked so two
// different names never land on the same identifier. Pure; unit-tested.
#pragma once

#include <map>
#include <optional>
#include <string>

namespace sluice::sync {

inline constexpr size_t kMaxIdentBytes = 63;  // NAMEDATALEN - 1

// `name` unchanged when it fits; else its first bytes (cut at a UTF-8 boundary) plus
// "_h" and 8 hex digits of its SHA-1, 63 bytes in all.
std::string to_identifier(const std::string& name);

// Original name -> identifier, refusing collisions.
class name_map {
 public:
  // Returns the identifier, or nullopt with `error` naming both names when `name`
  // would share an identifier with a different name already registered.
  std::optional<std::string> add(const std::string& name, std::string& error);
  // Registers an existing identifier for `name` (loaded from the catalog).
  void remember(const std::string& name, const std::string& ident);
  const std::string* find(const std::string& name) const;

 private:
  std::map<std::string, std::string> by_name_;
  std::map<std::string, std::string> by_ident_;
};

}  // namespace sluice::sync
