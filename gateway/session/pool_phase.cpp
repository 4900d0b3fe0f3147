// routes[].pool (docs/operations.md, "Session pooling"). Only after sluice checked the
// client's password (terminate_auth.cpp) does it ask the route's pool for a backend of
// the same user and database: a warm one is made to match the client's startup
// parameters (set_config), and the client is greeted as a new backend would: its
// ParameterStatus set, a cancel key minted here for that backend, ReadyForQuery. When
// the client leaves between messages with the backend idle, the reset SQL runs and the
// backend goes back; anything else closes it (gateway/pool/session_watch.hpp says why).
#include <utility>  // before Asio: GCC 12 + Boost 1.74 awaitable.hpp needs std::exchange

#include <boost/asio/steady_timer.hpp>

#include "config/log.hpp"
#include "config/units.hpp"
#include "gateway/cancel.hpp"
#include "gateway/session/pool_prefill.hpp"
#include "gateway/session/session.hpp"

namespace sluice::gateway {

namespace {

pool::param_list params_of(const pg::startup_message& m) {
  pool::param_list out;
  for (const auto& [k, v] : m.params)
    pool::set_param(out, k, v);
  return out;
}

}  // namespace

net::awaitable<bool> session::pool_query(const std::string& sql, pool::query_reply& reply) {
  auto self = shared_from_this();
  const auto q = pool::encode_query(sql);
  error_code ec;
  co_await server_->write_all(net::buffer(q), ec);
  if (ec)
    co_return false;
  // A backend that does not answer in time is given up (the socket's wait is cancelled).
  net::steady_timer limit(client_.socket().get_executor());
  const auto* rr = rt_->route(record_.route);
  limit.expires_after(rr ? rr->cfg->upstream.connect_timeout
                         : config::upstream_settings{}.connect_timeout);
  auto expired = std::make_shared<bool>(false);
  limit.async_wait([self, expired](error_code e) {
    if (e)
      return;
    *expired = true;
    if (self->server_) {
      error_code ignored;
      self->server_->socket().cancel(ignored);
    }
  });
  std::array<uint8_t, 4096> chunk;
  for (;;) {
    const size_t n = co_await server_->read_some(net::buffer(chunk), ec);
    if (ec || *expired) {
      limit.cancel();
      co_return false;
    }
    const auto st = reply.feed({chunk.data(), n});
    if (st != pool::query_reply::status::need_more) {
      limit.cancel();
      co_return st == pool::query_reply::status::ok;
    }
  }
}

net::awaitable<session::pool_start> session::acquire_backend(const route_runtime& rr,
                                                             const pg::startup_message& startup,
                                                             terminated_client& c,
                                                             pg::bytes& early) {
  auto self = shared_from_this();
  auto p = env_.pools()->pool_for(*rr.cfg, record_.user, record_.database);
  const auto wanted = params_of(startup);
  const auto home = client_.socket().get_executor();
  for (;;) {
    auto got = co_await p->acquire(wanted, home);
    if (phase_ == phase::closed) {
      // Ended (reload, shutdown) while waiting; a warm backend is still clean.
      if (got.what == pool::acquired::kind::warm)
        got.lease->give_back(std::move(*got.backend));
      co_return pool_start::closed;
    }
    if (got.what == pool::acquired::kind::timed_out) {
      const auto& cfg = rr.cfg->pool;
      const std::string msg = "no server connection free for user \"" + record_.user +
                              "\" and database \"" + record_.database + "\" on route \"" +
                              record_.route + "\" within pool.wait_timeout " +
                              config::format_duration(cfg.wait_timeout) + " (all " +
                              std::to_string(cfg.size) + " in use)";
      log::warn("pool_wait_timeout")
          .kv("conn", record_.conn)
          .kv("route", record_.route)
          .kv("user", record_.user)
          .kv("database", record_.database)
          .kv("size", cfg.size);
      const refusal why{close_reason::pool_wait_timeout, "53300", msg,
                        "raise routes[].pool.size (within the database's max_connections) or "
                        "pool.wait_timeout, or end idle client sessions sooner"};
      co_await reject(why);
      co_return pool_start::closed;
    }
    if (got.what == pool::acquired::kind::closed) {
      const refusal why{close_reason::shutdown,
                        "57P01",
                        "sluice is shutting down or reloading: route \"" + record_.route +
                            "\" hands out no more pooled connections",
                        {}};
      co_await reject(why);
      co_return pool_start::closed;
    }
    pool_->lease = std::move(got.lease);
    if (got.what == pool::acquired::kind::fresh) {
      pool_->meta.origin = wanted;
      co_return pool_start::connect;
    }
    auto& b = *got.backend;
    if (!b.stream->rehome(home)) {
      pool_->lease->set_reason(pool::backend_close::server_closed);
      pool_->lease.reset();
      continue;
    }
    server_ = std::move(b.stream);
    if (!got.plan.sql.empty()) {
      pool::query_reply reply;
      if (!co_await pool_query(got.plan.sql, reply)) {
        log::warn("pool_set_failed")
            .kv("conn", record_.conn)
            .kv("route", record_.route)
            .kv("user", record_.user)
            .kv("message", reply.error().empty() ? "no answer in time" : reply.error());
        pool_->lease->set_reason(pool::backend_close::set_failed);
        server_->close();
        server_.reset();
        pool_->lease.reset();
        if (phase_ == phase::closed)
          co_return pool_start::closed;
        continue;
      }
      for (const auto& [n, v] : reply.params())
        pool::set_param(b.params, n, v);
    }
    record_.upstream_tls = b.tls;
    tunnel_ = &rr.cfg->upstream.via;
    pool_->meta.tls = b.tls;
    pool_->meta.key = b.key;
    pool_->meta.origin = b.origin;
    pool_->meta.created = b.created;
    pool_->meta.uses = b.uses;
    pool_->backend.seed(b.params);

    // The client's greeting, as a new backend would give it.
    pg::bytes hello = std::move(c.held);
    auto ps = pool::encode_parameter_status(b.params);
    hello.insert(hello.end(), ps.begin(), ps.end());
    pg::backend_key_data key = b.key;
    if (env_.cancels()) {
      cancel_key_ = env_.cancels()->mint(b.key, record_.route, rt_);
      key = *cancel_key_;
    }
    auto k = pg::encode_backend_key_data(key);
    hello.insert(hello.end(), k.begin(), k.end());
    auto z = pool::encode_ready_for_query('I');
    hello.insert(hello.end(), z.begin(), z.end());
    log::info("pool_backend_reused")
        .kv("conn", record_.conn)
        .kv("route", record_.route)
        .kv("user", record_.user)
        .kv("database", record_.database)
        .kv("backend_pid", b.key.pid)
        .kv("uses", b.uses)
        .kv("waited_ms", static_cast<int64_t>(got.waited_seconds * 1000));
    error_code ec;
    co_await client_.write_all(net::buffer(hello), ec);
    record_.bytes_out += hello.size();
    if (ec) {
      record_.end(close_reason::client_closed);
      pool_->lease->set_reason(pool::backend_close::unclean_end);
      co_return pool_start::closed;
    }
    advance(phase::authenticating);
    if (!early.empty()) {
      early.resize(pool_->client.feed(early));
      relay_.from_client.feed(early);
      co_await server_->write_all(net::buffer(early), ec);
    }
    co_return pool_start::relay;
  }
}

net::awaitable<void> session::release_backend() {
  auto self = shared_from_this();
  if (!pool_ || !pool_->lease)
    co_return;
  if (!relay_.pool_release || phase_ == phase::closed || !server_) {
    // The backend or sluice ended the session (its socket is closed already).
    pool_->lease->set_reason(phase_ == phase::closed && !relay_.pool_release
                                 ? pool::backend_close::unclean_end
                                 : pool::backend_close::server_closed);
    close_all();
    co_return;
  }
  // The client is done with its side.
  client_.close();
  const pool::release_facts facts{relay_.client_left_cleanly, &pool_->backend, &pool_->client,
                                  pool_->readies_before_relay};
  auto why = pool::why_not_keep(facts);
  const auto* rr = rt_->route(record_.route);
  pool::query_reply reply;
  if (!why && (!rr || !co_await pool_query(rr->cfg->pool.reset, reply))) {
    why = pool::backend_close::reset_failed;
    log::warn("pool_reset_failed")
        .kv("conn", record_.conn)
        .kv("route", record_.route)
        .kv("user", record_.user)
        .kv("message", reply.error().empty() ? "no answer in time" : reply.error());
  }
  if (why || phase_ == phase::closed || !server_) {
    pool_->lease->set_reason(why.value_or(pool::backend_close::unclean_end));
    close_all();
    co_return;
  }
  pool_->meta.params = pool_->backend.params();
  for (const auto& [n, v] : reply.params())
    pool::set_param(pool_->meta.params, n, v);
  pool_->meta.stream = std::move(server_);
  pool_->lease->give_back(std::move(pool_->meta));
  pool_->lease.reset();
  close_all();
}

void session::start_prefill(const route_runtime& rr, server_credentials creds, pg::bytes startup) {
  auto r = std::make_shared<prefill_recipe>();
  r->rt = rt_;
  r->route = rr.cfg->name;
  r->tunnels = env_.tunnels();
  r->startup = std::move(startup);
  r->origin = pool_->meta.origin;
  r->creds = std::move(creds);
  pool_->lease->pool().set_opener(prefill_opener(std::move(r), client_.socket().get_executor()));
}

}  // namespace sluice::gateway
