// Tells a kernel-relayed session when one of its sockets ends, without a worker waking
// for every message. With a stream verdict attached, the kernel signals readability on
// a socket for each skb it redirects (sk_psock_verdict_data_ready calls the socket's
// data_ready after every read, since Linux 6.6), so a socket left in Asio's epoll wakes
// its worker once per message even though no byte reaches user space. An armed pair's
// sockets are taken out of Asio's reactor and watched here instead, for EPOLLRDHUP,
// EPOLLHUP and EPOLLERR only: one thread for the process, blocked in epoll_wait, woken
// only when a relayed connection ends.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>

namespace sluice::gateway {

class leg_watch {
 public:
  // Called on the watch thread, at most once per add(): it must only post to the
  // session's executor.
  using wake_fn = std::function<void()>;

  // Started on first use; nullptr (with `why`) when epoll or the thread cannot start.
  static leg_watch* get(std::string& why);

  // Watches both sockets until remove(); wake runs once when either ends (or already
  // has). 0 when the kernel refuses (errno-based reason in `why`).
  uint64_t add(int fd_a, int fd_b, wake_fn wake, std::string& why);
  // After it returns, the wake function of `token` is not running and never will.
  void remove(uint64_t token);
  // remove() on the running watch: for a token add() gave, so get() succeeded before.
  static void forget(uint64_t token);

  leg_watch(const leg_watch&) = delete;
  leg_watch& operator=(const leg_watch&) = delete;

 private:
  leg_watch() = default;
  ~leg_watch();
  bool start(std::string& why);
  void loop();

  struct entry {
    int fds[2];
    wake_fn wake;
  };
  int ep_ = -1;
  std::mutex mu_;  // entries_ and next_; held while a wake function runs
  std::unordered_map<uint64_t, entry> entries_;
  uint64_t next_ = 1;
};

}  // namespace sluice::gateway
