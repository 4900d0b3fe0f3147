#include "gateway/session/session.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "config/log.hpp"
#include "config/units.hpp"
#include "gateway/cancel.hpp"
#include "gateway/session/auth_phase.hpp"
#include "gateway/upstream.hpp"

namespace sluice::gateway {

namespace {

config::ip_address to_ip(const net::ip::address& a) {
  if (a.is_v4())
    return config::ip_address::from_v4(a.to_v4().to_bytes());
  return config::ip_address::from_v6(a.to_v6().to_bytes());
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

session::session(tcp::socket client, runtime_ptr rt, std::string listener, session_env env,
                 uint64_t id)
    : client_(std::move(client)),
      rt_(std::move(rt)),
      env_(env),
      timer_(env.home->ioc.get_executor()) {
  record_.conn = id;
  record_.listener = std::move(listener);  // also the session's listener name
  env_.home->sessions.insert(this);
  env_.home->active.fetch_add(1, std::memory_order_relaxed);
  if (env_.listener_active)
    env_.listener_active->fetch_add(1, std::memory_order_relaxed);
}

session::~session() {
  if (handoff_)
    handoff_->detach();
  if (cancel_key_ && env_.cancels())
    env_.cancels()->forget(*cancel_key_);
  env_.home->sessions.erase(this);
  env_.home->active.fetch_sub(1, std::memory_order_relaxed);
  if (env_.listener_active)
    env_.listener_active->fetch_sub(1, std::memory_order_relaxed);
  record_.client_tls = relay_.opaque ? "passthrough" : client_.is_tls() ? "true" : "false";
  record_.publish(env_.home->stats, env_.home->counters);
}

void session::start() {
  auto self = shared_from_this();
  net::co_spawn(
      client_.socket().get_executor(), [self] { return self->run(); }, net::detached);
}

tunnel::waker& session::gate() {
  if (!gate_)
    gate_ = std::make_unique<tunnel::waker>(client_.socket().get_executor());
  return *gate_;
}

void session::close_all() {
  if (phase_ == phase::closed)
    return;
  phase_ = phase::closed;
  timer_.cancel();
  notify_gate();
  kernel_unpark();  // the sockets back in Asio's hands, to be closed as usual
  client_.close();
  if (server_)
    server_->close();
  kernel_leave();
}

net::awaitable<void> session::reject(refusal r) {
  record_.end(r.reason, r.message);
  auto bytes = pg::encode_error({"FATAL", r.sqlstate, r.message, {}, r.hint});
  error_code ec;
  co_await client_.write_all(net::buffer(bytes), ec);
  close_all();
}

net::awaitable<void> session::run() {
  auto self = shared_from_this();
  try {
    error_code ec;
    auto ep = client_.socket().remote_endpoint(ec);
    if (ec) {
      record_.end(close_reason::client_closed);
      co_return;
    }
    peer_addr_ = to_ip(ep.address());
    record_.peer = peer_addr_.str() + ":" + std::to_string(ep.port());
    client_.socket().set_option(tcp::no_delay(true), ec);
    const auto* l = rt_->listener(record_.listener);

    // Startup phase, bounded in time: negotiation, TLS and the startup packet.
    timer_.expires_after(l->cfg->startup_timeout);
    timer_.async_wait([self](error_code e) {
      if (e || self->relay_started() || self->phase_ == phase::closed)
        return;
      self->record_.end(close_reason::startup_timeout,
                        "no complete startup packet within " +
                            config::format_duration(
                                self->rt_->listener(self->record_.listener)->cfg->startup_timeout));
      self->close_all();
    });
    if (l->cfg->proxy && !co_await read_proxy_header(*l)) {
      close_all();
      co_return;
    }
    auto n = co_await negotiate();
    if (n.what != negotiated::outcome::startup) {
      if (n.what == negotiated::outcome::done)
        close_all();
      co_return;
    }
    timer_.cancel();
    env_.home->stats.handshake_seconds.observe(seconds_since(record_.started));
    co_await run_startup(std::move(n.startup), std::move(n.sni), std::move(n.early));
  } catch (const std::exception& e) {
    // Nothing may escape a session; classify what was not expected.
    record_.end(close_reason::internal_error, e.what());
    close_all();
  }
}

// A StartupMessage arrived: admit, connect, authenticate, relay (or hand off).
net::awaitable<void> session::run_startup(pg::startup_message startup, std::string sni,
                                          pg::bytes early) {
  auto self = shared_from_this();
  const auto* l = rt_->listener(record_.listener);
  const std::string user = startup.get("user");
  record_.user = user;
  record_.database = startup.get("database").empty() ? user : startup.get("database");

  // The listener's rules are checked once the client can be told why (after TLS).
  if (auto r = admit_listener(*l, record_.listener, peer_addr_, client_.is_tls(),
                              client_sees::error_response)) {
    co_await reject(*r);
    co_return;
  }
  auto a =
      admit_route(*rt_, {record_.listener, sni, record_.database, user, startup.get("options")},
                  peer_addr_, client_sees::error_response);
  if (a.choice.route)
    record_.route = a.choice.route->name;
  if (a.refused) {
    co_await reject(*a.refused);
    co_return;
  }
  if (auto r = admit_budget(*a.choice.route, user)) {
    co_await reject(*r);
    co_return;
  }
  const route_runtime* rr = a.route;
  record_.user = a.choice.user;
  record_.database = a.choice.database;
  startup.set("user", a.choice.user);
  startup.set("database", a.choice.database);
  if (a.choice.options.empty())
    startup.erase("options");
  else
    startup.set("options", a.choice.options);

  const bool terminate = rr->cfg->auth.mode == config::auth_mode::terminate;
  std::optional<terminated_client> proved;
  if (terminate) {
    proved = co_await authenticate_client(*rr, early);
    if (!proved) {
      close_all();
      co_return;
    }
  }
  const bool pooled = terminate && env_.pools() && rr->cfg->pool.mode == config::pool_mode::session;
  bool warm = false;
  if (pooled) {
    relay_.pooled = true;
    pool_ = std::make_unique<pool_state>();
    switch (co_await acquire_backend(*rr, startup, *proved, early)) {
      case pool_start::closed:
        close_all();
        co_return;
      case pool_start::relay:
        warm = true;
        break;
      case pool_start::connect:
        break;
    }
  }
  if (warm) {
    advance(phase::relaying);
    idle_timeout_ = a.choice.route->idle_timeout;
    spawn_client_to_server();
    arm_idle_timer();
    spawn_server_to_client(false);  // gives the backend back when it ends
    co_return;
  }
  advance(phase::connecting);
  upstream_connection up;
  const auto connect_started = std::chrono::steady_clock::now();
  if (auto f = co_await connect_upstream(*rr, env_.tunnels(), pg::encode_startup(startup), up,
                                         record_.conn)) {
    log::warn("upstream_failed")
        .kv("conn", record_.conn)
        .kv("route", record_.route)
        .kv("reason", to_string(f->reason))
        .kv("message", f->message);
    const refusal r{f->reason, f->sqlstate, f->message, f->hint};
    co_await reject(r);
    co_return;
  }
  // Terminated (reload, shutdown) while connecting.
  if (phase_ == phase::closed)
    co_return;
  env_.home->stats.upstream_connect_seconds.observe(seconds_since(connect_started));
  auto& latency = env_.home->stats.latency[record_.route];
  if (up.connect_seconds >= 0)
    latency.connect.observe(up.connect_seconds);
  if (up.tls_seconds >= 0)
    latency.tls.observe(up.tls_seconds);
  const auto login_started = std::chrono::steady_clock::now();
  server_ = std::move(up.stream);
  record_.upstream_tls = up.tls;
  tunnel_channel_ = up.tunnel_channel;
  tunnel_ = &rr->cfg->upstream.via;
  // routes[].pool.min_idle: what the pool may log in with later, once this login worked.
  std::optional<server_credentials> for_pool;
  if (pooled && rr->cfg->pool.min_idle > 0)
    for_pool = proved->creds;
  if (terminate)
    login_limit_ =
        std::make_unique<login_deadline>(server_->socket(), rr->cfg->upstream.login_timeout);
  if (terminate && !co_await login_upstream(*proved, up.pending)) {
    close_all();
    co_return;
  }
  advance(phase::authenticating);
  idle_timeout_ = a.choice.route->idle_timeout;
  if (pooled) {
    pool_->meta.tls = up.tls;
    pool_->meta.created = std::chrono::steady_clock::now();
    pool_->readies_before_relay = 1;
  }
  if (!early.empty()) {
    error_code ec;
    if (pooled)
      early.resize(pool_->client.feed(early));
    relay_.from_client.feed(early);
    co_await server_->write_all(net::buffer(early), ec);
  }
  // Client -> server flows blindly from now on (password messages included).
  spawn_client_to_server();
  arm_idle_timer();
  if (!co_await authenticate(std::move(up.pending))) {
    close_all();
    co_return;
  }
  login_limit_.reset();
  if (for_pool && pool_ && pool_->lease)
    start_prefill(*rr, std::move(*for_pool), pg::encode_startup(startup));
  env_.home->stats.latency[record_.route].login.observe(seconds_since(login_started));
  advance(phase::relaying);
  if (!pooled && can_hand_off()) {
    co_await hand_off();
    co_return;
  }
  // The relay runs in a coroutine of its own so that this one, and run(), end here: an
  // idle session keeps no startup packet, admission result or login state in frames.
  spawn_server_to_client(can_relay_in_kernel());
}

net::awaitable<bool> session::authenticate(pg::bytes pending) {
  auth_phase::mint_fn mint;
  if (env_.cancels()) {
    mint = [this](const pg::backend_key_data& k) {
      if (pool_)
        pool_->meta.key = k;  // a pooled backend's next clients get keys that map to it
      return env_.cancels()->mint(k, record_.route, rt_);
    };
  }
  auth_phase auth(record_.upstream_tls, record_.route, std::move(mint));
  std::array<uint8_t, 8192> chunk;
  error_code ec;
  record_.bytes_out += pending.size();
  pg::byte_span in(pending);
  for (;;) {
    if (relay_.pooled)
      pool_->backend.feed(in);  // its ParameterStatus set, for the backend's next clients
    auto out = auth.feed(in);
    for (const auto& step : out.steps)
      log::debug("upstream_login_step")
          .kv("conn", record_.conn)
          .kv("route", record_.route)
          .kv("step", step);
    if (out.backend_error) {
      // Recorded before the client sees it: its reaction (closing) must not win the record.
      log_backend_refusal(*out.backend_error);
      record_.end(close_reason::auth_failed,
                  out.backend_error->code + " " + out.backend_error->message);
    }
    cancel_key_ = auth.minted();
    if (out.status == auth_status::invalid) {
      record_.end(close_reason::protocol_violation,
                  "upstream sent an invalid message during authentication");
      co_return false;
    }
    if (out.status == auth_status::ready)
      relay_.to_client.feed(pg::byte_span(out.to_client).last(out.after_ready));
    if (!out.to_client.empty()) {
      co_await client_.write_all(net::buffer(out.to_client), ec);
      if (ec) {
        record_.end(close_reason::client_closed);
        co_return false;
      }
    }
    if (out.status == auth_status::ready)
      co_return true;
    size_t n = co_await server_->read_some(net::buffer(chunk), ec);
    if (ec && login_limit_ && login_limit_->fired()) {
      co_await reject_login_timeout();
      co_return false;
    }
    if (ec) {
      // A failed login ends here: the backend sent its ErrorResponse and closed.
      record_.end(close_reason::server_closed);  // unless auth_failed came first
      co_return false;
    }
    record_.bytes_out += n;
    relay_.last_activity = std::chrono::steady_clock::now();
    in = pg::byte_span(chunk.data(), n);
  }
}

std::optional<refusal> session::admit_budget(const config::route& r, const std::string& user) {
  if (env_.drained() && env_.drained()->drained(drains::kind::listener, record_.listener)) {
    return refusal{
        close_reason::drained,
        "57P03",
        "listener \"" + record_.listener + "\" is drained by an operator; try again later",
        {}};
  }
  if (env_.drained() && env_.drained()->drained(drains::kind::route, r.name)) {
    return refusal{close_reason::drained,
                   "57P03",
                   "route \"" + r.name + "\" is drained by an operator; try again later",
                   {}};
  }
  if (!env_.budget())
    return std::nullopt;
  route_budget::verdict why{};
  budget_slot_ =
      env_.budget()->acquire(r.name, user, r.max_connections, r.max_connections_per_user, why);
  if (budget_slot_)
    return std::nullopt;
  refusal out;
  out.sqlstate = "53300";  // too_many_connections, as Postgres says it
  if (why == route_budget::verdict::user_full) {
    out.reason = close_reason::user_max_connections;
    out.message = "too many connections for user \"" + user + "\" on route \"" + r.name +
                  "\" (max_connections_per_user " + std::to_string(r.max_connections_per_user) +
                  ")";
  } else {
    out.reason = close_reason::route_max_connections;
    out.message = "sorry, too many clients already on route \"" + r.name + "\" (max_connections " +
                  std::to_string(r.max_connections) + ")";
  }
  log::notice("connection_rejected")
      .kv("conn", record_.conn)
      .kv("listener", record_.listener)
      .kv("peer", record_.peer)
      .kv("route", r.name)
      .kv("user", user.empty() ? "-" : user)
      .kv("reason", to_string(out.reason));
  return out;
}

session_info session::info() const {
  session_info i;
  i.id = record_.conn;
  i.peer = record_.peer;
  i.listener = record_.listener;
  i.route = record_.route;
  i.user = record_.user;
  i.database = record_.database;
  i.since = since_;
  i.bytes_in = record_.bytes_in;
  i.bytes_out = record_.bytes_out;
  if (handoff_) {
    i.bytes_in += handoff_->from_client.load();
    i.bytes_out += handoff_->to_client.load();
  }
  switch (phase_) {
    case phase::startup:
      i.state = "startup";
      break;
    case phase::connecting:
      i.state = "connecting";
      break;
    case phase::authenticating:
      i.state = "authenticating";
      break;
    case phase::relaying:
    case phase::handing_off:
    case phase::handed_off:
    case phase::in_kernel:
      i.state = "active";
      break;
    case phase::terminating:
    case phase::closed:
      i.state = "closing";
      break;
  }
  return i;
}

void session::log_backend_refusal(const pg::error_fields& e) {
  log::warn("auth_failed")
      .kv("conn", record_.conn)
      .kv("route", record_.route)
      .kv("user", record_.user)
      .kv("client_tls", client_.is_tls() ? "true" : "false")
      .kv("upstream_tls", record_.upstream_tls ? "true" : "false")
      .kv("sqlstate", e.code)
      .kv("message", e.message)
      .kv("hint", e.hint.empty() ? "-" : e.hint);
}

void session::arm_idle_timer() {
  if (idle_timeout_.count() <= 0 || phase_ == phase::closed)
    return;
  timer_.expires_at(last_activity() + idle_timeout_);
  auto self = shared_from_this();
  timer_.async_wait([self](error_code ec) {
    if (ec || self->phase_ == phase::closed)
      return;
    if (std::chrono::steady_clock::now() - self->last_activity() >= self->idle_timeout_) {
      self->terminate(close_reason::idle_timeout, "57P05",
                      "terminating connection: idle for " +
                          config::format_duration(self->idle_timeout_) + " (route \"" +
                          self->record_.route + "\" idle_timeout)");
      return;
    }
    self->arm_idle_timer();
  });
}

void session::terminate(close_reason reason, const std::string& sqlstate,
                        const std::string& message) {
  if (ending())
    return;
  record_.end(reason, message);
  if (phase_ == phase::in_kernel) {
    // The program forwards blind: take the pair out of its hands first.
    phase_ = phase::terminating;
    auto self = shared_from_this();
    net::co_spawn(
        client_.socket().get_executor(),
        [self, sqlstate, message] { return self->kernel_terminate(sqlstate, message); },
        net::detached);
    return;
  }
  if (handoff_) {
    // The tunnel's thread relays this client blind: it can only close the connection.
    phase_ = phase::terminating;
    handoff_->request_close();
    return;
  }
  if (!relay_started() || phase_ == phase::handing_off || !relay_.can_inject_error()) {
    // Mid-message (or before the client expects messages): closing is all we can do.
    close_all();
    return;
  }
  phase_ = phase::terminating;
  if (server_)
    server_->close();
  auto self = shared_from_this();
  net::co_spawn(
      client_.socket().get_executor(),
      [self, sqlstate, message]() -> net::awaitable<void> {
        auto bytes = pg::encode_error({"FATAL", sqlstate, message, {}, {}});
        error_code ec;
        co_await self->client_.write_all(net::buffer(bytes), ec);
        self->close_all();
      },
      net::detached);
}

void session::on_reload(const runtime_ptr& next) {
  if (phase_ == phase::closed)
    return;
  if (auto why = no_longer_allowed(*next, record_.listener, record_.route, peer_addr_))
    terminate(close_reason::reload_disallowed, "28000", *why);
}

}  // namespace sluice::gateway
