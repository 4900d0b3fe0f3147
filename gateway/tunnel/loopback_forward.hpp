// A 127.0.0.1 listening port for in-process libpq users (the sync writer): each accepted
// connection becomes one channel to a fixed host:port through a tunnel (direct-tcpip via
// a bastion, or forwarded-tcpip via a reverse tunnel's agent).
#pragma once

#include <utility>  // before Asio

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <functional>
#include <memory>
#include <string>

#include "gateway/tunnel/manager.hpp"

namespace sluice::tunnel {

class loopback_forward : public std::enable_shared_from_this<loopback_forward> {
 public:
  // Opens a channel to (host, port) relaying `fd` (ownership passes), through whatever
  // currently serves the tunnel (a reload may replace it).
  using opener = std::function<boost::asio::awaitable<channel_result>(const std::string& host,
                                                                      uint16_t port, int fd)>;
  loopback_forward(boost::asio::io_context& ioc, opener open, std::string tunnel, std::string host,
                   uint16_t port);
  // Binds 127.0.0.1:0 and starts accepting; empty on success.
  std::string start();
  void stop();  // thread-safe
  uint16_t port() const { return port_; }

 private:
  boost::asio::awaitable<void> accept_loop();
  boost::asio::awaitable<void> serve(boost::asio::ip::tcp::socket s);

  boost::asio::io_context& ioc_;
  opener open_;
  std::string tunnel_, host_;
  uint16_t target_port_;
  boost::asio::ip::tcp::acceptor acceptor_;
  uint16_t port_ = 0;
};

}  // namespace sluice::tunnel
