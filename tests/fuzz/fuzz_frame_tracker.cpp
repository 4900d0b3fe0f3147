// The relay's message-boundary tracker (gateway/frame_tracker.hpp), fed in chunks.
// The first byte seeds the chunk sizes, the rest is the stream. Invariant: after every
// chunk, at_boundary() and last_type() match a straightforward walk of the bytes so far.
#include <cstdint>

#include "fuzz_check.hpp"
#include "gateway/frame_tracker.hpp"

using sluice::gateway::frame_tracker;

namespace {

struct reference {
  bool at_boundary = true;
  uint8_t last_type = 0;
};

// Walks headers of `n` bytes of `s`: a 5-byte header announces len - 4 body bytes.
reference walk(const uint8_t* s, size_t n) {
  reference r;
  uint64_t pos = 0;
  while (pos + 5 <= n) {
    uint32_t len = (uint32_t{s[pos + 1]} << 24) | (uint32_t{s[pos + 2]} << 16) |
                   (uint32_t{s[pos + 3]} << 8) | uint32_t{s[pos + 4]};
    r.last_type = s[pos];
    pos += 5 + uint64_t{len >= 4 ? len - 4 : 0};  // 64-bit: len - 4 + 5 may not fit
  }
  r.at_boundary = pos == n;
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1)
    return 0;
  uint32_t rng = data[0] * 2654435761u + 1;
  const uint8_t* s = data + 1;
  const size_t n = size - 1;
  frame_tracker t;
  size_t fed = 0;
  while (fed < n) {
    rng = rng * 1103515245u + 12345u;
    size_t chunk = 1 + (rng >> 16) % 16;
    if (chunk > n - fed)
      chunk = n - fed;
    t.feed({s + fed, chunk});
    fed += chunk;
    auto ref = walk(s, fed);
    FUZZ_CHECK(t.at_boundary() == ref.at_boundary);
    FUZZ_CHECK(t.last_type() == ref.last_type);
  }
  return 0;
}
