// Limits the admin API's HTTP request parser runs with, shared with its fuzz target
// (tests/fuzz/fuzz_http_request.cpp) so the fuzzer parses exactly what the server would.
// The header limit is Beast's default (8 KiB): the server does not change it.
#pragma once

#include <cstdint>

namespace sluice::admin {

// POST /v1/reload carries no body; nothing else the API serves needs more.
inline constexpr uint64_t kAdminBodyLimit = 64 * 1024;

}  // namespace sluice::admin
