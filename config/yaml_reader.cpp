#include "config/yaml_reader.hpp"

#include "config/units.hpp"

namespace sluice::config {

int line_of(const YAML::Node& n) {
  if (!n.IsDefined())
    return 0;
  auto m = n.Mark();
  return m.line >= 0 ? m.line + 1 : 0;
}

map_reader::map_reader(const YAML::Node& node, std::string path, issue_list& issues)
    : node_(node), path_(std::move(path)), issues_(issues), line_(config::line_of(node)) {
  if (!node_.IsMap()) {
    ok_ = false;
    issues_.error(path_, line_,
                  node_.IsNull() ? "is empty; expected a mapping of keys"
                                 : "expected a mapping (key: value)");
  }
}

std::string map_reader::path_of(std::string_view key) const {
  return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
}

int map_reader::line_of_key(std::string_view key) const {
  if (!ok_)
    return line_;
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    if (it->first.as<std::string>() == key)
      return config::line_of(it->first);
  }
  return line_;
}

bool map_reader::has(std::string_view key) {
  known_.emplace(key);
  return ok_ && node_[std::string(key)].IsDefined() && !node_[std::string(key)].IsNull();
}

void map_reader::bad(std::string_view key, const std::string& message) {
  issues_.error(path_of(key), line_of_key(key), message);
}

YAML::Node map_reader::scalar(std::string_view key, bool required) {
  known_.emplace(key);
  if (!ok_)
    return YAML::Node(YAML::NodeType::Undefined);
  YAML::Node n = node_[std::string(key)];
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
  try {
    size_t used = 0;
    long long v = std::stoll(*s, &used);
    if (used != s->size())
      throw std::invalid_argument("trailing");
    if (v < min || v > max) {
      bad(key, "must be " + std::to_string(min) + ".." + std::to_string(max));
      return def;
    }
    return v;
  } catch (const std::exception&) {
    bad(key, "'" + *s + "' is not a whole number");
    return def;
  }
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
  if (!ok_)
    return out;
  YAML::Node n = node_[std::string(key)];
  if (!n.IsDefined() || n.IsNull())
    return out;
  if (n.IsScalar()) {
    out.push_back(n.Scalar());  // a single item written without brackets
    return out;
  }
  if (!n.IsSequence()) {
    bad(key, "expected a list like [a, b]");
    return out;
  }
  for (size_t i = 0; i < n.size(); ++i) {
    if (!n[i].IsScalar()) {
      issues_.error(path_of(key) + "[" + std::to_string(i) + "]", config::line_of(n[i]),
                    "expected a single value");
      continue;
    }
    out.push_back(n[i].Scalar());
  }
  return out;
}

YAML::Node map_reader::child(std::string_view key) {
  known_.emplace(key);
  if (!ok_)
    return YAML::Node(YAML::NodeType::Undefined);
  return node_[std::string(key)];
}

void map_reader::finish() {
  if (!ok_)
    return;
  std::vector<std::string> candidates(known_.begin(), known_.end());
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    auto key = it->first.as<std::string>();
    if (known_.count(key))
      continue;
    std::string msg = "unknown key";
    auto hint = nearest(key, candidates);
    if (!hint.empty()) {
      msg += "; did you mean '" + hint + "'?";
    } else {
      std::string list;
      for (const auto& c : candidates)
        list += (list.empty() ? "" : ", ") + c;
      msg += " (known keys: " + list + ")";
    }
    issues_.error(path_of(key), config::line_of(it->first), msg);
  }
}

}  // namespace sluice::config
