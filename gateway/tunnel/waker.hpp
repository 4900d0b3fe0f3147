// A single-threaded "wake me when anything happens or at a deadline" primitive: socket
// readiness callbacks call notify(); the owner co_awaits wait_until(). Boost 1.74 has no
// awaitable operators, so this is how one coroutine waits on several events at once.
#pragma once

#include <utility>  // before Asio: GCC 12 + Boost 1.74 awaitable.hpp needs std::exchange

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>

namespace sluice::tunnel {

class waker {
 public:
  using clock = std::chrono::steady_clock;
  explicit waker(const boost::asio::any_io_executor& ex) : timer_(ex) {}

  void notify() {
    fired_ = true;
    timer_.cancel();
  }

  // Returns at once if notified since the last wait; otherwise at notify() or `until`.
  boost::asio::awaitable<void> wait_until(clock::time_point until) {
    if (!fired_) {
      timer_.expires_at(until);
      boost::system::error_code ec;
      co_await timer_.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
    }
    fired_ = false;
  }

 private:
  boost::asio::steady_timer timer_;
  bool fired_ = false;
};

}  // namespace sluice::tunnel
