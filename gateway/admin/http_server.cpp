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
#include <thread>

#include "config/log.hpp"
#include "gateway/admin/status_page.hpp"
#include "tls/server_context.hpp"

namespace sluice::admin {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using request = http::request<http::string_body>;
using response = http::response<http::string_body>;

namespace {

constexpr auto kIdle = std::chrono::seconds(30);

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

}  // namespace

struct http_server::impl {
  config::admin_settings cfg;
  handlers h;
  asio::io_context ioc{1};
  tcp::acceptor acceptor{ioc};
  std::shared_ptr<asio::ssl::context> tls;
  std::thread thread;

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
        return reply(req, http::status::ok, "text/html; charset=utf-8",
                     render_status_page(h.status()));
      if (target == "/v1/reload") {
        if (req.method() != http::verb::post) {
          auto res =
              json_reply(req, http::status::method_not_allowed, {{"error", "use POST /v1/reload"}});
          res.set(http::field::allow, "POST");
          return res;
        }
        if (cfg.token_file.empty())
          return json_reply(req, http::status::forbidden,
                            {{"error",
                              "reloads over the admin API are disabled: set admin.token_file "
                              "(or send SIGHUP / systemctl reload sluice)"}});
        if (!bearer_matches(std::string(req[http::field::authorization]), cfg.token_file)) {
          auto res =
              json_reply(req, http::status::unauthorized,
                         {{"error",
                           "missing or wrong bearer token (Authorization: Bearer <token from "
                           "admin.token_file>)"}});
          res.set(http::field::www_authenticate, "Bearer realm=\"sluice\"");
          return res;
        }
        auto r = h.reload();
        return json_reply(req, r.ok ? http::status::ok : http::status::unprocessable_entity,
                          {{"ok", r.ok}, {"generation", r.generation}, {"problems", r.problems}});
      }
      return json_reply(req, http::status::not_found,
                        {{"error", "no such endpoint"},
                         {"endpoints",
                          {"/", "/healthz", "/readyz", "/metrics", "/v1/status",
                           "/v1/routes/NAME/health", "POST /v1/reload"}}});
    } catch (const std::exception& e) {
      log::error("admin_request_failed").kv("target", target).kv("error", e.what());
      return json_reply(req, http::status::internal_server_error, {{"error", e.what()}});
    }
  }

  template <class Stream>
  asio::awaitable<void> serve(Stream& stream, beast::tcp_stream& tcp) {
    beast::flat_buffer buffer;
    for (;;) {
      beast::error_code ec;
      request req;
      http::request_parser<http::string_body> parser;
      parser.body_limit(64 * 1024);
      tcp.expires_after(kIdle);
      co_await http::async_read(stream, buffer, parser,
                                asio::redirect_error(asio::use_awaitable, ec));
      if (ec)
        co_return;
      req = parser.release();
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

  asio::awaitable<void> connection(tcp::socket sock) {
    beast::error_code ec;
    if (!tls) {
      beast::tcp_stream stream(std::move(sock));
      co_await serve(stream, stream);
      stream.socket().shutdown(tcp::socket::shutdown_send, ec);
      co_return;
    }
    beast::ssl_stream<beast::tcp_stream> stream(beast::tcp_stream(std::move(sock)), *tls);
    beast::get_lowest_layer(stream).expires_after(kIdle);
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
      asio::co_spawn(ioc, connection(std::move(sock)), asio::detached);
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
