#include "gateway/session/pool_prefill.hpp"

#include <openssl/ssl.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "config/log.hpp"
#include "gateway/auth/channel_binding.hpp"
#include "gateway/session/login_deadline.hpp"
#include "gateway/session/message_reader.hpp"
#include "gateway/upstream.hpp"

namespace sluice::gateway {

namespace {

struct prefill_failure {
  std::string reason;  // upstream close_reason, auth_failed, protocol_violation, ...
  std::string message;
  bool refused = false;  // the database refused the credential
};

// Logs in on `s` (the startup packet is sent) up to ReadyForQuery; fills b's parameters
// and key. nullopt: the backend is ready and idle.
net::awaitable<std::optional<prefill_failure>> log_in(const prefill_recipe& r, pg_stream& s,
                                                      pg::bytes pending,
                                                      const login_deadline& limit,
                                                      pool::idle_backend& b) {
  auto creds = r.creds;
  if (X509* cert = s.is_tls() ? SSL_get0_peer_certificate(s.tls().native_handle()) : nullptr) {
    auto cb = auth::tls_server_end_point(cert);
    creds.channel_binding = cb ? cb.value() : auth::bytes{};
  }
  server_login login(std::move(creds));
  message_reader in(std::move(pending));
  bool authenticated = false;
  char type = 0;
  pg::bytes body;
  error_code ec;
  for (;;) {
    if (!co_await in.next(s, type, body, ec)) {
      if (limit.fired())
        co_return prefill_failure{"upstream_login_timeout", "no answer within login_timeout"};
      co_return prefill_failure{"server_closed",
                                "the database closed the connection: " + ec.message()};
    }
    if (!authenticated) {
      auto st = login.on_message(type, body);
      if (st.result == server_login::step::kind::failed) {
        // Class 28 from the database, or sluice refusing the server: the credential (not
        // a busy or restarting database) is what failed.
        const bool refused = !st.from_backend || st.error.code.rfind("28", 0) == 0;
        co_return prefill_failure{"auth_failed", st.error.code + " " + st.error.message, refused};
      }
      if (!st.to_server.empty()) {
        co_await s.write_all(net::buffer(st.to_server), ec);
        if (ec)
          co_return prefill_failure{"server_closed", "while logging in: " + ec.message()};
      }
      authenticated = st.result == server_login::step::kind::authenticated;
      continue;
    }
    switch (type) {
      case 'S': {
        std::string name, value;
        if (pool::parse_parameter_status(body, name, value))
          pool::set_param(b.params, name, std::move(value));
        break;
      }
      case 'K':
        if (auto k = pg::parse_backend_key_data(body))
          b.key = *k;
        break;
      case 'N':
        break;
      case 'Z':
        if (body.size() != 1 || body[0] != 'I')
          co_return prefill_failure{"protocol_violation", "ReadyForQuery not idle after login"};
        co_return std::nullopt;
      case 'E': {
        auto e = pg::parse_error(body);
        co_return prefill_failure{"auth_failed", e ? e->code + " " + e->message : "ErrorResponse",
                                  false};
      }
      default:
        co_return prefill_failure{"protocol_violation",
                                  std::string("unexpected message after login: type ") + type};
    }
  }
}

net::awaitable<void> open_one(std::shared_ptr<const prefill_recipe> r,
                              std::unique_ptr<pool::pool_lease> lease) {
  auto& p = lease->pool();
  std::optional<prefill_failure> failed;
  try {
    const auto* rr = r->rt->route(r->route);
    upstream_connection up;
    if (!rr) {
      failed = prefill_failure{"reload", "the route is gone"};
    } else if (auto f = co_await connect_upstream(*rr, r->tunnels, r->startup, up)) {
      failed = prefill_failure{std::string(to_string(f->reason)), f->message};
    } else {
      login_deadline limit(up.stream->socket(), rr->cfg->upstream.login_timeout);
      pool::idle_backend b;
      failed = co_await log_in(*r, *up.stream, std::move(up.pending), limit, b);
      limit.cancel();
      if (failed && failed->reason == "upstream_login_timeout")
        failed->message = login_timed_out(*rr->cfg, r->creds.user).message;
      if (!failed) {
        b.stream = std::move(up.stream);
        b.tls = up.tls;
        b.origin = r->origin;
        b.created = pool::clock::now();
        log::info("pool_backend_prefilled")
            .kv("route", p.route())
            .kv("user", p.user())
            .kv("database", p.database())
            .kv("backend_pid", b.key.pid)
            .kv("upstream_tls", b.tls ? "true" : "false");
        p.prefill_done(true, false);
        lease->give_back(std::move(b));
        co_return;
      }
    }
  } catch (const std::exception& e) {
    failed = prefill_failure{"internal_error", e.what()};
  }
  log::warn("pool_prefill_failed")
      .kv("route", p.route())
      .kv("user", p.user())
      .kv("database", p.database())
      .kv("reason", failed->reason)
      .kv("message", failed->message);
  // Before the lease goes: its release must not start the next attempt at once.
  p.prefill_done(false, failed->refused);
  lease->set_reason(pool::backend_close::prefill_failed);
}

}  // namespace

pool::backend_pool::opener prefill_opener(std::shared_ptr<const prefill_recipe> recipe,
                                          net::any_io_executor ex) {
  return [recipe = std::move(recipe), ex](std::unique_ptr<pool::pool_lease> lease) {
    net::co_spawn(ex, open_one(recipe, std::move(lease)), net::detached);
  };
}

}  // namespace sluice::gateway
