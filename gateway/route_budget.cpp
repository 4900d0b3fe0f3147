#include "gateway/route_budget.hpp"

namespace sluice::gateway {

std::unique_ptr<route_budget::slot> route_budget::acquire(const std::string& route,
                                                          const std::string& user,
                                                          uint32_t max_connections,
                                                          uint32_t max_per_user, verdict& why) {
  std::lock_guard lk(mu_);
  auto& on_route = routes_[route];
  if (max_connections != 0 && on_route >= max_connections) {
    why = verdict::route_full;
    return nullptr;
  }
  if (!user.empty()) {
    auto& mine = users_[{route, user}];
    if (max_per_user != 0 && mine >= max_per_user) {
      why = verdict::user_full;
      if (mine == 0)
        users_.erase({route, user});
      return nullptr;
    }
    ++mine;
  }
  ++on_route;
  why = verdict::admitted;
  return std::make_unique<slot>(*this, route, user);
}

void route_budget::release(const std::string& route, const std::string& user) {
  std::lock_guard lk(mu_);
  if (auto it = routes_.find(route); it != routes_.end() && --it->second == 0)
    routes_.erase(it);
  if (user.empty())
    return;
  if (auto it = users_.find(std::make_pair(route, user)); it != users_.end() && --it->second == 0)
    users_.erase(it);
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
