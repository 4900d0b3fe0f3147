// The outcome of the last configuration reload (SIGHUP, POST /v1/reload, `sluice reload`),
// for the metrics and the status document. Written by the reload path, read by scrapes
// on the admin thread. Before any reload it describes the start-up load (successful).
#pragma once

#include <chrono>
#include <mutex>
#include <string>
#include <vector>

namespace sluice::admin {

class reload_history {
 public:
  struct outcome {
    bool ok = true;
    double unix_time = 0;  // when it finished, seconds since the epoch
    std::vector<std::string> problems;
  };

  reload_history() { last_.unix_time = now(); }

  void record(bool ok, std::vector<std::string> problems) {
    std::lock_guard lk(mu_);
    last_ = {ok, now(), std::move(problems)};
  }
  outcome last() const {
    std::lock_guard lk(mu_);
    return last_;
  }

 private:
  static double now() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  mutable std::mutex mu_;
  outcome last_;
};

}  // namespace sluice::admin
