// The last reload's outcome (SIGHUP or POST /v1/reload), for the status page. Written
// by the reload path, read by the admin thread.
#pragma once

#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace sluice::admin {

class reload_log {
 public:
  void record(bool ok, uint64_t generation, std::vector<std::string> problems) {
    std::lock_guard lk(mu_);
    last_ = entry{std::chrono::system_clock::now(), ok, generation, std::move(problems)};
  }
  // null before the first reload; else {"at": epoch seconds, "ok", "generation", "problems"}.
  nlohmann::json to_json() const {
    std::lock_guard lk(mu_);
    if (!last_)
      return nullptr;
    return {{"at", std::chrono::duration<double>(last_->at.time_since_epoch()).count()},
            {"ok", last_->ok},
            {"generation", last_->generation},
            {"problems", last_->problems}};
  }

 private:
  struct entry {
    std::chrono::system_clock::time_point at;
    bool ok = false;
    uint64_t generation = 0;
    std::vector<std::string> problems;
  };
  mutable std::mutex mu_;
  std::optional<entry> last_;
};

}  // namespace sluice::admin
