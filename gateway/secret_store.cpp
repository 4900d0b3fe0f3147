#include "gateway/secret_store.hpp"

#include <chrono>
#include <map>
#include <mutex>

#include "config/read_file.hpp"
#include "gateway/auth/auth_file.hpp"

namespace sluice::gateway {

namespace {

struct cached {
  std::optional<user_secret> secret;
  bool from_file = false;
  std::chrono::steady_clock::time_point at;
};

constexpr size_t kMaxCached = 100'000;
std::mutex cache_mutex;
std::map<std::pair<std::string, std::string>, cached> cache;  // (route, user)

}  // namespace

std::optional<user_secret> secret_from_auth_file(std::string_view text, const std::string& user,
                                                 std::string* problem) {
  auto parsed = auth::parse_auth_file(text);
  if (problem && !parsed.ok())
    *problem = parsed.errors.front().describe();
  for (const auto& e : parsed.entries) {
    if (e.user == user)
      return user_secret{e.secret, true, false};
  }
  return std::nullopt;
}

net::awaitable<secret_answer> lookup_secret(const route_runtime& route, tunnel::manager* tunnels,
                                            const std::string& user, const std::string& database) {
  const auto& a = route.cfg->auth;
  const auto now = std::chrono::steady_clock::now();
  const auto key = std::make_pair(route.cfg->name, user);
  {
    std::lock_guard lock(cache_mutex);
    auto it = cache.find(key);
    if (it != cache.end() && now - it->second.at < a.cache_ttl) {
      secret_answer hit;  // named: GCC 12 and braced temporaries in co_return
      hit.secret = it->second.secret;
      hit.source = "cache";
      hit.from_file = it->second.from_file;
      co_return hit;
    }
  }
  secret_answer out;
  if (!a.file.empty()) {
    std::string why;
    auto text = config::read_file(a.file, &why);
    if (!text) {
      out.failure = lookup_failure{"auth.file: " + why, ""};
      co_return out;
    }
    out.secret = secret_from_auth_file(*text, user);
    out.source = "file";
    out.from_file = out.secret.has_value();
  }
  if (!out.secret && a.query) {
    auto r = co_await run_auth_query(route, tunnels, user, database);
    if (r.failure) {
      out.failure = std::move(r.failure);  // not cached: the next login tries again
      co_return out;
    }
    out.secret = std::move(r.secret);
    out.source = "query";
  }
  std::lock_guard lock(cache_mutex);
  if (cache.size() >= kMaxCached)  // user names probed at random must not grow it forever
    cache.clear();
  cache[key] = cached{out.secret, out.from_file, now};
  co_return out;
}

void forget_secret(const std::string& route, const std::string& user) {
  std::lock_guard lock(cache_mutex);
  cache.erase({route, user});
}

}  // namespace sluice::gateway
