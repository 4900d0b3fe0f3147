// The five-byte message header the stream trackers collect one byte at a time.
#include <catch2/catch.hpp>

#include "gateway/frame_header.hpp"

using sluice::gateway::frame_header;

TEST_CASE("frame_header completes on the fifth byte and decodes type and length") {
  struct row {
    uint8_t bytes[5];
    char type;
    uint32_t length;
  };
  const row rows[] = {
      {{'Z', 0, 0, 0, 5}, 'Z', 5}, {{'D', 0x01, 0x02, 0x03, 0x04}, 'D', 0x01020304},
      {{'X', 0, 0, 0, 4}, 'X', 4}, {{'E', 0xff, 0xff, 0xff, 0xff}, 'E', 0xffffffff},
      {{'Q', 0, 0, 0, 3}, 'Q', 3},  // invalid (< 4): decoded as sent, callers refuse it
  };
  frame_header h;
  for (const auto& r : rows) {
    for (int i = 0; i < 4; ++i) {
      CHECK_FALSE(h.push(r.bytes[i]));
      CHECK(h.have == i + 1);
    }
    CHECK(h.push(r.bytes[4]));
    CHECK(h.have == 0);  // the next byte starts the next header
    CHECK(h.type() == r.type);
    CHECK(h.length() == r.length);
  }
}
