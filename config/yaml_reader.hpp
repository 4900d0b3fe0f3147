// Typed access to one YAML mapping that remembers its path and line, records which
// keys were read, and reports the rest as unknown with a nearest-key hint. Keys that
// are not plain names and keys given twice are reported once, when the reader is made;
// no input makes a getter throw.
#pragma once

#include <yaml-cpp/yaml.h>

#include <initializer_list>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "config/issues.hpp"
#include "config/settings.hpp"

namespace sluice::config {

int line_of(const YAML::Node& n);  // 1-based, 0 if unknown

// A mapping key's text, or nullopt for a key that cannot name a setting: a list, a
// mapping, a null (`~: 1`, `? : 1`), an empty string or one holding a NUL. yaml-cpp
// throws on `as<std::string>()` of such keys; read keys only through this.
std::optional<std::string> key_text(const YAML::Node& key);

class map_reader {
 public:
  // `node` must be a mapping; otherwise an issue is recorded and every read misses.
  // Each key that is not a plain name, or repeats an earlier one, is an issue too.
  map_reader(const YAML::Node& node, std::string path, issue_list& issues);

  bool ok() const { return ok_; }
  const std::string& path() const { return path_; }
  int line() const { return line_; }
  std::string path_of(std::string_view key) const;
  int line_of_key(std::string_view key) const;
  bool has(std::string_view key);

  // Each getter marks `key` as known. Missing keys yield the default; a missing
  // required key is an issue.
  std::optional<std::string> str(std::string_view key, bool required = false);
  std::string str_or(std::string_view key, std::string def);
  bool boolean(std::string_view key, bool def);
  int64_t integer(std::string_view key, int64_t def, int64_t min, int64_t max);
  duration dur(std::string_view key, duration def);
  uint64_t size(std::string_view key, uint64_t def);
  std::optional<host_port> address(std::string_view key, bool required = false);
  std::vector<std::string> str_list(std::string_view key);
  template <class E>
  E choice(std::string_view key, std::initializer_list<std::pair<const char*, E>> options, E def);
  // A nested mapping/sequence for the caller to read; an undefined node if absent.
  YAML::Node child(std::string_view key);

  // Reports keys present in the mapping that no getter asked for.
  void finish();

  issue_list& issues() { return issues_; }

 private:
  struct entry {
    std::string key;
    int line = 0;
    YAML::Node value;
  };
  const entry* find(std::string_view key) const;
  YAML::Node scalar(std::string_view key, bool required);
  void bad(std::string_view key, const std::string& message);

  YAML::Node node_;
  std::vector<entry> entries_;  // the mapping's usable keys, in file order
  std::string path_;
  issue_list& issues_;
  int line_ = 0;
  bool ok_ = true;
  std::set<std::string, std::less<>> known_;
};

template <class E>
E map_reader::choice(std::string_view key, std::initializer_list<std::pair<const char*, E>> options,
                     E def) {
  auto value = str(key);
  if (!value)
    return def;
  std::string names;
  for (const auto& [name, e] : options) {
    if (*value == name)
      return e;
    names += names.empty() ? "" : ", ";
    names += name;
  }
  bad(key, "'" + *value + "' is not one of: " + names);
  return def;
}

}  // namespace sluice::config
