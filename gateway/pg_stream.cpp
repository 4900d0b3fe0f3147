#include "gateway/pg_stream.hpp"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

namespace sluice::gateway {

net::awaitable<size_t> pg_stream::read_some(net::mutable_buffer b, error_code& ec) {
  ec = {};
  auto token = net::redirect_error(net::use_awaitable, ec);
  if (ssl_)
    co_return co_await ssl_->async_read_some(b, token);
  co_return co_await sock_.async_read_some(b, token);
}

net::awaitable<void> pg_stream::write_all(net::const_buffer b, error_code& ec) {
  ec = {};
  auto token = net::redirect_error(net::use_awaitable, ec);
  if (ssl_) {
    co_await net::async_write(*ssl_, b, token);
  } else {
    co_await net::async_write(sock_, b, token);
  }
}

void pg_stream::close() {
  error_code ignored;
  sock_.shutdown(tcp::socket::shutdown_both, ignored);
  sock_.close(ignored);
}

}  // namespace sluice::gateway
