// A connection leg that is a TCP (or socketpair) socket, optionally wrapped in TLS
// after an SSLRequest or a direct-TLS ClientHello. Not movable: the TLS layer holds a
// reference to the socket.
#pragma once

#include <utility>  // before Asio: GCC 12 + Boost 1.74 awaitable.hpp needs std::exchange

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <memory>

#include "gateway/tls_stream.hpp"

namespace sluice::gateway {

// The "not ready, wait and retry" result of a non-blocking read or write.
inline bool would_block(const error_code& ec) {
  return ec == net::error::would_block || ec == net::error::try_again;
}

class pg_stream {
 public:
  explicit pg_stream(tcp::socket s) : sock_(std::move(s)) {}
  pg_stream(const pg_stream&) = delete;
  pg_stream& operator=(const pg_stream&) = delete;

  tcp::socket& socket() { return sock_; }
  bool is_tls() const { return tls_ != nullptr; }
  tls_stream& tls() { return *tls_; }
  // From here on every byte goes through TLS; the socket becomes non-blocking.
  void start_tls(SSL_CTX* ctx, tls_stream::role r) {
    tls_ = std::make_unique<tls_stream>(sock_, ctx, r);
  }

  // Reads at least one byte; ec set on EOF/error (never throws).
  net::awaitable<size_t> read_some(net::mutable_buffer b, error_code& ec);
  net::awaitable<void> write_all(net::const_buffer b, error_code& ec);

  // The relay's non-blocking primitives (the socket must be non-blocking). read_now
  // and write_now set would_block when the socket is not ready; write_now returns how
  // much it wrote before that.
  bool has_buffered() const { return tls_ && tls_->has_buffered(); }
  net::awaitable<void> wait_readable(error_code& ec);
  // The same wait with a completion handler (no coroutine frame while it waits).
  template <class Handler>
  void async_wait_readable(Handler&& h) {
    sock_.async_wait(tls_ ? tls_->take_read_wants() : tcp::socket::wait_read,
                     std::forward<Handler>(h));
  }
  size_t read_now(net::mutable_buffer b, error_code& ec);
  size_t write_now(net::const_buffer b, error_code& ec);

  // Sends close_notify on a TLS leg when it can without waiting, then closes.
  void close();
  // Moves the socket (and its TLS state, which follows the descriptor) to another
  // thread's executor; no operation may be pending. A pooled backend goes to the thread
  // of the session that takes it. False: it could not move (and was closed).
  bool rehome(const net::any_io_executor& ex);

 private:
  tcp::socket sock_;
  std::unique_ptr<tls_stream> tls_;
};

}  // namespace sluice::gateway
