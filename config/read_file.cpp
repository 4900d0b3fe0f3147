#include "config/read_file.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace sluice::config {

std::optional<std::string> read_file(const std::string& path, std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (error)
      *error = "cannot read " + path + ": " + std::strerror(errno);
    return std::nullopt;
  }
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::optional<std::string> read_secret_file(const std::string& path, std::string* error) {
  auto v = read_file(path, error);
  while (v && !v->empty() && (v->back() == '\n' || v->back() == '\r'))
    v->pop_back();
  return v;
}

}  // namespace sluice::config
