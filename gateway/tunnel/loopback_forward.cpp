#include "gateway/tunnel/loopback_forward.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "config/log.hpp"

namespace sluice::tunnel {

namespace asio = boost::asio;

namespace {
// A PostgreSQL ErrorResponse (FATAL, 08001): libpq shows its message whether it sent a
// startup packet or an SSLRequest, instead of "server closed the connection unexpectedly".
void send_error_response(int fd, const std::string& message) {
  std::string body;
  body += 'S';
  body += std::string("FATAL") + '\0';
  body += 'V';
  body += std::string("FATAL") + '\0';
  body += 'C';
  body += std::string("08001") + '\0';
  body += 'M';
  body += message.substr(0, 2000) + '\0';
  body += '\0';
  const uint32_t len = static_cast<uint32_t>(body.size() + 4);
  std::string msg(1, 'E');
  for (int shift = 24; shift >= 0; shift -= 8)
    msg += static_cast<char>((len >> shift) & 0xff);
  msg += body;
  (void)!::send(fd, msg.data(), msg.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
}
}  // namespace

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
  // Kept to tell the libpq user why, if the channel cannot be opened (the opener closes fd).
  const int reply_fd = ::dup(fd);
  auto r = co_await open_(host_, target_port_, fd);
  if (reply_fd >= 0) {
    if (!r.stage.empty())
      send_error_response(reply_fd, "tunnel '" + tunnel_ + "': " + r.error);
    ::close(reply_fd);
  }
  if (!r.stage.empty()) {
    log::warn("tunnel_forward_failed")
        .kv("tunnel", tunnel_)
        .kv("target", host_ + ":" + std::to_string(target_port_))
        .kv("stage", r.stage)
        .kv("error", r.error);
  }
}

}  // namespace sluice::tunnel
