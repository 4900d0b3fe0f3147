#include "tls/server_context.hpp"

#include <openssl/ssl.h>

#include <stdexcept>

#include "config/tls_ciphers.hpp"
#include "tls/openssl_error.hpp"

namespace sluice::tls {

namespace ssl = boost::asio::ssl;

namespace {

// ALPN: accept "postgresql" if the client offers it; a client offering only other
// protocols is refused (Postgres 17 does the same for direct TLS).
int on_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
            unsigned inlen, void*) {
  static const unsigned char kProto[] = "\x0apostgresql";
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, outlen, kProto, sizeof kProto - 1, in, inlen) ==
      OPENSSL_NPN_NEGOTIATED) {
    *out = selected;
    return SSL_TLSEXT_ERR_OK;
  }
  return SSL_TLSEXT_ERR_ALERT_FATAL;
}

}  // namespace

void apply_policy(SSL_CTX* native, const config::tls_policy& policy) {
  SSL_CTX_set_min_proto_version(
      native, policy.min_version == config::tls_version::v1_3 ? TLS1_3_VERSION : TLS1_2_VERSION);
  const std::string ciphers = policy.ciphers.empty() ? config::kDefaultCiphers : policy.ciphers;
  if (SSL_CTX_set_cipher_list(native, ciphers.c_str()) != 1)
    throw std::runtime_error("tls.ciphers '" + ciphers + "' refused: " + last_openssl_error());
  const std::string suites =
      policy.ciphersuites.empty() ? config::kDefaultCiphersuites : policy.ciphersuites;
  if (SSL_CTX_set_ciphersuites(native, suites.c_str()) != 1)
    throw std::runtime_error("tls.ciphersuites '" + suites + "' refused: " + last_openssl_error());
}

std::shared_ptr<ssl::context> make_server_ssl_context(const std::string& cert,
                                                      const std::string& key, bool alpn_postgresql,
                                                      const server_options& options) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  SSL_CTX* native = ctx->native_handle();
  SSL_CTX_set_options(
      native, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // Idle sessions should not pin 2x16 KiB of record buffers each.
  SSL_CTX_set_mode(native, SSL_MODE_RELEASE_BUFFERS);
  apply_policy(native, options.policy);
  if (options.client_cert != config::client_cert_mode::off) {
    if (SSL_CTX_load_verify_locations(native, options.client_ca.c_str(), nullptr) != 1)
      throw std::runtime_error("cannot load tls.client_ca " + options.client_ca + ": " +
                               last_openssl_error());
    // The CA names sent in the CertificateRequest, so clients pick the right certificate.
    if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(options.client_ca.c_str()))
      SSL_CTX_set_client_CA_list(native, names);
    int mode = SSL_VERIFY_PEER;
    if (options.client_cert == config::client_cert_mode::required)
      mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    SSL_CTX_set_verify(native, mode, nullptr);
    // Resumed sessions keep their verified client; OpenSSL needs a context id for that.
    static const unsigned char kId[] = "sluice-listener";
    SSL_CTX_set_session_id_context(native, kId, sizeof kId - 1);
  }
  SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_SERVER);
  if (SSL_CTX_use_certificate_chain_file(native, cert.c_str()) != 1) {
    throw std::runtime_error("cannot load certificate " + cert + ": " + last_openssl_error());
  }
  if (SSL_CTX_use_PrivateKey_file(native, key.c_str(), SSL_FILETYPE_PEM) != 1) {
    throw std::runtime_error("cannot load private key " + key + ": " + last_openssl_error());
  }
  if (SSL_CTX_check_private_key(native) != 1) {
    throw std::runtime_error("private key " + key + " does not match certificate " + cert);
  }
  if (alpn_postgresql)
    SSL_CTX_set_alpn_select_cb(native, on_alpn, nullptr);
  return ctx;
}

server_context::server_context(const std::string& cert, const std::string& key,
                               const std::vector<config::sni_cert>& sni, bool alpn_postgresql,
                               const server_options& options)
    : default_(make_server_ssl_context(cert, key, alpn_postgresql, options)) {
  for (const auto& s : sni) {
    // Same rules for every certificate: SNI moves the handshake to this context.
    sni_.push_back({s.names, make_server_ssl_context(s.cert, s.key, alpn_postgresql, options)});
  }
  if (!sni_.empty()) {
    SSL_CTX_set_tlsext_servername_callback(default_->native_handle(), on_servername);
    SSL_CTX_set_tlsext_servername_arg(default_->native_handle(), this);
  }
}

bool server_context::sni_matches(std::string_view pattern, std::string_view name) {
  return config::host_pattern_matches(pattern, name);
}

int server_context::on_servername(SSL* ssl, int*, void* arg) {
  auto* self = static_cast<server_context*>(arg);
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (!name)
    return SSL_TLSEXT_ERR_NOACK;
  for (const auto& e : self->sni_) {
    for (const auto& pattern : e.names) {
      if (sni_matches(pattern, name)) {
        SSL_set_SSL_CTX(ssl, e.ctx->native_handle());
        return SSL_TLSEXT_ERR_OK;
      }
    }
  }
  return SSL_TLSEXT_ERR_OK;  // default certificate
}

}  // namespace sluice::tls
