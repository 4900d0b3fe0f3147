#include "sync/http_client.hpp"

#include <utility>

#include <openssl/x509_vfy.h>

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
using error_code = boost::system::error_code;

namespace {

template <class Stream>
http_response exchange(Stream& s, const http_target& t, const std::string& method,
                       const std::string& path, const std::string& token, const std::string& body) {
  // The body is sent from the caller's string as it is: a batch is tens of MB.
  http::request<http::span_body<const char>> req{http::string_to_verb(method), path, 11};
  req.set(http::field::host, t.host);
  req.set(http::field::user_agent, t.user_agent);
  if (!token.empty())
    req.set(http::field::authorization, "Bearer " + token);
  if (!t.content_type.empty())
    req.set(http::field::content_type, t.content_type);
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

http_unreachable::http_unreachable(const http_target& t, std::string reason)
    : std::runtime_error("http " + t.host + ":" + std::to_string(t.port) + ": " + reason),
      reason_(std::move(reason)) {}

http_response http_request(const http_target& t, const std::string& method, const std::string& path,
                           const std::string& token, const std::string& body,
                           std::chrono::seconds timeout) {
  try {
    asio::io_context io;
    beast::tcp_stream stream(io);
    stream.expires_after(timeout);
    error_code ec;
    tcp::resolver::results_type endpoints;
    if (auto literal = asio::ip::make_address(t.host, ec); !ec) {
      endpoints = tcp::resolver::results_type::create(tcp::endpoint(literal, t.port), t.host,
                                                      std::to_string(t.port));
    } else {
      endpoints = tcp::resolver(io).resolve(t.host, std::to_string(t.port));
    }
    if (!t.local_address.empty()) {
      auto local = asio::ip::make_address(t.local_address);
      stream.socket().open(local.is_v4() ? tcp::v4() : tcp::v6());
      stream.socket().bind(tcp::endpoint(local, 0));
      stream.connect(endpoints.begin()->endpoint());
    } else {
      stream.connect(endpoints);
    }
    if (!t.tls)
      return exchange(stream, t, method, path, token, body);
    asio::ssl::context ctx(asio::ssl::context::tls_client);
    if (t.ca.empty()) {
      ctx.set_verify_mode(asio::ssl::verify_none);
    } else {
      ctx.load_verify_file(t.ca);
      X509_STORE_set_flags(SSL_CTX_get_cert_store(ctx.native_handle()), X509_V_FLAG_PARTIAL_CHAIN);
      ctx.set_verify_mode(asio::ssl::verify_peer);
    }
    beast::ssl_stream<beast::tcp_stream> s(std::move(stream), ctx);
    s.handshake(asio::ssl::stream_base::client);
    return exchange(s, t, method, path, token, body);
  } catch (const boost::system::system_error& e) {
    throw http_unreachable(t, e.what());
  }
}

}  // namespace sluice::sync
