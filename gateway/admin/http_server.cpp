#include <sys/socket.h>

#include <utility>  // before Asio: GCC 12 + Boost 1.74 awaitable.hpp needs std::exchange

#include "gateway/admin/http_server.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <charconv>
#include <optional>
#include <thread>

#include "config/log.hpp"
#include "gateway/admin/http_limits.hpp"
#include "gateway/admin/status_page.hpp"
#include "sync/connection_limiter.hpp"
#include "sync/log_throttle.hpp"
#include "tls/server_context.hpp"

namespace sluice::admin {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using request = http::request<http::string_body>;
using response = http::response<http::string_body>;

namespace {

constexpr auto kIdle = std::chrono::seconds(30);  // a body, a reply, a TLS handshake
// Fixed limits (docs/operations.md, "Admin API"): health checks and scrapers need few
// connections, and a client holding many must not starve them or the memory.
constexpr auto kHeaderTimeout = std::chrono::seconds(10);
constexpr uint32_t kMaxConnections = 64;
constexpr uint32_t kMaxConnectionsPerAddress = 16;

response reply(const request& req, http::status status, std::string content_type,
               std::string body) {
  response res{status, req.version()};
  res.set(http::field::server, "sluice");
  res.set(http::field::content_type, content_type);
  res.set(http::field::cache_control, "no-store");
  res.keep_alive(req.keep_alive());
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

response json_reply(const request& req, http::status status, const nlohmann::json& j) {
  return reply(req, status, "application/json", j.dump(2) + "\n");
}

// The status page carries drain/resume buttons that send the admin token: it runs only
// its own inline code, talks only to this origin, and no other site may frame it (a
// click-jacked button) or learn its address from a Referer.
response status_page_reply(const request& req, std::string html) {
  auto res = reply(req, http::status::ok, "text/html; charset=utf-8", std::move(html));
  res.set("Content-Security-Policy",
          "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
          "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; "
          "frame-ancestors 'none'");
  res.set("X-Frame-Options", "DENY");
  res.set("X-Content-Type-Options", "nosniff");
  res.set("Referrer-Policy", "no-referrer");
  return res;
}

// "/v1/routes/NAME/health" -> NAME (route names hold no '/').
std::optional<std::string> route_health_target(std::string_view target) {
  constexpr std::string_view prefix = "/v1/routes/", suffix = "/health";
  if (target.size() <= prefix.size() + suffix.size() || !target.starts_with(prefix) ||
      !target.ends_with(suffix))
    return std::nullopt;
  auto name = target.substr(prefix.size(), target.size() - prefix.size() - suffix.size());
  if (name.find('/') != std::string_view::npos)
    return std::nullopt;
  return std::string(name);
}

// "/v1/a/b/c" -> {"v1", "a", "b", "c"}.
std::vector<std::string> segments(std::string_view target) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < target.size()) {
    if (target[i] == '/') {
      ++i;
      continue;
    }
    auto j = target.find('/', i);
    if (j == std::string_view::npos)
      j = target.size();
    out.emplace_back(target.substr(i, j - i));
    i = j;
  }
  return out;
}

// Live control and reloads need the bearer token; everything else is read-only and open.
bool needs_token(std::string_view target, http::verb method) {
  auto s = segments(target);
  if (s.size() < 2 || s[0] != "v1")
    return false;
  if (s[1] == "reload")
    return method == http::verb::post;
  if (s[1] == "sessions" || s[1] == "tunnels" || s[1] == "listeners" || s[1] == "syncs")
    return true;
  return s[1] == "routes" && s.size() == 4 && (s[3] == "drain" || s[3] == "resume");
}

}  // namespace

struct http_server::impl {
  config::admin_settings cfg;
  handlers h;
  asio::io_context ioc{1};
  tcp::acceptor acceptor{ioc};
  std::shared_ptr<asio::ssl::context> tls;
  std::thread thread;
  std::shared_ptr<sync::connection_limiter> connections =
      std::make_shared<sync::connection_limiter>(kMaxConnections, kMaxConnectionsPerAddress);
  sync::log_throttle refused_log{std::chrono::seconds(10)};

  // What needs the token is refused from the request head, before its body is read.
  std::optional<response> refuse_early(const request& req) {
    std::string target(req.target());
    if (auto q = target.find('?'); q != std::string::npos)
      target.resize(q);
    if (!needs_token(target, req.method()))
      return std::nullopt;
    if (auto refused = token_refusal(req))
      return refused;  // the 403 or 401, without running anything
    return std::nullopt;
  }

  std::optional<response> token_refusal(const request& req) {
    if (cfg.token_file.empty())
      return json_reply(req, http::status::forbidden,
                        {{"error",
                          "reloads and live control over the admin API are disabled: set "
                          "admin.token_file (or send SIGHUP / systemctl reload sluice)"}});
    if (!bearer_matches(std::string(req[http::field::authorization]), cfg.token_file)) {
      auto res = json_reply(req, http::status::unauthorized,
                            {{"error",
                              "missing or wrong bearer token (Authorization: Bearer <token from "
                              "admin.token_file>)"}});
      res.set(http::field::www_authenticate, "Bearer realm=\"sluice\"");
      return res;
    }
    return std::nullopt;
  }

  static response wrong_method(const request& req, const char* allow, const std::string& hint) {
    auto res = json_reply(req, http::status::method_not_allowed, {{"error", hint}});
    res.set(http::field::allow, allow);
    return res;
  }

  // /v1/sessions, /v1/sessions/ID/kill, /v1/tunnels, /v1/{routes,listeners}/NAME/{drain,resume},
  // /v1/syncs/NAME/verify.
  std::optional<response> control(const request& req, const std::vector<std::string>& s) {
    const bool get = req.method() == http::verb::get || req.method() == http::verb::head;
    const bool post = req.method() == http::verb::post;
    if (s.size() == 2 && s[1] == "sessions" && h.sessions) {
      if (!get)
        return wrong_method(req, "GET", "use GET /v1/sessions");
      return json_reply(req, http::status::ok, h.sessions());
    }
    if (s.size() == 2 && s[1] == "tunnels" && h.tunnels) {
      if (!get)
        return wrong_method(req, "GET", "use GET /v1/tunnels");
      return json_reply(req, http::status::ok, h.tunnels());
    }
    if (s.size() == 4 && s[1] == "sessions" && s[3] == "kill" && h.kill) {
      if (!post)
        return wrong_method(req, "POST", "use POST /v1/sessions/ID/kill");
      uint64_t id = 0;
      auto [end, ec] = std::from_chars(s[2].data(), s[2].data() + s[2].size(), id);
      if (ec != std::errc() || end != s[2].data() + s[2].size())
        return json_reply(req, http::status::bad_request,
                          {{"error", "session id must be a number (see GET /v1/sessions)"}});
      if (!h.kill(id))
        return json_reply(req, http::status::not_found,
                          {{"error", "no open session with id " + s[2]}});
      return json_reply(req, http::status::ok, {{"killed", id}});
    }
    if (s.size() == 4 && (s[1] == "routes" || s[1] == "listeners") &&
        (s[3] == "drain" || s[3] == "resume") && h.drain) {
      if (!post)
        return wrong_method(req, "POST", "use POST /v1/" + s[1] + "/NAME/" + s[3]);
      const bool drain = s[3] == "drain";
      auto open = h.drain(s[1], s[2], drain);
      const std::string kind = s[1] == "routes" ? "route" : "listener";
      if (!open)
        return json_reply(
            req, http::status::not_found,
            {{"error", "no " + kind + " named \"" + s[2] + "\" in this configuration"}});
      return json_reply(req, http::status::ok,
                        {{kind, s[2]}, {"drained", drain}, {"sessions", *open}});
    }
    if (s.size() == 4 && s[1] == "syncs" && s[3] == "verify" && h.verify_sync) {
      if (!post)
        return wrong_method(req, "POST", "use POST /v1/syncs/NAME/verify");
      auto doc = h.verify_sync(s[2]);
      if (!doc)
        return json_reply(
            req, http::status::not_found,
            {{"error", "no sync named \"" + s[2] + "\" in the running configuration"}});
      return json_reply(req, http::status::ok, *doc);  // "ok" says whether every check passed
    }
    return std::nullopt;
  }

  response handle(const request& req) {
    std::string target(req.target());
    if (auto q = target.find('?'); q != std::string::npos)
      target.resize(q);
    const bool get = req.method() == http::verb::get || req.method() == http::verb::head;
    try {
      if (target == "/healthz" && get)
        return reply(req, http::status::ok, "text/plain; charset=utf-8", "ok\n");
      if (target == "/readyz" && get) {
        auto r = h.ready();
        std::string body = r.ready ? "ready\n" : "not ready\n";
        for (const auto& why : r.reasons)
          body += "- " + why + "\n";
        return reply(req, r.ready ? http::status::ok : http::status::service_unavailable,
                     "text/plain; charset=utf-8", body);
      }
      if (target == "/metrics" && get)
        return reply(req, http::status::ok, "text/plain; version=0.0.4; charset=utf-8",
                     h.metrics());
      if (target == "/v1/status" && get)
        return json_reply(req, http::status::ok, h.status());
      if (auto name = route_health_target(target); name && get) {
        auto doc = h.route_health ? h.route_health(*name) : std::nullopt;
        if (!doc)
          return json_reply(req, http::status::not_found,
                            {{"error", "no route named \"" + *name + "\" in this configuration"}});
        return json_reply(
            req, (*doc)["healthy"] ? http::status::ok : http::status::service_unavailable, *doc);
      }
      if ((target == "/" || target == "/index.html") && get)
        return status_page_reply(req, render_status_page(h.status()));
      if (needs_token(target, req.method())) {
        if (auto refused = token_refusal(req))
          return *refused;
        if (auto res = control(req, segments(target)))
          return *res;
      }
      if (target == "/v1/reload") {
        if (req.method() != http::verb::post)
          return wrong_method(req, "POST", "use POST /v1/reload");
        if (auto refused = token_refusal(req))
          return *refused;
        auto r = h.reload();
        return json_reply(req, r.ok ? http::status::ok : http::status::unprocessable_entity,
                          {{"ok", r.ok}, {"generation", r.generation}, {"problems", r.problems}});
      }
      return json_reply(
          req, http::status::not_found,
          {{"error", "no such endpoint"},
           {"endpoints",
            {"/", "/healthz", "/readyz", "/metrics", "/v1/status", "/v1/routes/NAME/health",
             "POST /v1/reload", "GET /v1/sessions", "POST /v1/sessions/ID/kill",
             "POST /v1/routes/NAME/drain", "POST /v1/routes/NAME/resume",
             "POST /v1/listeners/NAME/drain", "POST /v1/listeners/NAME/resume", "GET /v1/tunnels",
             "POST /v1/syncs/NAME/verify"}}});
    } catch (const std::exception& e) {
      log::error("admin_request_failed").kv("target", target).kv("error", e.what());
      return json_reply(req, http::status::internal_server_error, {{"error", e.what()}});
    }
  }

  template <class Stream>
  asio::awaitable<void> serve(Stream& stream, beast::tcp_stream& tcp) {
    beast::flat_buffer buffer{2 * kAdminHeaderLimit};
    for (;;) {
      beast::error_code ec;
      http::request_parser<http::string_body> parser;
      parser.header_limit(kAdminHeaderLimit);
      parser.body_limit(kAdminBodyLimit);
      tcp.expires_after(kHeaderTimeout);
      co_await http::async_read_header(stream, buffer, parser,
                                       asio::redirect_error(asio::use_awaitable, ec));
      std::optional<response> early;
      if (ec == http::error::body_limit) {
        early = json_reply(parser.get(), http::status::payload_too_large,
                           {{"error", "request bodies are limited to 64 KiB"}});
      } else if (ec) {
        co_return;
      } else {
        early = refuse_early(parser.get());
      }
      if (early) {
        // The body (if any) stays unread, so the connection cannot be reused.
        early->keep_alive(false);
        if (parser.get().method() == http::verb::head)
          early->body().clear();
        tcp.expires_after(kIdle);
        co_await http::async_write(stream, *early, asio::redirect_error(asio::use_awaitable, ec));
        co_return;
      }
      tcp.expires_after(kIdle);
      co_await http::async_read(stream, buffer, parser,
                                asio::redirect_error(asio::use_awaitable, ec));
      if (ec)
        co_return;
      request req = parser.release();
      response res = handle(req);
      if (req.method() == http::verb::head)
        res.body().clear();
      bool keep = res.keep_alive();
      tcp.expires_after(kIdle);
      co_await http::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
      if (ec || !keep)
        co_return;
    }
  }

  asio::awaitable<void> connection(tcp::socket sock,
                                   std::unique_ptr<sync::connection_limiter::slot> slot) {
    (void)slot;  // held until the connection ends
    beast::error_code ec;
    if (!tls) {
      beast::tcp_stream stream(std::move(sock));
      co_await serve(stream, stream);
      stream.socket().shutdown(tcp::socket::shutdown_send, ec);
      co_return;
    }
    beast::ssl_stream<beast::tcp_stream> stream(beast::tcp_stream(std::move(sock)), *tls);
    beast::get_lowest_layer(stream).expires_after(kHeaderTimeout);
    co_await stream.async_handshake(asio::ssl::stream_base::server,
                                    asio::redirect_error(asio::use_awaitable, ec));
    if (ec)
      co_return;
    co_await serve(stream, beast::get_lowest_layer(stream));
    co_await stream.async_shutdown(asio::redirect_error(asio::use_awaitable, ec));
  }

  asio::awaitable<void> accept_loop() {
    for (;;) {
      beast::error_code ec;
      tcp::socket sock =
          co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        if (ec == asio::error::operation_aborted || !acceptor.is_open())
          co_return;
        continue;
      }
      beast::error_code pec;
      auto remote = sock.remote_endpoint(pec);
      if (pec)
        continue;
      std::string peer = remote.address().to_string();
      sync::admit_result why = sync::admit_result::admitted;
      auto slot = sync::admit(connections, peer, why);
      if (!slot) {
        if (auto suppressed = refused_log.admit(std::chrono::steady_clock::now())) {
          log::warn("admin_connection_refused")
              .kv("peer", peer)
              .kv("reason", sync::to_string(why))
              .kv("suppressed", *suppressed);
        }
        sock.close(pec);
        continue;
      }
      asio::co_spawn(ioc, connection(std::move(sock), std::move(slot)), asio::detached);
    }
  }
};

http_server::http_server(const config::admin_settings& cfg, handlers h)
    : impl_(std::make_unique<impl>()) {
  impl_->cfg = cfg;
  impl_->h = std::move(h);
  if (cfg.tls)
    impl_->tls = tls::make_server_ssl_context(cfg.tls->cert, cfg.tls->key, false);
  beast::error_code ec;
  auto addr = asio::ip::make_address(cfg.listen.host, ec);
  if (ec)
    throw std::runtime_error("admin.listen: '" + cfg.listen.host + "' is not an IP address");
  tcp::endpoint ep(addr, cfg.listen.port);
  auto& a = impl_->acceptor;
  a.open(ep.protocol());
  a.set_option(tcp::acceptor::reuse_address(true));
  // SO_REUSEPORT: a new sluice binds the same port while this one drains (an upgrade on
  // one host, docs/operations.md "Upgrade without downtime").
  int one = 1;
  ::setsockopt(a.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  a.bind(ep, ec);
  if (ec)
    throw std::runtime_error("admin.listen " + cfg.listen.str() + ": cannot bind (" + ec.message() +
                             ")");
  a.listen(asio::socket_base::max_listen_connections);
}

http_server::~http_server() {
  stop();
}

void http_server::start() {
  asio::co_spawn(impl_->ioc, impl_->accept_loop(), asio::detached);
  impl_->thread = std::thread([this] { impl_->ioc.run(); });
}

void http_server::stop() {
  if (!impl_->thread.joinable())
    return;
  asio::post(impl_->ioc, [this] {
    beast::error_code ec;
    impl_->acceptor.close(ec);
    impl_->ioc.stop();
  });
  impl_->thread.join();
}

uint16_t http_server::port() const {
  return impl_->acceptor.local_endpoint().port();
}

}  // namespace sluice::admin
