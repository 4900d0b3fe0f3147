#include "gateway/upstream_login.hpp"

#include <openssl/ssl.h>

#include "gateway/auth/channel_binding.hpp"
#include "gateway/pool/params.hpp"
#include "gateway/session/server_login.hpp"

namespace sluice::gateway {

net::awaitable<upstream_login> log_in(pg_stream& s, message_reader& in, bool tls,
                                      const std::string& user, const std::string& password) {
  upstream_login out;
  server_credentials c;
  c.user = user;
  c.password = password;
  if (tls) {
    if (X509* cert = SSL_get0_peer_certificate(s.tls().native_handle())) {
      if (auto cb = auth::tls_server_end_point(cert))
        c.channel_binding = cb.value();
    }
  }
  server_login login(std::move(c));
  char type = 0;
  pg::bytes body;
  error_code ec;
  for (bool authenticating = true; authenticating;) {
    if (!co_await in.next(s, type, body, ec))
      co_return out;  // io
    auto st = login.on_message(type, body);
    if (st.result == server_login::step::kind::failed) {
      out.result = upstream_login::kind::refused;
      out.error = std::move(st.error);
      out.from_backend = st.from_backend;
      co_return out;
    }
    if (!st.to_server.empty()) {
      co_await s.write_all(net::buffer(st.to_server), ec);
      if (ec)
        co_return out;
    }
    authenticating = st.result != server_login::step::kind::authenticated;
  }
  out.mechanism = login.mechanism();
  out.channel_bound = login.channel_bound();
  out.after_authentication = true;
  for (;;) {  // ParameterStatus, BackendKeyData, ReadyForQuery (or a FATAL after the password)
    if (!co_await in.next(s, type, body, ec))
      co_return out;
    if (type == 'E') {
      out.result = upstream_login::kind::refused;
      out.from_backend = true;
      if (auto e = pg::parse_error(body))
        out.error = std::move(*e);
      else
        out.error.message = "an ErrorResponse sluice cannot read";
      co_return out;
    }
    if (type == 'S') {
      std::string name, value;
      if (pool::parse_parameter_status(body, name, value) && name == "server_version")
        out.server_version = value;
    }
    if (type == 'Z')
      break;
  }
  out.result = upstream_login::kind::ok;
  co_return out;
}

}  // namespace sluice::gateway
