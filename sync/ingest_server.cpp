#include "sync/ingest_server.hpp"

#include <sys/socket.h>

#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <limits>

#include "config/log.hpp"
#include "sync/body_budget.hpp"
#include "sync/bulk_thread.hpp"
#include "sync/connection_limiter.hpp"
#include "sync/ingest_limits.hpp"
#include "sync/log_throttle.hpp"

namespace sluice::sync {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct ingest_server::shared {
  std::mutex mu;
  std::shared_ptr<asio::ssl::context> tls;
  config::allowlist allow;
  uint64_t max_body = config::ingest_settings{}.max_batch_bytes;
  std::chrono::milliseconds header_timeout = config::ingest_settings{}.header_timeout;
  http_handler handler;
  http_precheck precheck;
  std::shared_ptr<connection_limiter> connections;
  std::shared_ptr<body_budget> bodies;
  log_throttle refused_log{std::chrono::seconds(10)};
};

namespace {

// 413 with the limit, so a sender (and `sluice sync push`) can say by how much.
reply too_large(uint64_t limit) {
  return {
      413,
      {{"error", "batch larger than ingest.max_batch_bytes (" + std::to_string(limit) + " bytes)"},
       {"max_batch_bytes", limit}},
      0};
}

config::ip_address to_ip(const asio::ip::address& a) {
  if (a.is_v4())
    return config::ip_address::from_v4(a.to_v4().to_bytes());
  auto v6 = a.to_v6();
  if (v6.is_v4_mapped()) {
    return config::ip_address::from_v4(
        asio::ip::make_address_v4(asio::ip::v4_mapped, v6).to_bytes());
  }
  return config::ip_address::from_v6(v6.to_bytes());
}

const char* reason_text(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 409:
      return "Conflict";
    case 413:
      return "Payload Too Large";
    case 422:
      return "Unprocessable Entity";
    case 429:
      return "Too Many Requests";
    case 503:
      return "Service Unavailable";
    default:
      return "Error";
  }
}

// Limits that are not configuration keys (docs/sync.md, "Limits").
constexpr size_t kBufferLimit = 32 * 1024;  // read buffer: header, pipelined bytes
constexpr auto kBodyTimeout = std::chrono::seconds(60);
constexpr auto kWriteTimeout = std::chrono::seconds(30);
constexpr auto kBudgetWait = std::chrono::seconds(2);  // for memory, then 503
constexpr auto kBudgetPoll = std::chrono::milliseconds(20);
constexpr auto kLingerTime = std::chrono::seconds(1);  // discard an unread body, then close
constexpr size_t kLingerBytes = 256 * 1024;

// One connection; Stream is beast::tcp_stream or beast::ssl_stream<beast::tcp_stream>.
template <class Stream>
class session : public std::enable_shared_from_this<session<Stream>> {
 public:
  session(Stream stream, std::shared_ptr<ingest_server::shared> sh, std::string peer,
          std::unique_ptr<connection_limiter::slot> slot)
      : stream_(std::move(stream)),
        sh_(std::move(sh)),
        peer_(std::move(peer)),
        slot_(std::move(slot)),
        timer_(beast::get_lowest_layer(stream_).get_executor()) {}

  void start() {
    std::chrono::milliseconds header_timeout;
    {
      std::lock_guard g(sh_->mu);
      header_timeout = sh_->header_timeout;
    }
    // One deadline for the TLS handshake and the first request header.
    beast::get_lowest_layer(stream_).expires_after(header_timeout);
    if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
      read(false);
    } else {
      stream_.async_handshake(asio::ssl::stream_base::server,
                              [self = this->shared_from_this()](beast::error_code ec) {
                                if (!ec)
                                  self->read(true);
                              });
    }
  }

 private:
  // `keep_deadline`: the handshake's deadline also covers this first header.
  void read(bool keep_deadline) {
    parser_.emplace();
    std::chrono::milliseconds header_timeout;
    {
      std::lock_guard g(sh_->mu);
      max_body_ = sh_->max_body;
      header_timeout = sh_->header_timeout;
    }
    // No body limit while the header is read: an oversized Content-Length must not
    // answer 413 before the token was checked. It is checked after the precheck. (Not
    // boost::none: Boost 1.74 compares a Content-Length against an empty limit as larger.)
    parser_->body_limit(std::numeric_limits<uint64_t>::max());
    parser_->header_limit(kIngestHeaderLimit);
    if (!keep_deadline)
      beast::get_lowest_layer(stream_).expires_after(header_timeout);
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this()](beast::error_code ec, size_t) { self->on_header(ec); });
  }

  http_request head() {
    auto& req = parser_->get();
    http_request hr;
    hr.method = std::string(req.method_string());
    hr.target = std::string(req.target());
    hr.authorization = std::string(req[http::field::authorization]);
    hr.content_type = std::string(req[http::field::content_type]);
    hr.peer = peer_;
    return hr;
  }

  void on_header(beast::error_code ec) {
    if (ec)
      return;  // closed, timed out or garbage: nothing to answer
    keep_alive_ = parser_->get().keep_alive();
    http_precheck precheck;
    {
      std::lock_guard g(sh_->mu);
      precheck = sh_->precheck;
    }
    if (precheck) {
      if (auto answer = precheck(head()))
        return refuse(std::move(*answer));
    }
    const bool has_body = !parser_->is_done();
    const auto len = parser_->content_length();
    if (len && *len > max_body_) {
      return refuse(too_large(max_body_));
    }
    // A chunked body may grow to the batch limit: reserve that much.
    need_ = !has_body ? 0 : len ? *len : max_body_;
    waited_ = std::chrono::steady_clock::duration::zero();
    reserve_body();
  }

  // The body is read only when the memory budget for bodies has room; a short wait
  // rides out a burst, then the sender is told to retry.
  void reserve_body() {
    std::shared_ptr<body_budget> budget;
    {
      std::lock_guard g(sh_->mu);
      budget = sh_->bodies;
    }
    if (need_ == 0 || (reservation_ = reserve(budget, need_)))
      return read_body();
    if (waited_ >= kBudgetWait) {
      return refuse(
          {503,
           {{"error", "too many batches in memory at once (ingest.max_body_memory); retry later"}},
           1});
    }
    waited_ += kBudgetPoll;
    timer_.expires_after(kBudgetPoll);
    timer_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
      if (!ec)
        self->reserve_body();
    });
  }

  void read_body() {
    beast::get_lowest_layer(stream_).expires_after(kBodyTimeout);
    auto& req = parser_->get();
    if (beast::iequals(req[http::field::expect], "100-continue") && !parser_->is_done()) {
      // The sender waits for this before it sends the body (curl does for large ones).
      static const char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
      asio::async_write(stream_, asio::buffer(kContinue, sizeof kContinue - 1),
                        [self = this->shared_from_this()](beast::error_code ec, size_t) {
                          if (!ec)
                            self->read_body_bytes();
                        });
      return;
    }
    read_body_bytes();
  }

  // A body of known length is read straight into its string in reads as large as the
  // socket allows: Beast's parser reads 64 KiB at a time and copies each into the body,
  // which for a 30 MB batch is ~500 reactor round trips (futex, epoll, timer updates).
  void read_body_bytes() {
    if (parser_->is_done() || parser_->chunked() || !parser_->content_length()) {
      if (parser_->is_done())
        return on_read({});
      parser_->body_limit(max_body_);
      http::async_read(
          stream_, buffer_, *parser_,
          [self = this->shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
      return;
    }
    const size_t len = static_cast<size_t>(*parser_->content_length());
    body_.clear();
    body_.resize(len);
    const size_t have = std::min(len, buffer_.size());
    asio::buffer_copy(asio::buffer(body_.data(), have), buffer_.data());
    buffer_.consume(have);
    if (have == len)
      return on_body({});
    const size_t rest = len - have;
    asio::async_read(
        stream_, asio::buffer(body_.data() + have, rest),
        [rest](const beast::error_code& e, size_t n) -> size_t { return e ? 0 : rest - n; },
        [self = this->shared_from_this()](beast::error_code ec, size_t) { self->on_body(ec); });
  }

  void on_body(beast::error_code ec) {
    if (ec)
      return;  // closed or timed out mid-body: nothing to answer
    dispatch(std::move(body_));
    body_ = {};
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::body_limit) {
      reply r = too_large(max_body_);
      keep_alive_ = false;
      write(std::move(r));
      return;
    }
    if (ec)
      return;  // closed, timed out or garbage: nothing to answer
    dispatch(std::move(parser_->get().body()));
  }

  // Answers without reading the body. Unless there was none, the connection cannot be
  // reused (the body's bytes would be read as the next request): close after the reply.
  void refuse(reply r) {
    if (!parser_->is_done()) {
      keep_alive_ = false;
      unread_body_ = true;
    }
    write(std::move(r));
  }

  void dispatch(std::string body) {
    http_request hr = head();
    hr.body = std::move(body);
    http_handler handler;
    {
      std::lock_guard g(sh_->mu);
      handler = sh_->handler;
    }
    beast::get_lowest_layer(stream_).expires_never();  // the writer may take a while
    auto self = this->shared_from_this();
    handler(std::move(hr), [self](reply r) {
      auto ex = beast::get_lowest_layer(self->stream_).get_executor();
      asio::post(ex, [self, r = std::move(r)]() mutable { self->write(std::move(r)); });
    });
  }

  void write(reply r) {
    reservation_.reset();  // the batch is done with: its memory is free again
    auto res = std::make_shared<http::response<http::string_body>>();
    res->version(11);
    res->result(static_cast<http::status>(r.status));
    res->reason(reason_text(r.status));
    res->set(http::field::content_type, "application/json");
    res->set(http::field::server, "sluice");
    if (r.status == 401)
      res->set(http::field::www_authenticate, "Bearer realm=\"sluice\"");
    if (r.retry_after > 0)
      res->set(http::field::retry_after, std::to_string(r.retry_after));
    res->body() = r.body.dump() + "\n";
    res->keep_alive(keep_alive_);
    res->prepare_payload();
    beast::get_lowest_layer(stream_).expires_after(kWriteTimeout);
    http::async_write(stream_, *res,
                      [self = this->shared_from_this(), res](beast::error_code ec, size_t) {
                        if (ec)
                          return;
                        if (self->keep_alive_) {
                          self->read(false);
                        } else {
                          self->close();
                        }
                      });
  }

  void close() {
    beast::error_code ec;
    auto& tcp = beast::get_lowest_layer(stream_);
    tcp.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (!unread_body_)
      return;
    // Closing with unread bytes makes the kernel send RST, and the sender might lose
    // the reply it has not read yet. Discard what arrives for a moment, into a small
    // buffer (never the announced length), then let the socket go.
    linger_until_ = std::chrono::steady_clock::now() + kLingerTime;
    tcp.expires_after(kLingerTime);
    sink_ = std::make_unique<std::array<char, 4096>>();
    discard();
  }

  void discard() {
    beast::get_lowest_layer(stream_).async_read_some(
        asio::buffer(*sink_), [self = this->shared_from_this()](beast::error_code ec, size_t n) {
          self->discarded_ += n;
          if (!ec && self->discarded_ < kLingerBytes &&
              std::chrono::steady_clock::now() < self->linger_until_)
            self->discard();
        });
  }

  Stream stream_;
  std::shared_ptr<ingest_server::shared> sh_;
  std::string peer_;
  std::unique_ptr<connection_limiter::slot> slot_;  // released with the session
  asio::steady_timer timer_;
  beast::flat_buffer buffer_{kBufferLimit};
  std::optional<http::request_parser<http::string_body>> parser_;
  std::string body_;  // a body of known length, read past the parser
  uint64_t max_body_ = 0;
  uint64_t need_ = 0;
  std::chrono::steady_clock::duration waited_{};
  std::unique_ptr<body_budget::reservation> reservation_;
  bool keep_alive_ = false;
  bool unread_body_ = false;
  std::unique_ptr<std::array<char, 4096>> sink_;
  size_t discarded_ = 0;
  std::chrono::steady_clock::time_point linger_until_;
};

}  // namespace

ingest_server::ingest_server(const config::ingest_settings& cfg,
                             std::shared_ptr<asio::ssl::context> tls, config::allowlist allow,
                             http_handler handler, http_precheck precheck)
    : sh_(std::make_shared<shared>()), acceptor_(io_), listen_(cfg.listen) {
  sh_->tls = std::move(tls);
  sh_->allow = std::move(allow);
  sh_->max_body = cfg.max_batch_bytes;
  sh_->header_timeout = cfg.header_timeout;
  sh_->handler = std::move(handler);
  sh_->precheck = std::move(precheck);
  sh_->connections =
      std::make_shared<connection_limiter>(cfg.max_connections, cfg.max_connections_per_address);
  sh_->bodies = std::make_shared<body_budget>(cfg.body_memory());
}

ingest_server::~ingest_server() {
  stop();
}

void ingest_server::start() {
  beast::error_code ec;
  auto addr = asio::ip::make_address(listen_.host, ec);
  if (ec)
    throw std::runtime_error("ingest.listen: '" + listen_.host + "' is not an IP address");
  tcp::endpoint ep(addr, listen_.port);
  acceptor_.open(ep.protocol(), ec);
  if (!ec)
    acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) {
    // SO_REUSEPORT: a new sluice binds the same port while this one drains (an upgrade on
    // one host, docs/operations.md "Upgrade without downtime").
    int one = 1;
    if (::setsockopt(acceptor_.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
      ec = beast::error_code(errno, boost::system::system_category());
  }
  if (!ec)
    acceptor_.bind(ep, ec);
  if (!ec)
    acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    throw std::runtime_error("ingest: cannot listen on " + listen_.str() + ": " + ec.message());
  }
  port_ = acceptor_.local_endpoint().port();
  accept();
  for (int i = 0; i < 2; ++i)
    threads_.emplace_back([this] {
      mark_bulk_thread("sluice-ingest");
      io_.run();
    });
  log::info("ingest_listening")
      .kv("listen", listen_.host + ":" + std::to_string(port_))
      .kv("tls", sh_->tls != nullptr);
}

void ingest_server::stop() {
  if (threads_.empty())
    return;
  asio::post(io_, [this] {
    beast::error_code ec;
    acceptor_.close(ec);
  });
  io_.stop();
  for (auto& t : threads_)
    t.join();
  threads_.clear();
}

void ingest_server::update(const config::ingest_settings& cfg,
                           std::shared_ptr<asio::ssl::context> tls, config::allowlist allow) {
  std::lock_guard g(sh_->mu);
  if (tls)
    sh_->tls = std::move(tls);
  sh_->allow = std::move(allow);
  sh_->max_body = cfg.max_batch_bytes;
  sh_->header_timeout = cfg.header_timeout;
  sh_->connections->set_limits(cfg.max_connections, cfg.max_connections_per_address);
  sh_->bodies->set_limit(cfg.body_memory());
}

void ingest_server::accept() {
  // Each connection on its own strand: two io threads, one handler at a time per stream.
  acceptor_.async_accept(asio::make_strand(io_), [this](beast::error_code ec, tcp::socket sock) {
    if (ec) {
      if (ec != asio::error::operation_aborted)
        accept();
      return;
    }
    beast::error_code pec;
    auto remote = sock.remote_endpoint(pec);
    if (pec) {
      accept();
      return;
    }
    std::shared_ptr<asio::ssl::context> tls;
    config::allow_decision d;
    {
      std::lock_guard g(sh_->mu);
      tls = sh_->tls;
      d = sh_->allow.admits_everyone() ? config::allow_decision{true, ""}
                                       : sh_->allow.check(to_ip(remote.address()));
    }
    std::string peer = remote.address().to_string();
    admit_result why = admit_result::admitted;
    std::unique_ptr<connection_limiter::slot> slot;
    if (d.allowed)
      slot = admit(sh_->connections, peer, why);
    if (!slot) {
      // Both can be triggered at will by a client: one line per 10 s at most.
      if (auto suppressed = sh_->refused_log.admit(std::chrono::steady_clock::now())) {
        log::warn("ingest_rejected")
            .kv("peer", peer)
            .kv("reason", d.allowed ? to_string(why) : "not in ingest.allow")
            .kv("suppressed", *suppressed);
      }
      sock.close(pec);
      accept();
      return;
    }
    if (tls) {
      beast::ssl_stream<beast::tcp_stream> s(beast::tcp_stream(std::move(sock)), *tls);
      std::make_shared<session<beast::ssl_stream<beast::tcp_stream>>>(std::move(s), sh_, peer,
                                                                      std::move(slot))
          ->start();
    } else {
      std::make_shared<session<beast::tcp_stream>>(beast::tcp_stream(std::move(sock)), sh_, peer,
                                                   std::move(slot))
          ->start();
    }
    accept();
  });
}

}  // namespace sluice::sync
