#include <utility>  // before Asio: GCC 12 + Boost 1.74 needs std::exchange

#include "gateway/cli/admin_client.hpp"

#include <yaml-cpp/yaml.h>

#include "config/bearer_token.hpp"
#include "config/load.hpp"
#include "config/read_file.hpp"
#include "config/units.hpp"
#include "sync/http_client.hpp"

namespace sluice::cmd {

namespace {

constexpr auto kTimeout = std::chrono::seconds(60);  // a reload may build TLS contexts

}  // namespace

std::optional<admin_target> find_admin(const std::string& path, std::string& why) {
  std::string unreadable;
  auto text = config::read_file_at_most(path, config::kMaxConfigBytes, &unreadable);
  if (!text) {
    why = unreadable;
    return std::nullopt;
  }
  YAML::Node root;
  try {
    root = YAML::Load(*text);
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
    const config::host_port defaults = config::admin_settings{}.listen;
    admin_target t{defaults.host, defaults.port, {}, {}};
    if (admin["listen"]) {
      std::string problem;
      auto hp = config::parse_host_port(admin["listen"].as<std::string>(), &problem);
      if (!hp) {
        why = path + ": admin.listen: " + problem;
        return std::nullopt;
      }
      t.host = hp->host, t.port = hp->port;
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
  const std::string where = "the admin API at " + config::host_port{t.host, t.port}.str();
  std::string token;
  if (!t.token_file.empty()) {
    std::string why;
    auto read = config::read_token_file(t.token_file, &why);
    if (!read)
      return {0, {}, "admin.token_file: " + why};
    token = *read;
  }
  sync::http_target http{t.host, t.port, !t.tls_cert.empty(), t.tls_cert, {}, "sluice-cli", ""};
  try {
    auto r = sync::http_request(http, method, target, token, "", kTimeout);
    return {r.status, r.body, {}};
  } catch (const sync::http_unreachable& e) {
    return {0, {}, "cannot reach " + where + ": " + e.reason()};
  } catch (const std::exception& e) {
    return {0, {}, "cannot reach " + where + ": " + e.what()};
  }
}

}  // namespace sluice::cmd
