#include "gateway/runtime.hpp"

#include <stdexcept>

namespace sluice::gateway {

runtime_ptr runtime::build(config::settings_ptr s, uint64_t generation) {
  auto rt = std::make_shared<runtime>();
  rt->settings = s;
  rt->generation = generation;
  for (const auto& l : s->listeners) {
    listener_runtime lr;
    lr.cfg = &l;
    lr.allow = config::allowlist(l.allow, s->allowlists);
    if (l.proxy)
      lr.proxy_trusted = l.proxy->trusted;
    if (l.tls && l.tls->mode == config::tls_mode::terminate) {
      try {
        lr.tls = std::make_shared<tls::server_context>(
            l.tls->cert, l.tls->key, l.tls->sni, true,
            tls::server_options{l.tls->policy, l.tls->client_ca, l.tls->client_cert});
      } catch (const std::exception& e) {
        throw std::runtime_error("listener '" + l.name + "': " + e.what());
      }
    }
    rt->listeners.emplace(l.name, std::move(lr));
  }
  for (const auto& r : s->routes) {
    route_runtime rr;
    rr.cfg = &r;
    rr.allow = config::allowlist(r.allow, s->allowlists);
    if (r.upstream.tls.mode != config::sslmode::disable) {
      try {
        rr.tls = std::make_shared<tls::client_context>(
            r.upstream.tls, r.upstream.tls.negotiation == config::sslnegotiation::direct);
      } catch (const std::exception& e) {
        throw std::runtime_error("route '" + r.name + "': " + e.what());
      }
    }
    rt->routes.emplace(r.name, std::move(rr));
  }
  return rt;
}

const listener_runtime* runtime::listener(std::string_view name) const {
  auto it = listeners.find(name);
  return it == listeners.end() ? nullptr : &it->second;
}

const route_runtime* runtime::route(std::string_view name) const {
  auto it = routes.find(name);
  return it == routes.end() ? nullptr : &it->second;
}

}  // namespace sluice::gateway
