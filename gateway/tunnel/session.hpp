// One live SSH session: its direct-tcpip channels, the queue of channel opens (libssh2
// keeps one open's state per session, so only one may be in flight), and the pump that
// moves bytes between each channel and a local stream fd. Runs on one executor; nothing
// here is touched from other threads except the atomic counters in tunnel_stats.
//
// The pump is driven straight from the readiness callbacks (no coroutine hop, no timer
// re-arm per message), and it remembers which fds are drained so that a pass makes no
// syscall that can only return EAGAIN: a round trip costs the reads and writes it needs
// plus one wait per direction.
#pragma once

#include <utility>  // before Asio

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <list>
#include <memory>
#include <string>
#include <vector>

#include "config/settings.hpp"
#include "gateway/tunnel/handoff.hpp"
#include "gateway/tunnel/link.hpp"
#include "gateway/tunnel/waker.hpp"

namespace sluice::tunnel {

struct tunnel_stats {
  std::atomic<uint64_t> bytes_in{0};   // bastion -> gateway (database replies)
  std::atomic<uint64_t> bytes_out{0};  // gateway -> bastion
  std::atomic<uint32_t> open_channels{0};
  std::atomic<uint64_t> channels_opened{0};
  std::atomic<uint64_t> channels_handed_off{0};  // clients the tunnel thread relays itself
};

struct open_request {
  uint64_t id = 0;  // names the channel for a later hand-off (channel_result::channel_id)
  std::string host;
  uint16_t port = 0;
  int local_fd = -1;   // owned by the session once queued
  bool drain = false;  // internal: a "session" channel open that only reads pending packets
  bool done = false;
  bool abandoned = false;  // the requester gave up; the session cleans up
  tunnel_error error;
  std::shared_ptr<waker> w;
};

class ssh_session : public std::enable_shared_from_this<ssh_session> {
 public:
  using clock = std::chrono::steady_clock;
  ssh_session(std::unique_ptr<ssh_link> link, const config::tunnel& cfg,
              std::shared_ptr<tunnel_stats> stats);
  ~ssh_session();

  // Pumps until the session dies or stop() is called; death() says why.
  boost::asio::awaitable<void> run();
  void stop();
  void enqueue(std::shared_ptr<open_request> r);
  void update(const config::tunnel& cfg) { cfg_ = cfg; }
  // The gateway hands over a plaintext client (see handoff.hpp): channel `id` drains the
  // socketpair both ways, in order, and from then on pumps the client's own socket.
  // False when no live channel has that id (the caller closes the fds).
  bool adopt(uint64_t id, const std::shared_ptr<handoff>& h);

  bool alive() const { return !dead_ && !stopping_; }
  size_t channel_count() const { return chans_.size() + queue_.size() + (inflight_ ? 1 : 0); }
  const tunnel_error& death() const { return death_; }
  const ssh_link& link() const { return *link_; }

 private:
  struct chan;
  enum class op { none, read, write, eof, free_, open };

  void drive();
  void kick();
  bool pass();
  bool step(const std::shared_ptr<chan>& c);
  bool op_read(chan& c);
  bool op_write(chan& c);
  bool op_eof(chan& c);
  bool op_local_send(chan& c);
  bool op_local_recv(chan& c);
  bool service_open();
  bool service_closing();
  void finish_open(LIBSSH2_CHANNEL* ch);
  void fail_open(std::shared_ptr<open_request> r, tunnel_error e);
  bool blocked_out() const;
  void set_owner(op o, chan* c, LIBSSH2_CHANNEL* ch);
  void fail(chan& c, int rc, const char* what);
  void die(const std::string& message);
  void end_handed(chan& c, std::string message);
  void tick(clock::time_point now);
  bool want_read() const;
  void arm();
  void retire_done();
  void teardown();

  std::unique_ptr<ssh_link> link_;
  config::tunnel cfg_;
  std::shared_ptr<tunnel_stats> stats_;
  std::shared_ptr<waker> waker_;  // run(): ticks, stop, death, queued opens
  boost::asio::steady_timer slow_;
  std::list<std::shared_ptr<chan>> chans_;
  std::vector<LIBSSH2_CHANNEL*> closing_;
  std::deque<std::shared_ptr<open_request>> queue_;
  std::shared_ptr<open_request> inflight_;

  // The libssh2 call whose partially sent packet must be completed before any other
  // call may send (libssh2 returns LIBSSH2_ERROR_BAD_USE otherwise).
  op owner_ = op::none;
  chan* owner_chan_ = nullptr;
  LIBSSH2_CHANNEL* owner_free_ = nullptr;

  bool dead_ = false;
  bool stopping_ = false;
  tunnel_error death_;
  bool ssh_rd_armed_ = false, ssh_wr_armed_ = false, idle_armed_ = false;
  bool idle_readable_ = false;
  bool driving_ = false, kick_posted_ = false, slow_armed_ = false;
  int idle_passes_ = 0;

  clock::time_point next_tick_;
  clock::time_point last_progress_;
  clock::time_point last_drain_;
  clock::time_point next_probe_;
  clock::time_point last_inbound_at_;
  uint64_t last_inbound_ = 0;
  uint32_t unanswered_ = 0;  // keepalives sent since the last inbound byte
};

}  // namespace sluice::tunnel
