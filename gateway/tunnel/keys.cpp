#include "gateway/tunnel/keys.hpp"

#include <fcntl.h>
#include <libssh2.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <stdexcept>

#include "gateway/tunnel/ssh_format.hpp"

namespace sluice::tunnel {

namespace {

using pkey_ptr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using bio_ptr = std::unique_ptr<BIO, decltype(&BIO_free)>;

std::string bio_text(BIO* b) {
  char* data = nullptr;
  long n = BIO_get_mem_data(b, &data);
  return std::string(data, static_cast<size_t>(n));
}

// SSH "mpint": big-endian, minimal, with a leading zero when the top bit is set.
std::string mpint_of(const BIGNUM* bn) {
  std::string v(static_cast<size_t>(BN_num_bytes(bn)), '\0');
  BN_bn2bin(bn, reinterpret_cast<unsigned char*>(v.data()));
  if (!v.empty() && (uint8_t(v[0]) & 0x80))
    v.insert(v.begin(), '\0');
  return v;
}

public_key_info public_of(EVP_PKEY* pk, std::string& error) {
  public_key_info info;
  const int id = EVP_PKEY_get_base_id(pk);
  if (id == EVP_PKEY_ED25519) {
    unsigned char raw[32];
    size_t len = sizeof raw;
    if (EVP_PKEY_get_raw_public_key(pk, raw, &len) != 1 || len != 32) {
      error = "cannot read the ed25519 public key";
      return info;
    }
    info.type = "ssh-ed25519";
    put_ssh_string(info.blob, info.type);
    put_ssh_string(info.blob, std::string_view(reinterpret_cast<char*>(raw), len));
  } else if (id == EVP_PKEY_EC) {
    char group[64] = {};
    size_t glen = 0;
    if (EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                       &glen) != 1) {
      error = "cannot read the ECDSA curve";
      return info;
    }
    std::string curve;
    if (std::strcmp(group, "prime256v1") == 0 || std::strcmp(group, "P-256") == 0) {
      curve = "nistp256";
    } else if (std::strcmp(group, "secp384r1") == 0 || std::strcmp(group, "P-384") == 0) {
      curve = "nistp384";
    } else if (std::strcmp(group, "secp521r1") == 0 || std::strcmp(group, "P-521") == 0) {
      curve = "nistp521";
    } else {
      error = std::string("unsupported ECDSA curve ") + group + " (use P-256, P-384 or P-521)";
      return info;
    }
    unsigned char point[200];
    size_t plen = 0;
    if (EVP_PKEY_get_octet_string_param(pk, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point, &plen) !=
        1) {
      error = "cannot read the ECDSA public point";
      return info;
    }
    info.type = "ecdsa-sha2-" + curve;
    put_ssh_string(info.blob, info.type);
    put_ssh_string(info.blob, curve);
    put_ssh_string(info.blob, std::string_view(reinterpret_cast<char*>(point), plen));
  } else if (id == EVP_PKEY_RSA) {
    BIGNUM* n = nullptr;
    BIGNUM* e = nullptr;
    if (EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_N, &n) != 1 ||
        EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_E, &e) != 1) {
      BN_free(n);
      BN_free(e);
      error = "cannot read the RSA public key";
      return info;
    }
    info.type = "ssh-rsa";
    put_ssh_string(info.blob, info.type);
    put_ssh_string(info.blob, mpint_of(e));
    put_ssh_string(info.blob, mpint_of(n));
    BN_free(n);
    BN_free(e);
  } else {
    error = "unsupported key algorithm (use ed25519 or ECDSA)";
  }
  return info;
}

// openssh-key-v1: magic, cipher, kdf, kdfoptions, uint32 count, then the public blobs.
public_key_info public_of_openssh(const std::string& text, std::string& error) {
  public_key_info info;
  const std::string begin = "-----BEGIN OPENSSH PRIVATE KEY-----";
  const std::string end = "-----END OPENSSH PRIVATE KEY-----";
  auto b = text.find(begin);
  auto e = text.find(end);
  if (b == std::string::npos || e == std::string::npos || e < b) {
    error = "not an OpenSSH private key";
    return info;
  }
  std::string b64;
  for (char c : text.substr(b + begin.size(), e - b - begin.size())) {
    if (!std::isspace(static_cast<unsigned char>(c)))
      b64 += c;
  }
  auto raw = base64_decode(b64);
  const std::string magic("openssh-key-v1\0", 15);
  if (!raw || raw->compare(0, magic.size(), magic) != 0) {
    error = "malformed OpenSSH private key";
    return info;
  }
  std::string_view in(*raw);
  size_t pos = magic.size();
  for (int i = 0; i < 3; ++i) {
    if (!get_ssh_string(in, pos)) {
      error = "malformed OpenSSH private key";
      return info;
    }
  }
  auto count = get_u32(in, pos);
  auto blob = get_ssh_string(in, pos);
  if (!count || *count < 1 || !blob) {
    error = "malformed OpenSSH private key";
    return info;
  }
  info.blob = std::string(*blob);
  info.type = blob_key_type(info.blob);
  return info;
}

}  // namespace

bool rsa_supported() {
  return LIBSSH2_VERSION_NUM >= 0x010b00;
}

std::string rsa_refusal_message() {
  return std::string("RSA keys are not supported with libssh2 ") + LIBSSH2_VERSION +
         ": it signs only with ssh-rsa (SHA-1), which OpenSSH 8.8 and later refuse; "
         "use an ed25519 key (sluice keygen --out PATH) or ECDSA (--type ecdsa)";
}

std::string public_key_info::line(const std::string& comment) const {
  auto l = type + " " + base64_encode(blob);
  if (!comment.empty())
    l += " " + comment;
  return l;
}

std::string public_key_info::fingerprint() const {
  return fingerprint_of_blob(blob);
}

generated_key generate_key(key_type type, const std::string& comment) {
  EVP_PKEY* raw = type == key_type::ed25519 ? EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")
                                            : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  if (!raw)
    throw std::runtime_error("OpenSSL could not generate the key");
  pkey_ptr pk(raw, EVP_PKEY_free);
  bio_ptr bio(BIO_new(BIO_s_mem()), BIO_free);
  if (!bio ||
      PEM_write_bio_PrivateKey(bio.get(), pk.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    throw std::runtime_error("OpenSSL could not encode the private key");
  }
  generated_key g;
  g.private_pem = bio_text(bio.get());
  std::string err;
  auto info = public_of(pk.get(), err);
  if (!err.empty())
    throw std::runtime_error(err);
  g.public_line = info.line(comment);
  return g;
}

public_key_info public_key_from_private(const std::string& key_text, std::string& error) {
  error.clear();
  if (key_text.find("-----BEGIN OPENSSH PRIVATE KEY-----") != std::string::npos) {
    return public_of_openssh(key_text, error);
  }
  bio_ptr bio(BIO_new_mem_buf(key_text.data(), static_cast<int>(key_text.size())), BIO_free);
  // An empty passphrase callback result makes encrypted keys fail instead of prompting.
  auto no_pass = [](char*, int, int, void*) -> int { return 0; };
  EVP_PKEY* raw = bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, no_pass, nullptr) : nullptr;
  if (!raw) {
    error = "cannot read the private key (PEM or OpenSSH format, not passphrase-protected)";
    return {};
  }
  pkey_ptr pk(raw, EVP_PKEY_free);
  return public_of(pk.get(), error);
}

std::string write_new_private_file(const std::string& path, const std::string& content,
                                   unsigned mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) {
    if (errno == EEXIST)
      return path + " already exists; refusing to overwrite it";
    return "cannot create " + path + ": " + std::strerror(errno);
  }
  ::fchmod(fd, mode);  // umask may have narrowed or widened nothing, but be explicit
  size_t off = 0;
  while (off < content.size()) {
    auto n = ::write(fd, content.data() + off, content.size() - off);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      std::string e = "cannot write " + path + ": " + std::strerror(errno);
      ::close(fd);
      return e;
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0)
    return "cannot write " + path + ": " + std::strerror(errno);
  return {};
}

}  // namespace sluice::tunnel
