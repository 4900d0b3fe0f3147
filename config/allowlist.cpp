#include "config/allowlist.hpp"

namespace sluice::config {

allowlist::allowlist(const std::vector<std::string>& names,
                     const std::map<std::string, std::vector<cidr>>& lists)
    : names_(names) {
  for (const auto& n : names) {
    auto it = lists.find(n);
    if (it == lists.end())
      continue;  // validation reports unknown names
    for (const auto& c : it->second)
      entries_.push_back({n, c});
  }
}

allow_decision allowlist::check(const ip_address& a) const {
  if (names_.empty())
    return {true, "(no allowlist)"};
  for (const auto& e : entries_) {
    if (e.block.contains(a))
      return {true, e.list + ":" + e.block.str()};
  }
  return {false, {}};
}

std::string allowlist::describe() const {
  std::string out;
  for (const auto& n : names_)
    out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace sluice::config
