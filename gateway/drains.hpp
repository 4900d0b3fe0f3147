// Routes and listeners an operator drained over the admin API (`sluice ctl drain`): new
// connections to them are refused (SQLSTATE 57P03), open sessions continue. Kept by name
// for the life of the process, across reloads, until resumed. Thread-safe; read once per
// new session.
#pragma once

#include <mutex>
#include <set>
#include <string>

namespace sluice::gateway {

class drains {
 public:
  enum class kind { route, listener };
  void set(kind k, const std::string& name, bool drained) {
    std::lock_guard lk(mu_);
    auto& s = k == kind::route ? routes_ : listeners_;
    if (drained)
      s.insert(name);
    else
      s.erase(name);
  }
  bool drained(kind k, const std::string& name) const {
    std::lock_guard lk(mu_);
    const auto& s = k == kind::route ? routes_ : listeners_;
    return s.count(name) != 0;
  }

 private:
  mutable std::mutex mu_;
  std::set<std::string, std::less<>> routes_, listeners_;
};

}  // namespace sluice::gateway
