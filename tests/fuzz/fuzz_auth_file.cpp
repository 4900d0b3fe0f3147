// PgBouncer's auth_file format (gateway/auth/auth_file.*), read at startup and on every
// reload from a file someone edited, and the SCRAM secrets in it
// (gateway/auth/scram_secret.*). Invariants: each line is a comment/blank line, one
// entry or one error naming it; entries are unique, non-empty, NUL- and newline-free and
// classified as PostgreSQL would; written back in the format they parse to the same
// entries; a SCRAM secret formats and parses back to itself.
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.hpp"
#include "gateway/auth/auth_file.hpp"

using namespace sluice::auth;

namespace {

#define REFERENCE __attribute__((no_sanitize("coverage")))

REFERENCE std::string quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    out += c;
    if (c == '"')
      out += '"';
  }
  return out + "\"";
}

// A line that holds nothing: blanks only, or a ';' / '#' comment after blanks (a NUL
// anywhere makes the line an error).
REFERENCE bool is_comment(std::string_view line) {
  if (line.find('\0') != std::string_view::npos)
    return false;
  auto first = line.find_first_not_of(" \t\r\v\f");
  return first == std::string_view::npos || line[first] == ';' || line[first] == '#';
}

REFERENCE std::vector<std::string_view> lines_of(std::string_view text) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (start < text.size()) {
    auto nl = text.find('\n', start);
    if (nl == std::string_view::npos)
      nl = text.size();
    out.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto r = parse_auth_file(text);
  const auto lines = lines_of(text);
  std::vector<int> per_line(lines.size() + 1, 0);
  for (const auto& e : r.errors) {
    FUZZ_CHECK(e.line >= 1 && static_cast<size_t>(e.line) <= lines.size());
    FUZZ_CHECK(!e.message.empty());
    FUZZ_CHECK(e.describe().rfind("auth_file line " + std::to_string(e.line) + ": ", 0) == 0);
    ++per_line[static_cast<size_t>(e.line)];
  }
  std::set<std::string> users;
  std::string written;
  for (const auto& e : r.entries) {
    FUZZ_CHECK(e.line >= 1 && static_cast<size_t>(e.line) <= lines.size());
    ++per_line[static_cast<size_t>(e.line)];
    FUZZ_CHECK(!e.user.empty() && !e.secret.empty());
    for (const auto* s : {&e.user, &e.secret})
      FUZZ_CHECK(s->find('\0') == std::string::npos && s->find('\n') == std::string::npos);
    FUZZ_CHECK(users.insert(e.user).second);
    FUZZ_CHECK(e.kind == classify_secret(e.secret));
    if (e.secret.rfind("SCRAM-SHA-256$", 0) == 0) {
      FUZZ_CHECK(e.kind == secret_kind::scram_sha_256);
      auto s = parse_scram_secret(e.secret);
      FUZZ_CHECK(s.ok());
      auto back = parse_scram_secret(format_scram_secret(s.value()));
      FUZZ_CHECK(back.ok() && back.value() == s.value());
    }
    written += quote(e.user) + " " + quote(e.secret) + "\n";
  }
  for (size_t i = 0; i < lines.size(); ++i)
    FUZZ_CHECK(per_line[i + 1] == (is_comment(lines[i]) ? 0 : 1));

  auto again = parse_auth_file(written);
  FUZZ_CHECK(again.ok() && again.entries.size() == r.entries.size());
  for (size_t i = 0; i < r.entries.size(); ++i) {
    FUZZ_CHECK(again.entries[i].user == r.entries[i].user);
    FUZZ_CHECK(again.entries[i].secret == r.entries[i].secret);
    FUZZ_CHECK(again.entries[i].kind == r.entries[i].kind);
  }
  return 0;
}
