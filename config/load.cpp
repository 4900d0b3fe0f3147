#include "config/load.hpp"

#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include <yaml-cpp/depthguard.h>

#include "config/load_reverse.hpp"
#include "config/read_file.hpp"
#include "config/tls_ciphers.hpp"
#include "config/validate.hpp"
#include "config/yaml_reader.hpp"

namespace sluice::config {

namespace fs = std::filesystem;

namespace {

// Each key's default is written once: as the member's initializer in settings.hpp, which
// the reader below passes as the key's default (r.integer("port", t.port, ...)); the few
// that depend on another key (client_tls, tls.client_cert) or have no member default
// (region) are written here, once. Code that needs a default without a configuration
// reads it from a default-constructed struct (config::admin_settings{}.listen).
class loader {
 public:
  loader(issue_list& issues, std::string base_dir) : issues_(issues), base_(std::move(base_dir)) {}

  void read(const YAML::Node& root, settings& s) {
    map_reader top(root, "", issues_);
    if (!top.ok())
      return;
    s.region = top.str_or("region", "default");  // the member has none: set here only
    for (auto& a : top.str_list("public_addresses")) {
      if (!ip_address::parse(a)) {
        issues_.error("public_addresses", top.line_of_key("public_addresses"),
                      "'" + a + "' is not an IP address");
      }
      s.public_addresses.push_back(a);
    }
    s.workers = static_cast<uint32_t>(top.integer("workers", s.workers, 0, 256));
    s.shutdown_grace = top.dur("shutdown_grace", s.shutdown_grace);
    s.relay = top.choice("relay",
                         {{"copy", settings::relay_mode::copy},
                          {"splice", settings::relay_mode::splice},
                          {"kernel", settings::relay_mode::kernel}},
                         s.relay);
    if (top.has("cancel"))
      s.cancel = read_cancel(top.child("cancel"));
    if (top.has("admin"))
      s.admin = read_admin(top.child("admin"));
    if (top.has("ingest"))
      s.ingest = read_ingest(top.child("ingest"));
    if (top.has("ssh_server"))
      s.ssh_server = read_ssh_server(top.child("ssh_server"), issues_, base_);
    read_allowlists(top.child("allowlists"), s);
    read_list(top.child("listeners"), "listeners", [&](const YAML::Node& n, const std::string& p) {
      s.listeners.push_back(read_listener(n, p));
    });
    read_list(top.child("tunnels"), "tunnels", [&](const YAML::Node& n, const std::string& p) {
      s.tunnels.push_back(read_tunnel(n, p));
    });
    read_list(top.child("routes"), "routes", [&](const YAML::Node& n, const std::string& p) {
      s.routes.push_back(read_route(n, p));
    });
    read_list(top.child("syncs"), "syncs", [&](const YAML::Node& n, const std::string& p) {
      s.syncs.push_back(read_sync(n, p));
    });
    top.finish();
  }

 private:
  template <class F>
  void read_list(const YAML::Node& n, const std::string& path, F each) {
    if (!n.IsDefined() || n.IsNull())
      return;
    if (!n.IsSequence()) {
      issues_.error(path, line_of(n), "expected a list of entries (each starting with '- ')");
      return;
    }
    for (size_t i = 0; i < n.size(); ++i)
      each(n[i], path + "[" + std::to_string(i) + "]");
  }

  std::string file(map_reader& r, std::string_view key, bool required = false) {
    auto v = r.str(key, required);
    if (!v || v->empty())
      return {};
    fs::path p(*v);
    if (p.is_relative())
      p = fs::path(base_) / p;
    return p.lexically_normal().string();
  }

  std::optional<cert_key> read_cert_key(const YAML::Node& n, const std::string& path) {
    map_reader r(n, path, issues_);
    cert_key ck;
    ck.cert = file(r, "cert", true);
    ck.key = file(r, "key", true);
    r.finish();
    return ck;
  }

  cancel_settings read_cancel(const YAML::Node& n) {
    map_reader r(n, "cancel", issues_);
    cancel_settings c;
    c.instance_id = static_cast<uint32_t>(r.integer("instance_id", c.instance_id, 0, 127));
    c.rate_per_second =
        static_cast<uint32_t>(r.integer("rate_per_second", c.rate_per_second, 1, 100000));
    read_list(r.child("peers"), r.path_of("peers"),
              [&](const YAML::Node& pn, const std::string& pp) {
                map_reader p(pn, pp, issues_);
                cancel_peer peer;
                peer.instance_id =
                    static_cast<uint32_t>(p.integer("instance_id", peer.instance_id, 0, 127));
                if (!p.has("instance_id"))
                  issues_.error(p.path_of("instance_id"), p.line(), "is required");
                if (auto hp = p.address("address", true))
                  peer.address = *hp;
                if (peer.instance_id == c.instance_id && p.has("instance_id")) {
                  issues_.error(
                      p.path_of("instance_id"), p.line(),
                      "a peer cannot share this instance's id " + std::to_string(c.instance_id));
                }
                p.finish();
                c.peers.push_back(peer);
              });
    r.finish();
    return c;
  }

  admin_settings read_admin(const YAML::Node& n) {
    map_reader r(n, "admin", issues_);
    admin_settings a;
    if (auto hp = r.address("listen"))
      a.listen = *hp;
    a.token_file = file(r, "token_file");
    if (r.has("tls"))
      a.tls = read_cert_key(r.child("tls"), r.path_of("tls"));
    a.sample_interval = r.dur("sample_interval", a.sample_interval);
    if (a.sample_interval < std::chrono::seconds(1) || a.sample_interval > std::chrono::minutes(1))
      issues_.error(r.path_of("sample_interval"), r.line_of_key("sample_interval"),
                    "must be between 1s and 60s (the status page keeps 15 minutes of samples)");
    r.finish();
    return a;
  }

  ingest_settings read_ingest(const YAML::Node& n) {
    map_reader r(n, "ingest", issues_);
    ingest_settings in;
    if (auto hp = r.address("listen", true))
      in.listen = *hp;
    if (r.has("tls"))
      in.tls = read_cert_key(r.child("tls"), r.path_of("tls"));
    in.allow = r.str_list("allow");
    in.max_batch_bytes = r.size("max_batch_bytes", in.max_batch_bytes);
    in.queue_depth = static_cast<uint32_t>(r.integer("queue_depth", in.queue_depth, 1, 1024));
    in.max_connections =
        static_cast<uint32_t>(r.integer("max_connections", in.max_connections, 1, 100000));
    in.max_connections_per_address = static_cast<uint32_t>(
        r.integer("max_connections_per_address", in.max_connections_per_address, 1, 100000));
    in.max_body_memory = r.size("max_body_memory", in.max_body_memory);
    in.header_timeout = r.dur("header_timeout", in.header_timeout);
    r.finish();
    return in;
  }

  void read_allowlists(const YAML::Node& n, settings& s) {
    if (!n.IsDefined() || n.IsNull())
      return;
    if (!n.IsMap()) {
      issues_.error("allowlists", line_of(n), "expected a mapping of name: [CIDR, ...]");
      return;
    }
    std::map<std::string, int> seen;  // name -> line
    for (auto it = n.begin(); it != n.end(); ++it) {
      const int key_line = line_of(it->first);
      auto key = key_text(it->first);
      if (!key) {
        issues_.error("allowlists", key_line,
                      "an allowlist's name must be plain text, not a list, a mapping or null");
        continue;
      }
      const std::string name = *key;
      auto path = "allowlists." + printable(name);
      if (auto [first, fresh] = seen.emplace(name, key_line); !fresh) {
        issues_.error(path, key_line,
                      "duplicate key; first given on line " + std::to_string(first->second));
        continue;
      }
      std::vector<cidr> blocks;
      // A copy: it-> yields a temporary proxy, so a reference would dangle (ASan found it).
      const YAML::Node list = it->second;
      if (!list.IsSequence()) {
        issues_.error(path, key_line, "expected a list of CIDR blocks like [10.0.0.0/8]");
        continue;
      }
      for (size_t i = 0; i < list.size(); ++i) {
        std::string why;
        auto c = list[i].IsScalar() ? cidr::parse(list[i].Scalar(), &why) : std::nullopt;
        if (!c) {
          issues_.error(path + "[" + std::to_string(i) + "]", line_of(list[i]),
                        why.empty() ? "expected a CIDR block" : why);
          continue;
        }
        blocks.push_back(*c);
      }
      s.allowlists[name] = std::move(blocks);
    }
  }

  listener read_listener(const YAML::Node& n, const std::string& path) {
    map_reader r(n, path, issues_);
    listener l;
    l.line = r.line();
    l.name = r.str_or("name", "");
    if (l.name.empty())
      issues_.error(path_with("name", r), r.line(), "is required");
    if (auto hp = r.address("listen", true))
      l.listen = *hp;
    if (r.has("tls")) {
      map_reader t(r.child("tls"), r.path_of("tls"), issues_);
      listener_tls tls;
      tls.mode = t.choice(
          "mode", {{"terminate", tls_mode::terminate}, {"passthrough", tls_mode::passthrough}},
          tls.mode);
      const bool terminate = tls.mode == tls_mode::terminate;
      tls.cert = file(t, "cert", terminate);
      tls.key = file(t, "key", terminate);
      read_list(t.child("sni"), t.path_of("sni"), [&](const YAML::Node& sn, const std::string& sp) {
        map_reader e(sn, sp, issues_);
        sni_cert c;
        c.names = e.str_list("names");
        if (c.names.empty())
          issues_.error(e.path_of("names"), e.line(), "is required");
        c.cert = file(e, "cert", true);
        c.key = file(e, "key", true);
        e.finish();
        tls.sni.push_back(std::move(c));
      });
      const bool tuned = t.has("min_version") || t.has("ciphers") || t.has("ciphersuites") ||
                         t.has("client_ca") || t.has("client_cert");
      tls.policy = read_tls_policy(t);
      tls.client_ca = file(t, "client_ca");
      tls.client_cert =
          t.choice("client_cert",
                   {{"off", client_cert_mode::off},
                    {"optional", client_cert_mode::optional},
                    {"required", client_cert_mode::required}},
                   tls.client_ca.empty() ? client_cert_mode::off : client_cert_mode::required);
      if (tls.client_cert != client_cert_mode::off && tls.client_ca.empty())
        issues_.error(t.path_of("client_cert"), t.line_of_key("client_cert"),
                      "needs tls.client_ca: the CA bundle client certificates must chain to");
      if (!terminate && tuned)
        issues_.error(t.path(), t.line(),
                      "min_version, ciphers, ciphersuites, client_ca and client_cert apply to "
                      "tls.mode: terminate; with passthrough the database's TLS settings rule");
      t.finish();
      l.tls = std::move(tls);
    }
    l.client_tls = r.choice("client_tls",
                            {{"required", client_tls_policy::required},
                             {"optional", client_tls_policy::optional},
                             {"disabled", client_tls_policy::disabled}},
                            l.tls ? client_tls_policy::required : client_tls_policy::disabled);
    if (l.tls && l.tls->client_cert == client_cert_mode::required &&
        l.client_tls != client_tls_policy::required)
      issues_.error(r.path_of("client_tls"), r.line_of_key("client_tls"),
                    "must be required when tls.client_cert is required: otherwise a client that "
                    "does not start TLS gets in without a certificate");
    l.allow = r.str_list("allow");
    l.enforce_on_reload = r.boolean("enforce_on_reload", l.enforce_on_reload);
    if (r.has("proxy_protocol")) {
      map_reader p(r.child("proxy_protocol"), r.path_of("proxy_protocol"), issues_);
      proxy_protocol pp;
      for (auto& t : p.str_list("trusted")) {
        std::string why;
        if (auto c = cidr::parse(t, &why))
          pp.trusted.push_back(*c);
        else
          issues_.error(p.path_of("trusted"), p.line_of_key("trusted"), why);
      }
      if (pp.trusted.empty()) {
        issues_.error(p.path_of("trusted"), p.line(),
                      "list the load balancers' CIDR blocks allowed to send PROXY headers");
      }
      pp.required = p.boolean("required", pp.required);
      p.finish();
      l.proxy = std::move(pp);
    }
    l.startup_timeout = r.dur("startup_timeout", l.startup_timeout);
    l.max_connections =
        static_cast<uint32_t>(r.integer("max_connections", l.max_connections, 1, 10'000'000));
    r.finish();
    return l;
  }

  tunnel read_tunnel(const YAML::Node& n, const std::string& path) {
    map_reader r(n, path, issues_);
    tunnel t;
    t.line = r.line();
    t.name = r.str_or("name", "");
    if (t.name.empty())
      issues_.error(r.path_of("name"), r.line(), "is required");
    if (r.has("reverse")) {  // agents dial in: none of the bastion fields below apply
      read_reverse_tunnel(r, t, base_);
      r.finish();
      return t;
    }
    t.host = r.str_or("host", "");
    if (t.host.empty())
      issues_.error(r.path_of("host"), r.line(), "is required");
    t.port = static_cast<uint16_t>(r.integer("port", t.port, 1, 65535));
    t.user = r.str_or("user", "");
    if (t.user.empty())
      issues_.error(r.path_of("user"), r.line(), "is required");
    t.private_key = file(r, "private_key", true);
    t.secondary_key = file(r, "secondary_key");
    t.host_key = r.str_or("host_key", "");
    t.known_hosts = file(r, "known_hosts");
    if (t.host_key.empty() && t.known_hosts.empty()) {
      issues_.error(r.path_of("host_key"), r.line(),
                    "host key verification is mandatory: set host_key: \"SHA256:...\" "
                    "(see `sluice tunnel fingerprint HOST:PORT`) or known_hosts: FILE");
    } else if (!t.host_key.empty() && t.host_key.rfind("SHA256:", 0) != 0) {
      issues_.error(r.path_of("host_key"), r.line_of_key("host_key"),
                    "must be an OpenSSH SHA256 fingerprint like \"SHA256:4Hn0bX3f...\"");
    }
    if (r.has("keepalive")) {
      map_reader k(r.child("keepalive"), r.path_of("keepalive"), issues_);
      t.keepalive.interval = k.dur("interval", t.keepalive.interval);
      t.keepalive.max_missed =
          static_cast<uint32_t>(k.integer("max_missed", t.keepalive.max_missed, 1, 100));
      k.finish();
    }
    if (r.has("reconnect")) {
      map_reader b(r.child("reconnect"), r.path_of("reconnect"), issues_);
      t.reconnect.initial = b.dur("initial", t.reconnect.initial);
      t.reconnect.max = b.dur("max", t.reconnect.max);
      if (t.reconnect.max < t.reconnect.initial) {
        issues_.error(b.path_of("max"), b.line_of_key("max"), "must be at least reconnect.initial");
      }
      b.finish();
    }
    t.connect_timeout = r.dur("connect_timeout", t.connect_timeout);
    t.wait_for_up = r.dur("wait_for_up", t.wait_for_up);
    t.max_channels = static_cast<uint32_t>(r.integer("max_channels", t.max_channels, 1, 16384));
    t.sessions = static_cast<uint32_t>(r.integer("sessions", t.sessions, 1, 16));
    r.finish();
    return t;
  }

  // min_version, ciphers, ciphersuites: the same keys on listeners and upstreams.
  tls_policy read_tls_policy(map_reader& r) {
    tls_policy p;
    if (auto v = r.str("min_version")) {
      if (*v == "1.2" || *v == "TLSv1.2")
        p.min_version = tls_version::v1_2;
      else if (*v == "1.3" || *v == "TLSv1.3")
        p.min_version = tls_version::v1_3;
      else if (*v == "1.0" || *v == "1.1" || *v == "TLSv1" || *v == "TLSv1.1")
        issues_.error(r.path_of("min_version"), r.line_of_key("min_version"),
                      "TLS " + *v + " is not supported (broken and deprecated): use 1.2 or 1.3");
      else
        issues_.error(r.path_of("min_version"), r.line_of_key("min_version"),
                      "'" + *v + "' is not one of: 1.2, 1.3");
    }
    if (auto c = r.str("ciphers")) {
      p.ciphers = *c;
      if (auto why = cipher_list_problem(*c); !why.empty())
        issues_.error(r.path_of("ciphers"), r.line_of_key("ciphers"), why);
    }
    if (auto c = r.str("ciphersuites")) {
      p.ciphersuites = *c;
      if (auto why = ciphersuites_problem(*c); !why.empty())
        issues_.error(r.path_of("ciphersuites"), r.line_of_key("ciphersuites"), why);
    }
    return p;
  }

  upstream_tls read_upstream_tls(map_reader& r) {
    upstream_tls tls;
    tls.mode = read_sslmode(r, tls.mode);
    tls.negotiation =
        r.choice("sslnegotiation",
                 {{"postgres", sslnegotiation::postgres}, {"direct", sslnegotiation::direct}},
                 tls.negotiation);
    tls.ca = file(r, "ca");
    tls.cert = file(r, "cert");
    tls.key = file(r, "key");
    if (tls.cert.empty() != tls.key.empty()) {
      issues_.error(r.path_of(tls.cert.empty() ? "cert" : "key"), r.line(),
                    "a client certificate needs both cert and key");
    }
    tls.policy = read_tls_policy(r);
    return tls;
  }

  sslmode read_sslmode(map_reader& r, sslmode def) {
    return r.choice("sslmode",
                    {{"disable", sslmode::disable},
                     {"allow", sslmode::allow},
                     {"prefer", sslmode::prefer},
                     {"require", sslmode::require},
                     {"verify-ca", sslmode::verify_ca},
                     {"verify-full", sslmode::verify_full}},
                    def);
  }

  route_auth read_route_auth(map_reader& a) {
    route_auth ra;
    ra.mode = a.choice(
        "mode", {{"passthrough", auth_mode::passthrough}, {"terminate", auth_mode::terminate}},
        ra.mode);
    ra.file = file(a, "file");
    ra.cache_ttl = a.dur("cache_ttl", ra.cache_ttl);
    if (a.has("query")) {
      map_reader q(a.child("query"), a.path_of("query"), issues_);
      auth_query aq;
      aq.user = q.str_or("user", "");
      if (aq.user.empty())
        issues_.error(q.path_of("user"), q.line(), "is required");
      aq.password_file = file(q, "password_file");
      if (aq.password_file.empty())
        issues_.error(q.path_of("password_file"), q.line(), "is required");
      aq.sql = q.str_or("sql", "");
      if (!aq.sql.empty() && aq.sql.find("$1") == std::string::npos) {
        issues_.error(q.path_of("sql"), q.line(),
                      "must use $1 for the user name (it returns that user's row)");
      }
      q.finish();
      ra.query = std::move(aq);
    }
    if (ra.mode == auth_mode::terminate && !ra.query && ra.file.empty()) {
      issues_.error(a.path_of("mode"), a.line(),
                    "mode: terminate needs where the secrets are: query: {user, "
                    "password_file} and/or file: (a PgBouncer auth_file)");
    }
    if (ra.mode == auth_mode::passthrough && (ra.query || !ra.file.empty())) {
      issues_.warn(a.path_of("mode"), a.line(),
                   "query/file are only used with mode: terminate; this route passes "
                   "authentication through to the database");
    }
    return ra;
  }

  route_pool read_route_pool(map_reader& p, const route_auth& auth) {
    route_pool rp;
    rp.mode = p.choice("mode", {{"off", pool_mode::off}, {"session", pool_mode::session}}, rp.mode);
    rp.size = static_cast<uint32_t>(p.integer("size", rp.size, 1, 10000));
    rp.min_idle = static_cast<uint32_t>(p.integer("min_idle", rp.min_idle, 0, 10000));
    rp.idle_timeout = p.dur("idle_timeout", rp.idle_timeout);
    rp.max_lifetime = p.dur("max_lifetime", rp.max_lifetime);
    rp.wait_timeout = p.dur("wait_timeout", rp.wait_timeout);
    rp.reset = p.str_or("reset", rp.reset);
    if (rp.min_idle > rp.size)
      issues_.error(p.path_of("min_idle"), p.line_of_key("min_idle"),
                    "must not exceed size (" + std::to_string(rp.size) + ")");
    if (rp.mode == pool_mode::session && auth.mode != auth_mode::terminate) {
      // A warm backend is logged in already: only a gateway that checked the client's
      // password itself may hand it out.
      issues_.error(p.path_of("mode"), p.line_of_key("mode"),
                    "pool mode: session needs auth.mode: terminate on the route (sluice must "
                    "check each client's password before handing it a logged-in backend)");
    }
    if (rp.mode == pool_mode::session && rp.wait_timeout.count() <= 0)
      issues_.error(p.path_of("wait_timeout"), p.line_of_key("wait_timeout"),
                    "must be more than 0 (how long a client waits for a free backend)");
    return rp;
  }

  route read_route(const YAML::Node& n, const std::string& path) {
    map_reader r(n, path, issues_);
    route rt;
    rt.line = r.line();
    rt.name = r.str_or("name", "");
    if (rt.name.empty())
      issues_.error(r.path_of("name"), r.line(), "is required");
    if (r.has("match")) {
      map_reader m(r.child("match"), r.path_of("match"), issues_);
      rt.match.listener = m.str_or("listener", "");
      rt.match.sni = m.str_or("sni", "");
      rt.match.database = m.str_or("database", "");
      rt.match.user = m.str_or("user", "");
      m.finish();
    }
    rt.allow = r.str_list("allow");
    rt.idle_timeout = r.dur("idle_timeout", rt.idle_timeout);
    rt.affects_readiness = r.boolean("affects_readiness", rt.affects_readiness);
    rt.max_connections =
        static_cast<uint32_t>(r.integer("max_connections", rt.max_connections, 0, 10'000'000));
    rt.max_connections_per_user = static_cast<uint32_t>(
        r.integer("max_connections_per_user", rt.max_connections_per_user, 0, 10'000'000));
    if (r.has("rewrite")) {
      map_reader w(r.child("rewrite"), r.path_of("rewrite"), issues_);
      rt.rewrite_database = w.str_or("database", "");
      rt.rewrite_user = w.str_or("user", "");
      w.finish();
    }
    if (r.has("auth")) {
      map_reader a(r.child("auth"), r.path_of("auth"), issues_);
      rt.auth = read_route_auth(a);
      a.finish();
    }
    if (r.has("pool")) {
      map_reader pr(r.child("pool"), r.path_of("pool"), issues_);
      rt.pool = read_route_pool(pr, rt.auth);
      pr.finish();
    }
    map_reader u(r.child("upstream"), r.path_of("upstream"), issues_);
    if (u.ok()) {
      rt.upstream.host = u.str_or("host", "");
      if (rt.upstream.host.empty())
        issues_.error(u.path_of("host"), u.line(), "is required");
      rt.upstream.port = static_cast<uint16_t>(u.integer("port", rt.upstream.port, 1, 65535));
      rt.upstream.via = u.str_or("via", "");
      rt.upstream.connect_timeout = u.dur("connect_timeout", rt.upstream.connect_timeout);
      rt.upstream.login_timeout = u.dur("login_timeout", rt.upstream.login_timeout);
      if (rt.upstream.login_timeout.count() <= 0)
        issues_.error(u.path_of("login_timeout"), u.line_of_key("login_timeout"),
                      "must be more than 0 (how long sluice waits for the database to log it in)");
      if (u.has("tls")) {
        map_reader t(u.child("tls"), u.path_of("tls"), issues_);
        rt.upstream.tls = read_upstream_tls(t);
        t.finish();
      }
      u.finish();
    }
    r.finish();
    return rt;
  }

  sync read_sync(const YAML::Node& n, const std::string& path) {
    map_reader r(n, path, issues_);
    sync s;
    s.line = r.line();
    s.name = r.str_or("name", "");
    if (s.name.empty())
      issues_.error(r.path_of("name"), r.line(), "is required");
    map_reader d(r.child("destination"), r.path_of("destination"), issues_);
    if (d.ok()) {
      auto& dst = s.destination;
      dst.route = d.str_or("route", "");
      dst.host = d.str_or("host", "");
      dst.port = static_cast<uint16_t>(d.integer("port", dst.port, 1, 65535));
      dst.via = d.str_or("via", "");
      dst.database = d.str_or("database", "");
      if (dst.database.empty())
        issues_.error(d.path_of("database"), d.line(), "is required");
      dst.user = d.str_or("user", "");
      if (dst.user.empty())
        issues_.error(d.path_of("user"), d.line(), "is required");
      dst.password_file = file(d, "password_file");
      dst.mode = read_sslmode(d, dst.mode);
      dst.ca = file(d, "ca");
      dst.cert = file(d, "cert");
      dst.key = file(d, "key");
      if (dst.cert.empty() != dst.key.empty()) {
        issues_.error(d.path_of(dst.cert.empty() ? "cert" : "key"), d.line(),
                      "a client certificate needs both cert and key");
      }
      if (!dst.route.empty() && !dst.cert.empty()) {
        issues_.error(d.path_of("cert"), d.line(),
                      "route: uses that route's upstream.tls (set cert/key there), or drop route");
      }
      if (dst.route.empty() && dst.host.empty()) {
        issues_.error(d.path(), d.line(), "set either route: NAME or host: HOST");
      } else if (!dst.route.empty() && (!dst.host.empty() || !dst.via.empty())) {
        issues_.error(d.path(), d.line(),
                      "route: reuses that route's host, port and tunnel; drop host/via or route");
      }
      d.finish();
    }
    s.schema = r.str_or("schema", "");
    if (s.schema.empty())
      issues_.error(r.path_of("schema"), r.line(), "is required");
    if (r.has("read_role")) {
      map_reader rr(r.child("read_role"), r.path_of("read_role"), issues_);
      s.read_role.name = rr.str_or("name", "");
      if (s.read_role.name.empty())
        issues_.error(rr.path_of("name"), rr.line(), "is required");
      s.read_role.grant_to = rr.str_list("grant_to");
      rr.finish();
    }
    s.events = r.boolean("events", s.events);
    s.deletes =
        r.choice("deletes", {{"hard", delete_mode::hard}, {"soft", delete_mode::soft}}, s.deletes);
    s.quarantine =
        r.choice("refused_records", {{"quarantine", true}, {"refuse", false}}, s.quarantine);
    if (r.has("types")) {
      // types: {collection: {field: timestamptz, ...}, ...}
      auto t = r.child("types");
      if (!t.IsMap()) {
        issues_.error(r.path_of("types"), r.line(), "must map collections to {field: type}");
      } else {
        static const std::set<std::string> known = {
            "boolean", "bigint", "numeric", "text", "timestamptz", "timestamptz_ms", "jsonb"};
        for (const auto& coll : t) {
          const std::string cname = coll.first.as<std::string>("");
          const std::string cpath = r.path_of("types") + "." + cname;
          if (!coll.second.IsMap()) {
            issues_.error(cpath, coll.first.Mark().line + 1, "must map field names to types");
            continue;
          }
          for (const auto& f : coll.second) {
            const std::string fname = f.first.as<std::string>("");
            const std::string type = f.second.IsScalar() ? f.second.as<std::string>("") : "";
            if (!known.count(type)) {
              issues_.error(cpath + "." + fname, f.first.Mark().line + 1,
                            "'" + type +
                                "' is not one of: boolean, bigint, numeric, text, timestamptz, "
                                "timestamptz_ms, jsonb");
              continue;
            }
            s.types[cname][fname] = type;
          }
        }
      }
    }
    if (r.has("ingest")) {
      map_reader in(r.child("ingest"), r.path_of("ingest"), issues_);
      s.ingest_token_file = file(in, "token_file", true);
      in.finish();
    }
    r.finish();
    return s;
  }

  std::string path_with(std::string_view key, map_reader& r) { return r.path_of(key); }

  issue_list& issues_;
  std::string base_;
};

}  // namespace

namespace {

// YAML is Unicode text: a NUL byte or bytes that are not UTF-8 (a UTF-16 file, a
// binary pasted by mistake) are named with their line before the parser sees them.
bool text_problem(const std::string& yaml, issue_list& issues) {
  int line = 1;
  for (size_t i = 0; i < yaml.size();) {
    auto c = static_cast<unsigned char>(yaml[i]);
    if (c == '\n')
      ++line;
    if (c == 0) {
      issues.error("", line, "the file contains a NUL byte; a configuration is UTF-8 text");
      return true;
    }
    size_t len = c < 0x80           ? 1
                 : (c >> 5) == 0x6  ? 2
                 : (c >> 4) == 0xE  ? 3
                 : (c >> 3) == 0x1E ? 4
                                    : 0;
    bool valid = len > 0 && i + len <= yaml.size();
    for (size_t k = 1; valid && k < len; ++k)
      valid = (static_cast<unsigned char>(yaml[i + k]) & 0xC0) == 0x80;
    if (valid && len > 1) {
      // Overlong forms, surrogates and code points past U+10FFFF are not UTF-8 either.
      uint32_t cp = c & (0x7F >> len);
      for (size_t k = 1; k < len; ++k)
        cp = (cp << 6) | (static_cast<unsigned char>(yaml[i + k]) & 0x3F);
      static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
      valid = cp >= kMin[len] && cp <= 0x10FFFF && (cp < 0xD800 || cp > 0xDFFF);
    }
    if (!valid) {
      issues.error("", line,
                   "the file is not UTF-8 text (byte " + std::to_string(i) + "); save it as UTF-8");
      return true;
    }
    i += len;
  }
  return false;
}

// The first line of a second YAML document: content after a "---" or "..." line that
// follows content; 0 when the text is one document. Comments and blank lines
// are not content; a "---" before any content only opens the first document.
int second_document_line(std::string_view text) {
  bool content = false, ended = false;
  int line = 0;
  for (size_t i = 0; i < text.size();) {
    size_t j = text.find('\n', i);
    if (j == std::string_view::npos)
      j = text.size();
    std::string_view l = text.substr(i, j - i);
    ++line;
    i = j + 1;
    auto marker = [&](std::string_view m) {
      return l.starts_with(m) && (l.size() == 3 || l[3] == ' ' || l[3] == '\t' || l[3] == '\r');
    };
    const size_t first = l.find_first_not_of(" \t\r");
    if (first == std::string_view::npos || l[first] == '#')
      continue;
    if (marker("---")) {
      ended = ended || content;  // a document after content: its first line is reported
      continue;
    }
    if (marker("...")) {
      ended = content;
      continue;
    }
    if (ended)
      return line;
    content = true;
  }
  return 0;
}

// yaml-cpp's parser refuses deeper nesting with DeepRecursion (singledocparser.cpp).
constexpr int kMaxYamlDepth = 500;

int mark_line(const YAML::Mark& m) {
  return m.line >= 0 ? m.line + 1 : 0;
}

// The settings are built here and only here: the snapshot is shared as const once it is
// in the result, so everything it carries (its source path too) is set before that.
load_result load_text(const std::string& yaml, const std::string& base_dir,
                      const std::string& source_path, const load_options& opts) {
  load_result result;
  if (text_problem(yaml, result.issues))
    return result;
  auto s = std::make_shared<settings>();
  s->source_path = source_path;
  // No file may end the process: whatever the parser or a reader throws (yaml-cpp's
  // exceptions, its recursion limit, an allocation) becomes a problem with a line.
  try {
    YAML::Node root;
    try {
      // Load reads the first document and silently drops the rest, so a second one is
      // looked for in the text (a '---' or '...' line after content). Not LoadAll:
      // yaml-cpp 0.7's LoadAll never returns on some inputs (a line starting with ',',
      // found by tests/fuzz/fuzz_config_yaml.cpp).
      if (int line = second_document_line(yaml); line > 0) {
        result.issues.error("", line,
                            "the file has more than one YAML document (separated by --- or "
                            "...); a configuration is one document");
        return result;
      }
      root = YAML::Load(yaml);
    } catch (const YAML::DeepRecursion& e) {  // its message is just "bad file"
      result.issues.error("", mark_line(e.mark),
                          "lists or mappings are nested too deeply (more than " +
                              std::to_string(kMaxYamlDepth) + " levels)");
      return result;
    } catch (const YAML::Exception& e) {
      result.issues.error("", mark_line(e.mark), "YAML syntax error: " + e.msg);
      return result;
    }
    loader(result.issues, base_dir).read(root, *s);
    validate(*s, result.issues, opts.check_files);
  } catch (const YAML::Exception& e) {
    result.issues.error("", mark_line(e.mark), "cannot read this YAML: " + e.msg);
  } catch (const std::exception& e) {
    result.issues.error("", 0, std::string("cannot read this configuration: ") + e.what());
  }
  if (!result.issues.has_errors())
    result.settings = std::move(s);
  return result;
}

}  // namespace

load_result load_string(const std::string& yaml, const std::string& base_dir,
                        const load_options& opts) {
  return load_text(yaml, base_dir, "", opts);
}

load_result load_file(const std::string& path, const load_options& opts) {
  auto fail = [&](std::string message) {
    load_result r;
    r.issues.error("", 0, std::move(message));
    return r;
  };
  std::error_code ec;
  if (fs::is_directory(path, ec))
    return fail("cannot read configuration file " + path + ": it is a directory");
  std::string why;
  bool too_large = false;
  auto text = read_file_at_most(path, kMaxConfigBytes, &why, &too_large);
  if (too_large) {
    return fail("configuration file " + path + " is larger than " +
                std::to_string(kMaxConfigBytes >> 20) + " MiB; is it the right file?");
  }
  if (!text)
    return fail(why);
  auto dir = fs::absolute(fs::path(path)).parent_path().string();
  return load_text(*text, dir, path, opts);
}

}  // namespace sluice::config
