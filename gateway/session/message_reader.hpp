// Whole typed messages off a leg, for the phases that speak the protocol themselves
// (terminate mode's two logins, the auth query). Bytes read past a message stay in
// rest() for whoever takes the leg over.
#pragma once

#include <utility>  // before Asio (GCC 12 + Boost 1.74)

#include "gateway/pg_stream.hpp"
#include "gateway/pg_wire.hpp"

namespace sluice::gateway {

class message_reader {
 public:
  static constexpr size_t kMaxMessage = 1 << 20;  // larger is bogus during login

  explicit message_reader(pg::bytes already = {}) : buf_(std::move(already)) {}

  // One message; false on EOF, error or an invalid/oversized message (ec says which;
  // an invalid frame sets ec to invalid_argument).
  net::awaitable<bool> next(pg_stream& s, char& type, pg::bytes& body, error_code& ec) {
    for (;;) {
      pg::message_view m;
      size_t used = 0;
      auto st = pg::next_message(pg::byte_span(buf_), m, used, kMaxMessage);
      if (st == pg::frame_status::invalid) {
        ec = net::error::invalid_argument;
        co_return false;
      }
      if (st == pg::frame_status::ok) {
        type = m.type;
        body.assign(m.body.begin(), m.body.end());
        buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(used));
        co_return true;
      }
      std::array<uint8_t, 8192> chunk;
      size_t n = co_await s.read_some(net::buffer(chunk), ec);
      if (ec)
        co_return false;
      buf_.insert(buf_.end(), chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(n));
    }
  }

  pg::bytes take_rest() { return std::exchange(buf_, {}); }

 private:
  pg::bytes buf_;
};

}  // namespace sluice::gateway
