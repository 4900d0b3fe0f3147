#include "tls/openssl_error.hpp"

#include <openssl/err.h>

namespace sluice::tls {

std::string last_openssl_error() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    const char* reason = ERR_reason_error_string(e);
    if (!out.empty())
      out += "; ";
    out += reason ? reason : buf;
  }
  return out.empty() ? "unknown TLS error" : out;
}

}  // namespace sluice::tls
