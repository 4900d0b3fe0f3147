#include "gateway/auth/auth_file.hpp"

#include <map>
#include <optional>

namespace sluice::auth {

std::string auth_file_error::describe() const {
  return "auth_file line " + std::to_string(line) + ": " + message;
}

namespace {

bool blank(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

// Reads one quoted field at `pos` of `line`; advances pos past its closing quote.
std::optional<std::string> quoted(std::string_view line, size_t& pos, const char* what,
                                  std::string& error) {
  if (pos >= line.size() || line[pos] != '"') {
    error = std::string("expected the ") + what + " in double quotes" +
            (pos >= line.size() ? ", found the end of the line"
                                : ", found '" + std::string(1, line[pos]) + "'");
    return std::nullopt;
  }
  std::string out;
  for (size_t i = pos + 1; i < line.size(); ++i) {
    if (line[i] != '"') {
      out += line[i];
      continue;
    }
    if (i + 1 < line.size() && line[i + 1] == '"') {  // "" is a literal quote
      out += '"';
      ++i;
      continue;
    }
    pos = i + 1;
    return out;
  }
  error = std::string("the ") + what + " has no closing double quote on this line";
  return std::nullopt;
}

}  // namespace

auth_file_result parse_auth_file(std::string_view text) {
  auth_file_result result;
  std::map<std::string, int> seen;
  int number = 0;
  size_t start = 0;
  while (start < text.size()) {
    auto nl = text.find('\n', start);
    auto line =
        text.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
    start = nl == std::string_view::npos ? text.size() : nl + 1;
    ++number;
    auto err = [&](std::string message) { result.errors.push_back({number, std::move(message)}); };
    if (line.find('\0') != std::string_view::npos) {
      err("contains a NUL byte");
      continue;
    }
    size_t pos = 0;
    while (pos < line.size() && blank(line[pos]))
      ++pos;
    if (pos == line.size() || line[pos] == ';' || line[pos] == '#')
      continue;

    std::string error;
    auto user = quoted(line, pos, "user name", error);
    if (!user) {
      err(error);
      continue;
    }
    size_t gap = pos;
    while (pos < line.size() && blank(line[pos]))
      ++pos;
    if (pos == gap && pos < line.size()) {
      err("expected blanks between the user name and the password");
      continue;
    }
    auto secret = quoted(line, pos, "password", error);
    if (!secret) {
      err(error);
      continue;
    }
    if (user->empty()) {
      err("the user name is empty");
      continue;
    }
    if (secret->empty()) {
      err("the password of user \"" + *user + "\" is empty");
      continue;
    }
    auth_file_entry e{*user, *secret, classify_secret(*secret), number};
    if (e.kind == secret_kind::plaintext && secret->rfind("SCRAM-SHA-256$", 0) == 0) {
      auto parsed = parse_scram_secret(*secret);
      err("the SCRAM secret of user \"" + *user + "\" is malformed: " + parsed.error().detail);
      continue;
    }
    auto [it, fresh] = seen.emplace(e.user, number);
    if (!fresh) {
      err("user \"" + e.user + "\" is already listed on line " + std::to_string(it->second));
      continue;
    }
    result.entries.push_back(std::move(e));
  }
  return result;
}

}  // namespace sluice::auth
