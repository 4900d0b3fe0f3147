// Client-side (upstream) TLS with libpq's sslmode semantics. One context per route
// and snapshot; per connection, `prepare` sets SNI and hostname verification.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <string>

#include "config/settings.hpp"

namespace sluice::tls {

class client_context {
 public:
  // Throws std::runtime_error naming the file when CA or client cert/key cannot load.
  explicit client_context(const config::upstream_tls& cfg, bool alpn_postgresql = false);

  boost::asio::ssl::context& native() { return *ctx_; }
  config::sslmode mode() const { return mode_; }

  // Per connection: SNI for host names (never for IP literals, as libpq) and, for
  // verify-full, hostname checking. Returns false if OpenSSL refused the settings.
  bool prepare(SSL* ssl, const std::string& host) const;

 private:
  std::shared_ptr<boost::asio::ssl::context> ctx_;
  config::sslmode mode_;
};

bool is_ip_literal(const std::string& host);

}  // namespace sluice::tls
