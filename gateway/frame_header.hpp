// The five header bytes of a typed protocol message (type, then a big-endian length that
// counts itself), collected one byte at a time by the trackers that follow a byte stream
// without buffering it (frame_tracker, pool/session_watch). Pure.
#pragma once

#include <cstdint>

namespace sluice::gateway {

struct frame_header {
  uint8_t bytes[5] = {};
  uint8_t have = 0;  // 0: at a message boundary

  // Adds one byte; true when it completes the header (type() and length() are then the
  // new message's, and the next push starts the next header).
  bool push(uint8_t b) {
    bytes[have++] = b;
    if (have < 5)
      return false;
    have = 0;
    return true;
  }
  char type() const { return static_cast<char>(bytes[0]); }
  // The length field as sent: the body's size plus 4 (a value below 4 is invalid).
  uint32_t length() const {
    return (uint32_t{bytes[1]} << 24) | (uint32_t{bytes[2]} << 16) | (uint32_t{bytes[3]} << 8) |
           uint32_t{bytes[4]};
  }
};

}  // namespace sluice::gateway
