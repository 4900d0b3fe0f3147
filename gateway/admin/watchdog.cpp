#include <utility>

#include "gateway/admin/watchdog.hpp"

#include <systemd/sd-daemon.h>

#include <boost/asio/post.hpp>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "config/log.hpp"

namespace sluice::admin {

namespace {

// Answers from one round of pings; shared with the posted handlers, which may run
// (or be destroyed unrun) after the round gave up on them.
struct round {
  std::mutex mu;
  std::condition_variable cv;
  size_t answered = 0;
};

}  // namespace

struct watchdog::impl {
  const std::vector<std::unique_ptr<gateway::worker>>& workers;
  std::chrono::microseconds interval{0};
  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;
  std::thread thread;

  explicit impl(const std::vector<std::unique_ptr<gateway::worker>>& w) : workers(w) {}

  void loop() {
    const auto period = interval / 2;
    for (;;) {
      auto started = std::chrono::steady_clock::now();
      auto r = std::make_shared<round>();
      for (const auto& w : workers) {
        boost::asio::post(w->ioc, [r] {
          std::lock_guard lk(r->mu);
          ++r->answered;
          r->cv.notify_all();
        });
      }
      bool all = false;
      {
        std::unique_lock lk(r->mu);
        all = r->cv.wait_for(lk, period, [&] { return r->answered == workers.size(); });
      }
      if (all)
        sd_notify(0, "WATCHDOG=1");
      else
        log::warn("watchdog_missed")
            .kv("answered", static_cast<uint64_t>(r->answered))
            .kv("workers", static_cast<uint64_t>(workers.size()));
      std::unique_lock lk(mu);
      if (cv.wait_until(lk, started + period, [&] { return stopping; }))
        return;
    }
  }
};

watchdog::watchdog(const std::vector<std::unique_ptr<gateway::worker>>& workers)
    : impl_(std::make_unique<impl>(workers)) {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0)
    return;
  impl_->interval = std::chrono::microseconds(usec);
  log::info("watchdog_enabled").kv("interval_ms", usec / 1000);
  impl_->thread = std::thread([this] { impl_->loop(); });
}

watchdog::~watchdog() {
  if (!impl_->thread.joinable())
    return;
  {
    std::lock_guard lk(impl_->mu);
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  impl_->thread.join();
}

}  // namespace sluice::admin
