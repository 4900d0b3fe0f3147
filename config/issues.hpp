// Configuration problems, each with the YAML path and line it came from, collected
// so a user sees every problem in one run (like `nginx -t`), not one per attempt.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::config {

struct issue {
  std::string path;  // "routes[1].upstream.port"; empty for whole-file problems
  int line = 0;      // 1-based; 0 when unknown
  std::string message;
  bool warning = false;

  // "routes[1].upstream.port (line 14): must be 1..65535"
  std::string str() const;
};

class issue_list {
 public:
  void error(std::string path, int line, std::string message);
  void warn(std::string path, int line, std::string message);
  bool has_errors() const;
  const std::vector<issue>& all() const { return items_; }
  std::string str() const;  // one per line

  // Where each key was written ("routes[1].upstream.via" -> its line), noted by the
  // loader, so checks made after parsing (references, files) point at the key itself.
  void note_key(std::string path, int line);
  // The line of the key at `path`, or `fallback` when the file does not write it.
  int line_of(const std::string& path, int fallback) const;

 private:
  std::vector<issue> items_;
  std::map<std::string, int, std::less<>> key_lines_;
};

// `text` with control bytes escaped (\n, \x00), for quoting user text in messages.
std::string printable(std::string_view text);

// Damerau-free Levenshtein distance; used to suggest the key a typo meant.
size_t edit_distance(std::string_view a, std::string_view b);
// Nearest candidate within a sensible distance, or empty.
std::string nearest(std::string_view word, const std::vector<std::string>& candidates);

// The one "did you mean" of every message that names something unknown (keys, and
// allowlists, tunnels, listeners, routes referred to by name): "; did you mean 'X'?" for
// the nearest candidate, else `otherwise` (e.g. "; define it under tunnels:").
std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates,
                         std::string_view otherwise = {});
// "unknown KIND 'NAME'" followed by did_you_mean(NAME, candidates, otherwise).
std::string unknown_name(std::string_view kind, std::string_view name,
                         const std::vector<std::string>& candidates,
                         std::string_view otherwise = {});

}  // namespace sluice::config
