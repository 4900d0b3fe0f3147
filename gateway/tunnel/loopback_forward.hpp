// A 127.0.0.1 listening port for in-process libpq users (the sync writer): each accepted
// connection becomes one direct-tcpip channel to a fixed host:port through a tunnel.
#pragma once

#include <utility>  // before Asio

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <functional>
#include <memory>
#include <string>

namespace sluice::tunnel {

class tunnel_runner;

class loopback_forward : public std::enable_shared_from_this<loopback_forward> {
 public:
  // `lookup` finds the tunnel's current runner (it changes when a reload replaces it).
  loopback_forward(boost::asio::io_context& ioc,
                   std::function<std::shared_ptr<tunnel_runner>()> lookup, std::string tunnel,
                   std::string host, uint16_t port);
  // Binds 127.0.0.1:0 and starts accepting; empty on success.
  std::string start();
  void stop();  // thread-safe
  uint16_t port() const { return port_; }

 private:
  boost::asio::awaitable<void> accept_loop();
  boost::asio::awaitable<void> serve(boost::asio::ip::tcp::socket s);

  boost::asio::io_context& ioc_;
  std::function<std::shared_ptr<tunnel_runner>()> lookup_;
  std::string tunnel_, host_;
  uint16_t target_port_;
  boost::asio::ip::tcp::acceptor acceptor_;
  uint16_t port_ = 0;
};

}  // namespace sluice::tunnel
