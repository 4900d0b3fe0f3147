#include "config/issues.hpp"

#include <algorithm>
#include <cstdio>
#include <numeric>

namespace sluice::config {

std::string printable(std::string_view text) {
  std::string out;
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (c == '\n') {
      out += "\\n";
    } else if (u < 0x20 || u == 0x7f) {
      char buf[5];
      std::snprintf(buf, sizeof buf, "\\x%02x", u);
      out += buf;
    } else {
      out += c;
    }
  }
  return out;
}

std::string issue::str() const {
  std::string out = warning ? "warning: " : "";
  if (!path.empty()) {
    out += path;
    if (line > 0)
      out += " (line " + std::to_string(line) + ")";
    out += ": ";
  } else if (line > 0) {
    out += "line " + std::to_string(line) + ": ";
  }
  return out + message;
}

void issue_list::note_key(std::string path, int line) {
  key_lines_.emplace(std::move(path), line);  // the first writing of a key counts
}

int issue_list::line_of(const std::string& path, int fallback) const {
  auto it = key_lines_.find(path);
  return it == key_lines_.end() || it->second <= 0 ? fallback : it->second;
}

void issue_list::error(std::string path, int line, std::string message) {
  items_.push_back({std::move(path), line, std::move(message), false});
}

void issue_list::warn(std::string path, int line, std::string message) {
  items_.push_back({std::move(path), line, std::move(message), true});
}

bool issue_list::has_errors() const {
  return std::any_of(items_.begin(), items_.end(), [](const issue& i) { return !i.warning; });
}

std::string issue_list::str() const {
  std::string out;
  for (const auto& i : items_)
    out += i.str() + "\n";
  return out;
}

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  std::iota(row.begin(), row.end(), 0);
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string nearest(std::string_view word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = std::max<size_t>(2, word.size() / 3) + 1;
  for (const auto& c : candidates) {
    // The distance is at least the difference in length: skip what cannot be nearer
    // (a long unknown key would otherwise cost its length times each candidate's).
    size_t gap = word.size() > c.size() ? word.size() - c.size() : c.size() - word.size();
    if (gap >= best_d)
      continue;
    size_t d = edit_distance(word, c);
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  return best;
}

std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates,
                         std::string_view otherwise) {
  auto hint = nearest(word, candidates);
  return hint.empty() ? std::string(otherwise) : "; did you mean '" + hint + "'?";
}

std::string unknown_name(std::string_view kind, std::string_view name,
                         const std::vector<std::string>& candidates, std::string_view otherwise) {
  return "unknown " + std::string(kind) + " '" + std::string(name) + "'" +
         did_you_mean(name, candidates, otherwise);
}

}  // namespace sluice::config
