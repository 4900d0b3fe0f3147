// Follows typed-message boundaries in a byte stream without buffering it, so the
// relay can tell whether injecting an ErrorResponse would land between messages, and
// which message a client sent last (a Terminate means the client ended the session).
// Pure; fed with whatever chunks the socket returns.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace sluice::gateway {

class frame_tracker {
 public:
  void feed(std::span<const uint8_t> chunk) {
    size_t i = 0;
    while (i < chunk.size()) {
      if (remaining_ > 0) {
        size_t take = std::min<size_t>(remaining_, chunk.size() - i);
        remaining_ -= take;
        i += take;
        continue;
      }
      header_[have_++] = chunk[i++];
      if (have_ == 5) {
        uint32_t len = (uint32_t{header_[1]} << 24) | (uint32_t{header_[2]} << 16) |
                       (uint32_t{header_[3]} << 8) | uint32_t{header_[4]};
        remaining_ = len >= 4 ? len - 4 : 0;
        have_ = 0;
        last_type_ = header_[0];
      }
    }
  }
  bool at_boundary() const { return remaining_ == 0 && have_ == 0; }
  // The type byte of the last message whose header was complete; 0 before any.
  uint8_t last_type() const { return last_type_; }

  // The position in the stream, for the kernel relay to carry on from (relay/frames.hpp).
  struct snapshot {
    uint64_t remaining;
    uint8_t header[5];
    uint8_t have;
    uint8_t last_type;
  };
  snapshot state() const {
    snapshot s{remaining_, {}, have_, last_type_};
    for (int i = 0; i < 5; ++i)
      s.header[i] = header_[i];
    return s;
  }

 private:
  uint64_t remaining_ = 0;
  uint8_t header_[5] = {};
  uint8_t have_ = 0;
  uint8_t last_type_ = 0;
};

}  // namespace sluice::gateway
