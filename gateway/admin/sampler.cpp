#include "gateway/admin/sampler.hpp"

#include "config/log.hpp"

namespace sluice::admin {

sampler::sampler(std::chrono::milliseconds interval, std::function<sample()> take)
    : interval_(interval),
      take_(std::move(take)),
      history_(interval, kWindow),
      thread_([this] { loop(); }) {}

sampler::~sampler() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

nlohmann::json sampler::to_json() const {
  std::lock_guard lk(mu_);
  return history_.to_json();
}

void sampler::loop() {
  auto next = std::chrono::steady_clock::now();
  for (;;) {
    sample s;
    try {
      s = take_();
    } catch (const std::exception& e) {
      // A failed sample leaves a gap rather than ending the charts.
      log::warn("status_sample_failed").kv("error", e.what());
    }
    std::unique_lock lk(mu_);
    if (s.at > 0)
      history_.push(std::move(s));
    next += interval_;
    if (cv_.wait_until(lk, next, [this] { return stop_; }))
      return;
  }
}

}  // namespace sluice::admin
