#include "sync/reverse_check.hpp"

namespace sluice::sync {

namespace {

constexpr const char* kPrefix = "reverse tunnel ";

std::string ssh_port_of(const config::settings& s) {
  return s.ssh_server ? std::to_string(s.ssh_server->listen.port) : std::string("SSHPORT");
}

}  // namespace

check reverse_agent_check(const config::settings& s, const config::tunnel& t,
                          const std::string& host, uint16_t port, const nlohmann::json& tunnels) {
  const std::string p = std::to_string(port);
  check c;
  c.name = kPrefix + t.name + " has an agent forwarding port " + p;
  nlohmann::json mine;
  if (tunnels.is_array())
    for (const auto& x : tunnels)
      if (x.is_object() && x.value("name", "") == t.name)
        mine = x;
  if (mine.is_null()) {
    c.status = check_status::fail;
    c.detail = "the running gateway has no tunnel " + t.name +
               ": it runs an older configuration; reload it (systemctl reload sluice)";
    return c;
  }
  const auto agents = mine.value("agents", nlohmann::json::array());
  const std::string forward = p + ":" + host + ":" + p;
  if (agents.empty()) {
    const auto why = mine.value("last_error", "");
    c.status = check_status::fail;
    c.detail = "no agent is connected to this gateway for reverse tunnel " + t.name +
               (why.empty() || why == "no agent connected" ? std::string() : " (" + why + ")") +
               ", so nothing can reach " + host + ":" + p +
               "; start one in the database's network: `ssh -N -R " + forward + " -p " +
               ssh_port_of(s) + " " + t.name +
               "@GATEWAY` or `sluice agent --gateway GATEWAY:" + ssh_port_of(s) + " --tunnel " +
               t.name + " --key KEY --host-key SHA256:... --forward " + forward +
               "` (docs/tunnels.md); `sluice doctor tunnel " + t.name +
               " -c CONFIG` explains why none is connected";
    return c;
  }
  const auto forwards = mine.value("forwards", nlohmann::json::array());
  bool has = false;
  for (const auto& f : forwards)
    has = has || (f.is_number() && f.get<int>() == port);
  if (!has) {
    c.status = check_status::fail;
    c.detail = std::to_string(agents.size()) + " agent(s) connected, announcing " +
               (forwards.empty() ? std::string("no forward") : "ports " + forwards.dump()) +
               ", none for port " + p + ": run the agent with -R " + forward + " (or --forward " +
               forward + ")";
    return c;
  }
  std::string who;
  for (const auto& a : agents)
    who += (who.empty() ? "" : ", ") + a.value("address", "?");
  c.detail = std::to_string(agents.size()) + " agent(s): " + who;
  return c;
}

bool is_missing_agent(const check& c) {
  return c.status == check_status::fail && c.name.rfind(kPrefix, 0) == 0 &&
         c.name.find(" has an agent forwarding port ") != std::string::npos;
}

}  // namespace sluice::sync
