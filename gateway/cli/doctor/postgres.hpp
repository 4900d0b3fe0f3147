// A login failure in a support engineer's words: the server's message (from the
// gateway's own login on a route, or libpq's on a sync destination) to its cause and the
// setting that fixes it.
#pragma once

#include <string>
#include <utility>

#include "config/settings.hpp"
#include "gateway/cli/doctor/report.hpp"

namespace sluice::doctor {

// The configuration keys a fix names: a route's and a direct sync destination's differ.
struct setting_keys {
  std::string sslmode, ca, host, cert;
};
inline setting_keys route_keys() {
  return {"upstream.tls.sslmode", "upstream.tls.ca", "upstream.host",
          "upstream.tls.cert and upstream.tls.key"};
}
inline setting_keys sync_keys() {
  return {"destination.sslmode", "destination.ca", "destination.host",
          "destination.cert and destination.key"};
}

// The cause and fix for a login error message; empty cause when unknown.
std::pair<std::string, std::string> explain_login_error(const std::string& message,
                                                        const std::string& where,
                                                        const std::string& sslmode,
                                                        const setting_keys& keys = route_keys());

}  // namespace sluice::doctor
