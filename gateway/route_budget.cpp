#include "gateway/route_budget.hpp"

namespace sluice::gateway {

std::unique_ptr<route_budget::slot> route_budget::acquire(const std::string& route,
                                                          const std::string& user,
                                                          uint32_t max_connections,
                                                          uint32_t max_per_user, verdict& why) {
  std::lock_guard lk(mu_);
  auto on_route = routes_.try_emplace(route, 0).first;
  auto drop_empty_route = [&] {
    if (on_route->second == 0)
      routes_.erase(on_route);
  };
  if (max_connections != 0 && on_route->second >= max_connections) {
    why = verdict::route_full;
    return nullptr;
  }
  std::optional<user_counts::iterator> mine;
  if (!user.empty()) {
    mine = users_.try_emplace({route, user}, 0).first;
    if (max_per_user != 0 && (*mine)->second >= max_per_user) {
      why = verdict::user_full;
      if ((*mine)->second == 0)
        users_.erase(*mine);
      drop_empty_route();
      return nullptr;
    }
    ++(*mine)->second;
  }
  ++on_route->second;
  why = verdict::admitted;
  return std::make_unique<slot>(*this, on_route, mine);
}

void route_budget::release(route_counts::iterator route,
                           std::optional<user_counts::iterator> user) {
  std::lock_guard lk(mu_);
  if (--route->second == 0)
    routes_.erase(route);
  if (user && --(*user)->second == 0)
    users_.erase(*user);
}

uint32_t route_budget::on_route(const std::string& route) const {
  std::lock_guard lk(mu_);
  auto it = routes_.find(route);
  return it == routes_.end() ? 0 : it->second;
}

uint32_t route_budget::of_user(const std::string& route, const std::string& user) const {
  std::lock_guard lk(mu_);
  auto it = users_.find(std::make_pair(route, user));
  return it == users_.end() ? 0 : it->second;
}

}  // namespace sluice::gateway
