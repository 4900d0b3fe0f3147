// Limits the admin API's HTTP request parser runs with, shared with its fuzz target
// (tests/fuzz/fuzz_http_request.cpp) so the fuzzer parses exactly what the server would.
#pragma once

#include <cstdint>

namespace sluice::admin {

// POST /v1/reload carries no body; nothing else the API serves needs more.
inline constexpr uint64_t kAdminBodyLimit = 64 * 1024;
// Request line plus headers.
inline constexpr uint32_t kAdminHeaderLimit = 16 * 1024;

}  // namespace sluice::admin
