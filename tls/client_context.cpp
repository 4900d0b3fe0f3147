#include "tls/client_context.hpp"

#include <arpa/inet.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <stdexcept>

#include "tls/openssl_error.hpp"
#include "tls/server_context.hpp"

namespace sluice::tls {

namespace ssl = boost::asio::ssl;

bool is_ip_literal(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

client_context::client_context(const config::upstream_tls& cfg, bool alpn_postgresql)
    : ctx_(std::make_shared<ssl::context>(ssl::context::tls_client)), mode_(cfg.mode) {
  SSL_CTX* native = ctx_->native_handle();
  apply_policy(native, cfg.policy);
  SSL_CTX_set_options(native, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_mode(native, SSL_MODE_RELEASE_BUFFERS);
  const bool verify =
      cfg.mode == config::sslmode::verify_ca || cfg.mode == config::sslmode::verify_full;
  if (verify) {
    if (!cfg.ca.empty()) {
      if (SSL_CTX_load_verify_locations(native, cfg.ca.c_str(), nullptr) != 1) {
        throw std::runtime_error("cannot load CA bundle " + cfg.ca + ": " + last_openssl_error());
      }
    } else {
      SSL_CTX_set_default_verify_paths(native);
    }
    SSL_CTX_set_verify(native, SSL_VERIFY_PEER, nullptr);
  } else {
    // require/prefer/allow: encryption without authentication, exactly like libpq
    // (which only verifies with a root cert present; sluice follows the mode literally).
    SSL_CTX_set_verify(native, SSL_VERIFY_NONE, nullptr);
  }
  if (!cfg.cert.empty()) {
    if (SSL_CTX_use_certificate_chain_file(native, cfg.cert.c_str()) != 1) {
      throw std::runtime_error("cannot load client certificate " + cfg.cert + ": " +
                               last_openssl_error());
    }
    if (SSL_CTX_use_PrivateKey_file(native, cfg.key.c_str(), SSL_FILETYPE_PEM) != 1) {
      throw std::runtime_error("cannot load client key " + cfg.key + ": " + last_openssl_error());
    }
  }
  if (alpn_postgresql) {
    static const unsigned char kProto[] = "\x0apostgresql";
    SSL_CTX_set_alpn_protos(native, kProto, sizeof kProto - 1);
  }
}

bool client_context::prepare(SSL* ssl, const std::string& host) const {
  if (!is_ip_literal(host) && SSL_set_tlsext_host_name(ssl, host.c_str()) != 1)
    return false;
  if (mode_ == config::sslmode::verify_full) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    int ok = is_ip_literal(host) ? X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str())
                                 : X509_VERIFY_PARAM_set1_host(param, host.c_str(), 0);
    if (ok != 1)
      return false;
  }
  return true;
}

}  // namespace sluice::tls
