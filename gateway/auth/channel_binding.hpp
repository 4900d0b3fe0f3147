// tls-server-end-point channel binding data (RFC 5929 section 4.1): the hash of the
// server's DER certificate, with the hash function of the certificate's signature, MD5
// and SHA-1 upgraded to SHA-256. This is what SCRAM-SHA-256-PLUS binds the proof to.
#pragma once

#include <openssl/x509.h>

#include <string_view>

#include "gateway/auth/auth_error.hpp"
#include "gateway/auth/crypto.hpp"

namespace sluice::auth {

// For the certificate a server presents (ours on the client leg, the database's on the
// server leg). An error for certificates whose signature names no single hash (Ed25519,
// Ed448), for which RFC 5929 defines no binding; PostgreSQL refuses those too.
outcome<bytes> tls_server_end_point(X509* cert);
// The same for a DER-encoded certificate.
outcome<bytes> tls_server_end_point_der(byte_view der);

}  // namespace sluice::auth
