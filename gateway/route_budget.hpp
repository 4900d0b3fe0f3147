// Per-route connection budgets: `max_connections` for all sessions on a route and
// `max_connections_per_user` for one user on it, so one tenant cannot take every backend
// of a database. Counts live for the whole process (by route name, across reloads); the
// limits are the ones of the snapshot a session was accepted under. Thread-safe: taken
// once per session at admission, never on the relay path.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

namespace sluice::gateway {

class route_budget {
 public:
  enum class verdict { admitted, route_full, user_full };

  using route_counts = std::map<std::string, uint32_t, std::less<>>;
  using user_counts = std::map<std::pair<std::string, std::string>, uint32_t, std::less<>>;

  // Held by a session for its lifetime; gives its place back when destroyed. It points at
  // its counters (a map entry stays put, and is not erased while a slot counts in it)
  // instead of copying the names: every idle session holds one.
  class slot {
   public:
    slot(route_budget& b, route_counts::iterator route, std::optional<user_counts::iterator> user)
        : budget_(b), route_(route), user_(user) {}
    ~slot() { budget_.release(route_, user_); }
    slot(const slot&) = delete;
    slot& operator=(const slot&) = delete;

   private:
    route_budget& budget_;
    route_counts::iterator route_;
    std::optional<user_counts::iterator> user_;
  };

  // 0 = unlimited. `user` may be empty (a passthrough route sees no user name): then only
  // the route's limit applies.
  std::unique_ptr<slot> acquire(const std::string& route, const std::string& user,
                                uint32_t max_connections, uint32_t max_per_user, verdict& why);

  uint32_t on_route(const std::string& route) const;
  uint32_t of_user(const std::string& route, const std::string& user) const;

 private:
  void release(route_counts::iterator route, std::optional<user_counts::iterator> user);
  mutable std::mutex mu_;
  route_counts routes_;
  user_counts users_;
};

}  // namespace sluice::gateway
