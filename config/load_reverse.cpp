#include "config/load_reverse.hpp"

#include <filesystem>
#include <map>

#include "config/authorized_keys.hpp"
#include "config/read_file.hpp"
#include "config/validate.hpp"

namespace sluice::config {

namespace fs = std::filesystem;

namespace {

std::string resolve(map_reader& r, std::string_view key, const std::string& base, bool required) {
  auto v = r.str(key, required);
  if (!v || v->empty())
    return {};
  fs::path p(*v);
  if (p.is_relative())
    p = fs::path(base) / p;
  return p.lexically_normal().string();
}

// Keys that only make sense for a forward tunnel (the gateway dials a bastion).
constexpr const char* kForwardOnly[] = {"host",        "port",          "user",
                                        "private_key", "secondary_key", "host_key",
                                        "known_hosts", "sessions",      "reconnect"};

}  // namespace

ssh_server_settings read_ssh_server(const YAML::Node& n, issue_list& issues,
                                    const std::string& base_dir) {
  map_reader r(n, "ssh_server", issues);
  ssh_server_settings s;
  s.line = r.line();
  if (auto hp = r.address("listen", true))
    s.listen = *hp;
  s.host_key = resolve(r, "host_key", base_dir, true);
  s.allow = r.str_list("allow");
  s.login_timeout = r.dur("login_timeout", s.login_timeout);
  if (s.login_timeout.count() <= 0)
    issues.error(r.path_of("login_timeout"), r.line_of_key("login_timeout"), "must be positive");
  s.max_sessions = static_cast<uint32_t>(r.integer("max_sessions", s.max_sessions, 1, 1'000'000));
  s.max_unauthenticated_per_address = static_cast<uint32_t>(
      r.integer("max_unauthenticated_per_address", s.max_unauthenticated_per_address, 1, 10'000));
  r.finish();
  return s;
}

void read_reverse_tunnel(map_reader& r, tunnel& t, const std::string& base_dir) {
  for (const char* k : kForwardOnly) {
    if (r.has(k)) {
      r.issues().error(r.path_of(k), r.line_of_key(k),
                       "a tunnel is either forward (host, user, private_key: the gateway dials a "
                       "bastion) or reverse (agents dial in to ssh_server:); drop '" +
                           std::string(k) + "' or 'reverse'");
    }
  }
  map_reader v(r.child("reverse"), r.path_of("reverse"), r.issues());
  reverse_tunnel rv;
  if (v.ok()) {
    rv.authorized_keys = v.str_list("authorized_keys");
    rv.authorized_keys_file = resolve(v, "authorized_keys_file", base_dir, false);
    if (rv.authorized_keys.empty() && rv.authorized_keys_file.empty()) {
      r.issues().error(v.path(), v.line(),
                       "list the agents' public keys in authorized_keys: [\"ssh-ed25519 AAAA... "
                       "name\"] or authorized_keys_file: PATH");
    }
    for (size_t i = 0; i < rv.authorized_keys.size(); ++i) {
      std::string error;
      if (!parse_authorized_key(rv.authorized_keys[i], error)) {
        r.issues().error(v.path_of("authorized_keys") + "[" + std::to_string(i) + "]",
                         v.line_of_key("authorized_keys"), error);
      }
    }
    v.finish();
  }
  t.reverse = std::move(rv);
  if (r.has("keepalive")) {
    map_reader k(r.child("keepalive"), r.path_of("keepalive"), r.issues());
    t.keepalive.interval = k.dur("interval", t.keepalive.interval);
    t.keepalive.max_missed =
        static_cast<uint32_t>(k.integer("max_missed", t.keepalive.max_missed, 1, 100));
    k.finish();
  }
  t.connect_timeout = r.dur("connect_timeout", t.connect_timeout);
  t.wait_for_up = r.dur("wait_for_up", t.wait_for_up);
  t.max_channels = static_cast<uint32_t>(r.integer("max_channels", t.max_channels, 1, 16384));
}

std::vector<authorized_key> reverse_tunnel_keys(const tunnel& t, std::vector<std::string>& errors) {
  std::vector<authorized_key> out;
  if (!t.reverse)
    return out;
  for (size_t i = 0; i < t.reverse->authorized_keys.size(); ++i) {
    std::string error;
    if (auto k = parse_authorized_key(t.reverse->authorized_keys[i], error))
      out.push_back(std::move(*k));
    else
      errors.push_back("authorized_keys[" + std::to_string(i) + "]: " + error);
  }
  if (!t.reverse->authorized_keys_file.empty()) {
    std::string why;
    if (auto text = read_file(t.reverse->authorized_keys_file, &why); !text) {
      errors.push_back(why);
    } else {
      std::vector<std::string> file_errors;
      for (auto& k : parse_authorized_keys(*text, file_errors))
        out.push_back(std::move(k));
      for (auto& e : file_errors)
        errors.push_back(t.reverse->authorized_keys_file + " " + e);
    }
  }
  return out;
}

void validate_reverse(const settings& s, issue_list& issues, bool check_files) {
  std::map<std::string, std::string> owner;  // key blob -> tunnel name
  for (size_t i = 0; i < s.tunnels.size(); ++i) {
    const auto& t = s.tunnels[i];
    if (!t.reverse)
      continue;
    const auto p = "tunnels[" + std::to_string(i) + "].reverse";
    if (!s.ssh_server) {
      issues.error(p, issues.line_of(p, t.line),
                   "reverse tunnel '" + t.name +
                       "' needs the top-level ssh_server: section (the endpoint its agents dial "
                       "in to)");
    }
    std::vector<std::string> errors;
    auto keys = reverse_tunnel_keys(t, errors);
    if (check_files) {
      for (const auto& e : errors) {
        // Inline-key errors were reported while reading, with their own path.
        if (e.rfind("authorized_keys[", 0) != 0)
          issues.error(p + ".authorized_keys_file",
                       issues.line_of(p + ".authorized_keys_file", t.line), e);
      }
    }
    for (const auto& k : keys) {
      auto [it, fresh] = owner.emplace(k.blob, t.name);
      if (!fresh && it->second != t.name) {
        issues.error(p, issues.line_of(p, t.line),
                     "key " + k.type + " " + (k.comment.empty() ? "(no comment)" : k.comment) +
                         " is also authorized for tunnel '" + it->second +
                         "': a key must authorize one tunnel only; give each agent its own key");
      }
    }
  }
  if (!s.ssh_server)
    return;
  const auto& ss = *s.ssh_server;
  if (check_files && !ss.host_key.empty()) {
    if (auto e = private_file_problem(ss.host_key); !e.empty()) {
      issues.error("ssh_server.host_key", issues.line_of("ssh_server.host_key", ss.line),
                   e + " (create one with `sluice keygen --host-key --out " + ss.host_key + "`)");
    }
  }
  for (const auto& n : ss.allow) {
    if (!s.allowlists.count(n)) {
      std::vector<std::string> known;
      for (const auto& [k, _] : s.allowlists)
        known.push_back(k);
      issues.error("ssh_server.allow", issues.line_of("ssh_server.allow", ss.line),
                   unknown_name("allowlist", n, known, "; define it under allowlists:"));
    }
  }
  for (const auto& l : s.listeners) {
    if (l.listen.port == ss.listen.port &&
        (l.listen.host == ss.listen.host || l.listen.host == "0.0.0.0" ||
         ss.listen.host == "0.0.0.0" || l.listen.host == "::" || ss.listen.host == "::")) {
      issues.error("ssh_server.listen", issues.line_of("ssh_server.listen", ss.line),
                   ss.listen.str() + " is also listener '" + l.name + "''s address");
    }
  }
  bool any = false;
  for (const auto& t : s.tunnels)
    any = any || t.reverse.has_value();
  if (!any) {
    issues.warn("ssh_server", issues.line_of("ssh_server", ss.line),
                "no tunnel has reverse:, so no agent can log in to this endpoint");
  }
}

}  // namespace sluice::config
