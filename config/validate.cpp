#include "config/validate.hpp"

#include "config/load_reverse.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <set>

namespace sluice::config {

namespace {

bool is_wildcard(const std::string& host) {
  return host == "0.0.0.0" || host == "::" || host == "*" || host.empty();
}

bool same_socket(const host_port& a, const host_port& b) {
  if (a.port != b.port || a.port == 0)
    return false;
  return a.host == b.host || is_wildcard(a.host) || is_wildcard(b.host);
}

std::string readable_problem(const std::string& path) {
  if (access(path.c_str(), R_OK) != 0) {
    return "cannot read " + path + ": " + std::strerror(errno);
  }
  return {};
}

template <class T>
void check_unique(const std::vector<T>& items, const char* section, issue_list& issues) {
  std::set<std::string> seen;
  for (size_t i = 0; i < items.size(); ++i) {
    if (items[i].name.empty())
      continue;
    if (!seen.insert(items[i].name).second) {
      issues.error(std::string(section) + "[" + std::to_string(i) + "].name", items[i].line,
                   "duplicate name '" + items[i].name + "'");
    }
  }
}

}  // namespace

std::string private_file_problem(const std::string& path) {
  if (auto p = readable_problem(path); !p.empty())
    return p;
  struct stat st {};
  if (stat(path.c_str(), &st) != 0)
    return "cannot stat " + path;
  if (st.st_mode & 077) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return path + " is readable by group/others (mode " + mode + "); run: chmod 600 " + path;
  }
  return {};
}

std::string downgrade_warning(const std::string& listener, const std::string& route) {
  return "TLS downgrade: listener '" + listener +
         "' terminates TLS with client_tls: optional and route '" + route +
         "' reaches its database over TLS with auth.mode: passthrough, so libpq clients "
         "with the default sslmode=prefer and channel_binding=prefer have their TLS "
         "attempt refused by a SCRAM database (channel binding negotiation error) and "
         "silently reconnect WITHOUT TLS; set auth.mode: terminate on the route (or "
         "client_tls: required on the listener, so the failure is visible)";
}

void validate(const settings& s, issue_list& issues, bool check_files) {
  check_unique(s.listeners, "listeners", issues);
  check_unique(s.tunnels, "tunnels", issues);
  check_unique(s.routes, "routes", issues);
  check_unique(s.syncs, "syncs", issues);

  auto check_lists = [&](const std::vector<std::string>& names, const std::string& path, int line) {
    std::vector<std::string> known;
    for (const auto& [k, v] : s.allowlists)
      known.push_back(k);
    for (const auto& n : names) {
      if (s.allowlists.count(n))
        continue;
      issues.error(path, issues.line_of(path, line),
                   unknown_name("allowlist", n, known, "; define it under allowlists:"));
    }
  };
  auto check_tunnel = [&](const std::string& via, const std::string& path, int line) {
    if (via.empty() || s.find_tunnel(via))
      return;
    std::vector<std::string> known;
    for (const auto& t : s.tunnels)
      known.push_back(t.name);
    issues.error(path, issues.line_of(path, line),
                 unknown_name("tunnel", via, known, "; define it under tunnels:"));
  };
  auto check_file = [&](const std::string& f, const std::string& path, int line) {
    if (!check_files || f.empty())
      return;
    if (auto p = readable_problem(f); !p.empty())
      issues.error(path, issues.line_of(path, line), p);
  };
  auto check_private = [&](const std::string& f, const std::string& path, int line) {
    if (!check_files || f.empty())
      return;
    if (auto p = private_file_problem(f); !p.empty())
      issues.error(path, issues.line_of(path, line), p);
  };

  // Sockets sluice binds must not collide with each other.
  std::vector<std::pair<std::string, host_port>> binds;
  for (size_t i = 0; i < s.listeners.size(); ++i) {
    binds.emplace_back("listeners[" + std::to_string(i) + "] (" + s.listeners[i].name + ")",
                       s.listeners[i].listen);
  }
  if (s.admin)
    binds.emplace_back("admin", s.admin->listen);
  if (s.ingest)
    binds.emplace_back("ingest", s.ingest->listen);
  for (size_t i = 0; i < binds.size(); ++i) {
    for (size_t j = i + 1; j < binds.size(); ++j) {
      if (same_socket(binds[i].second, binds[j].second)) {
        issues.error(
            binds[j].first + ".listen", 0,
            binds[j].second.str() + " overlaps " + binds[i].first + " on " + binds[i].second.str());
      }
    }
  }

  for (size_t i = 0; i < s.listeners.size(); ++i) {
    const auto& l = s.listeners[i];
    const auto p = "listeners[" + std::to_string(i) + "]";
    check_lists(l.allow, p + ".allow", l.line);
    if (l.client_tls != client_tls_policy::disabled && !l.tls) {
      issues.error(p + ".client_tls", issues.line_of(p + ".client_tls", l.line),
                   std::string("client_tls: ") + std::string(to_string(l.client_tls)) +
                       " needs a tls: section with cert and key (or set client_tls: disabled)");
    }
    if (l.tls) {
      check_file(l.tls->cert, p + ".tls.cert", l.line);
      check_private(l.tls->key, p + ".tls.key", l.line);
      for (size_t k = 0; k < l.tls->sni.size(); ++k) {
        auto sp = p + ".tls.sni[" + std::to_string(k) + "]";
        check_file(l.tls->sni[k].cert, sp + ".cert", l.line);
        check_private(l.tls->sni[k].key, sp + ".key", l.line);
      }
    }
  }

  for (size_t i = 0; i < s.tunnels.size(); ++i) {
    const auto& t = s.tunnels[i];
    const auto p = "tunnels[" + std::to_string(i) + "]";
    check_private(t.private_key, p + ".private_key", t.line);
    check_private(t.secondary_key, p + ".secondary_key", t.line);
    check_file(t.known_hosts, p + ".known_hosts", t.line);
  }

  for (size_t i = 0; i < s.routes.size(); ++i) {
    const auto& r = s.routes[i];
    const auto p = "routes[" + std::to_string(i) + "]";
    check_lists(r.allow, p + ".allow", r.line);
    check_tunnel(r.upstream.via, p + ".upstream.via", r.line);
    if (!r.match.listener.empty()) {
      const auto* l = s.find_listener(r.match.listener);
      if (!l) {
        std::vector<std::string> known;
        for (const auto& x : s.listeners)
          known.push_back(x.name);
        issues.error(p + ".match.listener", issues.line_of(p + ".match.listener", r.line),
                     unknown_name("listener", r.match.listener, known));
      } else if (!r.match.sni.empty() && !l->tls) {
        issues.warn(p + ".match.sni", issues.line_of(p + ".match.sni", r.line),
                    "listener '" + l->name + "' has no TLS, so clients never send SNI; " +
                        "this route can only match TLS clients");
      }
    }
    check_private(r.auth.file, p + ".auth.file", r.line);
    if (r.auth.query)
      check_private(r.auth.query->password_file, p + ".auth.query.password_file", r.line);
    const auto& tls = r.upstream.tls;
    check_file(tls.ca, p + ".upstream.tls.ca", r.line);
    check_file(tls.cert, p + ".upstream.tls.cert", r.line);
    check_private(tls.key, p + ".upstream.tls.key", r.line);
    if (tls.negotiation == sslnegotiation::direct &&
        (tls.mode == sslmode::disable || tls.mode == sslmode::allow ||
         tls.mode == sslmode::prefer)) {
      issues.error(p + ".upstream.tls.sslnegotiation",
                   issues.line_of(p + ".upstream.tls.sslnegotiation", r.line),
                   "sslnegotiation: direct needs sslmode require, verify-ca or verify-full "
                   "(as in libpq)");
    }
  }

  // The silent downgrade (issue 18): libpq's defaults (sslmode=prefer, channel_binding=
  // prefer) offer channel binding that a relay cannot carry to a TLS upstream; the SCRAM
  // server refuses the TLS attempt and libpq quietly retries in plaintext.
  for (size_t i = 0; i < s.routes.size(); ++i) {
    const auto& r = s.routes[i];
    const auto m = r.upstream.tls.mode;
    if (r.auth.mode != auth_mode::passthrough || m == sslmode::disable || m == sslmode::allow)
      continue;
    for (const auto& l : s.listeners) {
      if (!l.tls || l.tls->mode != tls_mode::terminate ||
          l.client_tls != client_tls_policy::optional)
        continue;
      if (!r.match.listener.empty() && r.match.listener != l.name)
        continue;
      issues.warn("routes[" + std::to_string(i) + "].auth.mode",
                  issues.line_of("routes[" + std::to_string(i) + "].auth.mode", r.line),
                  downgrade_warning(l.name, r.name));
    }
  }

  if (s.ingest) {
    check_lists(s.ingest->allow, "ingest.allow", 0);
    const auto& in = *s.ingest;
    if (in.max_body_memory && in.max_body_memory < in.max_batch_bytes) {
      issues.error("ingest.max_body_memory", issues.line_of("ingest.max_body_memory", 0),
                   "is smaller than ingest.max_batch_bytes, so a batch of the largest allowed "
                   "size could never be received; raise it or remove it (default: the larger "
                   "of 256MiB and max_batch_bytes)");
    }
    if (in.max_connections_per_address > in.max_connections) {
      issues.warn("ingest.max_connections_per_address",
                  issues.line_of("ingest.max_connections_per_address", 0),
                  "is larger than ingest.max_connections, which therefore limits every "
                  "address as well");
    }
    if (in.header_timeout.count() <= 0)
      issues.error("ingest.header_timeout", issues.line_of("ingest.header_timeout", 0),
                   "must be longer than 0s");
    if (s.ingest->tls) {
      check_file(s.ingest->tls->cert, "ingest.tls.cert", 0);
      check_private(s.ingest->tls->key, "ingest.tls.key", 0);
    }
  }
  if (s.admin) {
    check_private(s.admin->token_file, "admin.token_file", 0);
    if (s.admin->tls) {
      check_file(s.admin->tls->cert, "admin.tls.cert", 0);
      check_private(s.admin->tls->key, "admin.tls.key", 0);
    }
  }

  std::set<std::pair<std::string, std::string>> schemas;
  for (size_t i = 0; i < s.syncs.size(); ++i) {
    const auto& y = s.syncs[i];
    const auto p = "syncs[" + std::to_string(i) + "]";
    const auto& d = y.destination;
    if (!d.route.empty() && !s.find_route(d.route)) {
      std::vector<std::string> known;
      for (const auto& r : s.routes)
        known.push_back(r.name);
      issues.error(p + ".destination.route", issues.line_of(p + ".destination.route", y.line),
                   unknown_name("route", d.route, known));
    }
    check_tunnel(d.via, p + ".destination.via", y.line);
    check_private(d.password_file, p + ".destination.password_file", y.line);
    check_file(d.ca, p + ".destination.ca", y.line);
    check_private(y.ingest_token_file, p + ".ingest.token_file", y.line);
    // Two syncs writing one schema would fight over its tables.
    auto where = (d.route.empty() ? d.host + ":" + std::to_string(d.port) : "route:" + d.route) +
                 "/" + d.database;
    if (!y.schema.empty() && !schemas.insert({where, y.schema}).second) {
      issues.error(p + ".schema", issues.line_of(p + ".schema", y.line),
                   "schema '" + y.schema + "' on " + where +
                       " is already used by another sync; give each sync its own schema");
    }
    if (!y.ingest_token_file.empty() && !s.ingest) {
      issues.warn(p + ".ingest", issues.line_of(p + ".ingest", y.line),
                  "no top-level ingest: listener is configured, so batches cannot be received");
    }
  }
  validate_reverse(s, issues, check_files);
}

std::vector<std::string> restart_required(const settings& before, const settings& after) {
  std::vector<std::string> out;
  std::set<std::string> names;
  for (const auto& l : before.listeners)
    names.insert(l.name);
  for (const auto& l : after.listeners) {
    const auto* old = before.find_listener(l.name);
    if (!old) {
      out.push_back("listener '" + l.name + "' is new");
    } else if (!(old->listen == l.listen)) {
      out.push_back("listener '" + l.name + "' moved from " + old->listen.str() + " to " +
                    l.listen.str());
    }
    names.erase(l.name);
  }
  for (const auto& n : names)
    out.push_back("listener '" + n + "' was removed");
  if (before.workers != after.workers)
    out.push_back("workers changed");
  auto addr = [](const auto& o) { return o ? o->listen.str() : std::string("-"); };
  if (addr(before.admin) != addr(after.admin))
    out.push_back("admin.listen changed");
  if (before.admin && after.admin && before.admin->sample_interval != after.admin->sample_interval)
    out.push_back("admin.sample_interval changed");
  if (addr(before.ingest) != addr(after.ingest))
    out.push_back("ingest.listen changed");
  return out;
}

}  // namespace sluice::config
