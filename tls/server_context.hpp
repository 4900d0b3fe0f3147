// Server-side TLS for listeners, the ingest API and the admin API: TLS 1.2+, modern
// ciphers, a certificate chosen by SNI, ALPN "postgresql" for direct TLS. Contexts are
// built per configuration snapshot, so a reload picks up renewed certificate files.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <string>
#include <vector>

#include "config/settings.hpp"

namespace sluice::tls {

// A listener's protocol floor, ciphers and client-certificate checking; defaults for
// the admin and ingest APIs.
struct server_options {
  config::tls_policy policy;
  std::string client_ca;
  config::client_cert_mode client_cert = config::client_cert_mode::off;
};

struct sni_entry {
  std::vector<std::string> names;  // exact or "*.suffix"
  std::shared_ptr<boost::asio::ssl::context> ctx;
};

class server_context {
 public:
  // Throws std::runtime_error with a readable message when a file cannot be used.
  server_context(const std::string& cert, const std::string& key,
                 const std::vector<config::sni_cert>& sni = {}, bool alpn_postgresql = true,
                 const server_options& options = {});

  boost::asio::ssl::context& native() { return *default_; }

  // True when `name` matches `pattern` (exact, or "*.suffix" covering one label).
  static bool sni_matches(std::string_view pattern, std::string_view name);

 private:
  static int on_servername(SSL* ssl, int* alert, void* arg);
  std::shared_ptr<boost::asio::ssl::context> default_;
  std::vector<sni_entry> sni_;
};

std::shared_ptr<boost::asio::ssl::context> make_server_ssl_context(
    const std::string& cert, const std::string& key, bool alpn_postgresql,
    const server_options& options = {});

// Applies min_version, ciphers and ciphersuites (defaults when empty) to a context.
// Throws std::runtime_error when OpenSSL refuses them.
void apply_policy(SSL_CTX* ctx, const config::tls_policy& policy);

}  // namespace sluice::tls
