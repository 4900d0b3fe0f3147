// Where bringing up a tunnel or opening a channel failed, as a value (not a string).
#pragma once

#include <string_view>

namespace sluice::tunnel {

// Where bringing up a tunnel or opening a channel failed; to_string() is the spelling in
// logs (stage=...) and in `sluice tunnel status` (last_error_stage).
enum class tunnel_stage {
  none,
  tcp_connect,
  ssh_handshake,
  host_key,
  auth,
  channel_open,
  tunnel_down,
  unknown_tunnel,
};

constexpr std::string_view to_string(tunnel_stage s) {
  switch (s) {
    case tunnel_stage::none:
      return "";
    case tunnel_stage::tcp_connect:
      return "tcp-connect";
    case tunnel_stage::ssh_handshake:
      return "ssh-handshake";
    case tunnel_stage::host_key:
      return "host-key";
    case tunnel_stage::auth:
      return "auth";
    case tunnel_stage::channel_open:
      return "channel-open";
    case tunnel_stage::tunnel_down:
      return "tunnel-down";
    case tunnel_stage::unknown_tunnel:
      return "unknown-tunnel";
  }
  return "";
}

}  // namespace sluice::tunnel
