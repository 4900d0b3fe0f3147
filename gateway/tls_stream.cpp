#include "gateway/tls_stream.hpp"

#include <openssl/err.h>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <stdexcept>

namespace sluice::gateway {

tls_stream::tls_stream(tcp::socket& sock, SSL_CTX* ctx, role r) : sock_(sock) {
  ssl_ = SSL_new(ctx);
  if (!ssl_)
    throw std::runtime_error("SSL_new failed");
  // Partial writes and a moving buffer let a write blocked mid-record be retried from a
  // copy of the unwritten rest; RELEASE_BUFFERS drops the record buffers when idle.
  SSL_set_mode(ssl_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                         SSL_MODE_RELEASE_BUFFERS);
  // One read(2) per burst instead of one per record header and one per record body.
  SSL_set_read_ahead(ssl_, 1);
  error_code ignored;
  sock_.non_blocking(true, ignored);
  SSL_set_fd(ssl_, static_cast<int>(sock_.native_handle()));
  if (r == role::server)
    SSL_set_accept_state(ssl_);
  else
    SSL_set_connect_state(ssl_);
}

tls_stream::~tls_stream() {
  SSL_free(ssl_);  // the socket BIO does not own the descriptor
}

error_code tls_stream::failure(int ret, tcp::socket::wait_type& wants) {
  const int sys = errno;
  const int kind = SSL_get_error(ssl_, ret);
  // The first queued error, as asio::ssl reported it; the rest would only confuse the
  // next call on this thread.
  const unsigned long err = ERR_get_error();
  ERR_clear_error();
  switch (kind) {
    case SSL_ERROR_WANT_READ:
      wants = tcp::socket::wait_read;
      return net::error::would_block;
    case SSL_ERROR_WANT_WRITE:
      wants = tcp::socket::wait_write;
      return net::error::would_block;
    case SSL_ERROR_ZERO_RETURN:
      return net::error::eof;
    default:
      break;
  }
  broken_ = true;
  switch (kind) {
    case SSL_ERROR_SYSCALL:
      if (err)
        return {static_cast<int>(err), net::error::get_ssl_category()};
      if (sys && sys != EAGAIN)
        return {sys, boost::system::system_category()};
      return net::ssl::error::stream_truncated;
    default:
      // OpenSSL 3 reports a peer's EOF without close_notify as an SSL error; keep the
      // words asio::ssl used for it.
      if (ERR_GET_LIB(err) == ERR_LIB_SSL &&
          ERR_GET_REASON(err) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
        return net::ssl::error::stream_truncated;
      return {static_cast<int>(err), net::error::get_ssl_category()};
  }
}

template <class Op>
net::awaitable<void> tls_stream::drive(Op op, error_code& ec) {
  for (;;) {
    // A closed socket's descriptor number may already belong to someone else.
    if (!sock_.is_open()) {
      ec = net::error::operation_aborted;
      co_return;
    }
    ERR_clear_error();
    errno = 0;
    const int ret = op();
    if (ret == 1) {
      ec = {};
      co_return;
    }
    tcp::socket::wait_type wants = tcp::socket::wait_read;
    ec = failure(ret, wants);
    if (ec != net::error::would_block)
      co_return;
    co_await sock_.async_wait(wants, net::redirect_error(net::use_awaitable, ec));
    if (ec)
      co_return;
  }
}

net::awaitable<void> tls_stream::handshake(error_code& ec) {
  co_await drive([this] { return SSL_do_handshake(ssl_); }, ec);
}

size_t tls_stream::read_now(net::mutable_buffer b, error_code& ec) {
  if (!sock_.is_open()) {
    ec = net::error::operation_aborted;
    return 0;
  }
  ERR_clear_error();
  errno = 0;
  size_t n = 0;
  const int ret = SSL_read_ex(ssl_, b.data(), b.size(), &n);
  if (ret == 1) {
    ec = {};
    return n;
  }
  ec = failure(ret, read_wants_);
  return 0;
}

size_t tls_stream::write_now(net::const_buffer b, error_code& ec) {
  ec = {};
  size_t done = 0;
  while (done < b.size()) {
    if (!sock_.is_open()) {
      ec = net::error::operation_aborted;
      break;
    }
    ERR_clear_error();
    errno = 0;
    size_t n = 0;
    // Partial-write mode: each call returns once a record has gone out.
    const int ret =
        SSL_write_ex(ssl_, static_cast<const uint8_t*>(b.data()) + done, b.size() - done, &n);
    if (ret != 1) {
      ec = failure(ret, write_wants_);
      break;
    }
    done += n;
  }
  return done;
}

net::awaitable<void> tls_stream::wait_read_side(error_code& ec) {
  co_await sock_.async_wait(read_wants_, net::redirect_error(net::use_awaitable, ec));
  read_wants_ = tcp::socket::wait_read;
}

net::awaitable<void> tls_stream::wait_write_side(error_code& ec) {
  co_await sock_.async_wait(write_wants_, net::redirect_error(net::use_awaitable, ec));
  write_wants_ = tcp::socket::wait_write;
}

void tls_stream::shutdown_now() {
  if (broken_ || !sock_.is_open() || !SSL_is_init_finished(ssl_))
    return;
  ERR_clear_error();
  SSL_shutdown(ssl_);
  ERR_clear_error();
}

}  // namespace sluice::gateway
