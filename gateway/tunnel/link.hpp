// One authenticated SSH connection to a bastion: TCP connect with a deadline, libssh2
// handshake with the host-key method preference set to the trusted key's type, host key
// verification (pin or known_hosts) and public-key authentication (primary, then
// secondary key). Every failure names its stage and says what to do.
#pragma once

#include <utility>  // before Asio

#include <libssh2.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "config/settings.hpp"
#include "gateway/tunnel/packet_cache.hpp"
#include "gateway/tunnel/stage.hpp"

namespace sluice::tunnel {

// Bytes moved by libssh2 through our socket callbacks: inbound bytes prove the peer is
// alive, which libssh2's own keepalive never checks.
struct io_counters {
  uint64_t recv = 0;
  uint64_t sent = 0;
  // Read gate (on once a session pumps channels): after a recv that drained the socket
  // (EAGAIN or a short read), libssh2's further reads return EAGAIN without a syscall
  // until the reactor reports the socket readable again.
  bool gate = false;
  bool readable = true;
};

// What libssh2's callbacks reach through the session's abstract pointer.
struct link_io {
  io_counters counters;
  packet_cache cache;
};

struct tunnel_error {
  tunnel_stage stage = tunnel_stage::none;
  std::string message;
  bool empty() const { return stage == tunnel_stage::none; }
};

class ssh_link {
 public:
  explicit ssh_link(const boost::asio::any_io_executor& ex);
  ~ssh_link();
  ssh_link(const ssh_link&) = delete;
  ssh_link& operator=(const ssh_link&) = delete;

  boost::asio::ip::tcp::socket& socket() { return socket_; }
  LIBSSH2_SESSION* session() const { return session_; }
  const io_counters& counters() const { return io_->counters; }
  // Bytes that arrived on the socket, read by libssh2 or still queued in the kernel.
  uint64_t inbound_bytes() const;
  std::string last_error() const;

  // Creates the libssh2 session (non-blocking, our I/O callbacks).
  bool init(const std::string& hostkey_pref);
  // Waits in the directions libssh2 reports, up to `until`; false on timeout.
  boost::asio::awaitable<bool> wait(std::chrono::steady_clock::time_point until);
  // Drops the connection without a goodbye (dead peer) or with one (clean stop).
  void close(bool graceful);
  // For the pump: a fresh reactor registration (the handshake's write waits leave
  // EPOLLOUT registered, which re-fires on every later read wait) and the read gate.
  void start_pumping();
  bool readable() const { return io_->counters.readable; }
  void mark_readable() { io_->counters.readable = true; }

  std::string host_key_type;  // negotiated, e.g. "ssh-ed25519"
  std::string host_key_blob;
  std::string host_key_fingerprint;
  std::string key_used;  // "primary" or "secondary"

 private:
  boost::asio::ip::tcp::socket socket_;
  LIBSSH2_SESSION* session_ = nullptr;
  std::unique_ptr<link_io> io_;  // outlives session_ (its allocator)
  int stray_fd_ = -1;            // see start_pumping()
};

// Host key types libssh2 1.10 can verify, in the order we try them.
const std::vector<std::string>& host_key_types();

struct offered_key {
  std::string type, fingerprint;
};

// TCP connect + handshake with `type` preferred; fills link.host_key_*.
boost::asio::awaitable<tunnel_error> connect_and_handshake(ssh_link& link, const std::string& host,
                                                           uint16_t port, const std::string& type,
                                                           std::chrono::milliseconds timeout);

// The full connection for a tunnel. `learned_type` remembers which host key type matched
// last time so reconnects need one handshake.
boost::asio::awaitable<tunnel_error> connect_tunnel(const config::tunnel& t,
                                                    std::unique_ptr<ssh_link>& out,
                                                    std::string& learned_type);

// For `sluice tunnel fingerprint`: every host key type the server offers.
boost::asio::awaitable<tunnel_error> probe_host_keys(const std::string& host, uint16_t port,
                                                     std::chrono::milliseconds timeout,
                                                     std::vector<offered_key>& out);

void global_init();

}  // namespace sluice::tunnel
