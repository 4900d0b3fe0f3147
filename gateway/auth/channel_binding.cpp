#include "gateway/auth/channel_binding.hpp"

#include <openssl/evp.h>
#include <openssl/objects.h>

#include <memory>

namespace sluice::auth {

namespace {
auth_error binding_error(std::string detail) {
  return {sqlstate::kInternal, "could not compute the tls-server-end-point channel binding",
          std::move(detail)};
}
}  // namespace

outcome<bytes> tls_server_end_point(X509* cert) {
  if (cert == nullptr)
    return binding_error("there is no certificate");
  int md_nid = NID_undef;
  if (X509_get_signature_info(cert, &md_nid, nullptr, nullptr, nullptr) != 1 ||
      md_nid == NID_undef) {
    return binding_error("the certificate's signature algorithm names no hash function");
  }
  // RFC 5929: "if the certificate's signatureAlgorithm uses a single hash function and
  // that hash function is either MD5 or SHA-1, then use SHA-256".
  if (md_nid == NID_md5 || md_nid == NID_sha1 || md_nid == NID_md5_sha1)
    md_nid = NID_sha256;
  const EVP_MD* md = EVP_get_digestbynid(md_nid);
  if (md == nullptr) {
    return binding_error(std::string("no digest for the certificate's signature hash ") +
                         OBJ_nid2sn(md_nid));
  }
  bytes out(EVP_MAX_MD_SIZE);
  unsigned int len = 0;
  if (X509_digest(cert, md, out.data(), &len) != 1)
    return binding_error("X509_digest failed");
  out.resize(len);
  return out;
}

outcome<bytes> tls_server_end_point_der(byte_view der) {
  const unsigned char* p = der.data();
  std::unique_ptr<X509, decltype(&X509_free)> cert(
      d2i_X509(nullptr, &p, static_cast<long>(der.size())), X509_free);
  if (!cert || p != der.data() + der.size())
    return binding_error("the bytes are not one DER certificate");
  return tls_server_end_point(cert.get());
}

}  // namespace sluice::auth
