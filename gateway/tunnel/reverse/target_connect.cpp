#include "gateway/tunnel/reverse/target_connect.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sluice::tunnel::reverse {

target_connect::target_connect(std::string host, uint16_t port, clock::duration timeout)
    : host_(std::move(host)), port_(port), deadline_(clock::now() + timeout) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  if (int rc = ::getaddrinfo(host_.c_str(), std::to_string(port_).c_str(), &hints, &res_);
      rc != 0) {
    res_ = nullptr;
    fail("cannot resolve " + host_ + ": " + gai_strerror(rc));
    return;
  }
  error_ = "no address for " + host_;
  try_from(res_);
}

target_connect::~target_connect() {
  if (fd_ >= 0)
    ::close(fd_);
  if (res_)
    ::freeaddrinfo(res_);
}

void target_connect::fail(std::string why) {
  if (fd_ >= 0)
    ::close(fd_);
  fd_ = -1;
  state_ = state::failed;
  error_ = std::move(why);
}

std::string target_connect::what() const {
  return "connect to " + host_ + ":" + std::to_string(port_);
}

// Starts a connect to `ai` or the first later address that gets one going.
void target_connect::try_from(addrinfo* ai) {
  const std::string where = what();
  for (at_ = ai; at_; at_ = at_->ai_next) {
    if (fd_ >= 0)
      ::close(fd_);
    fd_ =
        ::socket(at_->ai_family, at_->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, at_->ai_protocol);
    if (fd_ < 0) {
      error_ = where + ": " + std::strerror(errno);
      continue;
    }
    if (::connect(fd_, at_->ai_addr, at_->ai_addrlen) == 0) {
      state_ = state::connected;  // loopback can finish at once
      return;
    }
    if (errno == EINPROGRESS)
      return;  // POLLOUT tells
    error_ = where + ": " + std::strerror(errno);
  }
  fail(error_);
}

target_connect::state target_connect::advance(short revents, clock::time_point now) {
  if (state_ != state::connecting)
    return state_;
  if (revents & (POLLOUT | POLLERR | POLLHUP)) {
    int soerr = 0;
    socklen_t len = sizeof soerr;
    if (::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0)
      soerr = errno;
    if (soerr == 0) {
      state_ = state::connected;
      return state_;
    }
    error_ = what() + ": " + std::strerror(soerr);
    try_from(at_->ai_next);
    if (state_ != state::connecting)
      return state_;
  }
  if (now >= deadline_)
    fail(what() + " timed out");
  return state_;
}

int target_connect::take_fd() {
  int fd = fd_;
  fd_ = -1;
  return fd;
}

}  // namespace sluice::tunnel::reverse
