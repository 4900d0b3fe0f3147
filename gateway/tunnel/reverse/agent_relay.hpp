// One forwarded-tcpip channel of `sluice agent`, relayed to its target's TCP socket.
//
// Written out by hand instead of with libssh's ssh_connector, because the 0.10 connector
// cuts data under backpressure: when the channel's remote window is exhausted it read(2)s
// the socket with a length of 0, takes the 0 it gets back for end-of-file and sends EOF on
// the channel, so a large COPY out of the database ends after a few MB (issue 20). Its
// other direction blocks the whole agent on a slow target.
//
// Here each direction is bounded explicitly and never blocks:
// - target -> gateway: read the socket only while the channel's window is open, and only
//   as much as it takes; what ssh_channel_write could not send is kept and retried when
//   the gateway's window adjust arrives. EOF is a recv() of 0 with a non-zero length.
// - gateway -> target: take bytes out of libssh's channel buffer only when the previous
//   ones have reached the socket. libssh grows the channel window only as its buffer is
//   read, so a slow target stops the gateway instead of filling memory.
// No channel callbacks are installed: libssh keeps incoming data in the channel's buffer.
#pragma once

#include <libssh/libssh.h>

#include <cstdint>
#include <string>
#include <vector>

namespace sluice::tunnel::reverse {

class channel_relay {
 public:
  // Takes ownership of both: `ch` is an open channel of a non-blocking session, `fd` a
  // connected non-blocking TCP socket.
  channel_relay(ssh_channel ch, int fd);
  ~channel_relay();  // closes the socket and the channel
  channel_relay(const channel_relay&) = delete;
  channel_relay& operator=(const channel_relay&) = delete;

  // Moves what it can both ways without blocking; call after libssh processed input.
  void pump();
  // poll(2) events to wait for on fd() before the next pump (the session's socket wakes
  // the loop for window adjusts and channel data).
  short wanted_events() const;
  int fd() const { return fd_; }
  // Both directions ended (or one failed); the relay can be destroyed.
  bool finished() const;
  // Why it ended early ("" when both sides finished cleanly).
  const std::string& failure() const { return failure_; }
  uint64_t bytes_to_target() const { return to_target_bytes_; }
  uint64_t bytes_to_gateway() const { return to_gateway_bytes_; }

 private:
  struct pending {
    std::vector<char> buf;
    size_t off = 0, len = 0;
    bool empty() const { return off == len; }
  };
  void to_target();
  void to_gateway();
  void fail(const std::string& why);

  ssh_channel ch_;
  int fd_;
  pending to_target_, to_gateway_;
  bool target_eof_ = false;    // the target closed its side (recv returned 0)
  bool eof_sent_ = false;      // ... and the gateway was told (channel EOF)
  bool target_shut_ = false;   // the gateway's EOF was passed on (shutdown SHUT_WR)
  bool gateway_gone_ = false;  // the channel refused a write: nothing more goes that way
  std::string failure_;
  uint64_t to_target_bytes_ = 0, to_gateway_bytes_ = 0;
};

}  // namespace sluice::tunnel::reverse
