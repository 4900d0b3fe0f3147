// `sluice ctl`: live control of the running gateway through its admin API (bearer token
// from the configuration): list and kill sessions, drain and resume a route or listener,
// show tunnels as the gateway sees them. Exit 0 done, 1 refused or unreachable, 2 usage.
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "gateway/cli/admin_client.hpp"
#include "gateway/cli/commands.hpp"

namespace sluice::cmd {

namespace {

struct ctl_options {
  std::string config;
  bool json = false;
  bool listener = false;  // drain/resume: the name is a listener's
  std::string name;
  uint64_t id = 0;
};

// One request; prints the gateway's error and returns nullopt unless it answered 2xx.
std::optional<nlohmann::json> call(const ctl_options& o, const std::string& method,
                                   const std::string& target) {
  std::string why;
  auto t = find_admin(o.config, why);
  if (!t) {
    std::cerr << "sluice ctl: " << why << "\n";
    return std::nullopt;
  }
  if (t->token_file.empty()) {
    std::cerr << "sluice ctl: " << o.config
              << " sets no admin.token_file; the admin API allows live control only with a "
                 "bearer token\n";
    return std::nullopt;
  }
  auto r = admin_request(*t, method, target);
  if (r.status == 0) {
    std::cerr << "sluice ctl: " << r.error << "\n";
    return std::nullopt;
  }
  auto doc = nlohmann::json::parse(r.body, nullptr, false);
  if (r.status < 200 || r.status > 299) {
    std::cerr << "sluice ctl: HTTP " << r.status << ": "
              << (doc.is_object() ? doc.value("error", r.body) : r.body) << "\n";
    return std::nullopt;
  }
  if (doc.is_discarded()) {
    std::cerr << "sluice ctl: unreadable answer: " << r.body << "\n";
    return std::nullopt;
  }
  return doc;
}

std::string str(const nlohmann::json& j, const char* key) {
  if (!j.contains(key))
    return "-";
  const auto& v = j[key];
  if (v.is_string())
    return v.get<std::string>().empty() ? "-" : v.get<std::string>();
  return v.dump();
}

// 1536 -> "1.5 KiB".
std::string human_bytes(uint64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

int sessions(const ctl_options& o) {
  auto doc = call(o, "GET", "/v1/sessions");
  if (!doc)
    return 1;
  if (o.json) {
    std::cout << doc->dump(2) << "\n";
    return 0;
  }
  std::printf("%-8s %-22s %-12s %-12s %-14s %-14s %-20s %-10s %-10s %s\n", "ID", "PEER", "LISTENER",
              "ROUTE", "USER", "DATABASE", "SINCE", "IN", "OUT", "STATE");
  for (const auto& s : doc->value("sessions", nlohmann::json::array())) {
    std::printf("%-8s %-22s %-12s %-12s %-14s %-14s %-20s %-10s %-10s %s\n", str(s, "id").c_str(),
                str(s, "peer").c_str(), str(s, "listener").c_str(), str(s, "route").c_str(),
                str(s, "user").c_str(), str(s, "database").c_str(), str(s, "since").c_str(),
                human_bytes(s.value("bytes_in", uint64_t{0})).c_str(),
                human_bytes(s.value("bytes_out", uint64_t{0})).c_str(), str(s, "state").c_str());
  }
  return 0;
}

int kill_session(const ctl_options& o) {
  auto doc = call(o, "POST", "/v1/sessions/" + std::to_string(o.id) + "/kill");
  if (!doc)
    return 1;
  std::cout << "session " << o.id << " terminated\n";
  return 0;
}

int drain_or_resume(const ctl_options& o, bool drain) {
  const std::string kind = o.listener ? "listeners" : "routes";
  auto doc = call(o, "POST", "/v1/" + kind + "/" + o.name + (drain ? "/drain" : "/resume"));
  if (!doc)
    return 1;
  std::cout << (o.listener ? "listener " : "route ") << o.name
            << (drain ? " drained: new connections are refused, " +
                            std::to_string(doc->value("sessions", uint64_t{0})) +
                            " open session(s) continue"
                      : " resumed: new connections are accepted")
            << "\n";
  return 0;
}

int tunnels(const ctl_options& o) {
  auto doc = call(o, "GET", "/v1/tunnels");
  if (!doc)
    return 1;
  if (o.json) {
    std::cout << doc->dump(2) << "\n";
    return 0;
  }
  std::printf("%-16s %-24s %-18s %-22s %-9s %-10s %s\n", "TUNNEL", "BASTION", "STATE", "SINCE",
              "CHANNELS", "RECONNECTS", "LAST ERROR");
  for (const auto& t : doc->value("tunnels", nlohmann::json::array())) {
    std::printf("%-16s %-24s %-18s %-22s %-9s %-10s %s\n", str(t, "name").c_str(),
                str(t, "bastion").c_str(), str(t, "state").c_str(), str(t, "since").c_str(),
                str(t, "open_channels").c_str(), str(t, "reconnects").c_str(),
                str(t, "last_error").c_str());
  }
  return 0;
}

}  // namespace

void add_ctl(CLI::App& app, int& exit_code) {
  auto* ctl = app.add_subcommand(
      "ctl", "Live control of the running gateway through its admin API (bearer token)");
  ctl->require_subcommand(1);
  static ctl_options o;

  auto* s = ctl->add_subcommand("sessions", "List open client sessions");
  add_config_option(s, o.config);
  s->add_flag("--json", o.json, "Print the admin API's JSON document");
  s->callback([&exit_code] { exit_code = sessions(o); });

  auto* k = ctl->add_subcommand("kill", "Terminate one session (SQLSTATE 57P01 to its client)");
  add_config_option(k, o.config);
  k->add_option("id", o.id, "Session id (from `sluice ctl sessions`)")->required();
  k->callback([&exit_code] { exit_code = kill_session(o); });

  for (bool drain : {true, false}) {
    auto* d = ctl->add_subcommand(
        drain ? "drain" : "resume",
        drain ? "Refuse new connections to a route (or listener); open sessions continue"
              : "Accept new connections to a drained route (or listener) again");
    add_config_option(d, o.config);
    d->add_option("name", o.name, "Route name (a listener's with --listener)")->required();
    d->add_flag("--listener", o.listener, "NAME is a listener");
    d->callback([&exit_code, drain] { exit_code = drain_or_resume(o, drain); });
  }

  auto* t = ctl->add_subcommand("tunnels", "Tunnels as the running gateway sees them");
  add_config_option(t, o.config);
  t->add_flag("--json", o.json, "Print the admin API's JSON document");
  t->callback([&exit_code] { exit_code = tunnels(o); });
}

}  // namespace sluice::cmd
