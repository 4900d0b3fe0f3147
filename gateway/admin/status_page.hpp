// The status page served at GET /: one self-contained HTML document (no build step,
// no external assets; charts are inline SVG drawn from /v1/status "history"). The first
// status document is embedded so the page renders without waiting for a fetch; it then
// polls /v1/status every few seconds.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace sluice::admin {

std::string render_status_page(const nlohmann::json& initial_status);

}  // namespace sluice::admin
