#include "gateway/metrics.hpp"

namespace sluice::gateway {

void histogram::observe(double seconds) {
  size_t i = 0;
  while (i < kBounds.size() && seconds > kBounds[i])
    ++i;
  ++counts[i];
  ++count;
  sum += seconds;
}

void histogram::merge(const histogram& o) {
  for (size_t i = 0; i < counts.size(); ++i)
    counts[i] += o.counts[i];
  count += o.count;
  sum += o.sum;
}

void route_latency::merge(const route_latency& o) {
  connect.merge(o.connect);
  tls.merge(o.tls);
  login.merge(o.login);
}

void metrics::merge(const metrics& o) {
  for (const auto& [k, v] : o.closed)
    closed[k] += v;
  for (const auto& [k, v] : o.accepted)
    accepted[k] += v;
  for (const auto& [k, v] : o.routes) {
    auto& r = routes[k];
    r.sessions += v.sessions;
    r.active += v.active;
    r.bytes_client_to_server += v.bytes_client_to_server;
    r.bytes_server_to_client += v.bytes_server_to_client;
  }
  for (const auto& [k, v] : o.latency)
    latency[k].merge(v);
  handshake_seconds.merge(o.handshake_seconds);
  upstream_connect_seconds.merge(o.upstream_connect_seconds);
  cancel_requests += o.cancel_requests;
}

}  // namespace sluice::gateway
