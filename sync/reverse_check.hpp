// A sync destination reached `via` a reverse tunnel needs an agent connected to the
// running gateway that forwards the destination's port. Without one libpq only sees a
// closed connection (and under TLS not even the reason), so the gateway's verify checks
// this first and says what is missing and how to start an agent. Pure: reads the
// tunnel's entry in the gateway's tunnel status document (tunnel::manager::status()).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "config/settings.hpp"
#include "sync/checks.hpp"

namespace sluice::sync {

// `t` is a reverse tunnel of `s`; host:port is the destination as the agent must reach it.
check reverse_agent_check(const config::settings& s, const config::tunnel& t,
                          const std::string& host, uint16_t port, const nlohmann::json& tunnels);

// True for reverse_agent_check's failure (no agent, no forward for the port).
bool is_missing_agent(const check& c);

}  // namespace sluice::sync
