#include "gateway/upstream.hpp"

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "config/log.hpp"
#include "config/units.hpp"
#include "gateway/tunnel/manager.hpp"
#include "tls/openssl_error.hpp"

namespace sluice::gateway {

namespace {

using config::sslmode;

// Closes the socket when the deadline passes, so whatever awaits on it fails.
class deadline {
 public:
  deadline(tcp::socket& s, config::duration d)
      : timer_(std::make_shared<net::steady_timer>(s.get_executor())),
        fired_(std::make_shared<bool>(false)) {
    timer_->expires_after(d);
    timer_->async_wait([&s, fired = fired_](error_code ec) {
      if (ec)
        return;
      *fired = true;
      error_code ignored;
      s.close(ignored);
    });
  }
  ~deadline() { timer_->cancel(); }
  bool fired() const { return *fired_; }

 private:
  std::shared_ptr<net::steady_timer> timer_;
  std::shared_ptr<bool> fired_;
};

std::string where(const config::route& r) {
  std::string w = r.upstream.host + ":" + std::to_string(r.upstream.port);
  if (!r.upstream.via.empty())
    w += " via tunnel '" + r.upstream.via + "'";
  return w;
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

upstream_failure fail(close_reason reason, std::string message, std::string hint = {},
                      std::string sqlstate = "08001") {
  return {reason, std::move(sqlstate), std::move(message), std::move(hint)};
}

upstream_failure at(upstream_step step, upstream_failure f, char ssl_answer = 0) {
  f.step = step;
  f.ssl_answer = ssl_answer;
  return f;
}

// Opens TCP to the route's upstream (or a tunnel channel); sets out.connect_seconds.
net::awaitable<std::optional<upstream_failure>> open_tcp(const route_runtime& rt,
                                                         tunnel::manager* tunnels,
                                                         tcp::socket& sock,
                                                         upstream_connection& out, uint64_t conn) {
  const auto& r = *rt.cfg;
  const auto& up = r.upstream;
  uint64_t* channel_id = &out.tunnel_channel;
  if (!up.via.empty()) {
    if (!tunnels)
      co_return at(upstream_step::tunnel,
                   fail(close_reason::tunnel, "SSH tunnels are not available"));
    log::debug("tunnel_channel_opening")
        .kv("conn", conn)
        .kv("route", r.name)
        .kv("tunnel", up.via)
        .kv("target", config::host_port{up.host, up.port}.str());
    const auto started = std::chrono::steady_clock::now();
    auto ch = co_await tunnels->open_channel(up.via, up.host, up.port);
    if (ch.fd < 0) {
      co_return at(upstream_step::tunnel,
                   fail(close_reason::tunnel, "cannot reach " + where(r) + ": " + ch.error,
                        "stage: " + ch.stage + "; see `sluice tunnel status` and docs/tunnels.md"));
    }
    *channel_id = ch.channel_id;
    out.connect_seconds = seconds_since(started);
    log::debug("tunnel_channel_open")
        .kv("conn", conn)
        .kv("route", r.name)
        .kv("tunnel", up.via)
        .kv("channel", ch.channel_id)
        .kv("seconds", out.connect_seconds);
    error_code ec;
    sock.assign(tcp::v4(), ch.fd, ec);
    if (ec)
      co_return at(upstream_step::tunnel,
                   fail(close_reason::tunnel, "tunnel channel unusable: " + ec.message()));
    co_return std::nullopt;
  }
  auto ex = co_await net::this_coro::executor;
  error_code ec;
  tcp::resolver::results_type results;
  // An IP literal needs no resolver round trip (it showed in --connect profiles).
  if (auto literal = net::ip::make_address(up.host, ec); !ec) {
    results = tcp::resolver::results_type::create(tcp::endpoint(literal, up.port), up.host,
                                                  std::to_string(up.port));
  } else {
    tcp::resolver resolver(ex);
    results = co_await resolver.async_resolve(up.host, std::to_string(up.port),
                                              net::redirect_error(net::use_awaitable, ec));
  }
  if (ec) {
    co_return at(upstream_step::resolve,
                 fail(close_reason::upstream_dns,
                      "cannot resolve upstream host \"" + up.host + "\": " + ec.message(),
                      "check routes[].upstream.host (DNS as seen from the gateway)"));
  }
  if (log::enabled(log::level::debug)) {
    std::string addresses;
    for (const auto& e : results)
      addresses += (addresses.empty() ? "" : ",") + e.endpoint().address().to_string();
    log::debug("upstream_resolved")
        .kv("conn", conn)
        .kv("route", r.name)
        .kv("host", up.host)
        .kv("addresses", addresses);
  }
  const auto started = std::chrono::steady_clock::now();
  // async_connect tries every address; the deadline closes the socket to stop it.
  auto timer = std::make_shared<net::steady_timer>(ex);
  auto fired = std::make_shared<bool>(false);
  timer->expires_after(up.connect_timeout);
  timer->async_wait([&sock, fired](error_code e) {
    if (e)
      return;
    *fired = true;
    error_code ignored;
    sock.close(ignored);
  });
  co_await net::async_connect(sock, results, net::redirect_error(net::use_awaitable, ec));
  timer->cancel();
  if (*fired) {
    co_return fail(close_reason::upstream_timeout,
                   "connecting to upstream " + where(r) + " timed out after " +
                       config::format_duration(up.connect_timeout),
                   "a timeout usually means a firewall or routing problem: allow the gateway's "
                   "public addresses on the database's firewall or security group");
  }
  if (ec == net::error::connection_refused) {
    co_return fail(close_reason::upstream_refused,
                   "upstream " + where(r) + " refused the connection",
                   "nothing is listening there: check the host and port, and that PostgreSQL "
                   "listens on that address (listen_addresses)");
  }
  if (ec)
    co_return fail(close_reason::upstream_io,
                   "cannot connect to upstream " + where(r) + ": " + ec.message());
  out.connect_seconds = seconds_since(started);
  if (log::enabled(log::level::debug)) {
    error_code ignored;
    auto peer = sock.remote_endpoint(ignored);
    log::debug("upstream_connected")
        .kv("conn", conn)
        .kv("route", r.name)
        .kv("address", peer.address().to_string())
        .kv("port", static_cast<unsigned>(peer.port()))
        .kv("seconds", out.connect_seconds);
  }
  sock.set_option(tcp::no_delay(true), ec);
  sock.set_option(net::socket_base::keep_alive(true), ec);
  co_return std::nullopt;
}

upstream_failure handshake_failure(const route_runtime& rt, pg_stream& s, const error_code& ec) {
  const auto& r = *rt.cfg;
  long verify = SSL_get_verify_result(s.tls().native_handle());
  if (verify != X509_V_OK) {
    return fail(close_reason::upstream_certificate,
                "upstream " + where(r) + " presented a certificate that failed verification: " +
                    X509_verify_cert_error_string(verify),
                std::string("route '") + r.name +
                    "' uses sslmode=" + std::string(config::to_string(r.upstream.tls.mode)) +
                    (r.upstream.tls.ca.empty() ? "; set upstream.tls.ca to the CA that signed it"
                                               : "; is " + r.upstream.tls.ca +
                                                     " the CA that signed it, and does the "
                                                     "certificate name match the host?"));
  }
  return fail(close_reason::upstream_tls_handshake,
              "TLS handshake with upstream " + where(r) + " failed: " + ec.message());
}

// Negotiates TLS on a connected socket according to the route's sslmode.
net::awaitable<std::optional<upstream_failure>> negotiate_tls(const route_runtime& rt, pg_stream& s,
                                                              sslmode mode, bool& tls_on,
                                                              char& ssl_answer, uint64_t conn) {
  const auto& r = *rt.cfg;
  tls_on = false;
  ssl_answer = 0;
  if (mode == sslmode::disable || mode == sslmode::allow)
    co_return std::nullopt;
  error_code ec;
  if (r.upstream.tls.negotiation == config::sslnegotiation::postgres) {
    auto req = pg::encode_ssl_request();
    co_await s.write_all(net::buffer(req), ec);
    char answer = 0;
    if (!ec) {
      co_await net::async_read(s.socket(), net::buffer(&answer, 1),
                               net::redirect_error(net::use_awaitable, ec));
    }
    if (ec) {
      co_return at(upstream_step::ssl_request, fail(close_reason::upstream_io,
                                                    "upstream " + where(r) +
                                                        " closed the connection during "
                                                        "TLS negotiation: " +
                                                        ec.message(),
                                                    "is this a PostgreSQL server?"));
    }
    log::debug("upstream_ssl_request")
        .kv("conn", conn)
        .kv("route", r.name)
        .kv("answer", std::string(1, answer == 'S' || answer == 'N' ? answer : '?'));
    ssl_answer = answer;
    if (answer == 'N') {
      if (mode == sslmode::prefer)
        co_return std::nullopt;
      co_return at(upstream_step::ssl_request,
                   fail(close_reason::upstream_tls_unsupported,
                        "upstream " + where(r) + " does not support TLS, but route '" + r.name +
                            "' requires it (sslmode=" + std::string(config::to_string(mode)) + ")",
                        "enable ssl on the PostgreSQL server, or set upstream.tls.sslmode: "
                        "prefer (or disable) on the route"),
                   answer);
    }
    if (answer != 'S') {
      co_return at(upstream_step::ssl_request,
                   fail(close_reason::upstream_io,
                        "upstream " + where(r) + " answered the SSLRequest with an unexpected byte",
                        "is this a PostgreSQL server (version 7.2 or later)?"),
                   answer);
    }
  }
  s.start_tls(rt.tls->native().native_handle(), tls_stream::role::client);
  if (!rt.tls->prepare(s.tls().native_handle(), r.upstream.host)) {
    co_return at(upstream_step::tls,
                 fail(close_reason::upstream_tls_handshake,
                      "cannot set TLS server name for " + r.upstream.host),
                 ssl_answer);
  }
  co_await s.tls().handshake(ec);
  if (ec) {
    auto f = at(upstream_step::tls, handshake_failure(rt, s, ec), ssl_answer);
    f.verify_result = SSL_get_verify_result(s.tls().native_handle());
    co_return f;
  }
  tls_on = true;
  if (log::enabled(log::level::debug)) {
    SSL* ssl = s.tls().native_handle();
    log::debug("upstream_tls_handshake")
        .kv("conn", conn)
        .kv("route", r.name)
        .kv("protocol", SSL_get_version(ssl))
        .kv("cipher", SSL_get_cipher_name(ssl))
        .kv("verified", SSL_get0_peer_certificate(ssl) != nullptr &&
                            SSL_get_verify_result(ssl) == X509_V_OK &&
                            SSL_get_verify_mode(ssl) != SSL_VERIFY_NONE);
  }
  co_return std::nullopt;
}

// True when a backend ErrorResponse says the server refused an unencrypted login
// (pg_hba.conf has only hostssl lines for this client).
bool refuses_plaintext(const pg::bytes& b) {
  pg::message_view m;
  size_t used = 0;
  if (pg::next_message(b, m, used) != pg::frame_status::ok || m.type != 'E')
    return false;
  auto e = pg::parse_error(m.body);
  return e && e->code == "28000" && e->message.find("no encryption") != std::string::npos;
}

}  // namespace

net::awaitable<std::optional<upstream_failure>> connect_upstream(const route_runtime& rt,
                                                                 tunnel::manager* tunnels,
                                                                 const pg::bytes& startup,
                                                                 upstream_connection& out,
                                                                 uint64_t conn) {
  const auto& r = *rt.cfg;
  const bool allow_mode = r.upstream.tls.mode == sslmode::allow;
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto ex = co_await net::this_coro::executor;
    out.stream = std::make_unique<pg_stream>(tcp::socket(ex));
    if (auto f = co_await open_tcp(rt, tunnels, out.stream->socket(), out, conn))
      co_return f;
    deadline guard(out.stream->socket(), r.upstream.connect_timeout);
    // sslmode=allow's second try is TLS, as libpq does after a plaintext refusal.
    const auto mode = attempt == 1 ? sslmode::require : r.upstream.tls.mode;
    const auto tls_started = std::chrono::steady_clock::now();
    auto f = co_await negotiate_tls(rt, *out.stream, mode, out.tls, out.ssl_answer, conn);
    if (out.tls)
      out.tls_seconds = seconds_since(tls_started);
    if (guard.fired()) {
      // No answer to the SSLRequest yet: the port is not (or not only) PostgreSQL.
      const bool before_answer =
          r.upstream.tls.negotiation == config::sslnegotiation::postgres && out.ssl_answer == 0;
      co_return at(before_answer ? upstream_step::ssl_request : upstream_step::tls,
                   fail(close_reason::upstream_timeout,
                        "upstream " + where(r) +
                            " accepted the connection but did not complete "
                            "the PostgreSQL/TLS handshake within " +
                            config::format_duration(r.upstream.connect_timeout),
                        "is this port a PostgreSQL server? an overloaded server or a middlebox "
                        "can also cause this"),
                   out.ssl_answer);
    }
    if (f)
      co_return f;
    error_code ec;
    if (!startup.empty())
      co_await out.stream->write_all(net::buffer(startup), ec);
    if (ec)
      co_return at(upstream_step::startup,
                   fail(close_reason::upstream_io,
                        "upstream " + where(r) + " closed the connection: " + ec.message()),
                   out.ssl_answer);
    log::debug("upstream_startup_sent")
        .kv("conn", conn)
        .kv("route", r.name)
        .kv("tls", out.tls)
        .kv("attempt", attempt + 1);
    if (!allow_mode || attempt == 1 || !rt.tls || startup.empty())
      co_return std::nullopt;
    // sslmode=allow: read the first reply; retry with TLS only if plaintext was refused.
    out.pending.resize(8192);
    size_t n = co_await out.stream->read_some(net::buffer(out.pending), ec);
    out.pending.resize(ec ? 0 : n);
    if (ec || !refuses_plaintext(out.pending))
      co_return std::nullopt;
    out.pending.clear();
    out.stream->close();
  }
  co_return std::nullopt;
}

upstream_failure login_timed_out(const config::route& r, const std::string& user) {
  return fail(close_reason::upstream_login_timeout,
              "upstream " + where(r) + " accepted the connection but did not log sluice in as \"" +
                  user + "\" within " + config::format_duration(r.upstream.login_timeout) +
                  " (upstream.login_timeout of route \"" + r.name + "\")",
              "the database (or the tunnel's far end) accepts connections but does not answer: "
              "check that the server is healthy and not out of connections or stuck in "
              "recovery; raise upstream.login_timeout for a slow server");
}

net::awaitable<std::optional<upstream_failure>> connect_passthrough(const route_runtime& rt,
                                                                    tunnel::manager* tunnels,
                                                                    upstream_connection& out,
                                                                    uint64_t conn) {
  const auto& r = *rt.cfg;
  auto ex = co_await net::this_coro::executor;
  out.stream = std::make_unique<pg_stream>(tcp::socket(ex));
  if (auto f = co_await open_tcp(rt, tunnels, out.stream->socket(), out, conn))
    co_return f;
  out.tunnel_channel = 0;  // passthrough relays on this thread; no hand-off
  if (r.upstream.tls.negotiation == config::sslnegotiation::direct)
    co_return std::nullopt;
  deadline guard(out.stream->socket(), r.upstream.connect_timeout);
  error_code ec;
  auto req = pg::encode_ssl_request();
  co_await out.stream->write_all(net::buffer(req), ec);
  char answer = 0;
  if (!ec) {
    co_await net::async_read(out.stream->socket(), net::buffer(&answer, 1),
                             net::redirect_error(net::use_awaitable, ec));
  }
  if (guard.fired()) {
    co_return fail(close_reason::upstream_timeout,
                   "upstream " + where(r) + " did not answer the SSLRequest within " +
                       config::format_duration(r.upstream.connect_timeout));
  }
  if (ec)
    co_return fail(close_reason::upstream_io,
                   "upstream " + where(r) + " closed during TLS negotiation: " + ec.message());
  log::debug("upstream_ssl_request")
      .kv("conn", conn)
      .kv("route", r.name)
      .kv("answer", std::string(1, answer == 'S' || answer == 'N' ? answer : '?'));
  if (answer != 'S') {
    co_return fail(close_reason::upstream_tls_unsupported,
                   "upstream " + where(r) +
                       " does not support TLS; a passthrough listener needs "
                       "TLS on the database (ssl = on)");
  }
  co_return std::nullopt;
}

}  // namespace sluice::gateway
