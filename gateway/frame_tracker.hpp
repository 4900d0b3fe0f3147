// Follows typed-message boundaries in a byte stream without buffering it, so the
// relay can tell whether injecting an ErrorResponse would land between messages, and
// which message a client sent last (a Terminate means the client ended the session).
// Pure; fed with whatever chunks the socket returns.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "gateway/frame_header.hpp"

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
      if (header_.push(chunk[i++])) {
        const uint32_t len = header_.length();
        remaining_ = len >= 4 ? len - 4 : 0;
        last_type_ = header_.bytes[0];
      }
    }
  }
  bool at_boundary() const { return remaining_ == 0 && header_.have == 0; }
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
    snapshot s{remaining_, {}, header_.have, last_type_};
    for (int i = 0; i < 5; ++i)
      s.header[i] = header_.bytes[i];
    return s;
  }

 private:
  uint64_t remaining_ = 0;
  frame_header header_;
  uint8_t last_type_ = 0;
};

}  // namespace sluice::gateway
