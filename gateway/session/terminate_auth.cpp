// auth.mode: terminate (docs/security.md): sluice authenticates the client itself from
// the route's stored secrets (client_login.hpp), then logs in to the database as that
// user (server_login.hpp). Only once both succeeded does the client see AuthenticationOk;
// the backend's ParameterStatus, BackendKeyData and ReadyForQuery then go through the
// ordinary auth phase.
#include <openssl/ssl.h>

#include "config/log.hpp"
#include "config/units.hpp"
#include "gateway/auth/channel_binding.hpp"
#include "gateway/secret_store.hpp"
#include "gateway/session/client_login.hpp"
#include "gateway/session/login_steps.hpp"
#include "gateway/session/message_reader.hpp"
#include "gateway/session/server_login.hpp"
#include "gateway/session/session.hpp"
#include "gateway/upstream.hpp"

namespace sluice::gateway {

namespace {

auth::bytes binding_of(X509* cert) {
  if (!cert)
    return {};
  auto cb = auth::tls_server_end_point(cert);
  return cb ? cb.value() : auth::bytes{};
}

// What the server leg logs in with, from what the client leg proved and what is stored.
server_credentials credentials_for(const std::string& user, const user_secret& s,
                                   const client_login& cl) {
  server_credentials c;
  c.user = user;
  switch (auth::classify_secret(s.stored)) {
    case auth::secret_kind::plaintext:
      c.password = s.stored;
      break;
    case auth::secret_kind::md5:
      c.md5_secret = s.stored;
      break;
    case auth::secret_kind::scram_sha_256:
      c.client_key = cl.client_key();
      if (auto p = auth::parse_scram_secret(s.stored))
        c.secret = p.value();
      break;
  }
  return c;
}

}  // namespace

net::awaitable<std::optional<terminated_client>> session::authenticate_client(
    const route_runtime& rr, pg::bytes& early) {
  auto self = shared_from_this();
  const auto* l = rt_->listener(record_.listener);
  // A client that never finishes its half is closed like a slow startup.
  net::steady_timer deadline(client_.socket().get_executor());
  deadline.expires_after(l->cfg->startup_timeout + rr.cfg->upstream.connect_timeout);
  deadline.async_wait([self](error_code ec) {
    if (ec || self->phase_ == phase::closed)
      return;
    self->record_.end(close_reason::startup_timeout, "authentication did not finish in time");
    self->close_all();
  });
  struct cancel_on_exit {
    net::steady_timer& t;
    ~cancel_on_exit() { t.cancel(); }
  } guard{deadline};

  const std::string& user = record_.user;
  auto answer = co_await lookup_secret(rr, env_.tunnels(), user, record_.database);
  if (phase_ == phase::closed)
    co_return std::nullopt;
  if (answer.failure) {
    log::warn("auth_lookup_failed")
        .kv("conn", record_.conn)
        .kv("route", record_.route)
        .kv("user", user)
        .kv("message", answer.failure->message)
        .kv("hint", answer.failure->hint.empty() ? "-" : answer.failure->hint);
    // A named refusal: GCC 12 mis-destroys braced temporaries in co_await.
    const refusal why_refused{close_reason::auth_lookup_failed, "08006",
                              "sluice cannot look up the password of user \"" + user +
                                  "\" for route \"" + record_.route +
                                  "\": " + answer.failure->message,
                              answer.failure->hint};
    co_await reject(why_refused);
    co_return std::nullopt;
  }
  X509* own = client_.is_tls() ? SSL_get_certificate(client_.tls().native_handle()) : nullptr;
  client_login cl(user, answer.secret, binding_of(own));
  auto first = cl.begin();
  error_code ec;
  co_await client_.write_all(net::buffer(first), ec);
  if (ec) {
    record_.end(close_reason::client_closed);
    co_return std::nullopt;
  }
  message_reader in(std::exchange(early, {}));
  char type = 0;
  pg::bytes body;
  for (;;) {
    if (!co_await in.next(client_, type, body, ec)) {
      if (ec == net::error::invalid_argument)
        record_.end(close_reason::protocol_violation, "invalid message during authentication");
      else
        record_.end(close_reason::client_closed, "during authentication");
      co_return std::nullopt;
    }
    record_.bytes_in += body.size() + 5;
    auto st = cl.on_message(type, body);
    if (st.result == client_login::step::kind::failed) {
      // A changed password must work on the next attempt, not after cache_ttl.
      forget_secret(record_.route, user);
      // The log says why (unknown user, expired...); the client only what PostgreSQL says.
      const auto why = st.log_detail.empty() ? st.error.detail : st.log_detail;
      record_.end(close_reason::auth_failed,
                  st.error.sqlstate + " " + st.error.message + (why.empty() ? "" : ": " + why));
      // A named refusal: GCC 12 mis-destroys braced temporaries in co_await.
      const refusal why_refused{close_reason::auth_failed, st.error.sqlstate, st.error.message, {}};
      co_await reject(why_refused);
      co_return std::nullopt;
    }
    if (st.result == client_login::step::kind::done)
      break;
    co_await client_.write_all(net::buffer(st.to_client), ec);
    if (ec) {
      record_.end(close_reason::client_closed);
      co_return std::nullopt;
    }
  }
  early = in.take_rest();
  terminated_client out;
  out.creds = credentials_for(user, *answer.secret, cl);
  out.held = cl.held_final();
  auto ok = encode_auth_ok();
  out.held.insert(out.held.end(), ok.begin(), ok.end());
  out.mechanism = cl.used_md5()        ? "md5"
                  : cl.channel_bound() ? "SCRAM-SHA-256-PLUS"
                                       : "SCRAM-SHA-256";
  out.source = answer.source;
  co_return out;
}

net::awaitable<void> session::reject_login_timeout() {
  const auto* rr = rt_->route(record_.route);
  if (!rr) {
    record_.end(close_reason::upstream_login_timeout);
    co_return;
  }
  const auto f = login_timed_out(*rr->cfg, record_.user);
  log::warn("upstream_failed")
      .kv("conn", record_.conn)
      .kv("route", record_.route)
      .kv("reason", to_string(f.reason))
      .kv("message", f.message);
  // A named refusal: GCC 12 mis-destroys braced temporaries in co_await.
  const refusal why_refused{f.reason, f.sqlstate, f.message, f.hint};
  co_await reject(why_refused);
}

net::awaitable<bool> session::login_upstream(terminated_client& c, pg::bytes& pending) {
  if (server_->is_tls())
    c.creds.channel_binding = binding_of(SSL_get0_peer_certificate(server_->tls().native_handle()));
  server_login login(std::move(c.creds));
  message_reader in(std::exchange(pending, {}));
  char type = 0;
  pg::bytes body;
  error_code ec;
  for (;;) {
    if (!co_await in.next(*server_, type, body, ec)) {
      if (login_limit_ && login_limit_->fired()) {
        co_await reject_login_timeout();
        co_return false;
      }
      const refusal why_refused{
          close_reason::server_closed,
          "08006",
          "the database closed the connection while sluice logged in as \"" + record_.user + "\"",
          {}};
      co_await reject(why_refused);
      co_return false;
    }
    record_.bytes_out += body.size() + 5;
    if (type != 'S')
      log::debug("upstream_login_step")
          .kv("conn", record_.conn)
          .kv("route", record_.route)
          .kv("step", login_step_name(type, body));
    auto st = login.on_message(type, body);
    if (st.result == server_login::step::kind::failed) {
      forget_secret(record_.route, record_.user);
      if (st.from_backend)
        log_backend_refusal(st.error);
      else
        log::warn("auth_failed")
            .kv("conn", record_.conn)
            .kv("route", record_.route)
            .kv("user", record_.user)
            .kv("sqlstate", st.error.code)
            .kv("message", st.error.message)
            .kv("detail", st.error.detail.empty() ? "-" : st.error.detail);
      // A named refusal: GCC 12 mis-destroys braced temporaries in co_await.
      const refusal why_refused{close_reason::auth_failed, st.error.code,
                                st.from_backend
                                    ? st.error.message
                                    : "sluice refused the database's login: " + st.error.message,
                                st.error.hint.empty() ? st.error.detail : st.error.hint};
      co_await reject(why_refused);
      co_return false;
    }
    if (!st.to_server.empty()) {
      co_await server_->write_all(net::buffer(st.to_server), ec);
      if (ec && login_limit_ && login_limit_->fired()) {
        co_await reject_login_timeout();
        co_return false;
      }
      if (ec) {
        record_.end(close_reason::server_closed, "while logging in to the database");
        co_return false;
      }
    }
    if (st.result == server_login::step::kind::authenticated)
      break;
  }
  log::info("client_authenticated")
      .kv("conn", record_.conn)
      .kv("route", record_.route)
      .kv("user", record_.user)
      .kv("client_mechanism", c.mechanism)
      .kv("server_mechanism", login.mechanism())
      .kv("secret_source", c.source)
      .kv("client_tls", client_.is_tls() ? "true" : "false")
      .kv("upstream_tls", record_.upstream_tls ? "true" : "false");
  co_await client_.write_all(net::buffer(c.held), ec);
  if (ec) {
    record_.end(close_reason::client_closed);
    co_return false;
  }
  pending = in.take_rest();
  co_return true;
}

}  // namespace sluice::gateway
