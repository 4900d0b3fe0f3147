#include "sync/destination.hpp"

#include <stdexcept>

#include "config/read_file.hpp"

namespace sluice::sync {

namespace {

std::string read_secret(const std::string& path) {
  std::string why;
  auto secret = config::read_secret_file(path, &why);
  if (!secret)
    throw std::runtime_error("password_file: " + why);
  return *secret;
}

}  // namespace

destination resolve_destination(const config::settings& s, const config::sync& sync,
                                const forward_fn& forward) {
  const auto& d = sync.destination;
  const std::string via = destination_tunnel(s, sync);
  std::string host = d.host, ca = d.ca, cert = d.cert, key = d.key;
  uint16_t port = d.port;
  config::sslmode mode = d.mode;
  if (!d.route.empty()) {
    const auto* r = s.find_route(d.route);
    if (!r)
      throw std::runtime_error("destination route '" + d.route + "' is not configured");
    host = r->upstream.host;
    port = r->upstream.port;
    mode = r->upstream.tls.mode;
    ca = r->upstream.tls.ca;
    cert = r->upstream.tls.cert;
    key = r->upstream.tls.key;
  }
  destination out;
  auto& p = out.params;
  p["dbname"] = d.database;
  p["user"] = d.user;
  if (!d.password_file.empty())
    p["password"] = read_secret(d.password_file);
  p["sslmode"] = std::string(config::to_string(mode));
  if (!ca.empty())
    p["sslrootcert"] = ca;
  if (!cert.empty())
    p["sslcert"] = cert;
  if (!key.empty())
    p["sslkey"] = key;
  p["application_name"] = "sluice-sync/" + sync.name;
  p["connect_timeout"] = "10";
  // Dead links must surface as errors, not hang a batch forever.
  p["keepalives"] = "1";
  p["keepalives_idle"] = "10";
  p["keepalives_interval"] = "5";
  p["keepalives_count"] = "3";
  p["tcp_user_timeout"] = "30000";
  p["host"] = host;
  p["port"] = std::to_string(port);
  if (!via.empty()) {
    if (!forward)
      throw std::runtime_error("destination is reached through tunnel '" + via +
                               "', which only the running gateway provides");
    std::string err;
    auto fwd = forward(via, host, port, err);
    if (!fwd)
      throw std::runtime_error("tunnel '" + via + "': " + err);
    // host stays the real name so TLS checks it; the bytes go to the forward.
    p["hostaddr"] = fwd->host;
    p["port"] = std::to_string(fwd->port);
  }
  out.describe = address_of(s, sync).describe;
  return out;
}

destination_address address_of(const config::settings& s, const config::sync& sync) {
  const auto& d = sync.destination;
  destination_address a{d.host, d.port, ""};
  if (!d.route.empty())
    if (const auto* r = s.find_route(d.route))
      a = {r->upstream.host, r->upstream.port, ""};
  const std::string via = destination_tunnel(s, sync);
  a.describe = d.user + "@" + a.host + ":" + std::to_string(a.port) + "/" + d.database +
               (via.empty() ? "" : " via " + via);
  return a;
}

std::string destination_tunnel(const config::settings& s, const config::sync& sync) {
  const auto& d = sync.destination;
  if (d.route.empty())
    return d.via;
  const auto* r = s.find_route(d.route);
  return r ? r->upstream.via : "";
}

}  // namespace sluice::sync
