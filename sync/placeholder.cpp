// Stub until the sync writer work (issue 4) lands.
#include <stdexcept>

#include "sync/service.hpp"

namespace sluice::sync {

struct service::impl {};

service::service(forward_fn) : impl_(std::make_unique<impl>()) {}
service::~service() = default;
void service::start(config::settings_ptr s) {
  if (s && (s->ingest || !s->syncs.empty())) {
    throw std::runtime_error("syncs and ingest: are not supported by this build yet");
  }
}
void service::apply(config::settings_ptr) {}
void service::stop() {}
nlohmann::json service::status() const { return nlohmann::json::array(); }

}  // namespace sluice::sync
