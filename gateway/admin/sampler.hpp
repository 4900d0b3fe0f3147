// Takes a sample for the status page's charts every `interval` on its own thread and
// keeps the last 15 minutes of them (history.hpp). The first sample is taken at once.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "gateway/admin/history.hpp"

namespace sluice::admin {

class sampler {
 public:
  static constexpr std::chrono::seconds kWindow{15 * 60};

  sampler(std::chrono::milliseconds interval, std::function<sample()> take);
  ~sampler();
  sampler(const sampler&) = delete;
  sampler& operator=(const sampler&) = delete;

  nlohmann::json to_json() const;

 private:
  void loop();
  std::chrono::milliseconds interval_;
  std::function<sample()> take_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  history history_;
  std::thread thread_;  // last: started once the members above exist
};

}  // namespace sluice::admin
