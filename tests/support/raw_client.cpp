#include "tests/support/raw_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>

namespace sluice::test {

raw_client::raw_client(int port, const std::string& source) {
  fd_ = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in src{};
  src.sin_family = AF_INET;
  inet_pton(AF_INET, source.c_str(), &src.sin_addr);
  if (bind(fd_, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0) {
    throw std::runtime_error("bind " + source + " failed");
  }
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
  if (connect(fd_, reinterpret_cast<sockaddr*>(&dst), sizeof dst) != 0) {
    throw std::runtime_error("connect to 127.0.0.1:" + std::to_string(port) + " failed");
  }
}

raw_client::~raw_client() {
  if (ssl_)
    SSL_free(ssl_);
  if (ctx_)
    SSL_CTX_free(ctx_);
  if (fd_ >= 0)
    close(fd_);
}

void raw_client::send(const std::vector<uint8_t>& bytes) {
  if (ssl_) {
    SSL_write(ssl_, bytes.data(), static_cast<int>(bytes.size()));
    return;
  }
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n <= 0)
      return;
    off += static_cast<size_t>(n);
  }
}

std::string raw_client::recv_some(size_t n, int timeout_ms) {
  if (!(ssl_ && SSL_pending(ssl_) > 0)) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0)
      return {};
  }
  std::string out(n, '\0');
  ssize_t got =
      ssl_ ? SSL_read(ssl_, out.data(), static_cast<int>(n)) : ::recv(fd_, out.data(), n, 0);
  out.resize(got > 0 ? static_cast<size_t>(got) : 0);
  return out;
}

std::string raw_client::log_in(const std::string& user, const std::string& database) {
  send(startup(user, database));
  const std::string ready("Z\0\0\0\x05I", 6);
  std::string got;
  while (got.find(ready) == std::string::npos) {
    auto more = recv_some();
    if (more.empty())
      return {};
    got += more;
  }
  return got;
}

std::string raw_client::recv_all(int timeout_ms) {
  std::string all;
  for (;;) {
    auto chunk = recv_some(65536, timeout_ms);
    if (chunk.empty())
      return all;
    all += chunk;
  }
}

bool raw_client::closed_by_peer(int timeout_ms) {
  pollfd p{fd_, POLLIN, 0};
  if (poll(&p, 1, timeout_ms) <= 0)
    return false;
  char c;
  return ::recv(fd_, &c, 1, MSG_PEEK) == 0;
}

bool raw_client::start_tls(const std::string& sni) {
  send({0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f});
  auto answer = recv_some(1);
  if (answer != "S")
    return false;
  ctx_ = SSL_CTX_new(TLS_client_method());
  ssl_ = SSL_new(ctx_);
  if (!sni.empty())
    SSL_set_tlsext_host_name(ssl_, sni.c_str());
  SSL_set_fd(ssl_, fd_);
  return SSL_connect(ssl_) == 1;
}

bool raw_client::start_direct_tls(bool alpn, const std::string& sni) {
  ctx_ = SSL_CTX_new(TLS_client_method());
  ssl_ = SSL_new(ctx_);
  if (alpn) {
    static const unsigned char proto[] = "\x0apostgresql";
    SSL_set_alpn_protos(ssl_, proto, sizeof proto - 1);
  }
  if (!sni.empty())
    SSL_set_tlsext_host_name(ssl_, sni.c_str());
  SSL_set_fd(ssl_, fd_);
  return SSL_connect(ssl_) == 1;
}

X509* raw_client::peer_certificate() const {
  return ssl_ ? SSL_get0_peer_certificate(ssl_) : nullptr;
}

std::vector<uint8_t> raw_client::query(const std::string& sql) {
  const auto len = static_cast<uint32_t>(4 + sql.size() + 1);
  std::vector<uint8_t> out;
  out.reserve(1 + len);
  out.push_back('Q');
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<uint8_t>(len >> shift));
  out.insert(out.end(), sql.begin(), sql.end());
  out.push_back(0);
  return out;
}

std::vector<uint8_t> raw_client::startup(const std::string& user, const std::string& database) {
  std::vector<uint8_t> out = {0, 0, 0, 0, 0, 3, 0, 0};
  auto put = [&](const std::string& s) {
    out.insert(out.end(), s.begin(), s.end());
    out.push_back(0);
  };
  put("user");
  put(user);
  put("database");
  put(database);
  out.push_back(0);
  uint32_t len = static_cast<uint32_t>(out.size());
  out[0] = static_cast<uint8_t>(len >> 24);
  out[1] = static_cast<uint8_t>(len >> 16);
  out[2] = static_cast<uint8_t>(len >> 8);
  out[3] = static_cast<uint8_t>(len);
  return out;
}

namespace {
std::string field(const std::string& bytes, char tag) {
  auto e = bytes.find('E');
  if (e == std::string::npos || bytes.size() < e + 5)
    return {};
  size_t pos = e + 5;
  while (pos < bytes.size() && bytes[pos] != 0) {
    char t = bytes[pos++];
    auto end = bytes.find('\0', pos);
    if (end == std::string::npos)
      return {};
    if (t == tag)
      return bytes.substr(pos, end - pos);
    pos = end + 1;
  }
  return {};
}
}  // namespace

std::string raw_client::error_message(const std::string& bytes) {
  return field(bytes, 'M');
}
std::string raw_client::error_code(const std::string& bytes) {
  return field(bytes, 'C');
}

}  // namespace sluice::test
