// relay/frames.hpp: the kernel relay's framing, advanced by sluice for bytes it forwards
// itself, must agree with the copy relay's frame_tracker at every split of the stream,
// and carry on from a tracker's position when a session enters the sockmap.
#include <catch2/catch.hpp>
#include <random>
#include <vector>

#include "gateway/relay/frames.hpp"

using namespace sluice::gateway;

namespace {

std::vector<uint8_t> message(char type, size_t payload) {
  std::vector<uint8_t> m = {static_cast<uint8_t>(type)};
  uint32_t len = static_cast<uint32_t>(payload + 4);
  for (int s = 24; s >= 0; s -= 8)
    m.push_back(static_cast<uint8_t>(len >> s));
  m.resize(m.size() + payload, 'p');
  return m;
}

std::vector<uint8_t> stream() {
  std::vector<uint8_t> all;
  for (auto [t, n] : std::vector<std::pair<char, size_t>>{
           {'T', 30}, {'D', 0}, {'D', 11}, {'D', 1 << 20}, {'C', 8}, {'Z', 1}, {'A', 3}})
    for (uint8_t b : message(t, n))
      all.push_back(b);
  return all;
}

}  // namespace

TEST_CASE("kernel relay framing agrees with frame_tracker at every chunking", "[kernel]") {
  const auto all = stream();
  std::mt19937 rng(23);
  for (int round = 0; round < 40; ++round) {
    frame_tracker t;
    relay_frames f{};
    size_t i = 0;
    while (i < all.size()) {
      size_t n = std::min<size_t>(all.size() - i, 1 + rng() % (round % 2 ? 7 : 70000));
      std::span<const uint8_t> chunk(all.data() + i, n);
      t.feed(chunk);
      advance_frames(f, chunk);
      i += n;
      REQUIRE(frames_at_boundary(f) == t.at_boundary());
      REQUIRE(f.last_type == t.last_type());
    }
    CHECK(frames_at_boundary(f));
    CHECK(f.last_type == 'A');
  }
}

TEST_CASE("kernel relay framing carries on from the copy relay's position", "[kernel]") {
  const auto all = stream();
  for (size_t split :
       {size_t{0}, size_t{1}, size_t{3}, size_t{5}, size_t{40}, size_t{1000}, all.size() - 2}) {
    frame_tracker before;
    before.feed({all.data(), split});
    relay_frames f = frames_from(before);
    advance_frames(f, {all.data() + split, all.size() - split});
    CHECK(frames_at_boundary(f));
    CHECK(f.last_type == 'A');
  }
  // Mid-header: not a boundary until the header and its payload are through.
  frame_tracker half;
  half.feed({all.data(), 3});
  relay_frames f = frames_from(half);
  CHECK(!frames_at_boundary(f));
  advance_frames(f, {all.data() + 3, 2});
  CHECK(!frames_at_boundary(f));
  CHECK(f.last_type == 'T');
}
