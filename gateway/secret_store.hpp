// terminate mode's secrets per route: auth.file first (PgBouncer auth_file, read when
// needed so edits apply without a reload), then auth.query; results (found or not) are
// cached per route and user for auth.cache_ttl, process-wide. A failed login calls
// forget() so the next attempt looks again: a changed password works at once. An answer
// cached before a reload that changed the route's auth settings or upstream is not used.
#pragma once

#include <utility>

#include <optional>
#include <string>

#include "gateway/auth_query.hpp"
#include "gateway/runtime.hpp"

namespace sluice::gateway {

struct secret_answer {
  std::optional<user_secret> secret;      // nullopt: unknown user (or failure)
  std::optional<lookup_failure> failure;  // the lookup itself failed: not the user's fault
  std::string source;                     // "file", "query" or "cache"
  bool from_file = false;                 // the stored value came from auth.file
};

// The user's entry in an auth_file's text (pure): nullopt when absent.
std::optional<user_secret> secret_from_auth_file(std::string_view text, const std::string& user,
                                                 std::string* problem = nullptr);

net::awaitable<secret_answer> lookup_secret(const route_runtime& route, tunnel::manager* tunnels,
                                            const std::string& user, const std::string& database);
void forget_secret(const std::string& route, const std::string& user);

}  // namespace sluice::gateway
