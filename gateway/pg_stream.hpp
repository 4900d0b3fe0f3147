// A connection leg that is a TCP (or socketpair) socket, optionally wrapped in TLS
// after an SSLRequest or a direct-TLS ClientHello. Not movable: the TLS layer holds a
// reference to the socket.
#pragma once

#include <utility>  // before Asio: GCC 12 + Boost 1.74 awaitable.hpp needs std::exchange

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <memory>

namespace sluice::gateway {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;

class pg_stream {
 public:
  explicit pg_stream(tcp::socket s) : sock_(std::move(s)) {}
  pg_stream(const pg_stream&) = delete;
  pg_stream& operator=(const pg_stream&) = delete;

  tcp::socket& socket() { return sock_; }
  bool is_tls() const { return ssl_ != nullptr; }
  net::ssl::stream<tcp::socket&>& ssl() { return *ssl_; }
  void start_tls(net::ssl::context& ctx) {
    ssl_ = std::make_unique<net::ssl::stream<tcp::socket&>>(sock_, ctx);
  }

  // Reads at least one byte; ec set on EOF/error (never throws).
  net::awaitable<size_t> read_some(net::mutable_buffer b, error_code& ec);
  net::awaitable<void> write_all(net::const_buffer b, error_code& ec);
  void close();

 private:
  tcp::socket sock_;
  std::unique_ptr<net::ssl::stream<tcp::socket&>> ssl_;
};

}  // namespace sluice::gateway
