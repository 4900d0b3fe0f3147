#include "gateway/mock_key_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace sluice::gateway {

namespace {

constexpr size_t kKeyLen = 32;

std::string errno_text() {
  return std::strerror(errno);
}

}  // namespace

std::string state_directory_from_env() {
  const char* v = std::getenv("STATE_DIRECTORY");
  if (!v)
    return {};
  std::string s(v);
  return s.substr(0, s.find(':'));  // systemd lists several with ':'
}

mock_key_file load_or_create_mock_key(const std::string& dir) {
  mock_key_file out;
  out.path = dir + "/scram-mock.key";
  int fd = ::open(out.path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0 && errno == ENOENT) {
    // O_EXCL: two processes starting at once agree on whichever file was made first.
    int w = ::open(out.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (w >= 0) {
      auto k = auth::random_bytes(kKeyLen);
      bool written = ::write(w, k.data(), k.size()) == static_cast<ssize_t>(k.size());
      written = (::fsync(w) == 0) && written;
      ::close(w);
      if (!written) {
        out.problem = "cannot write " + out.path + ": " + errno_text();
        ::unlink(out.path.c_str());
        return out;
      }
      out.key = std::move(k);
      out.created = true;
      return out;
    }
    if (errno != EEXIST) {
      out.problem = "cannot create " + out.path + ": " + errno_text();
      return out;
    }
    fd = ::open(out.path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  }
  if (fd < 0) {
    out.problem = "cannot read " + out.path + ": " + errno_text();
    return out;
  }
  auth::bytes k(kKeyLen + 1);
  ssize_t n = ::read(fd, k.data(), k.size());
  ::close(fd);
  if (n != static_cast<ssize_t>(kKeyLen)) {
    out.problem = out.path + " holds " + std::to_string(n < 0 ? 0 : n) + " bytes, not " +
                  std::to_string(kKeyLen) + " (remove it to have a new key made)";
    return out;
  }
  k.resize(kKeyLen);
  out.key = std::move(k);
  return out;
}

}  // namespace sluice::gateway
