#include "gateway/secret_store.hpp"

#include <chrono>
#include <map>
#include <mutex>

#include "config/read_file.hpp"
#include "gateway/auth/auth_file.hpp"

namespace sluice::gateway {

namespace {

// Where a cached answer came from: a reload that changes the route's auth settings or the
// database it points at makes older answers misses, not stale hits for cache_ttl.
std::string origin_of(const config::route& r) {
  std::string o = r.upstream.host + ":" + std::to_string(r.upstream.port) + "|" + r.upstream.via +
                  "|" + r.auth.file + "|" + std::to_string(r.auth.cache_ttl.count());
  if (r.auth.query)
    o += "|" + r.auth.query->user + "|" + r.auth.query->password_file + "|" + r.auth.query->sql;
  return o;
}

struct cached {
  std::optional<user_secret> secret;
  bool from_file = false;
  std::chrono::steady_clock::time_point at;
  std::string origin;  // origin_of() the route had then
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
  const auto origin = origin_of(*route.cfg);
  {
    std::lock_guard lock(cache_mutex);
    auto it = cache.find(key);
    if (it != cache.end() && now - it->second.at < a.cache_ttl && it->second.origin == origin) {
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
  cache[key] = cached{out.secret, out.from_file, now, origin};
  co_return out;
}

void forget_secret(const std::string& route, const std::string& user) {
  std::lock_guard lock(cache_mutex);
  cache.erase({route, user});
}

}  // namespace sluice::gateway
