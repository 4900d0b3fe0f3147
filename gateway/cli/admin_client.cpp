#include <utility>  // before Asio: GCC 12 + Boost 1.74 needs std::exchange

#include "gateway/cli/admin_client.hpp"

#include <openssl/x509_vfy.h>
#include <yaml-cpp/yaml.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <fstream>
#include <sstream>

namespace sluice::cmd {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kTimeout = std::chrono::seconds(60);  // a reload may build TLS contexts

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' '))
    s.pop_back();
  return s;
}

// "host:port" or "[v6]:port".
bool split_host_port(const std::string& s, std::string& host, uint16_t& port) {
  auto colon = s.rfind(':');
  if (colon == std::string::npos)
    return false;
  host = s.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  try {
    int p = std::stoi(s.substr(colon + 1));
    if (p <= 0 || p > 65535)
      return false;
    port = static_cast<uint16_t>(p);
  } catch (const std::exception&) {
    return false;
  }
  return true;
}

template <class Stream>
admin_reply exchange(Stream& stream, const admin_target& t, const std::string& method,
                     const std::string& target) {
  http::request<http::string_body> req{http::string_to_verb(method), target, 11};
  req.set(http::field::host, t.host);
  req.set(http::field::user_agent, "sluice-cli");
  if (!t.token_file.empty()) {
    std::ifstream in(t.token_file);
    if (!in)
      return {0, {}, "cannot read admin.token_file " + t.token_file};
    std::stringstream ss;
    ss << in.rdbuf();
    req.set(http::field::authorization, "Bearer " + trim(ss.str()));
  }
  req.prepare_payload();
  http::write(stream, req);
  beast::flat_buffer buf;
  http::response<http::string_body> res;
  http::read(stream, buf, res);
  return {static_cast<int>(res.result_int()), res.body(), {}};
}

}  // namespace

std::optional<admin_target> find_admin(const std::string& path, std::string& why) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const std::exception& e) {
    why = "cannot read " + path + " as YAML (" + e.what() + ")";
    return std::nullopt;
  }
  try {
    auto admin = root.IsMap() ? root["admin"] : YAML::Node();
    if (!admin || !admin.IsMap()) {
      why = path + " has no admin: section, so there is no admin API to ask";
      return std::nullopt;
    }
    admin_target t{"127.0.0.1", 9187, {}, {}};
    if (admin["listen"] && !split_host_port(admin["listen"].as<std::string>(), t.host, t.port)) {
      why = path + ": admin.listen is not HOST:PORT";
      return std::nullopt;
    }
    if (t.host == "0.0.0.0" || t.host == "*")
      t.host = "127.0.0.1";
    else if (t.host == "::")
      t.host = "::1";
    if (admin["token_file"])
      t.token_file = admin["token_file"].as<std::string>();
    if (admin["tls"] && admin["tls"].IsMap() && admin["tls"]["cert"])
      t.tls_cert = admin["tls"]["cert"].as<std::string>();
    return t;
  } catch (const std::exception& e) {
    why = path + ": cannot read the admin: section (" + std::string(e.what()) + ")";
    return std::nullopt;
  }
}

admin_reply admin_request(const admin_target& t, const std::string& method,
                          const std::string& target) {
  const std::string where = "the admin API at " +
                            (t.host.find(':') != std::string::npos ? "[" + t.host + "]" : t.host) +
                            ":" + std::to_string(t.port);
  try {
    asio::io_context ioc;
    tcp::resolver resolver(ioc);
    auto endpoints = resolver.resolve(t.host, std::to_string(t.port));
    beast::tcp_stream tcp_stream(ioc);
    tcp_stream.expires_after(kTimeout);
    tcp_stream.connect(endpoints);
    if (t.tls_cert.empty())
      return exchange(tcp_stream, t, method, target);
    // The admin certificate itself is the trust anchor (it may be self-signed).
    asio::ssl::context ctx(asio::ssl::context::tls_client);
    ctx.load_verify_file(t.tls_cert);
    X509_STORE_set_flags(SSL_CTX_get_cert_store(ctx.native_handle()), X509_V_FLAG_PARTIAL_CHAIN);
    ctx.set_verify_mode(asio::ssl::verify_peer);
    beast::ssl_stream<beast::tcp_stream> stream(std::move(tcp_stream), ctx);
    stream.handshake(asio::ssl::stream_base::client);
    return exchange(stream, t, method, target);
  } catch (const std::exception& e) {
    return {0, {}, "cannot reach " + where + ": " + e.what()};
  }
}

}  // namespace sluice::cmd
