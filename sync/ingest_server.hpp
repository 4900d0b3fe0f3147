// The ingest HTTP(S) listener (Boost.Beast, callbacks) on its own io_context thread.
// It only speaks HTTP: it checks the allowlist and the connection limits on accept,
// reads the request header within ingest.header_timeout, asks `precheck` (the token)
// before reading any body byte, enforces the body limit (413) and the memory budget
// for bodies (503), and hands each request to `handler`, whose answer may come later
// from another thread (after COMMIT); the answer is posted back to the connection's
// executor.
#pragma once

#include <utility>  // before Asio (Boost 1.74 coroutine headers rely on it)

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "config/allowlist.hpp"
#include "config/settings.hpp"
#include "sync/ingest_reply.hpp"

namespace sluice::sync {

struct http_request {
  std::string method;
  std::string target;  // path and query
  std::string authorization;
  std::string content_type;
  std::string body;
  std::string peer;
};

using http_handler = std::function<void(http_request, std::function<void(reply)>)>;
// Sees the request head only (`body` empty): nullopt lets the body be read, a reply is
// sent at once and the body is never read (the connection then closes).
using http_precheck = std::function<std::optional<reply>(const http_request& head)>;

class ingest_server {
 public:
  ingest_server(const config::ingest_settings& cfg, std::shared_ptr<boost::asio::ssl::context> tls,
                config::allowlist allow, http_handler handler, http_precheck precheck = nullptr);
  ~ingest_server();
  // Binds and starts the thread; throws std::runtime_error if it cannot bind.
  void start();
  void stop();
  // Reloads: allowlist, limits and TLS context for new connections.
  void update(const config::ingest_settings& cfg, std::shared_ptr<boost::asio::ssl::context> tls,
              config::allowlist allow);
  uint16_t port() const { return port_; }

  struct shared;

 private:
  void accept();
  std::shared_ptr<shared> sh_;
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  config::host_port listen_;
  uint16_t port_ = 0;
  std::vector<std::thread> threads_;  // two: one parses a batch while another accepts
};

}  // namespace sluice::sync
