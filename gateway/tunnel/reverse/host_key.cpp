#include "gateway/tunnel/reverse/host_key.hpp"

#include <libssh/libssh.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "config/validate.hpp"
#include "gateway/tunnel/reverse/agent.hpp"

namespace sluice::tunnel::reverse {

std::string host_key_info::known_hosts_line(const std::string& host, unsigned port) const {
  const std::string name = port == 22 ? host : "[" + host + "]:" + std::to_string(port);
  return name + " " + type + " " + public_b64;
}

std::optional<host_key_info> load_host_key(const std::string& path, std::string& error) {
  if (auto p = config::private_file_problem(path); !p.empty()) {
    error = p;
    return std::nullopt;
  }
  ssh_key key = nullptr;
  if (ssh_pki_import_privkey_file(path.c_str(), nullptr, nullptr, nullptr, &key) != SSH_OK ||
      !key) {
    error = path + " is not a private key libssh can read (OpenSSH or PEM format, no passphrase)";
    return std::nullopt;
  }
  host_key_info info;
  const auto t = ssh_key_type(key);
  const char* name = ssh_key_type_to_char(t);
  info.type = name ? name : "";
  if (t == SSH_KEYTYPE_ED25519) {
    info.algorithms = "ssh-ed25519";
  } else if (t == SSH_KEYTYPE_ECDSA_P256 || t == SSH_KEYTYPE_ECDSA_P384 ||
             t == SSH_KEYTYPE_ECDSA_P521) {
    info.algorithms = info.type;
  } else {
    ssh_key_free(key);
    error = path + " is a " + info.type +
            " key; the endpoint offers ed25519 or ECDSA host keys only (make one with "
            "`sluice keygen --host-key --out " +
            path + "`)";
    return std::nullopt;
  }
  char* b64 = nullptr;
  if (ssh_pki_export_pubkey_base64(key, &b64) == SSH_OK && b64) {
    info.public_b64 = b64;
    ssh_string_free_char(b64);
  }
  ssh_key_free(key);
  info.fingerprint = fingerprint_of_b64(info.public_b64);
  return info;
}

std::string generate_host_key(const std::string& path) {
  const auto pub = path + ".pub";
  if (::access(path.c_str(), F_OK) == 0)
    return path + " already exists; refusing to overwrite it";
  if (::access(pub.c_str(), F_OK) == 0)
    return pub + " already exists; refusing to overwrite it";
  ssh_key key = nullptr;
  if (ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &key) != SSH_OK || !key)
    return "libssh could not generate an ed25519 key";
  const mode_t old = ::umask(077);
  const int rc = ssh_pki_export_privkey_file(key, nullptr, nullptr, nullptr, path.c_str());
  ::umask(old);
  if (rc != SSH_OK) {
    ssh_key_free(key);
    return "cannot write " + path;
  }
  ::chmod(path.c_str(), 0600);
  char* b64 = nullptr;
  std::string line;
  if (ssh_pki_export_pubkey_base64(key, &b64) == SSH_OK && b64) {
    line = std::string("ssh-ed25519 ") + b64 + " sluice-host-key\n";
    ssh_string_free_char(b64);
  }
  ssh_key_free(key);
  std::ofstream(pub) << line;
  return {};
}

}  // namespace sluice::tunnel::reverse
