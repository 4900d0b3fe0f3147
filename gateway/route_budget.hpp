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
#include <string>
#include <utility>

namespace sluice::gateway {

class route_budget {
 public:
  enum class verdict { admitted, route_full, user_full };

  // Held by a session for its lifetime; gives its place back when destroyed.
  class slot {
   public:
    slot(route_budget& b, std::string route, std::string user)
        : budget_(b), route_(std::move(route)), user_(std::move(user)) {}
    ~slot() { budget_.release(route_, user_); }
    slot(const slot&) = delete;
    slot& operator=(const slot&) = delete;

   private:
    route_budget& budget_;
    std::string route_, user_;
  };

  // 0 = unlimited. `user` may be empty (a passthrough route sees no user name): then only
  // the route's limit applies.
  std::unique_ptr<slot> acquire(const std::string& route, const std::string& user,
                                uint32_t max_connections, uint32_t max_per_user, verdict& why);

  uint32_t on_route(const std::string& route) const;
  uint32_t of_user(const std::string& route, const std::string& user) const;

 private:
  void release(const std::string& route, const std::string& user);
  mutable std::mutex mu_;
  std::map<std::string, uint32_t, std::less<>> routes_;
  std::map<std::pair<std::string, std::string>, uint32_t, std::less<>> users_;
};

}  // namespace sluice::gateway
