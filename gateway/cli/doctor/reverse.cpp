#include "gateway/cli/doctor/reverse.hpp"

#include <nlohmann/json.hpp>

#include "config/bearer_token.hpp"

#include "sync/http_client.hpp"

namespace sluice::doctor {

bool walk_reverse_tunnel(const config::settings& s, const config::tunnel& t, uint16_t port,
                         report& out) {
  const std::string where = "reverse tunnel " + t.name;
  if (!s.admin) {
    return out.fail("agent", "cannot ask the running gateway: no admin: section",
                    "agents connect to the running gateway, which reports them over its admin API",
                    "add admin: {listen: " + config::admin_settings{}.listen.str() +
                        "} to the config, or look for "
                        "reverse_agent_up / reverse_auth_refused in the gateway's journal");
  }
  sync::http_target target;
  target.host = s.admin->listen.host == "0.0.0.0" ? "127.0.0.1" : s.admin->listen.host;
  target.port = s.admin->listen.port;
  target.tls = s.admin->tls.has_value();
  nlohmann::json status;
  try {
    const auto token = s.admin->token_file.empty()
                           ? std::string()
                           : config::read_token_file(s.admin->token_file).value_or("");
    auto r = sync::http_request(target, "GET", "/v1/status", token, "", std::chrono::seconds(10));
    status = nlohmann::json::parse(r.body, nullptr, false);
  } catch (const std::exception& e) {
    return out.fail("agent", std::string("cannot reach the gateway's admin API: ") + e.what(),
                    "the gateway is not running here, or admin.listen differs",
                    "start the gateway (systemctl start sluice) and retry");
  }
  nlohmann::json mine;
  if (status.is_object() && status.contains("tunnels")) {
    for (const auto& x : status["tunnels"])
      if (x.value("name", "") == t.name)
        mine = x;
  }
  if (mine.is_null()) {
    return out.fail("agent", "the running gateway has no reverse tunnel " + t.name,
                    "the running gateway has an older configuration",
                    "reload it (systemctl reload sluice)");
  }
  const auto agents = mine.value("agents", nlohmann::json::array());
  if (agents.empty()) {
    return out.fail(
        "agent", "no agent is connected to this gateway's ssh_server for " + where,
        "the agent is not running, cannot reach ssh_server." +
            (s.ssh_server ? std::string(" (") + s.ssh_server->listen.str() + ")" : std::string()) +
            ", pins another host key, or its key was refused",
        "on the agent's machine: run `ssh -N -R PORT:DBHOST:PORT -p SSHPORT " + t.name +
            "@GATEWAY` (or `sluice agent`) and read its error; in the gateway's journal look for "
            "reverse_auth_refused (wrong key, a key of another tunnel) and "
            "reverse_connection_refused (ssh_server.allow, limits)");
  }
  std::string list;
  for (const auto& a : agents)
    list += (list.empty() ? "" : ", ") + a.value("address", "?") + " since " +
            a.value("since", "?") + " key " + a.value("key_fingerprint", "?");
  out.pass("agent", std::to_string(agents.size()) + " connected: " + list);
  const auto forwards = mine.value("forwards", nlohmann::json::array());
  bool has = port == 0 ? !forwards.empty() : false;
  for (const auto& f : forwards)
    has = has || f.get<int>() == port;
  if (!has) {
    const std::string want = port == 0 ? std::string("any port") : "port " + std::to_string(port);
    return out.fail("forward", "the agents announce " + forwards.dump() + ", not " + want,
                    "the agent's -R port must be the route's upstream.port",
                    "run the agent with -R " + (port ? std::to_string(port) : std::string("PORT")) +
                        ":DBHOST:DBPORT");
  }
  out.pass("forward", "announced: " + forwards.dump());
  if (auto refusal = mine.value("last_channel_refusal", ""); !refusal.empty()) {
    return out.fail("channel", refusal,
                    "the agent accepted the login but could not connect to its -R target",
                    "on the agent's machine check `nc -vz DBHOST DBPORT` for the target after -R");
  }
  out.pass("channel",
           "no refused channel (opened " + std::to_string(mine.value("channels_opened", 0)) + ")");
  return true;
}

}  // namespace sluice::doctor
