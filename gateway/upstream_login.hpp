// Logging in to a database as one user with a password, on a connection connect_upstream
// made: sluice's own SCRAM (bound to the database's certificate on TLS) or md5 client
// (session/server_login.hpp), then up to ReadyForQuery. terminate mode's auth query and
// `sluice doctor` log in this way, so both reach the database as sluice's sessions do.
// The caller bounds the time (closing the stream makes every read fail).
#pragma once

#include <utility>  // before Asio (GCC 12 + Boost 1.74)

#include <string>

#include "gateway/pg_stream.hpp"
#include "gateway/pg_wire.hpp"
#include "gateway/session/message_reader.hpp"

namespace sluice::gateway {

struct upstream_login {
  enum class kind { ok, refused, io } result = kind::io;
  // refused: the backend's error (from_backend), or why sluice refused the server.
  pg::error_fields error;
  bool from_backend = false;
  std::string mechanism;  // "SCRAM-SHA-256-PLUS", "SCRAM-SHA-256", "md5", "password"; "": none
  bool channel_bound = false;
  std::string server_version;         // from ParameterStatus server_version
  bool after_authentication = false;  // io/refused: the password was already accepted
};

// `in` holds what the connection already read (upstream_connection::pending).
net::awaitable<upstream_login> log_in(pg_stream& s, message_reader& in, bool tls,
                                      const std::string& user, const std::string& password);

}  // namespace sluice::gateway
