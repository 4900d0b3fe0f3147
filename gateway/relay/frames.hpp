// The kernel relay's message framing (bpf/relay_end.h `relay_frames`) advanced from user
// space, for the bytes sluice forwards itself while the program passes them up, and
// converted from the user-space relay's frame_tracker when a session enters the map.
// The same walk as frame_step() in bpf/sockmap_relay.bpf.c. Pure.
#pragma once

#include <cstring>
#include <span>

#include "gateway/frame_tracker.hpp"
#include "gateway/relay/bpf/relay_end.h"

namespace sluice::gateway {

inline void advance_frames(relay_frames& f, std::span<const uint8_t> bytes) {
  size_t i = 0;
  while (i < bytes.size()) {
    if (f.remaining > 0) {
      size_t take = std::min<size_t>(f.remaining, bytes.size() - i);
      f.remaining -= static_cast<uint32_t>(take);
      i += take;
      continue;
    }
    f.header[f.have++] = bytes[i++];
    if (f.have == 5) {
      uint32_t n = (uint32_t{f.header[1]} << 24) | (uint32_t{f.header[2]} << 16) |
                   (uint32_t{f.header[3]} << 8) | uint32_t{f.header[4]};
      f.remaining = n >= 4 ? n - 4 : 0;
      f.last_type = f.header[0];
      f.have = 0;
    }
  }
}

inline bool frames_at_boundary(const relay_frames& f) {
  return f.remaining == 0 && f.have == 0;
}

inline relay_frames frames_from(const frame_tracker& t) {
  relay_frames f{};
  auto s = t.state();
  f.remaining = static_cast<uint32_t>(s.remaining);
  f.have = s.have;
  f.last_type = s.last_type;
  std::memcpy(f.header, s.header, sizeof f.header);
  return f;
}

}  // namespace sluice::gateway
