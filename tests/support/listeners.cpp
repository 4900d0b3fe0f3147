#include "tests/support/listeners.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <thread>

namespace sluice::test {

namespace {

sockaddr_in loopback(int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  return a;
}

}  // namespace

silent_listener::silent_listener(int backlog) {
  fd_ = socket(AF_INET, SOCK_STREAM, 0);
  auto a = loopback(0);
  if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      listen(fd_, backlog) != 0) {
    throw std::runtime_error("silent_listener: cannot listen on 127.0.0.1");
  }
  socklen_t len = sizeof a;
  getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
  port = ntohs(a.sin_port);
}

silent_listener::~silent_listener() {
  if (fd_ >= 0)
    close(fd_);
}

full_backlog_listener::full_backlog_listener() : silent_listener(0) {
  // A backlog of 0 still admits a connection or two: fill it with ones nobody accepts.
  auto a = loopback(port);
  for (int i = 0; i < 4; ++i) {
    int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a);
    fillers_.push_back(c);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
}

full_backlog_listener::~full_backlog_listener() {
  for (int c : fillers_)
    close(c);
}

}  // namespace sluice::test
