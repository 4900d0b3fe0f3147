// The TCP connect of `sluice agent` to a --forward target, without blocking the session's
// loop: a target that answers slowly (or not at all) must not stall the other channels
// that loop relays. Addresses are tried in getaddrinfo's order within one deadline.
//
// Name resolution itself is getaddrinfo, which blocks: targets are IP addresses or names
// the customer's own resolver answers at once (db.internal), and the result is needed
// before anything can be sent.
#pragma once

#include <netdb.h>
#include <poll.h>

#include <chrono>
#include <cstdint>
#include <string>

namespace sluice::tunnel::reverse {

class target_connect {
 public:
  using clock = std::chrono::steady_clock;
  target_connect(std::string host, uint16_t port, clock::duration timeout);
  ~target_connect();  // closes a socket not taken
  target_connect(const target_connect&) = delete;
  target_connect& operator=(const target_connect&) = delete;

  enum class state { connecting, connected, failed };
  // What poll(2) reported for fd() (0 when it did not run): advances to the next address
  // on a refusal, fails at the deadline.
  state advance(short revents, clock::time_point now);
  state current() const { return state_; }
  int fd() const { return fd_; }
  short wanted_events() const { return state_ == state::connecting ? POLLOUT : 0; }
  // The connected non-blocking socket; the caller owns it afterwards.
  int take_fd();
  // Why it failed, e.g. "connect to db.internal:5432: Connection refused".
  const std::string& error() const { return error_; }

 private:
  void try_from(addrinfo* ai);
  void fail(std::string why);
  std::string what() const;  // "connect to HOST:PORT", the start of every error

  std::string host_;
  uint16_t port_;
  clock::time_point deadline_;
  addrinfo* res_ = nullptr;
  addrinfo* at_ = nullptr;
  int fd_ = -1;
  state state_ = state::connecting;
  std::string error_;
};

}  // namespace sluice::tunnel::reverse
