// A deliberately low-level Postgres client for tests that real clients cannot express:
// binding a chosen source address (127.0.0.2), sending malformed or oversized startup
// packets, pipelining bytes after SSLRequest. Blocking sockets with timeouts.
#pragma once

#include <openssl/ssl.h>

#include <cstdint>
#include <string>
#include <vector>

namespace sluice::test {

class raw_client {
 public:
  // Connects from `source` (e.g. "127.0.0.2") to 127.0.0.1:port. Throws on failure.
  raw_client(int port, const std::string& source = "127.0.0.1");
  ~raw_client();

  void send(const std::vector<uint8_t>& bytes);
  // Reads up to `n` bytes (fewer on EOF/timeout); "" on timeout.
  std::string recv_some(size_t n = 65536, int timeout_ms = 5000);
  // Reads until EOF or timeout; returns everything.
  std::string recv_all(int timeout_ms = 5000);
  // Sends a startup packet and reads until the first ReadyForQuery (idle); returns what
  // it read, or "" if the connection ended or went silent first.
  std::string log_in(const std::string& user, const std::string& database);
  // Sends SSLRequest, expects 'S', runs a TLS handshake (no verification).
  bool start_tls(const std::string& sni = "");
  // Direct TLS (PostgreSQL 17 sslnegotiation=direct): a ClientHello as the first bytes,
  // offering ALPN "postgresql" when `alpn`.
  bool start_direct_tls(bool alpn, const std::string& sni = "");
  // The server's certificate after start_tls/start_direct_tls (owned by the connection).
  X509* peer_certificate() const;
  // True when the server closed the connection (EOF) within the timeout.
  bool closed_by_peer(int timeout_ms = 5000);

  static std::vector<uint8_t> startup(const std::string& user, const std::string& database);
  // A simple-query ('Q') message.
  static std::vector<uint8_t> query(const std::string& sql);
  // The 'M' field of the first ErrorResponse in `bytes`, or "".
  static std::string error_message(const std::string& bytes);
  static std::string error_code(const std::string& bytes);

 private:
  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
};

}  // namespace sluice::test
