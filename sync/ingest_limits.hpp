// Limits the ingest API's HTTP request parser runs with, shared with its fuzz target
// (tests/fuzz/fuzz_http_request.cpp) so the fuzzer parses exactly what the server would.
#pragma once

#include <cstdint>

namespace sluice::sync {

// Request line plus headers; the body limit is ingest.max_batch_bytes.
inline constexpr uint32_t kIngestHeaderLimit = 16 * 1024;

}  // namespace sluice::sync
