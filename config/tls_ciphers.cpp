#include "config/tls_ciphers.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <memory>

namespace sluice::config {

namespace {

using ctx_ptr = std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)>;

// Names that mark a cipher too weak to offer, whatever the operator wrote.
bool weak(std::string_view name) {
  for (std::string_view bad : {"NULL", "EXP", "RC4", "DES", "MD5", "ADH", "AECDH", "anon", "PSK",
                               "SRP", "IDEA", "SEED", "RC2"})
    if (name.find(bad) != std::string_view::npos)
      return true;
  // CBC suites with SHA-1 MACs ("...-SHA" at the end) are legacy.
  return name.size() > 4 && name.substr(name.size() - 4) == "-SHA";
}

}  // namespace

std::string cipher_list_problem(std::string_view ciphers) {
  ctx_ptr ctx(SSL_CTX_new(TLS_method()), SSL_CTX_free);
  if (!ctx)
    return "OpenSSL could not create a context to check the list";
  const std::string list(ciphers);
  // Level 0: judge the list itself, not the system's security level.
  SSL_CTX_set_security_level(ctx.get(), 0);
  if (SSL_CTX_set_cipher_list(ctx.get(), list.c_str()) != 1) {
    ERR_clear_error();
    return "'" + list + "' selects no cipher OpenSSL knows (see `openssl ciphers -v '" + list +
           "'`)";
  }
  STACK_OF(SSL_CIPHER)* chosen = SSL_CTX_get_ciphers(ctx.get());
  bool any_tls12 = false;
  for (int i = 0; i < sk_SSL_CIPHER_num(chosen); ++i) {
    const SSL_CIPHER* c = sk_SSL_CIPHER_value(chosen, i);
    if (std::string_view(SSL_CIPHER_get_version(c)) == "TLSv1.3")
      continue;  // TLS 1.3 suites come from ciphersuites
    any_tls12 = true;
    std::string_view name = SSL_CIPHER_get_name(c);
    if (weak(name))
      return "'" + list + "' lets in the weak cipher " + std::string(name) +
             "; exclude it (e.g. append :!" + std::string(name) +
             ") or keep the default (forward-secret AES-GCM and ChaCha20 suites)";
  }
  if (!any_tls12)
    return "'" + list + "' selects no TLS 1.2 cipher";
  return {};
}

std::string ciphersuites_problem(std::string_view suites) {
  ctx_ptr ctx(SSL_CTX_new(TLS_method()), SSL_CTX_free);
  if (!ctx)
    return "OpenSSL could not create a context to check the list";
  const std::string list(suites);
  // OpenSSL accepts an empty list (TLS 1.3 off) and skips nothing silently here: an
  // unknown name fails the whole call.
  if (list.empty() || SSL_CTX_set_ciphersuites(ctx.get(), list.c_str()) != 1) {
    ERR_clear_error();
    return "'" + list +
           "' is not a list of TLS 1.3 suites (names like TLS_AES_256_GCM_SHA384, separated by "
           "':')";
  }
  return {};
}

}  // namespace sluice::config
