#include <catch2/catch.hpp>

#include "gateway/frame_tracker.hpp"
#include "gateway/pg_wire.hpp"

using sluice::gateway::frame_tracker;

namespace {

// Feeds `stream` to a fresh tracker in chunks of every size from 1 to the whole, calling
// check(tracker, chunk, bytes fed so far) after each chunk and done(tracker) at the end.
template <class Check, class Done>
void feed_every_chunking(const sluice::pg::bytes& stream, Check check, Done done) {
  for (size_t chunk = 1; chunk <= stream.size(); ++chunk) {
    frame_tracker t;
    size_t fed = 0;
    while (fed < stream.size()) {
      size_t n = std::min(chunk, stream.size() - fed);
      t.feed({stream.data() + fed, n});
      fed += n;
      check(t, chunk, fed);
    }
    done(t);
  }
}

}  // namespace

TEST_CASE("frame tracker follows message boundaries across any chunking", "[wire]") {
  // Three backend messages: DataRow-ish 'D' (10-byte body), CommandComplete, ReadyForQuery.
  sluice::pg::bytes stream = {'D', 0,   0,   0,   14, 1,   2, 3,  4,   5,   6,   7,
                              8,   9,   10,  'C', 0,  0,   0, 13, 'S', 'E', 'L', 'E',
                              'C', 'T', ' ', '1', 0,  'Z', 0, 0,  0,   5,   'I'};
  const size_t boundaries[] = {0, 15, 29, 35};
  feed_every_chunking(
      stream,
      [&](const frame_tracker& t, size_t chunk, size_t fed) {
        bool expected =
            std::find(std::begin(boundaries), std::end(boundaries), fed) != std::end(boundaries);
        INFO("chunk " << chunk << " fed " << fed);
        CHECK(t.at_boundary() == expected);
      },
      [](const frame_tracker& t) { CHECK(t.last_type() == 'Z'); });
}

TEST_CASE("frame tracker names the last message whose header arrived", "[wire]") {
  // Query "select 1" then Terminate, as psql sends them when it quits.
  sluice::pg::bytes stream = {'Q', 0,   0,   0, 13,  's', 'e', 'l', 'e', 'c',
                              't', ' ', '1', 0, 'X', 0,   0,   0,   4};
  struct step {
    size_t fed;
    uint8_t last;
  };
  // A header counts once all five bytes are in: 'Q' at 5, 'X' at 19 (not at 15..18).
  const step table[] = {{0, 0}, {4, 0}, {5, 'Q'}, {14, 'Q'}, {15, 'Q'}, {18, 'Q'}, {19, 'X'}};
  feed_every_chunking(
      stream,
      [&](const frame_tracker& t, size_t chunk, size_t fed) {
        for (const auto& s : table) {
          if (s.fed == fed) {
            INFO("chunk " << chunk << " fed " << fed);
            CHECK(t.last_type() == s.last);
          }
        }
      },
      [](const frame_tracker& t) {
        CHECK(t.at_boundary());
        CHECK(t.last_type() == 'X');
      });
}
