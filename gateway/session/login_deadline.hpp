// upstream.login_timeout: when sluice logs in to the database itself (auth.mode
// terminate, and the pool's backends opened in advance), the whole login, from the
// startup packet to ReadyForQuery, is bounded. At the deadline the socket is closed, so
// whatever awaits on it fails; fired() tells that failure from a backend that closed.
#pragma once

#include <utility>  // before Asio (GCC 12 + Boost 1.74)

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>

#include "config/settings.hpp"

namespace sluice::gateway {

namespace net = boost::asio;

class login_deadline {
 public:
  login_deadline(net::ip::tcp::socket& s, config::duration limit)
      : timer_(std::make_shared<net::steady_timer>(s.get_executor())),
        state_(std::make_shared<state>()) {
    timer_->expires_after(limit);
    // The state, not the timer's error code, says whether the deadline still applies: a
    // handler already queued when cancel() ran must not close a socket that moved on.
    timer_->async_wait([&s, st = state_](boost::system::error_code ec) {
      if (ec || !st->armed)
        return;
      st->fired = true;
      boost::system::error_code ignored;
      s.close(ignored);
    });
  }
  ~login_deadline() { cancel(); }
  login_deadline(const login_deadline&) = delete;
  login_deadline& operator=(const login_deadline&) = delete;

  // The login finished (or failed otherwise): the socket is left alone from now on.
  void cancel() {
    state_->armed = false;
    timer_->cancel();
  }
  bool fired() const { return state_->fired; }

 private:
  struct state {
    bool armed = true;
    bool fired = false;
  };
  std::shared_ptr<net::steady_timer> timer_;
  std::shared_ptr<state> state_;
};

}  // namespace sluice::gateway
