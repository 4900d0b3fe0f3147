// Bearer-token check for state-changing admin requests. The token file is read on each
// request so rotating it needs no reload.
#include <openssl/crypto.h>

#include <fstream>
#include <sstream>

#include "gateway/admin/http_server.hpp"

namespace sluice::admin {

namespace {

std::string trim(std::string s) {
  while (!s.empty() &&
         (s.back() == '\n' || s.back() == '\r' || s.back() == ' ' || s.back() == '\t'))
    s.pop_back();
  size_t b = 0;
  while (b < s.size() && (s[b] == ' ' || s[b] == '\t'))
    ++b;
  return s.substr(b);
}

}  // namespace

bool bearer_matches(const std::string& authorization, const std::string& token_file) {
  if (token_file.empty())
    return false;
  std::ifstream in(token_file);
  if (!in)
    return false;
  std::stringstream ss;
  ss << in.rdbuf();
  std::string token = trim(ss.str());
  if (token.empty())
    return false;
  static const std::string prefix = "Bearer ";
  if (authorization.size() <= prefix.size() || authorization.compare(0, prefix.size(), prefix) != 0)
    return false;
  std::string given = trim(authorization.substr(prefix.size()));
  return given.size() == token.size() &&
         CRYPTO_memcmp(given.data(), token.data(), token.size()) == 0;
}

}  // namespace sluice::admin
