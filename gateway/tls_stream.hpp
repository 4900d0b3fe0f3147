// TLS driven directly on a socket's descriptor: the SSL object reads and writes the
// non-blocking socket itself (SSL_set_fd), and the caller waits for readiness with
// async_wait when OpenSSL says WANT_READ/WANT_WRITE. Unlike asio::ssl::stream there is
// no BIO pair and no intermediate buffer: an idle connection holds only the SSL object
// (SSL_MODE_RELEASE_BUFFERS frees its record buffers) and no byte is copied twice.
//
// One read side and one write side may be in progress at once (the two relay
// directions), on the socket's thread only.
#pragma once

#include <openssl/ssl.h>

#include <utility>  // before Asio: GCC 12 + Boost 1.74 awaitable.hpp needs std::exchange

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace sluice::gateway {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;

class tls_stream {
 public:
  enum class role { client, server };

  // Sets `sock` non-blocking. Throws std::runtime_error if OpenSSL cannot allocate.
  tls_stream(tcp::socket& sock, SSL_CTX* ctx, role r);
  ~tls_stream();
  tls_stream(const tls_stream&) = delete;
  tls_stream& operator=(const tls_stream&) = delete;

  SSL* native_handle() const { return ssl_; }

  net::awaitable<void> handshake(error_code& ec);

  // Non-blocking. read_now returns at least one byte, or sets ec: would_block (call
  // wait_read_side), eof (close_notify), stream_truncated (EOF without close_notify), or
  // the OpenSSL/system error. write_now writes as much as it can and sets would_block
  // when it stopped early (call wait_write_side, then pass the unwritten rest again).
  size_t read_now(net::mutable_buffer b, error_code& ec);
  size_t write_now(net::const_buffer b, error_code& ec);
  // Decrypted or read-ahead bytes inside OpenSSL: read_now needs no readiness wait.
  bool has_buffered() const { return SSL_has_pending(ssl_) == 1; }
  // Waits for what the last read_now / write_now needed from the socket.
  net::awaitable<void> wait_read_side(error_code& ec);
  net::awaitable<void> wait_write_side(error_code& ec);
  // What wait_read_side would wait for, for a caller that waits with a handler.
  tcp::socket::wait_type take_read_wants() {
    return std::exchange(read_wants_, tcp::socket::wait_read);
  }

  // Best effort close_notify without waiting; the socket is about to be closed.
  void shutdown_now();

 private:
  // Runs `op` until it succeeds or fails for good, waiting for the socket in between.
  template <class Op>
  net::awaitable<void> drive(Op op, error_code& ec);
  // Classifies a failed SSL call; would_block and `wants` when the socket must be waited on.
  error_code failure(int ret, tcp::socket::wait_type& wants);

  tcp::socket& sock_;
  SSL* ssl_ = nullptr;
  tcp::socket::wait_type read_wants_ = tcp::socket::wait_read;
  tcp::socket::wait_type write_wants_ = tcp::socket::wait_write;
  bool broken_ = false;  // a fatal error: OpenSSL forbids SSL_shutdown afterwards
};

}  // namespace sluice::gateway
