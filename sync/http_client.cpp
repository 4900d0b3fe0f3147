#include "sync/http_client.hpp"

#include <utility>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <stdexcept>

namespace sluice::sync {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

template <class Stream>
http_response exchange(Stream& s, const http_target& t, const std::string& method,
                       const std::string& path, const std::string& token, const std::string& body) {
  // The body is sent from the caller's string as it is: a batch is tens of MB.
  http::request<http::span_body<const char>> req{http::string_to_verb(method), path, 11};
  req.set(http::field::host, t.host);
  req.set(http::field::user_agent, "sluice-sync-push");
  if (!token.empty())
    req.set(http::field::authorization, "Bearer " + token);
  req.set(http::field::content_type, "application/x-ndjson");
  req.body() = {body.data(), body.size()};
  req.keep_alive(false);
  req.prepare_payload();
  // A server may answer before it has read the whole body (413 for a batch over its
  // limit) and close: our write then fails, but its answer is still there to read.
  beast::error_code write_ec, read_ec;
  http::write(s, req, write_ec);
  beast::flat_buffer buf;
  http::response_parser<http::string_body> p;
  p.body_limit(64ull << 20);
  http::read(s, buf, p, read_ec);
  if (read_ec)
    throw boost::system::system_error(write_ec ? write_ec : read_ec);
  auto& res = p.get();
  return {static_cast<int>(res.result_int()), res.body(),
          std::string(res[http::field::retry_after])};
}

}  // namespace

http_response http_request(const http_target& t, const std::string& method, const std::string& path,
                           const std::string& token, const std::string& body,
                           std::chrono::seconds timeout) {
  try {
    asio::io_context io;
    beast::tcp_stream stream(io);
    stream.expires_after(timeout);
    tcp::endpoint ep(asio::ip::make_address(t.host), t.port);
    stream.socket().open(ep.protocol());
    if (!t.local_address.empty()) {
      stream.socket().bind(tcp::endpoint(asio::ip::make_address(t.local_address), 0));
    }
    stream.connect(ep);
    if (!t.tls)
      return exchange(stream, t, method, path, token, body);
    asio::ssl::context ctx(asio::ssl::context::tls_client);
    if (t.ca.empty()) {
      ctx.set_verify_mode(asio::ssl::verify_none);
    } else {
      ctx.load_verify_file(t.ca);
      ctx.set_verify_mode(asio::ssl::verify_peer);
    }
    beast::ssl_stream<beast::tcp_stream> s(std::move(stream), ctx);
    s.handshake(asio::ssl::stream_base::client);
    return exchange(s, t, method, path, token, body);
  } catch (const boost::system::system_error& e) {
    throw std::runtime_error("http " + t.host + ":" + std::to_string(t.port) + ": " + e.what());
  }
}

}  // namespace sluice::sync
