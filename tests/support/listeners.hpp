// Loopback listeners that misbehave on purpose, for the timeout paths of the gateway,
// the doctor and the tunnels.
#pragma once

#include <vector>

namespace sluice::test {

// Listens on 127.0.0.1 (a random port) and never accepts or says a word: a peer that
// completes the TCP handshake and then stays silent.
class silent_listener {
 public:
  explicit silent_listener(int backlog = 16);
  ~silent_listener();
  silent_listener(const silent_listener&) = delete;
  silent_listener& operator=(const silent_listener&) = delete;

  int port = 0;

 protected:
  int fd_ = -1;
};

// A silent listener whose accept queue is already full: further SYNs are dropped, so
// connecting times out just as behind a firewall that drops packets.
class full_backlog_listener : public silent_listener {
 public:
  full_backlog_listener();
  ~full_backlog_listener();

 private:
  std::vector<int> fillers_;
};

}  // namespace sluice::test
