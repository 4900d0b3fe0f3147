#include "gateway/pg_stream.hpp"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

namespace sluice::gateway {

net::awaitable<size_t> pg_stream::read_some(net::mutable_buffer b, error_code& ec) {
  ec = {};
  if (!tls_)
    co_return co_await sock_.async_read_some(b, net::redirect_error(net::use_awaitable, ec));
  for (;;) {
    // Try first: the handshake or an earlier read may have left bytes inside OpenSSL.
    size_t n = tls_->read_now(b, ec);
    if (!would_block(ec))
      co_return n;
    co_await tls_->wait_read_side(ec);
    if (ec)
      co_return 0;
  }
}

net::awaitable<void> pg_stream::write_all(net::const_buffer b, error_code& ec) {
  ec = {};
  if (!tls_) {
    co_await net::async_write(sock_, b, net::redirect_error(net::use_awaitable, ec));
    co_return;
  }
  while (b.size() > 0) {
    b += tls_->write_now(b, ec);
    if (!would_block(ec))
      co_return;
    co_await tls_->wait_write_side(ec);
    if (ec)
      co_return;
  }
}

net::awaitable<void> pg_stream::wait_readable(error_code& ec) {
  if (tls_) {
    co_await tls_->wait_read_side(ec);
  } else {
    co_await sock_.async_wait(tcp::socket::wait_read, net::redirect_error(net::use_awaitable, ec));
  }
}

size_t pg_stream::read_now(net::mutable_buffer b, error_code& ec) {
  return tls_ ? tls_->read_now(b, ec) : sock_.read_some(b, ec);
}

size_t pg_stream::write_now(net::const_buffer b, error_code& ec) {
  if (tls_)
    return tls_->write_now(b, ec);
  size_t n = sock_.write_some(b, ec);
  return would_block(ec) ? 0 : n;
}

bool pg_stream::rehome(const net::any_io_executor& ex) {
  if (!sock_.is_open())
    return false;
  if (sock_.get_executor() == ex)
    return true;
  error_code ec;
  auto ep = sock_.local_endpoint(ec);
  const auto protocol = ec ? tcp::v4() : ep.protocol();
  const auto fd = sock_.release(ec);
  if (ec) {
    close();
    return false;
  }
  sock_ = tcp::socket(ex, protocol, fd);
  sock_.non_blocking(true, ec);
  return true;
}

void pg_stream::close() {
  if (tls_)
    tls_->shutdown_now();
  error_code ignored;
  sock_.shutdown(tcp::socket::shutdown_both, ignored);
  sock_.close(ignored);
}

}  // namespace sluice::gateway
