#include "sync/ingest_server.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "config/log.hpp"
#include "sync/bulk_thread.hpp"
#include "sync/ingest_limits.hpp"

namespace sluice::sync {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct ingest_server::shared {
  std::mutex mu;
  std::shared_ptr<asio::ssl::context> tls;
  config::allowlist allow;
  uint64_t max_body = 16ull << 20;
  http_handler handler;
};

namespace {

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

// One connection; Stream is beast::tcp_stream or beast::ssl_stream<beast::tcp_stream>.
template <class Stream>
class session : public std::enable_shared_from_this<session<Stream>> {
 public:
  session(Stream stream, std::shared_ptr<ingest_server::shared> sh, std::string peer)
      : stream_(std::move(stream)), sh_(std::move(sh)), peer_(std::move(peer)) {}

  void start() {
    if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
      read();
    } else {
      beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(30));
      stream_.async_handshake(asio::ssl::stream_base::server,
                              [self = this->shared_from_this()](beast::error_code ec) {
                                if (!ec)
                                  self->read();
                              });
    }
  }

 private:
  void read() {
    parser_.emplace();
    {
      std::lock_guard g(sh_->mu);
      parser_->body_limit(sh_->max_body);
    }
    parser_->header_limit(kIngestHeaderLimit);
    beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(60));
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this()](beast::error_code ec, size_t) { self->on_header(ec); });
  }

  // A body of known length is read straight into its string in reads as large as the
  // socket allows: Beast's parser reads 64 KiB at a time and copies each into the body,
  // which for a 30 MB batch is ~500 reactor round trips (futex, epoll, timer updates).
  void on_header(beast::error_code ec) {
    if (ec || parser_->is_done() || parser_->chunked() || !parser_->content_length()) {
      if (ec || parser_->is_done())
        return on_read(ec);
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
      reply r{413, {{"error", "batch larger than ingest.max_batch_bytes"}}};
      keep_alive_ = false;
      write(std::move(r));
      return;
    }
    if (ec)
      return;  // closed, timed out or garbage: nothing to answer
    dispatch(std::move(parser_->get().body()));
  }

  void dispatch(std::string body) {
    auto& req = parser_->get();
    keep_alive_ = req.keep_alive();
    http_request hr;
    hr.method = std::string(req.method_string());
    hr.target = std::string(req.target());
    hr.authorization = std::string(req[http::field::authorization]);
    hr.content_type = std::string(req[http::field::content_type]);
    hr.body = std::move(body);
    hr.peer = peer_;
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
    auto res = std::make_shared<http::response<http::string_body>>();
    res->version(11);
    res->result(static_cast<http::status>(r.status));
    res->reason(reason_text(r.status));
    res->set(http::field::content_type, "application/json");
    res->set(http::field::server, "sluice");
    if (r.retry_after > 0)
      res->set(http::field::retry_after, std::to_string(r.retry_after));
    res->body() = r.body.dump() + "\n";
    res->keep_alive(keep_alive_);
    res->prepare_payload();
    beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(30));
    http::async_write(stream_, *res,
                      [self = this->shared_from_this(), res](beast::error_code ec, size_t) {
                        if (ec)
                          return;
                        if (self->keep_alive_) {
                          self->read();
                        } else {
                          self->close();
                        }
                      });
  }

  void close() {
    beast::error_code ec;
    beast::get_lowest_layer(stream_).socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  Stream stream_;
  std::shared_ptr<ingest_server::shared> sh_;
  std::string peer_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::string body_;  // a body of known length, read past the parser
  bool keep_alive_ = false;
};

}  // namespace

ingest_server::ingest_server(const config::ingest_settings& cfg,
                             std::shared_ptr<asio::ssl::context> tls, config::allowlist allow,
                             http_handler handler)
    : sh_(std::make_shared<shared>()), acceptor_(io_), listen_(cfg.listen) {
  sh_->tls = std::move(tls);
  sh_->allow = std::move(allow);
  sh_->max_body = cfg.max_batch_bytes;
  sh_->handler = std::move(handler);
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
    if (!d.allowed) {
      log::warn("ingest_rejected").kv("peer", peer).kv("reason", "not in ingest.allow");
      sock.close(pec);
      accept();
      return;
    }
    if (tls) {
      beast::ssl_stream<beast::tcp_stream> s(beast::tcp_stream(std::move(sock)), *tls);
      std::make_shared<session<beast::ssl_stream<beast::tcp_stream>>>(std::move(s), sh_, peer)
          ->start();
    } else {
      std::make_shared<session<beast::tcp_stream>>(beast::tcp_stream(std::move(sock)), sh_, peer)
          ->start();
    }
    accept();
  });
}

}  // namespace sluice::sync
