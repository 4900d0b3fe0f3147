#include "config/yaml_reader.hpp"

#include "config/units.hpp"

#include <charconv>

namespace sluice::config {

int line_of(const YAML::Node& n) {
  if (!n.IsDefined())
    return 0;
  auto m = n.Mark();
  return m.line >= 0 ? m.line + 1 : 0;
}

std::optional<std::string> key_text(const YAML::Node& key) {
  if (!key.IsScalar())  // a null key is NodeType::Null, not a scalar
    return std::nullopt;
  const std::string& s = key.Scalar();
  if (s.empty() || s.find('\0') != std::string::npos)
    return std::nullopt;
  return s;
}

map_reader::map_reader(const YAML::Node& node, std::string path, issue_list& issues)
    : node_(node), path_(std::move(path)), issues_(issues), line_(config::line_of(node)) {
  // IsDefined first: it is the one query that does not throw on an invalid node.
  if (!node_.IsDefined() || !node_.IsMap()) {
    ok_ = false;
    issues_.error(path_, line_,
                  node_.IsDefined() && node_.IsNull() ? "is empty; expected a mapping of keys"
                                                      : "expected a mapping (key: value)");
    return;
  }
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    const YAML::Node key = it->first;
    const int line = config::line_of(key);
    auto text = key_text(key);
    if (!text) {
      issues_.error(path_, line,
                    "a key must be a plain name (like port:), not a list, a mapping, "
                    "an empty or null key, or text with a NUL");
      continue;
    }
    if (const entry* first = find(*text)) {
      issues_.error(path_of(printable(*text)), line,
                    "duplicate key; first given on line " + std::to_string(first->line));
      continue;
    }
    entries_.push_back({*text, line, it->second});
    issues_.note_key(path_of(*text), line);
  }
}

const map_reader::entry* map_reader::find(std::string_view key) const {
  for (const auto& e : entries_) {
    if (e.key == key)
      return &e;
  }
  return nullptr;
}

std::string map_reader::path_of(std::string_view key) const {
  return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
}

int map_reader::line_of_key(std::string_view key) const {
  const entry* e = find(key);
  return e ? e->line : line_;
}

bool map_reader::has(std::string_view key) {
  known_.emplace(key);
  const entry* e = find(key);
  return e && e->value.IsDefined() && !e->value.IsNull();
}

void map_reader::bad(std::string_view key, const std::string& message) {
  issues_.error(path_of(key), line_of_key(key), message);
}

YAML::Node map_reader::scalar(std::string_view key, bool required) {
  known_.emplace(key);
  if (!ok_)
    return YAML::Node(YAML::NodeType::Undefined);
  const entry* e = find(key);
  YAML::Node n = e ? e->value : YAML::Node(YAML::NodeType::Undefined);
  if (!n.IsDefined() || n.IsNull()) {
    if (required)
      issues_.error(path_of(key), line_, "is required");
    return YAML::Node(YAML::NodeType::Undefined);
  }
  if (!n.IsScalar()) {
    bad(key, "expected a single value, not a list or mapping");
    return YAML::Node(YAML::NodeType::Undefined);
  }
  return n;
}

std::optional<std::string> map_reader::str(std::string_view key, bool required) {
  auto n = scalar(key, required);
  if (!n.IsDefined())
    return std::nullopt;
  auto s = n.Scalar();
  if (s.find('\0') != std::string::npos) {  // a "\0" escape; C APIs would cut the text there
    bad(key, "contains a NUL character (\\0)");
    return std::nullopt;
  }
  if (required && s.empty()) {
    bad(key, "must not be empty");
    return std::nullopt;
  }
  return s;
}

std::string map_reader::str_or(std::string_view key, std::string def) {
  auto s = str(key);
  return s ? *s : std::move(def);
}

bool map_reader::boolean(std::string_view key, bool def) {
  auto s = str(key);
  if (!s)
    return def;
  if (*s == "true" || *s == "yes" || *s == "on")
    return true;
  if (*s == "false" || *s == "no" || *s == "off")
    return false;
  bad(key, "'" + *s + "' is not a boolean; use true or false");
  return def;
}

int64_t map_reader::integer(std::string_view key, int64_t def, int64_t min, int64_t max) {
  auto s = str(key);
  if (!s)
    return def;
  // from_chars, not stoll: no leading whitespace or '+', and an overflow is an error.
  int64_t v = 0;
  const char* end = s->data() + s->size();
  auto [stop, ec] = std::from_chars(s->data(), end, v);
  if (s->empty() || ec == std::errc::invalid_argument || stop != end) {
    bad(key, "'" + printable(*s) + "' is not a whole number");
    return def;
  }
  if (ec == std::errc::result_out_of_range || v < min || v > max) {
    bad(key, "must be " + std::to_string(min) + ".." + std::to_string(max));
    return def;
  }
  return v;
}

duration map_reader::dur(std::string_view key, duration def) {
  auto s = str(key);
  if (!s)
    return def;
  std::string why;
  auto d = parse_duration(*s, &why);
  if (!d) {
    bad(key, why);
    return def;
  }
  return *d;
}

uint64_t map_reader::size(std::string_view key, uint64_t def) {
  auto s = str(key);
  if (!s)
    return def;
  std::string why;
  auto v = parse_size(*s, &why);
  if (!v) {
    bad(key, why);
    return def;
  }
  return *v;
}

std::optional<host_port> map_reader::address(std::string_view key, bool required) {
  auto s = str(key, required);
  if (!s)
    return std::nullopt;
  std::string why;
  auto hp = parse_host_port(*s, &why);
  if (!hp)
    bad(key, why);
  return hp;
}

std::vector<std::string> map_reader::str_list(std::string_view key) {
  known_.emplace(key);
  std::vector<std::string> out;
  const entry* e = find(key);
  if (!e || !e->value.IsDefined() || e->value.IsNull())
    return out;
  const YAML::Node n = e->value;
  auto has_nul = [](const std::string& s) { return s.find('\0') != std::string::npos; };
  if (n.IsScalar()) {
    if (has_nul(n.Scalar()))
      bad(key, "contains a NUL character (\\0)");
    else
      out.push_back(n.Scalar());  // a single item written without brackets
    return out;
  }
  if (!n.IsSequence()) {
    bad(key, "expected a list like [a, b]");
    return out;
  }
  for (size_t i = 0; i < n.size(); ++i) {
    if (!n[i].IsScalar() || has_nul(n[i].Scalar())) {
      issues_.error(path_of(key) + "[" + std::to_string(i) + "]", config::line_of(n[i]),
                    n[i].IsScalar() ? "contains a NUL character (\\0)" : "expected a single value");
      continue;
    }
    out.push_back(n[i].Scalar());
  }
  return out;
}

YAML::Node map_reader::child(std::string_view key) {
  known_.emplace(key);
  const entry* e = find(key);
  return e ? e->value : YAML::Node(YAML::NodeType::Undefined);
}

void map_reader::finish() {
  if (!ok_)
    return;
  std::vector<std::string> candidates(known_.begin(), known_.end());
  for (const auto& e : entries_) {
    const std::string& key = e.key;
    if (known_.count(key))
      continue;
    std::string list;
    for (const auto& c : candidates)
      list += (list.empty() ? "" : ", ") + c;
    issues_.error(path_of(printable(key)), e.line,
                  "unknown key" + did_you_mean(key, candidates, " (known keys: " + list + ")"));
  }
}

}  // namespace sluice::config
