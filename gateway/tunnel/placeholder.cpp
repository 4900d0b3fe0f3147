// Stub until the tunnel work (issue 3) lands: every call fails with a clear message.
#include "gateway/tunnel/manager.hpp"

namespace sluice::tunnel {

struct manager::impl {};

manager::manager() : impl_(std::make_unique<impl>()) {}
manager::~manager() = default;
void manager::apply(config::settings_ptr) {}
void manager::stop() {}

boost::asio::awaitable<channel_result> manager::open_channel(std::string tunnel, std::string,
                                                             uint16_t) {
  co_return channel_result{-1, "unknown-tunnel", "SSH tunnels are not available in this build ('" +
                                                      tunnel + "')"};
}

std::optional<config::host_port> manager::loopback_forward(const std::string&, const std::string&,
                                                           uint16_t, std::string& error) {
  error = "SSH tunnels are not available in this build";
  return std::nullopt;
}

nlohmann::json manager::status() const { return nlohmann::json::array(); }
bool manager::all_up() const { return true; }

}  // namespace sluice::tunnel
