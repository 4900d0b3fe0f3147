#include "config/settings.hpp"

#include <algorithm>

namespace sluice::config {

namespace {
template <class T>
const T* find_named(const std::vector<T>& items, std::string_view name) {
  auto it = std::find_if(items.begin(), items.end(), [&](const T& t) { return t.name == name; });
  return it == items.end() ? nullptr : &*it;
}
}  // namespace

const listener* settings::find_listener(std::string_view n) const {
  return find_named(listeners, n);
}
const tunnel* settings::find_tunnel(std::string_view n) const {
  return find_named(tunnels, n);
}
const route* settings::find_route(std::string_view n) const {
  return find_named(routes, n);
}
const sync* settings::find_sync(std::string_view n) const {
  return find_named(syncs, n);
}

std::string_view to_string(sslmode m) {
  switch (m) {
    case sslmode::disable:
      return "disable";
    case sslmode::allow:
      return "allow";
    case sslmode::prefer:
      return "prefer";
    case sslmode::require:
      return "require";
    case sslmode::verify_ca:
      return "verify-ca";
    case sslmode::verify_full:
      return "verify-full";
  }
  return "?";
}

std::string_view to_string(client_tls_policy p) {
  switch (p) {
    case client_tls_policy::required:
      return "required";
    case client_tls_policy::optional:
      return "optional";
    case client_tls_policy::disabled:
      return "disabled";
  }
  return "?";
}

std::string_view to_string(auth_mode m) {
  return m == auth_mode::terminate ? "terminate" : "passthrough";
}

}  // namespace sluice::config
