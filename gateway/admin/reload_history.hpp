// The outcome of the last configuration reload (SIGHUP, POST /v1/reload, `sluice reload`):
// the one record every consumer reads, so they cannot disagree. The metrics take the
// success gauge and timestamp (before any reload: the start-up load, successful), and
// /v1/status's "last_reload" (the status page's banner) the whole outcome. Written by
// the reload path, read by scrapes on the admin thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace sluice::admin {

class reload_history {
 public:
  struct outcome {
    bool ok = true;
    double unix_time = 0;     // when it finished, seconds since the epoch
    uint64_t generation = 1;  // serving afterwards (the kept one when refused)
    std::vector<std::string> problems;
    bool reloaded = false;  // false: no reload yet, this is the start-up load
  };

  // `started_at`: when the start-up load finished (tests pass a fixed time).
  explicit reload_history(uint64_t startup_generation = 1, double started_at = now()) {
    last_.unix_time = started_at;
    last_.generation = startup_generation;
  }

  void record(bool ok, uint64_t generation, std::vector<std::string> problems, double at = now()) {
    std::lock_guard lk(mu_);
    last_ = {ok, at, generation, std::move(problems), true};
  }
  outcome last() const {
    std::lock_guard lk(mu_);
    return last_;
  }
  // /v1/status "last_reload": null before the first reload, else
  // {"at": epoch seconds, "ok", "generation", "problems"}.
  nlohmann::json to_json() const {
    auto o = last();
    if (!o.reloaded)
      return nullptr;
    return {
        {"at", o.unix_time}, {"ok", o.ok}, {"generation", o.generation}, {"problems", o.problems}};
  }

  static double now() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

 private:
  mutable std::mutex mu_;
  outcome last_;
};

}  // namespace sluice::admin
