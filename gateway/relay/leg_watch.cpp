#include "gateway/relay/leg_watch.hpp"

#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

namespace sluice::gateway {

leg_watch* leg_watch::get(std::string& why) {
  // Never destroyed: sessions on any worker may remove their entry during exit.
  static leg_watch* w = [&why]() -> leg_watch* {
    auto* x = new leg_watch();
    if (!x->start(why)) {
      delete x;
      return nullptr;
    }
    return x;
  }();
  if (!w && why.empty())
    why = "the socket watch thread did not start";
  return w;
}

leg_watch::~leg_watch() {
  if (ep_ >= 0)
    ::close(ep_);
}

bool leg_watch::start(std::string& why) {
  ep_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (ep_ < 0) {
    why = std::string("epoll_create1: ") + std::strerror(errno);
    return false;
  }
  try {
    // Detached: the watch lives as long as the process (see get()).
    std::thread([this] { loop(); }).detach();
  } catch (const std::exception& e) {
    why = std::string("cannot start the socket watch thread: ") + e.what();
    return false;
  }
  return true;
}

uint64_t leg_watch::add(int fd_a, int fd_b, wake_fn wake, std::string& why) {
  std::lock_guard g(mu_);
  const uint64_t token = next_++;
  // EPOLLIN is left out on purpose (see the header); EPOLLHUP and EPOLLERR are always
  // reported. One shot: the entry is removed when it fires.
  epoll_event ev{};
  ev.events = EPOLLRDHUP | EPOLLONESHOT;
  ev.data.u64 = token;
  if (::epoll_ctl(ep_, EPOLL_CTL_ADD, fd_a, &ev) != 0) {
    why = std::string("epoll_ctl: ") + std::strerror(errno);
    return 0;
  }
  if (::epoll_ctl(ep_, EPOLL_CTL_ADD, fd_b, &ev) != 0) {
    why = std::string("epoll_ctl: ") + std::strerror(errno);
    ::epoll_ctl(ep_, EPOLL_CTL_DEL, fd_a, nullptr);
    return 0;
  }
  entries_.emplace(token, entry{{fd_a, fd_b}, std::move(wake)});
  return token;
}

void leg_watch::remove(uint64_t token) {
  std::lock_guard g(mu_);
  auto it = entries_.find(token);
  if (it == entries_.end())
    return;
  for (int fd : it->second.fds)
    ::epoll_ctl(ep_, EPOLL_CTL_DEL, fd, nullptr);
  entries_.erase(it);
}

void leg_watch::forget(uint64_t token) {
  std::string why;
  if (leg_watch* w = get(why))
    w->remove(token);
}

void leg_watch::loop() {
  epoll_event evs[64];
  for (;;) {
    const int n = ::epoll_wait(ep_, evs, 64, -1);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return;  // EBADF etc.: nothing left to watch with
    }
    std::lock_guard g(mu_);
    for (int i = 0; i < n; ++i) {
      auto it = entries_.find(evs[i].data.u64);
      if (it == entries_.end())
        continue;  // removed after epoll_wait returned
      // Both sockets out of the set now: the session takes them back into Asio.
      for (int fd : it->second.fds)
        ::epoll_ctl(ep_, EPOLL_CTL_DEL, fd, nullptr);
      auto wake = std::move(it->second.wake);
      entries_.erase(it);
      wake();
    }
  }
}

}  // namespace sluice::gateway
