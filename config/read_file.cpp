#include "config/read_file.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>

namespace sluice::config {

std::optional<std::string> read_file_at_most(const std::string& path, size_t max_bytes,
                                             std::string* error, bool* too_large) {
  auto fail = [&](std::string why) -> std::optional<std::string> {
    if (error)
      *error = std::move(why);
    return std::nullopt;
  };
  if (too_large)
    *too_large = false;
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return fail("cannot read " + path + ": " + std::strerror(errno));
  // In chunks, stopping one chunk past the limit: a huge file is never held whole.
  std::string text;
  char chunk[64 * 1024];
  while (text.size() <= max_bytes) {
    in.read(chunk, sizeof chunk);
    if (in.gcount() <= 0)
      break;
    text.append(chunk, static_cast<size_t>(in.gcount()));
  }
  if (in.bad())
    return fail("cannot read " + path + ": " + std::strerror(errno));
  if (text.size() > max_bytes) {
    if (too_large)
      *too_large = true;
    return fail(path + " is larger than " + std::to_string(max_bytes) + " bytes");
  }
  return text;
}

std::optional<std::string> read_file(const std::string& path, std::string* error) {
  return read_file_at_most(path, SIZE_MAX - 1, error);
}

std::optional<std::string> read_secret_file(const std::string& path, std::string* error) {
  auto v = read_file(path, error);
  while (v && !v->empty() && (v->back() == '\n' || v->back() == '\r'))
    v->pop_back();
  return v;
}

}  // namespace sluice::config
