#include "gateway/tunnel/loopback_forward.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "config/log.hpp"

namespace sluice::tunnel {

namespace asio = boost::asio;

loopback_forward::loopback_forward(asio::io_context& ioc, opener open, std::string tunnel,
                                   std::string host, uint16_t port)
    : ioc_(ioc),
      open_(std::move(open)),
      tunnel_(std::move(tunnel)),
      host_(std::move(host)),
      target_port_(port),
      acceptor_(ioc) {}

std::string loopback_forward::start() {
  boost::system::error_code ec;
  const asio::ip::tcp::endpoint ep(asio::ip::make_address_v4("127.0.0.1"), 0);
  acceptor_.open(ep.protocol(), ec);
  if (!ec)
    acceptor_.bind(ep, ec);
  if (!ec)
    acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    return "cannot listen on 127.0.0.1 for tunnel '" + tunnel_ + "': " + ec.message();
  port_ = acceptor_.local_endpoint(ec).port();
  asio::co_spawn(ioc_, accept_loop(), asio::detached);
  return {};
}

void loopback_forward::stop() {
  auto self = shared_from_this();
  asio::post(ioc_, [self] {
    boost::system::error_code ec;
    self->acceptor_.close(ec);
  });
}

asio::awaitable<void> loopback_forward::accept_loop() {
  auto self = shared_from_this();
  while (acceptor_.is_open()) {
    boost::system::error_code ec;
    auto s = co_await acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor_.is_open())
        break;
      continue;
    }
    // Only this host's processes can reach 127.0.0.1; refuse anything else defensively.
    auto peer = s.remote_endpoint(ec);
    if (ec || !peer.address().is_loopback())
      continue;
    asio::co_spawn(ioc_, serve(std::move(s)), asio::detached);
  }
}

asio::awaitable<void> loopback_forward::serve(asio::ip::tcp::socket s) {
  auto self = shared_from_this();
  const int fd = s.release();
  auto r = co_await open_(host_, target_port_, fd);
  if (!r.stage.empty()) {
    log::warn("tunnel_forward_failed")
        .kv("tunnel", tunnel_)
        .kv("target", host_ + ":" + std::to_string(target_port_))
        .kv("stage", r.stage)
        .kv("error", r.error);
  }
}

}  // namespace sluice::tunnel
