#include "gateway/admin/history.hpp"

#include <algorithm>
#include <set>

namespace sluice::admin {

namespace {

using readings = std::map<std::string, reading> sample::*;

nlohmann::json series(const std::vector<const sample*>& all, readings which) {
  std::set<std::string> names;
  for (const auto* s : all)
    for (const auto& [name, _] : s->*which)
      names.insert(name);
  nlohmann::json out = nlohmann::json::object();
  for (const auto& name : names) {
    auto sessions = nlohmann::json::array();
    auto rates = nlohmann::json::array();
    const reading* prev = nullptr;
    double prev_at = 0;
    for (const auto* s : all) {
      auto it = (s->*which).find(name);
      const reading* cur = it == (s->*which).end() ? nullptr : &it->second;
      sessions.push_back(cur ? cur->sessions : 0);
      double rate = 0;
      if (cur && prev && s->at > prev_at) {
        // A counter that went down started again from zero.
        const uint64_t delta = cur->bytes >= prev->bytes ? cur->bytes - prev->bytes : cur->bytes;
        rate = static_cast<double>(delta) / (s->at - prev_at);
      }
      rates.push_back(rate);
      prev = cur;
      prev_at = s->at;
    }
    out[name] = {{"sessions", std::move(sessions)}, {"bytes_per_second", std::move(rates)}};
  }
  return out;
}

}  // namespace

history::history(std::chrono::milliseconds interval, std::chrono::seconds window)
    : interval_(std::max(interval, std::chrono::milliseconds(1))), window_(window) {
  const auto n =
      std::chrono::duration_cast<std::chrono::milliseconds>(window).count() / interval_.count();
  ring_.resize(static_cast<size_t>(std::max<int64_t>(2, n)));
}

void history::push(sample s) {
  ring_[next_] = std::move(s);
  next_ = (next_ + 1) % ring_.size();
  count_ = std::min(count_ + 1, ring_.size());
}

std::vector<const sample*> history::samples() const {
  std::vector<const sample*> out;
  out.reserve(count_);
  const size_t first = (next_ + ring_.size() - count_) % ring_.size();
  for (size_t i = 0; i < count_; ++i)
    out.push_back(&ring_[(first + i) % ring_.size()]);
  return out;
}

nlohmann::json history::to_json() const {
  const auto all = samples();
  auto times = nlohmann::json::array();
  for (const auto* s : all)
    times.push_back(s->at);
  return {{"interval_seconds", static_cast<double>(interval_.count()) / 1000.0},
          {"window_seconds", window_.count()},
          {"times", std::move(times)},
          {"routes", series(all, &sample::routes)},
          {"tunnels", series(all, &sample::tunnels)}};
}

}  // namespace sluice::admin
