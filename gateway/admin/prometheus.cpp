#include "gateway/admin/prometheus.hpp"

#include <cstdio>
#include <cstdlib>
#include <map>
#include <sstream>

namespace sluice::admin {

namespace {

// Shortest text that reads back as the same double ("0.0005", not "0.00050000000000000001").
std::string num(double v) {
  char buf[64];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v)
      break;
  }
  return buf;
}

void header(std::ostringstream& o, const char* name, const char* type, const char* help) {
  o << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
}

// One histogram's series; `labels` is "" or `key="value",` (escaped, trailing comma).
void histogram_series(std::ostringstream& o, const char* name, const std::string& labels,
                      const gateway::histogram& h) {
  uint64_t cumulative = 0;
  for (size_t i = 0; i < gateway::histogram::kBounds.size(); ++i) {
    cumulative += h.counts[i];
    o << name << "_bucket{" << labels << "le=\"" << num(gateway::histogram::kBounds[i]) << "\"} "
      << cumulative << '\n';
  }
  cumulative += h.counts.back();
  o << name << "_bucket{" << labels << "le=\"+Inf\"} " << cumulative << '\n';
  const std::string plain = labels.empty() ? "" : "{" + labels.substr(0, labels.size() - 1) + "}";
  o << name << "_sum" << plain << ' ' << num(h.sum) << '\n'
    << name << "_count" << plain << ' ' << h.count << '\n';
}

void render_histogram(std::ostringstream& o, const char* name, const char* help,
                      const gateway::histogram& h) {
  header(o, name, "histogram", help);
  histogram_series(o, name, "", h);
}

// A histogram family with one series per route.
template <class Pick>
void render_route_histograms(std::ostringstream& o, const char* name, const char* help,
                             const std::map<std::string, gateway::route_latency>& latency,
                             Pick pick) {
  header(o, name, "histogram", help);
  for (const auto& [route, l] : latency)
    histogram_series(o, name, "route=\"" + escape_label(route) + "\",", pick(l));
}

// A number from a status document, or `fallback` when absent or not numeric.
double field(const nlohmann::json& j, const char* key, double fallback = 0) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : fallback;
}

std::string text(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// routes[].pool: one series per (route, user, database) pool.
void render_pools(std::ostringstream& o, const std::vector<gateway::pool::pool_snapshot>& pools) {
  auto labels = [](const gateway::pool::pool_snapshot& p) {
    return "route=\"" + escape_label(p.route) + "\",user=\"" + escape_label(p.user) +
           "\",database=\"" + escape_label(p.database) + "\"";
  };
  using snap = gateway::pool::pool_snapshot;
  struct gauge {
    const char* name;
    const char* help;
    uint64_t (*get)(const snap&);
  };
  const gauge gauges[] = {
      {"sluice_pool_size", "Configured server connections per pool (routes[].pool.size).",
       [](const snap& p) -> uint64_t { return p.size; }},
      {"sluice_pool_idle", "Pooled server connections idle now.",
       [](const snap& p) -> uint64_t { return p.idle; }},
      {"sluice_pool_in_use", "Pooled server connections serving a client now.",
       [](const snap& p) -> uint64_t { return p.in_use; }},
      {"sluice_pool_waiting", "Clients waiting for a pooled server connection now.",
       [](const snap& p) -> uint64_t { return p.waiting; }},
      {"sluice_pool_opening", "Server connections logging in for a pool now.",
       [](const snap& p) -> uint64_t { return p.opening; }},
      {"sluice_pool_created_total", "Server connections opened for a pool.",
       [](const snap& p) -> uint64_t { return p.created; }},
      {"sluice_pool_reused_total", "Clients served by a warm pooled server connection.",
       [](const snap& p) -> uint64_t { return p.reused; }},
      {"sluice_pool_prefilled_total",
       "Server connections opened in advance to keep pool.min_idle idle (of created_total).",
       [](const snap& p) -> uint64_t { return p.prefilled; }},
      {"sluice_pool_wait_timeouts_total", "Clients refused after pool.wait_timeout.",
       [](const snap& p) -> uint64_t { return p.wait_timeouts; }},
  };
  for (const auto& g : gauges) {
    const std::string_view name(g.name);
    header(o, g.name, name.ends_with("_total") ? "counter" : "gauge", g.help);
    for (const auto& p : pools)
      o << g.name << '{' << labels(p) << "} " << g.get(p) << '\n';
  }
  header(o, "sluice_pool_backends_closed_total", "counter",
         "Pooled server connections closed, by reason.");
  for (const auto& p : pools)
    for (const auto& [reason, n] : p.closed)
      o << "sluice_pool_backends_closed_total{" << labels(p) << ",reason=\"" << escape_label(reason)
        << "\"} " << n << '\n';
  header(o, "sluice_pool_wait_seconds", "histogram",
         "Time a client waited for a pooled server connection (0 when one was free).");
  for (const auto& p : pools) {
    const auto& h = p.wait_seconds;
    uint64_t cumulative = 0;
    for (size_t i = 0; i < gateway::histogram::kBounds.size(); ++i) {
      cumulative += h.counts[i];
      o << "sluice_pool_wait_seconds_bucket{" << labels(p) << ",le=\""
        << num(gateway::histogram::kBounds[i]) << "\"} " << cumulative << '\n';
    }
    cumulative += h.counts.back();
    o << "sluice_pool_wait_seconds_bucket{" << labels(p) << ",le=\"+Inf\"} " << cumulative << '\n';
    o << "sluice_pool_wait_seconds_sum{" << labels(p) << "} " << num(h.sum) << '\n';
    o << "sluice_pool_wait_seconds_count{" << labels(p) << "} " << h.count << '\n';
  }
}

}  // namespace

std::string escape_label(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\' || c == '"')
      out += '\\', out += c;
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string render_prometheus(const scrape_input& in) {
  static const gateway::metrics empty;
  const gateway::metrics& m = in.data ? *in.data : empty;
  std::ostringstream o;

  header(o, "sluice_build_info", "gauge",
         "Always 1; the labels say which version and libraries this binary was built with.");
  o << "sluice_build_info{";
  for (size_t i = 0; i < in.build_labels.size(); ++i)
    o << (i ? "," : "") << in.build_labels[i].first << "=\""
      << escape_label(in.build_labels[i].second) << '"';
  o << "} 1\n";

  header(o, "sluice_ready", "gauge", "1 when /readyz answers ready, else 0.");
  o << "sluice_ready " << (in.ready ? 1 : 0) << '\n';

  if (in.process) {
    const auto& p = *in.process;
    header(o, "process_cpu_seconds_total", "counter", "User and system CPU time spent in seconds.");
    o << "process_cpu_seconds_total " << num(p.cpu_seconds) << '\n';
    header(o, "process_start_time_seconds", "gauge",
           "Start time of the process since unix epoch in seconds.");
    o << "process_start_time_seconds " << num(p.start_time_seconds) << '\n';
    header(o, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
    o << "process_resident_memory_bytes " << p.resident_bytes << '\n';
    header(o, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
    o << "process_virtual_memory_bytes " << p.virtual_bytes << '\n';
    header(o, "process_open_fds", "gauge", "Number of open file descriptors.");
    o << "process_open_fds " << p.open_fds << '\n';
    header(o, "process_max_fds", "gauge", "Maximum number of open file descriptors.");
    o << "process_max_fds " << p.max_fds << '\n';
  }

  header(o, "sluice_certificate_expiry_timestamp_seconds", "gauge",
         "notAfter of each certificate file the configuration names (earliest in a bundle), by "
         "kind, owner and file.");
  for (const auto& c : in.certificates)
    o << "sluice_certificate_expiry_timestamp_seconds{kind=\"" << escape_label(c.file.kind)
      << "\",owner=\"" << escape_label(c.file.owner) << "\",file=\"" << escape_label(c.file.path)
      << "\"} " << num(c.not_after) << '\n';

  header(o, "sluice_config_generation", "gauge", "Configuration generation being served.");
  o << "sluice_config_generation " << in.generation << '\n';
  header(o, "sluice_config_reload_success", "gauge",
         "1 when the last configuration reload (or the start-up load) succeeded, 0 when the "
         "file was refused.");
  o << "sluice_config_reload_success " << (in.last_reload_ok ? 1 : 0) << '\n';
  header(o, "sluice_config_last_reload_timestamp_seconds", "gauge",
         "When the last reload attempt finished (the start-up load before any), in seconds "
         "since the epoch.");
  o << "sluice_config_last_reload_timestamp_seconds " << num(in.last_reload_time) << '\n';

  header(o, "sluice_connections_accepted_total", "counter",
         "Client connections accepted, by listener.");
  for (const auto& [listener, n] : m.accepted)
    o << "sluice_connections_accepted_total{listener=\"" << escape_label(listener) << "\"} " << n
      << '\n';

  header(o, "sluice_connections_closed_total", "counter",
         "Client sessions ended, by listener and reason (rejections included).");
  for (const auto& [key, n] : m.closed)
    o << "sluice_connections_closed_total{listener=\"" << escape_label(key.first) << "\",reason=\""
      << escape_label(key.second) << "\"} " << n << '\n';

  header(o, "sluice_connections_over_limit_total", "counter",
         "Connections refused at accept because the listener was at max_connections.");
  o << "sluice_connections_over_limit_total " << in.over_limit << '\n';

  header(o, "sluice_active_sessions", "gauge", "Client sessions open now.");
  o << "sluice_active_sessions " << in.active_sessions << '\n';

  header(o, "sluice_cancel_requests_total", "counter", "CancelRequest packets received.");
  o << "sluice_cancel_requests_total " << m.cancel_requests << '\n';

  header(o, "sluice_route_sessions_total", "counter", "Sessions routed, by route.");
  for (const auto& [route, t] : m.routes)
    o << "sluice_route_sessions_total{route=\"" << escape_label(route) << "\"} " << t.sessions
      << '\n';
  header(o, "sluice_route_active_sessions", "gauge", "Sessions open now, by route.");
  for (const auto& [route, t] : m.routes)
    o << "sluice_route_active_sessions{route=\"" << escape_label(route) << "\"} " << t.active
      << '\n';
  header(o, "sluice_route_bytes_total", "counter",
         "Bytes relayed, by route and direction (client_to_server, server_to_client).");
  for (const auto& [route, t] : m.routes) {
    auto r = escape_label(route);
    o << "sluice_route_bytes_total{route=\"" << r << "\",direction=\"client_to_server\"} "
      << t.bytes_client_to_server << '\n';
    o << "sluice_route_bytes_total{route=\"" << r << "\",direction=\"server_to_client\"} "
      << t.bytes_server_to_client << '\n';
  }

  header(o, "sluice_route_healthy", "gauge",
         "1 when the route's path (its tunnel) is up as this gateway sees it, else 0.");
  for (const auto& [route, ok] : in.route_healthy)
    o << "sluice_route_healthy{route=\"" << escape_label(route) << "\"} " << (ok ? 1 : 0) << '\n';

  render_histogram(o, "sluice_handshake_seconds", "Accept to startup packet parsed (TLS included).",
                   m.handshake_seconds);
  render_histogram(o, "sluice_upstream_connect_seconds",
                   "Route chosen to upstream ready (TCP, TLS, tunnel channel).",
                   m.upstream_connect_seconds);
  // Every configured route has its series from the start (zeros), so dashboards and
  // rate() see them before the first session.
  auto latency = m.latency;
  for (const auto& [route, _] : in.route_healthy)
    latency[route];
  render_route_histograms(o, "sluice_route_connect_seconds",
                          "TCP connect to the upstream (after DNS) or SSH tunnel channel open, by "
                          "route.",
                          latency, [](const gateway::route_latency& l) { return l.connect; });
  render_route_histograms(o, "sluice_route_tls_handshake_seconds",
                          "SSLRequest and TLS handshake with the upstream, by route (sessions "
                          "with upstream TLS).",
                          latency, [](const gateway::route_latency& l) { return l.tls; });
  render_route_histograms(o, "sluice_route_login_seconds",
                          "Startup packet sent to ReadyForQuery, by route (client round trips "
                          "included with auth.mode passthrough).",
                          latency, [](const gateway::route_latency& l) { return l.login; });

  render_pools(o, in.pools);

  header(o, "sluice_tunnel_up", "gauge", "1 when the SSH tunnel is up, else 0.");
  for (const auto& t : in.tunnels)
    o << "sluice_tunnel_up{tunnel=\"" << escape_label(text(t, "name")) << "\"} "
      << (text(t, "state") == "up" ? 1 : 0) << '\n';
  header(o, "sluice_tunnel_reconnects_total", "counter", "SSH tunnel reconnections.");
  for (const auto& t : in.tunnels)
    o << "sluice_tunnel_reconnects_total{tunnel=\"" << escape_label(text(t, "name")) << "\"} "
      << num(field(t, "reconnects")) << '\n';
  header(o, "sluice_tunnel_open_channels", "gauge", "Channels open on the tunnel now.");
  for (const auto& t : in.tunnels)
    o << "sluice_tunnel_open_channels{tunnel=\"" << escape_label(text(t, "name")) << "\"} "
      << num(field(t, "open_channels")) << '\n';
  header(o, "sluice_tunnel_bytes_total", "counter", "Bytes through the tunnel, by direction.");
  for (const auto& t : in.tunnels) {
    auto name = escape_label(text(t, "name"));
    o << "sluice_tunnel_bytes_total{tunnel=\"" << name << "\",direction=\"in\"} "
      << num(field(t, "bytes_in")) << '\n';
    o << "sluice_tunnel_bytes_total{tunnel=\"" << name << "\",direction=\"out\"} "
      << num(field(t, "bytes_out")) << '\n';
  }

  header(o, "sluice_reverse_tunnel_agents", "gauge",
         "Agents connected to a reverse tunnel on this instance.");
  for (const auto& t : in.tunnels)
    if (text(t, "type") == "reverse")
      o << "sluice_reverse_tunnel_agents{tunnel=\"" << escape_label(text(t, "name")) << "\"} "
        << num(field(t, "agents_connected")) << '\n';
  header(o, "sluice_reverse_tunnel_channels_refused_total", "counter",
         "Channel opens an agent of a reverse tunnel refused.");
  for (const auto& t : in.tunnels)
    if (text(t, "type") == "reverse")
      o << "sluice_reverse_tunnel_channels_refused_total{tunnel=\"" << escape_label(text(t, "name"))
        << "\"} " << num(field(t, "channels_refused")) << '\n';

  header(o, "sluice_sync_batches_total", "counter", "Sync batches applied.");
  for (const auto& s : in.syncs)
    o << "sluice_sync_batches_total{sync=\"" << escape_label(text(s, "name")) << "\"} "
      << num(field(s, "batches")) << '\n';
  header(o, "sluice_sync_records_total", "counter", "Sync records applied.");
  for (const auto& s : in.syncs)
    o << "sluice_sync_records_total{sync=\"" << escape_label(text(s, "name")) << "\"} "
      << num(field(s, "records")) << '\n';
  header(o, "sluice_sync_last_sequence", "gauge", "Last batch sequence applied.");
  for (const auto& s : in.syncs)
    o << "sluice_sync_last_sequence{sync=\"" << escape_label(text(s, "name")) << "\"} "
      << num(field(s, "last_sequence")) << '\n';
  header(o, "sluice_sync_lag_seconds", "gauge",
         "Seconds since the last commit while batches are waiting (0 when idle).");
  for (const auto& s : in.syncs)
    o << "sluice_sync_lag_seconds{sync=\"" << escape_label(text(s, "name")) << "\"} "
      << num(field(s, "lag_seconds")) << '\n';
  header(o, "sluice_sync_healthy", "gauge", "1 when the sync has no current error, else 0.");
  for (const auto& s : in.syncs)
    o << "sluice_sync_healthy{sync=\"" << escape_label(text(s, "name")) << "\"} "
      << (text(s, "last_error").empty() ? 1 : 0) << '\n';
  return o.str();
}

}  // namespace sluice::admin
