// A SCRAM-SHA-256 login for tests' hand-made clients (raw_client, or any byte stream),
// so that they log in to PostgreSQL (or through sluice) the way libpq does, without
// `trust` in pg_hba.conf. sluice's own client state machine (gateway/auth) does the
// cryptography and checks the server's signature. Header-only: integration tests link
// sluice_auth (through sluice_gateway); the support library does not.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "gateway/auth/scram_client.hpp"
#include "tests/support/pg_cluster.hpp"
#include "tests/support/raw_client.hpp"

namespace sluice::test {

namespace scram_login_detail {

inline void put32(std::vector<uint8_t>& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<uint8_t>(v >> shift));
}

inline uint32_t get32(const std::string& s, size_t at) {
  return (uint32_t(uint8_t(s[at])) << 24) | (uint32_t(uint8_t(s[at + 1])) << 16) |
         (uint32_t(uint8_t(s[at + 2])) << 8) | uint32_t(uint8_t(s[at + 3]));
}

// A frontend message: type, length, body.
inline std::vector<uint8_t> frontend(char type, const std::string& body) {
  std::vector<uint8_t> out{static_cast<uint8_t>(type)};
  put32(out, static_cast<uint32_t>(body.size() + 4));
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

using send_fn = std::function<void(const std::vector<uint8_t>&)>;
using recv_fn = std::function<std::string()>;  // more bytes; "" on EOF or timeout

// Frames backend messages out of a byte stream.
class backend_messages {
 public:
  explicit backend_messages(recv_fn recv) : recv_(std::move(recv)) {}
  // The next whole message (type, body), or type 0 on EOF/timeout.
  std::pair<char, std::string> next() {
    for (;;) {
      if (buf_.size() >= 5) {
        const uint32_t len = get32(buf_, 1);
        if (buf_.size() >= 1 + len) {
          std::pair<char, std::string> m{buf_[0], buf_.substr(5, len - 4)};
          buf_.erase(0, 1 + len);
          return m;
        }
      }
      auto more = recv_();
      if (more.empty())
        return {0, {}};
      buf_ += more;
    }
  }

 private:
  recv_fn recv_;
  std::string buf_;
};

inline bool is_auth(const std::pair<char, std::string>& m, uint32_t code) {
  return m.first == 'R' && m.second.size() >= 4 && get32(m.second, 0) == code;
}

// Startup and SCRAM up to the client's last message, returned unsent (empty on failure).
inline std::vector<uint8_t> until_final(const send_fn& send, backend_messages& in,
                                        auth::scram_client& client, const std::string& user,
                                        const std::string& database) {
  send(raw_client::startup(user, database));
  auto sasl = in.next();
  if (!is_auth(sasl, 10))  // AuthenticationSASL
    return {};
  std::vector<std::string> offered;
  for (size_t pos = 4; pos < sasl.second.size() && sasl.second[pos] != 0;) {
    const size_t end = sasl.second.find('\0', pos);
    offered.push_back(sasl.second.substr(pos, end - pos));
    pos = end + 1;
  }
  auto first = client.start(offered);
  if (!first)
    return {};
  std::vector<uint8_t> length;
  put32(length, static_cast<uint32_t>(first->message.size()));
  send(frontend('p', first->mechanism + std::string(1, '\0') +
                         std::string(length.begin(), length.end()) + first->message));
  auto cont = in.next();
  if (!is_auth(cont, 11))  // AuthenticationSASLContinue
    return {};
  auto final_message = client.on_server_first(cont.second.substr(4));
  if (!final_message)
    return {};
  return frontend('p', final_message.value());
}

inline auth::scram_client client_for(const std::string& password) {
  auth::scram_client_options options;
  options.password = password;
  return auth::scram_client(options);
}

}  // namespace scram_login_detail

// Sends the startup packet for `user` and `database`, answers AuthenticationSASL with
// SCRAM-SHA-256 (gs2 flag n, as libpq without channel binding) and reads on until the
// first ReadyForQuery. Returns the backend's bytes from AuthenticationOk through that
// ReadyForQuery (ParameterStatus, BackendKeyData, ...), or "" when the login failed
// (an ErrorResponse, another authentication request, EOF, or a server that could not
// prove it knows the password).
inline std::string scram_log_in(const scram_login_detail::send_fn& send,
                                const scram_login_detail::recv_fn& recv, const std::string& user,
                                const std::string& database, const std::string& password) {
  using namespace scram_login_detail;
  backend_messages in(recv);
  auto client = client_for(password);
  auto final_message = until_final(send, in, client, user, database);
  if (final_message.empty())
    return {};
  send(final_message);
  auto fin = in.next();
  if (!is_auth(fin, 12) || !client.on_server_final(fin.second.substr(4)))  // SASLFinal
    return {};
  // AuthenticationOk onwards, framed as the server sent it, until ReadyForQuery.
  std::string after;
  for (auto m = in.next(); m.first != 0 && m.first != 'E'; m = in.next()) {
    after += m.first;
    std::vector<uint8_t> len;
    put32(len, static_cast<uint32_t>(m.second.size() + 4));
    after.append(len.begin(), len.end());
    after += m.second;
    if (m.first == 'Z')
      return after.rfind(std::string("R\0\0\0\x08\0\0\0\0", 9), 0) == 0 ? after : "";
  }
  return {};
}

// The same over a raw_client, as the cluster's superuser by default.
inline std::string scram_log_in(raw_client& c, const std::string& user = pg_cluster::kSuperuser,
                                const std::string& database = "postgres",
                                const std::string& password = pg_cluster::password()) {
  return scram_log_in([&](const std::vector<uint8_t>& bytes) { c.send(bytes); },
                      [&] { return c.recv_some(); }, user, database, password);
}

// Startup and SCRAM over a raw_client up to the client's last message, which it returns
// instead of sending: a test appends what it pipelines behind the login (queries sent
// before the server has said AuthenticationOk) and sends it all in one write. What the
// server answers then starts with AuthenticationSASLFinal. Empty when the exchange failed.
inline std::vector<uint8_t> scram_start(raw_client& c,
                                        const std::string& user = pg_cluster::kSuperuser,
                                        const std::string& database = "postgres",
                                        const std::string& password = pg_cluster::password()) {
  using namespace scram_login_detail;
  backend_messages in([&] { return c.recv_some(); });
  auto client = client_for(password);
  return until_final([&](const std::vector<uint8_t>& bytes) { c.send(bytes); }, in, client, user,
                     database);
}

}  // namespace sluice::test
