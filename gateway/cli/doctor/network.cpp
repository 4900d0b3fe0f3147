#include "gateway/cli/doctor/network.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sluice::doctor {

resolved resolve(const std::string& host) {
  resolved r;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int rc = getaddrinfo(host.c_str(), nullptr, &hints, &res);
  if (rc != 0) {
    r.error = gai_strerror(rc);
    return r;
  }
  for (auto* p = res; p; p = p->ai_next) {
    char buf[INET6_ADDRSTRLEN] = {};
    const void* a =
        p->ai_family == AF_INET
            ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(p->ai_addr)->sin_addr)
            : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(p->ai_addr)->sin6_addr);
    inet_ntop(p->ai_family, a, buf, sizeof buf);
    std::string s = buf;
    bool seen = false;
    for (const auto& x : r.addresses)
      seen = seen || x == s;
    if (!seen)
      r.addresses.push_back(s);
  }
  freeaddrinfo(res);
  return r;
}

tcp_result tcp_connect(const std::string& address, uint16_t port,
                       std::chrono::milliseconds timeout) {
  tcp_result r;
  sockaddr_storage ss{};
  socklen_t len = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, address.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    len = sizeof *v4;
  } else if (inet_pton(AF_INET6, address.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    len = sizeof *v6;
  } else {
    r.error = "not a numeric address: " + address;
    return r;
  }
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    r.error = std::strerror(errno);
    return r;
  }
  int rc = connect(fd, reinterpret_cast<sockaddr*>(&ss), len);
  int err = rc == 0 ? 0 : errno;
  if (err == EINPROGRESS) {
    pollfd p{fd, POLLOUT, 0};
    int n = poll(&p, 1, static_cast<int>(timeout.count()));
    if (n == 0) {
      close(fd);
      r.outcome = tcp_outcome::timeout;
      r.error = "no answer within " + std::to_string(timeout.count()) + " ms";
      return r;
    }
    socklen_t elen = sizeof err;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen);
  }
  if (err == 0) {
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    r.outcome = tcp_outcome::connected;
    r.fd = fd;
    return r;
  }
  close(fd);
  r.error = std::strerror(err);
  r.outcome = err == ECONNREFUSED                         ? tcp_outcome::refused
              : err == ETIMEDOUT                          ? tcp_outcome::timeout
              : err == EHOSTUNREACH || err == ENETUNREACH ? tcp_outcome::unreachable
                                                          : tcp_outcome::other;
  return r;
}

}  // namespace sluice::doctor
