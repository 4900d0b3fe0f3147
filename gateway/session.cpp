#include "gateway/session.hpp"

#include <fcntl.h>
#include <openssl/ssl.h>
#include <unistd.h>

#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <set>

#include "config/log.hpp"
#include "config/units.hpp"
#include "gateway/cancel.hpp"
#include "gateway/client_hello.hpp"
#include "gateway/proxy_header.hpp"
#include "gateway/router.hpp"
#include "gateway/tunnel/manager.hpp"
#include "gateway/upstream.hpp"

namespace sluice::gateway {

namespace {

constexpr size_t kAuthPhaseMax = 1
                                 << 20;  // a backend's auth-phase message larger than this is bogus

// Shared by every relay on this thread: a chunk only lives here between a
// read and the non-blocking write that follows it, never across a suspension.
std::array<uint8_t, 64 * 1024>& thread_scratch() {
  static thread_local std::array<uint8_t, 64 * 1024> buf;
  return buf;
}

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
      listener_(std::move(listener)),
      env_(env),
      id_(id),
      timer_(client_.socket().get_executor()),
      gate_(client_.socket().get_executor()) {
  env_.home->sessions.insert(this);
  env_.home->active.fetch_add(1, std::memory_order_relaxed);
  if (env_.listener_active)
    env_.listener_active->fetch_add(1, std::memory_order_relaxed);
}

session::~session() {
  if (handoff_)
    handoff_->detach();
  if (minted_key_ && env_.cancels)
    env_.cancels->forget(*minted_key_);
  env_.home->sessions.erase(this);
  env_.home->active.fetch_sub(1, std::memory_order_relaxed);
  if (env_.listener_active)
    env_.listener_active->fetch_sub(1, std::memory_order_relaxed);
  env_.home->counters.bytes_client_to_server.fetch_add(bytes_in_, std::memory_order_relaxed);
  env_.home->counters.bytes_server_to_client.fetch_add(bytes_out_, std::memory_order_relaxed);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                  started_)
                .count();
  auto& stats = env_.home->stats;
  ++stats.closed[{listener_, reason_}];
  if (!route_.empty()) {
    auto& r = stats.routes[route_];
    ++r.sessions;
    r.bytes_client_to_server += bytes_in_;
    r.bytes_server_to_client += bytes_out_;
  }
  const bool normal = reason_ == "client_closed" || reason_ == "server_closed";
  log::line(normal ? log::level::info : log::level::notice, "connection_closed")
      .kv("conn", id_)
      .kv("peer", peer_)
      .kv("listener", listener_)
      .kv("balancer", balancer_.empty() ? "-" : balancer_)
      .kv("route", route_.empty() ? "-" : route_)
      .kv("user", user_.empty() ? "-" : user_)
      .kv("database", database_.empty() ? "-" : database_)
      .kv("client_tls", passthrough_       ? "passthrough"
                        : client_.is_tls() ? "true"
                                           : "false")
      .kv("upstream_tls", upstream_tls_)
      .kv("bytes_in", bytes_in_)
      .kv("bytes_out", bytes_out_)
      .kv("duration_ms", static_cast<int64_t>(ms))
      .kv("reason", reason_)
      .kv("message", detail_.empty() ? "-" : detail_);
}

void session::start() {
  auto self = shared_from_this();
  net::co_spawn(
      client_.socket().get_executor(), [self] { return self->run(); }, net::detached);
}

void session::close_all() {
  if (closed_)
    return;
  closed_ = true;
  timer_.cancel();
  gate_.notify();
  client_.close();
  if (server_)
    server_->close();
}

net::awaitable<void> session::reject(const std::string& reason, const std::string& sqlstate,
                                     const std::string& message, const std::string& hint) {
  reason_ = reason;
  detail_ = message;
  auto bytes = pg::encode_error({"FATAL", sqlstate, message, {}, hint});
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
      reason_ = "client_closed";
      co_return;
    }
    peer_addr_ = to_ip(ep.address());
    peer_ = peer_addr_.str() + ":" + std::to_string(ep.port());
    client_.socket().set_option(tcp::no_delay(true), ec);
    const auto* l = rt_->listener(listener_);

    // Startup phase, bounded in time: negotiation, TLS and the startup packet.
    timer_.expires_after(l->cfg->startup_timeout);
    timer_.async_wait([self](error_code e) {
      if (e || self->relaying_ || self->closed_)
        return;
      self->reason_ = "startup_timeout";
      self->detail_ =
          "no complete startup packet within " +
          config::format_duration(self->rt_->listener(self->listener_)->cfg->startup_timeout);
      self->close_all();
    });
    if (l->cfg->proxy && !co_await read_proxy_header(*l)) {
      close_all();
      co_return;
    }
    pg::startup_message startup;
    if (!co_await negotiate(startup)) {
      close_all();
      co_return;
    }
    timer_.cancel();
    env_.home->stats.handshake_seconds.observe(seconds_since(started_));
    user_ = startup.get("user");
    database_ = startup.get("database").empty() ? user_ : startup.get("database");

    // The listener allowlist is checked once the client can be told why (after TLS).
    if (auto d = l->allow.check(peer_addr_); !d.allowed) {
      co_await reject("rejected_allowlist", "28000",
                      "connection from " + peer_addr_.str() +
                          " refused: the address is not on the allowlist of listener \"" +
                          listener_ + "\" (" + l->allow.describe() + ")",
                      "ask the gateway's network team to add " + peer_addr_.str() +
                          " to one of those allowlists");
      co_return;
    }
    if (!client_.is_tls() && l->cfg->client_tls == config::client_tls_policy::required) {
      co_await reject("tls_required", "28000",
                      "listener \"" + listener_ + "\" requires TLS; this connection is unencrypted",
                      "connect with sslmode=require (or verify-full)");
      co_return;
    }

    route_request req{listener_, sni_, database_, user_, startup.get("options")};
    auto choice = pick_route(*rt_->settings, req);
    if (!choice.route) {
      co_await reject("no_route", "08004", choice.error,
                      "check the host name (SNI), database and user you connect with");
      co_return;
    }
    route_ = choice.route->name;
    const route_runtime* rr = rt_->route(route_);
    if (auto d = rr->allow.check(peer_addr_); !d.allowed) {
      co_await reject("rejected_route_allowlist", "28000",
                      "connection from " + peer_addr_.str() +
                          " refused: the address is not on the allowlist of route \"" + route_ +
                          "\" (" + rr->allow.describe() + ")",
                      "ask the gateway's network team to add " + peer_addr_.str() +
                          " to one of those allowlists");
      co_return;
    }
    user_ = choice.user;
    database_ = choice.database;
    startup.set("user", choice.user);
    startup.set("database", choice.database);
    if (choice.options.empty())
      startup.erase("options");
    else
      startup.set("options", choice.options);

    upstream_connection up;
    const auto connect_started = std::chrono::steady_clock::now();
    if (auto f = co_await connect_upstream(*rr, env_.tunnels, pg::encode_startup(startup), up)) {
      log::warn("upstream_failed")
          .kv("conn", id_)
          .kv("route", route_)
          .kv("reason", f->reason)
          .kv("message", f->message);
      co_await reject(f->reason, f->sqlstate, f->message, f->hint);
      co_return;
    }
    // Terminated (reload, shutdown) while connecting.
    if (closed_)
      co_return;
    env_.home->stats.upstream_connect_seconds.observe(seconds_since(connect_started));
    server_ = std::move(up.stream);
    upstream_tls_ = up.tls;
    tunnel_channel_ = up.tunnel_channel;
    tunnel_ = rr->cfg->upstream.via;
    relaying_ = true;
    idle_timeout_ = choice.route->idle_timeout;
    if (!client_early_.empty()) {
      from_client_frames_.feed(client_early_);
      co_await server_->write_all(net::buffer(client_early_), ec);
      client_early_.clear();
    }
    // Client -> server flows blindly from now on (password messages included).
    ++pumps_;
    net::co_spawn(
        client_.socket().get_executor(), [self] { return self->pump(true); }, net::detached);
    arm_idle_timer();
    if (!co_await auth_phase(std::move(up.pending))) {
      close_all();
      co_return;
    }
    if (can_hand_off()) {
      co_await hand_off();
      co_return;
    }
    ++pumps_;
    co_await pump(false);
  } catch (const std::exception& e) {
    // Nothing may escape a session; classify what was not expected.
    reason_ = "internal_error";
    detail_ = e.what();
    close_all();
  }
}

net::awaitable<bool> session::accept_tls(const listener_runtime& l) {
  client_.start_tls(l.tls->native().native_handle(), tls_stream::role::server);
  error_code ec;
  co_await client_.tls().handshake(ec);
  if (!ec)
    co_return true;
  // Closed by the startup timer (or a shutdown): keep the reason and words it set.
  if (!closed_) {
    reason_ = "tls_handshake_failed";
    detail_ = ec.message();
  }
  co_return false;
}

net::awaitable<bool> session::negotiate(pg::startup_message& startup) {
  const auto* l = rt_->listener(listener_);
  const bool tls_offered = l->tls && l->cfg->client_tls != config::client_tls_policy::disabled;
  pg::bytes buf;
  std::array<uint8_t, 2048> chunk;
  error_code ec;
  bool tls_done = false;

  // Direct TLS (PostgreSQL 17 sslnegotiation=direct): the first byte is a TLS
  // handshake record. Peek, so the ClientHello stays in the socket for OpenSSL.
  co_await client_.socket().async_wait(tcp::socket::wait_read,
                                       net::redirect_error(net::use_awaitable, ec));
  uint8_t first = 0;
  if (!ec)
    client_.socket().receive(net::buffer(&first, 1), tcp::socket::message_peek, ec);
  if (ec) {
    reason_ = closed_ ? reason_ : "client_closed";
    co_return false;
  }
  const bool pass = l->cfg->tls && l->cfg->tls->mode == config::tls_mode::passthrough &&
                    l->cfg->client_tls != config::client_tls_policy::disabled;
  if (first == pg::kTlsHandshakeByte && pass) {
    co_await passthrough({});
    co_return false;
  }
  if (first == pg::kTlsHandshakeByte) {
    if (!tls_offered) {
      reason_ = "protocol_violation";
      detail_ = "direct TLS on a listener without TLS";
      co_return false;
    }
    if (!co_await accept_tls(*l))
      co_return false;
    const unsigned char* alpn = nullptr;
    unsigned alpn_len = 0;
    SSL_get0_alpn_selected(client_.tls().native_handle(), &alpn, &alpn_len);
    if (alpn_len == 0) {
      co_await reject("protocol_violation", "08P01",
                      "direct TLS connections must negotiate ALPN protocol \"postgresql\"");
      co_return false;
    }
    tls_done = true;
  }

  for (;;) {
    auto p = pg::parse_first_packet(buf);
    if (p.kind == pg::first_kind::need_more) {
      size_t n = co_await client_.read_some(net::buffer(chunk), ec);
      if (ec) {
        reason_ = closed_ ? reason_ : "client_closed";
        if (!closed_)
          detail_ = "client disconnected during startup";
        co_return false;
      }
      buf.insert(buf.end(), chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(n));
      continue;
    }
    const bool leftover = buf.size() > p.consumed;
    switch (p.kind) {
      case pg::first_kind::gssenc_request:
      case pg::first_kind::ssl_request: {
        const bool ssl = p.kind == pg::first_kind::ssl_request;
        if (tls_done) {
          co_await reject("protocol_violation", "08P01",
                          std::string(ssl ? "SSLRequest" : "GSSENCRequest") + " inside TLS");
          co_return false;
        }
        if (leftover) {
          // Bytes sent before our answer would be trusted as if they were encrypted
          // (CVE-2021-23214): refuse them.
          co_await reject("protocol_violation", "08P01",
                          std::string("received unencrypted data after ") +
                              (ssl ? "SSL" : "GSSENC") + " request");
          co_return false;
        }
        buf.clear();
        if (ssl && pass) {
          const char yes = 'S';
          co_await client_.write_all(net::buffer(&yes, 1), ec);
          if (!ec)
            co_await passthrough({});
          co_return false;
        }
        const char answer = ssl && tls_offered ? 'S' : 'N';
        co_await client_.write_all(net::buffer(&answer, 1), ec);
        if (ec) {
          reason_ = "client_closed";
          co_return false;
        }
        if (answer == 'S') {
          if (!co_await accept_tls(*l))
            co_return false;
          tls_done = true;
        }
        continue;
      }
      case pg::first_kind::cancel_request:
        co_await handle_cancel(p.cancel);
        co_return false;
      case pg::first_kind::startup:
        if (leftover) {
          client_early_.assign(buf.begin() + static_cast<std::ptrdiff_t>(p.consumed), buf.end());
        }
        if (tls_done) {
          const char* name =
              SSL_get_servername(client_.tls().native_handle(), TLSEXT_NAMETYPE_host_name);
          if (name)
            sni_ = name;
        }
        startup = std::move(p.startup);
        co_return true;
      case pg::first_kind::invalid:
        co_await reject("protocol_violation", "08P01", "invalid startup packet: " + p.error);
        co_return false;
      case pg::first_kind::need_more:
        break;
    }
  }
}

net::awaitable<bool> session::auth_phase(pg::bytes buf) {
  std::array<uint8_t, 8192> chunk;
  pg::bytes out;
  error_code ec;
  bytes_out_ += buf.size();
  for (;;) {
    size_t off = 0;
    bool ready = false;
    out.clear();
    for (;;) {
      pg::message_view m;
      size_t used = 0;
      auto st = pg::next_message(pg::byte_span(buf).subspan(off), m, used, kAuthPhaseMax);
      if (st == pg::frame_status::need_more)
        break;
      if (st == pg::frame_status::invalid) {
        reason_ = "protocol_violation";
        detail_ = "upstream sent an invalid message during authentication";
        co_return false;
      }
      if (m.type == 'R') {
        // The client's TLS ends here, so a SCRAM-SHA-256-PLUS binding would name this
        // gateway's certificate and the backend would refuse it: offer plain SCRAM.
        if (auto mechs = pg::parse_sasl_mechanisms(m.body)) {
          std::vector<std::string> kept;
          for (auto& mech : *mechs) {
            if (mech.find("-PLUS") == std::string::npos)
              kept.push_back(std::move(mech));
          }
          auto enc = pg::encode_sasl_mechanisms(kept);
          out.insert(out.end(), enc.begin(), enc.end());
          off += used;
          continue;
        }
      }
      if (m.type == 'E') {
        if (auto hinted = explain_backend_error(m.body); !hinted.empty()) {
          out.insert(out.end(), hinted.begin(), hinted.end());
          off += used;
          continue;
        }
      }
      if (m.type == 'K' && env_.cancels && !minted_key_) {
        // The client gets a key minted here; the backend's stays with the gateway.
        if (auto k = pg::parse_backend_key_data(m.body)) {
          minted_key_ = env_.cancels->mint(*k, route_, rt_);
          auto enc = pg::encode_backend_key_data(*minted_key_);
          out.insert(out.end(), enc.begin(), enc.end());
          off += used;
          continue;
        }
      }
      out.insert(out.end(), buf.begin() + static_cast<std::ptrdiff_t>(off),
                 buf.begin() + static_cast<std::ptrdiff_t>(off + used));
      off += used;
      if (m.type == 'Z') {
        ready = true;
        break;
      }
    }
    if (ready) {
      pg::byte_span rest = pg::byte_span(buf).subspan(off);
      to_client_frames_.feed(rest);
      out.insert(out.end(), rest.begin(), rest.end());
      off = buf.size();
    }
    buf.erase(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(off));
    if (!out.empty()) {
      co_await client_.write_all(net::buffer(out), ec);
      if (ec) {
        if (!closed_)
          reason_ = "client_closed";
        co_return false;
      }
    }
    if (ready)
      co_return true;
    size_t n = co_await server_->read_some(net::buffer(chunk), ec);
    if (ec) {
      // A failed login ends here: the backend sent its ErrorResponse and closed.
      if (!closed_)
        reason_ = "server_closed";
      co_return false;
    }
    bytes_out_ += n;
    last_activity_ = std::chrono::steady_clock::now();
    buf.insert(buf.end(), chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(n));
  }
}

net::awaitable<void> session::handle_cancel(const pg::cancel_request& c) {
  // A cancel carries no reply; whatever happens, the client just sees the close.
  ++env_.home->stats.cancel_requests;
  const auto& cfg = rt_->settings->cancel;
  if (!rt_->listener(listener_)->allow.check(peer_addr_).allowed) {
    reason_ = "cancel_rejected_allowlist";
    co_return;
  }
  if (!env_.cancels || !env_.cancels->admit(peer_addr_, cfg.rate_per_second)) {
    reason_ = "cancel_rate_limited";
    co_return;
  }
  if (auto target = env_.cancels->find(c)) {
    route_ = target->route;
    const route_runtime* rr = target->rt->route(target->route);
    pg::cancel_request backend{target->backend.pid, target->backend.key};
    upstream_connection up;
    auto f = co_await connect_upstream(*rr, env_.tunnels, pg::encode_cancel_request(backend), up);
    reason_ = f ? "cancel_failed" : "cancel_forwarded";
    if (f)
      detail_ = f->message;
    if (up.stream)
      up.stream->close();
    co_return;
  }
  const uint32_t instance = cancel_registry::instance_of(c.pid);
  if (instance != env_.cancels->instance_id()) {
    for (const auto& peer : cfg.peers) {
      if (peer.instance_id != instance)
        continue;
      // The key names another instance: hand the request to it unchanged.
      auto ex = co_await net::this_coro::executor;
      tcp::resolver resolver(ex);
      error_code ec;
      auto results =
          co_await resolver.async_resolve(peer.address.host, std::to_string(peer.address.port),
                                          net::redirect_error(net::use_awaitable, ec));
      tcp::socket sock(ex);
      if (!ec)
        co_await net::async_connect(sock, results, net::redirect_error(net::use_awaitable, ec));
      auto bytes = pg::encode_cancel_request(c);
      if (!ec)
        co_await net::async_write(sock, net::buffer(bytes),
                                  net::redirect_error(net::use_awaitable, ec));
      reason_ = ec ? "cancel_peer_failed" : "cancel_to_peer";
      detail_ = "instance " + std::to_string(instance) + " at " + peer.address.str() +
                (ec ? ": " + ec.message() : "");
      co_return;
    }
  }
  const auto* l = rt_->listener(listener_);
  if (l->cfg->tls && l->cfg->tls->mode == config::tls_mode::passthrough) {
    // Passthrough sessions never showed us their key (it travels inside the client's
    // TLS), so the client sends the backend's own. Offer it to each backend this
    // listener routes to; PostgreSQL ignores keys that are not its own.
    std::set<std::string> tried;
    for (const auto& r : rt_->settings->routes) {
      if (!r.match.listener.empty() && r.match.listener != listener_)
        continue;
      auto where = r.upstream.host + ":" + std::to_string(r.upstream.port) + "/" + r.upstream.via;
      if (!tried.insert(where).second)
        continue;
      upstream_connection up;
      co_await connect_upstream(*rt_->route(r.name), env_.tunnels, pg::encode_cancel_request(c),
                                up);
      if (up.stream)
        up.stream->close();
    }
    reason_ = "cancel_broadcast";
    detail_ = std::to_string(tried.size()) + " backend(s) of passthrough listener";
    co_return;
  }
  // Unknown keys are dropped silently, as PostgreSQL does.
  reason_ = "cancel_unknown_key";
}

net::awaitable<bool> session::read_proxy_header(const listener_runtime& l) {
  bool trusted = false;
  for (const auto& c : l.proxy_trusted)
    trusted = trusted || c.contains(peer_addr_);
  std::array<uint8_t, 536> peek;  // 16-byte v2 header + addresses + generous TLVs
  error_code ec;
  net::steady_timer pause(client_.socket().get_executor());
  for (;;) {
    co_await client_.socket().async_wait(tcp::socket::wait_read,
                                         net::redirect_error(net::use_awaitable, ec));
    size_t n = ec ? 0 : client_.socket().receive(net::buffer(peek), tcp::socket::message_peek, ec);
    if (ec || n == 0) {
      if (!closed_)
        reason_ = "client_closed";
      co_return false;
    }
    auto h = parse_proxy_header({peek.data(), n});
    if (h.status == proxy_status::not_proxy) {
      if (trusted && l.cfg->proxy->required) {
        reason_ = "proxy_header_missing";
        detail_ =
            "peer " + peer_addr_.str() + " is a trusted load balancer but sent no PROXY header";
        co_return false;
      }
      co_return true;
    }
    if (!trusted) {
      reason_ = "proxy_header_untrusted";
      detail_ =
          "PROXY header from " + peer_addr_.str() + ", which is not in proxy_protocol.trusted";
      co_return false;
    }
    if (h.status == proxy_status::invalid ||
        (h.status == proxy_status::need_more && n == peek.size())) {
      reason_ = "proxy_header_invalid";
      detail_ = h.error.empty() ? "PROXY header too long" : h.error;
      co_return false;
    }
    if (h.status == proxy_status::need_more) {
      // The rest of the header is in flight; peeking again at once would spin.
      pause.expires_after(std::chrono::milliseconds(5));
      co_await pause.async_wait(net::redirect_error(net::use_awaitable, ec));
      continue;
    }
    co_await net::async_read(client_.socket(), net::buffer(peek.data(), h.consumed),
                             net::redirect_error(net::use_awaitable, ec));
    if (ec) {
      reason_ = "client_closed";
      co_return false;
    }
    if (h.status == proxy_status::ok) {
      balancer_ = peer_;
      peer_addr_ = h.source;
      peer_ = h.source.str() + ":" + std::to_string(h.source_port);
    }
    co_return true;
  }
}

net::awaitable<void> session::passthrough(pg::bytes buf) {
  passthrough_ = true;
  const auto* l = rt_->listener(listener_);
  // A passthrough client never sees an error, so nothing is gained by reading its
  // bytes first: the listener allowlist (the address alone) is checked before any byte
  // of the ClientHello is parsed. Route allowlists need the SNI and come after.
  if (!l->allow.check(peer_addr_).allowed) {
    reason_ = "rejected_allowlist";
    detail_ = "connection from " + peer_addr_.str() + " refused by the allowlist of listener \"" +
              listener_ + "\" (passthrough: the client sees a closed connection)";
    co_return;
  }
  std::array<uint8_t, 4096> chunk;
  error_code ec;
  client_hello_info hello;
  for (;;) {
    hello = parse_client_hello(buf);
    if (hello.status != hello_status::need_more)
      break;
    size_t n = co_await client_.read_some(net::buffer(chunk), ec);
    if (ec) {
      if (!closed_)
        reason_ = "client_closed";
      co_return;
    }
    buf.insert(buf.end(), chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(n));
  }
  if (hello.status == hello_status::invalid) {
    reason_ = "protocol_violation";
    detail_ = "passthrough: " + hello.error;
    co_return;
  }
  timer_.cancel();
  env_.home->stats.handshake_seconds.observe(seconds_since(started_));
  sni_ = hello.sni;
  // The client is mid-handshake: refusals cannot be put into words it would see, so
  // they are logged with the reason only.
  auto choice = pick_route(*rt_->settings, {listener_, sni_, "", "", ""});
  if (!choice.route) {
    reason_ = "no_route";
    detail_ = choice.error;
    co_return;
  }
  route_ = choice.route->name;
  const route_runtime* rr = rt_->route(route_);
  if (!rr->allow.check(peer_addr_).allowed) {
    reason_ = "rejected_route_allowlist";
    detail_ = "connection from " + peer_addr_.str() + " refused by the allowlist of route \"" +
              route_ + "\"";
    co_return;
  }
  upstream_connection up;
  const auto connect_started = std::chrono::steady_clock::now();
  if (auto f = co_await connect_passthrough(*rr, env_.tunnels, up)) {
    reason_ = f->reason;
    detail_ = f->message;
    co_return;
  }
  if (closed_)
    co_return;
  env_.home->stats.upstream_connect_seconds.observe(seconds_since(connect_started));
  server_ = std::move(up.stream);
  upstream_tls_ = true;  // end to end, between the client and the database
  co_await server_->write_all(net::buffer(buf), ec);
  if (ec) {
    reason_ = "server_closed";
    co_return;
  }
  bytes_in_ += buf.size();
  relaying_ = true;
  idle_timeout_ = choice.route->idle_timeout;
  auto self = shared_from_this();
  ++pumps_;
  net::co_spawn(
      client_.socket().get_executor(), [self] { return self->pump(true); }, net::detached);
  arm_idle_timer();
  ++pumps_;
  co_await pump(false);
}

pg::bytes session::explain_backend_error(pg::byte_span body) const {
  auto e = pg::parse_error(body);
  if (!e)
    return {};
  if (!upstream_tls_ && e->code == "28000" &&
      e->message.find("no encryption") != std::string::npos) {
    e->hint = "route \"" + route_ +
              "\" connects to the server without TLS, which it refuses; set "
              "upstream.tls.sslmode: require (or prefer) on the route";
    return pg::encode_error(*e);
  }
  if (e->message.find("channel binding negotiation error") != std::string::npos) {
    // The client's TLS ends at sluice, so it cannot bind to the database's certificate;
    // a database reached over TLS must refuse the resulting "y" flag.
    e->hint =
        "sluice terminates your TLS connection, so SCRAM channel binding cannot reach "
        "the database. Connect with channel_binding=disable, or use a listener with "
        "tls.mode: passthrough for end-to-end TLS (docs/security.md)";
    return pg::encode_error(*e);
  }
  return {};
}

net::awaitable<void> session::pump(bool client_to_server) {
  auto self = shared_from_this();
  pg_stream& from = client_to_server ? client_ : *server_;
  pg_stream& to = client_to_server ? *server_ : client_;
  uint64_t& counter = client_to_server ? bytes_in_ : bytes_out_;
  error_code ec;
  if (!from.is_tls() && !to.is_tls() && rt_->settings->relay_splice) {
    co_await splice_pump(from, to, counter, client_to_server);
  } else {
    // Wait for readability (unless TLS already holds bytes), read into the thread's
    // scratch buffer, write without blocking; only a partial write needs a buffer of
    // its own. TLS legs run the same loop through the SSL object on the descriptor, so
    // an idle session, plaintext or TLS, holds no relay buffer at all.
    from.socket().non_blocking(true, ec);
    to.socket().non_blocking(true, ec);
    auto& scratch = thread_scratch();
    pg::bytes overflow;
    bool starved = false;  // the last read would block: buffered bytes are a partial record
    for (;;) {
      if (client_to_server && handing_off_)
        break;  // at a chunk boundary: all that was read has been written
      if (starved || !from.has_buffered()) {
        co_await from.wait_readable(ec);
        if (ec)
          break;
      }
      size_t n = from.read_now(net::buffer(scratch), ec);
      starved = would_block(ec);
      if (starved)
        continue;
      if (ec)
        break;
      counter += n;
      last_activity_ = std::chrono::steady_clock::now();
      (client_to_server ? from_client_frames_ : to_client_frames_).feed({scratch.data(), n});
      size_t w = to.write_now(net::buffer(scratch.data(), n), ec);
      if (would_block(ec))
        ec = {};
      if (ec)
        break;
      if (w < n) {
        // TLS may hold part of this rest in a record already: it must be offered again
        // as is (SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER lets it move to the heap).
        overflow.assign(scratch.begin() + static_cast<std::ptrdiff_t>(w),
                        scratch.begin() + static_cast<std::ptrdiff_t>(n));
        if (!client_to_server)
          client_write_busy_ = true;
        if (client_to_server && tunnel_channel_ != 0 && !to.is_tls()) {
          // A hand-off must not wait for a slow tunnel (the database may be waiting for
          // its results to be read first): what is unsent goes along with the socket.
          size_t sent = 0;
          while (sent < overflow.size() && !handing_off_) {
            co_await to.socket().async_wait(tcp::socket::wait_write,
                                            net::redirect_error(net::use_awaitable, ec));
            if (ec)
              break;
            sent += to.write_now(net::buffer(overflow.data() + sent, overflow.size() - sent), ec);
            if (would_block(ec))
              ec = {};
            if (ec)
              break;
          }
          if (handing_off_ && (!ec || ec == net::error::operation_aborted)) {
            c2s_rest_.assign(overflow.begin() + static_cast<std::ptrdiff_t>(sent), overflow.end());
            ec = {};
            break;
          }
        } else {
          co_await to.write_all(net::buffer(overflow), ec);
        }
        if (!client_to_server)
          client_write_busy_ = false;
        if (ec)
          break;
        pg::bytes().swap(overflow);
      }
    }
  }
  if (client_to_server && handing_off_ && !closed_ &&
      (!ec || ec == net::error::operation_aborted)) {
    c2s_parked_ = true;
    gate_.notify();
    co_return;
  }
  if (!closed_ && !terminating_) {
    // Passthrough bytes are TLS records, not messages: no Terminate to see there.
    const bool client_ended =
        client_to_server || (!passthrough_ && from_client_frames_.last_type() == 'X');
    reason_ = client_ended ? "client_closed" : "server_closed";
  }
  if (!terminating_)
    close_all();
}

net::awaitable<void> session::splice_pump(pg_stream& from, pg_stream& to, uint64_t& counter,
                                          bool client_to_server) {
  // Bytes go socket -> pipe -> socket inside the kernel. The relay cannot see them, so
  // a session relayed this way is closed without a message when terminated.
  if (!client_to_server)
    splice_blind_ = true;
  error_code ec;
  // SPLICE_F_NONBLOCK covers only the pipe; the sockets must not block either.
  from.socket().non_blocking(true, ec);
  to.socket().non_blocking(true, ec);
  int p[2];
  if (pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0)
    co_return;
  size_t in_pipe = 0;
  for (;;) {
    if (in_pipe == 0) {
      co_await from.socket().async_wait(tcp::socket::wait_read,
                                        net::redirect_error(net::use_awaitable, ec));
      if (ec)
        break;
      ssize_t n = ::splice(from.socket().native_handle(), nullptr, p[1], nullptr, 1 << 16,
                           SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n < 0 && (errno == EAGAIN || errno == EINTR))
        continue;
      if (n <= 0)
        break;
      in_pipe = static_cast<size_t>(n);
      counter += in_pipe;
      last_activity_ = std::chrono::steady_clock::now();
    }
    ssize_t w = ::splice(p[0], nullptr, to.socket().native_handle(), nullptr, in_pipe,
                         SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
      co_await to.socket().async_wait(tcp::socket::wait_write,
                                      net::redirect_error(net::use_awaitable, ec));
      if (ec)
        break;
      continue;
    }
    if (w <= 0)
      break;
    in_pipe -= static_cast<size_t>(w);
  }
  ::close(p[0]);
  ::close(p[1]);
}

bool session::can_hand_off() const {
  // TLS on either leg needs this thread's SSL objects, and splice keeps its own relay.
  return tunnel_channel_ != 0 && env_.tunnels && !client_.is_tls() && !upstream_tls_ &&
         !rt_->settings->relay_splice && !closed_ && !terminating_;
}

net::awaitable<void> session::hand_off() {
  auto self = shared_from_this();
  error_code ec;
  // 1. Stop the client->server pump between chunks; what it could not write yet (the
  //    tunnel is slow to take it) travels with the hand-off, so this never waits on it.
  handing_off_ = true;
  client_.socket().cancel(ec);
  server_->socket().cancel(ec);
  while (!c2s_parked_ && !closed_)
    co_await gate_.wait_until(std::chrono::steady_clock::time_point::max());
  if (closed_)
    co_return;  // the client left, or the session was ended, meanwhile
  // 2. Both descriptors go to the tunnel's thread, which drains the socketpair in order.
  const int client_fd = client_.socket().release(ec);
  if (ec) {
    reason_ = "internal_error";
    detail_ = "hand-off: " + ec.message();
    close_all();
    co_return;
  }
  const int session_fd = server_->socket().release(ec);
  if (ec) {
    ::close(client_fd);
    reason_ = "internal_error";
    detail_ = "hand-off: " + ec.message();
    close_all();
    co_return;
  }
  auto ex = client_.socket().get_executor();
  handoff_ = std::make_shared<tunnel::handoff>(
      client_fd, session_fd, [weak = weak_from_this(), ex](tunnel::handoff_end e) {
        net::post(ex, [weak, e = std::move(e)]() mutable {
          if (auto s = weak.lock()) {
            s->handoff_end_ = std::move(e);
            s->gate_.notify();
          }
        });
      });
  // The tunnel thread continues the client's message tracking from here.
  auto frames = std::make_shared<frame_tracker>(from_client_frames_);
  handoff_->observe_client = [frames](const uint8_t* p, size_t n) { frames->feed({p, n}); };
  handoff_->client_terminated = [frames] { return frames->last_type() == 'X'; };
  handoff_->to_server_first = std::move(c2s_rest_);
  env_.tunnels->hand_off(tunnel_, tunnel_channel_, handoff_);
  // 3. Wait for the end; the idle timer and terminate() keep working through handoff_.
  while (!handoff_end_)
    co_await gate_.wait_until(std::chrono::steady_clock::time_point::max());
  bytes_in_ += handoff_->from_client.load();
  bytes_out_ += handoff_->to_client.load();
  if (!terminating_) {
    reason_ = handoff_end_->client_ended ? "client_closed" : "server_closed";
    detail_ = handoff_end_->message;
  }
  close_all();
}

std::chrono::steady_clock::time_point session::last_activity() const {
  return handoff_ ? std::max(last_activity_, handoff_->last_activity()) : last_activity_;
}

void session::arm_idle_timer() {
  if (idle_timeout_.count() <= 0 || closed_)
    return;
  timer_.expires_at(last_activity() + idle_timeout_);
  auto self = shared_from_this();
  timer_.async_wait([self](error_code ec) {
    if (ec || self->closed_)
      return;
    if (std::chrono::steady_clock::now() - self->last_activity() >= self->idle_timeout_) {
      self->terminate("idle_timeout", "57P05",
                      "terminating connection: idle for " +
                          config::format_duration(self->idle_timeout_) + " (route \"" +
                          self->route_ + "\" idle_timeout)");
      return;
    }
    self->arm_idle_timer();
  });
}

void session::terminate(const std::string& reason, const std::string& sqlstate,
                        const std::string& message) {
  if (closed_ || terminating_)
    return;
  reason_ = reason;
  detail_ = message;
  if (handoff_) {
    // The tunnel's thread relays this client blind: it can only close the connection.
    terminating_ = true;
    handoff_->request_close();
    return;
  }
  if (!relaying_ || passthrough_ || splice_blind_ || handing_off_ ||
      !to_client_frames_.at_boundary() || client_write_busy_) {
    // Mid-message (or before the client expects messages): closing is all we can do.
    close_all();
    return;
  }
  terminating_ = true;
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
  const auto* l = next->listener(listener_);
  if (!l || !l->cfg->enforce_on_reload || closed_)
    return;
  const std::string after = "connection closed by sluice: address " + peer_addr_.str() +
                            " is no longer on the allowlist of ";
  if (!l->allow.check(peer_addr_).allowed) {
    terminate("reload_disallowed", "28000",
              after + "listener \"" + listener_ + "\" after a configuration reload");
    return;
  }
  if (route_.empty())
    return;
  const auto* r = next->route(route_);
  if (r && !r->allow.check(peer_addr_).allowed) {
    terminate("reload_disallowed", "28000",
              after + "route \"" + route_ + "\" after a configuration reload");
  }
}

}  // namespace sluice::gateway
