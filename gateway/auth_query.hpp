// terminate mode's secret lookup on the database itself (routes[].auth.query): a small
// connection of its own over the route's own path (direct or its tunnel, its upstream
// TLS), logged in as auth.query.user with sluice's SCRAM/md5 client, running the query
// with the user name as $1. Bounded in time; failures come back with the words to fix
// them (a missing privilege names the SECURITY DEFINER recipe).
#pragma once

#include <utility>

#include <optional>
#include <string>

#include "gateway/pg_stream.hpp"
#include "gateway/runtime.hpp"
#include "gateway/session/client_login.hpp"

namespace sluice::tunnel {
class manager;
}

namespace sluice::gateway {

struct lookup_failure {
  std::string message;  // for the log and the client
  std::string hint;
};

struct lookup_result {
  std::optional<user_secret> secret;  // nullopt with no failure: no such user
  std::optional<lookup_failure> failure;
};

// One row's columns as text (nullopt = NULL), from the query's DataRow: name, secret,
// valid until, can login. Pure; `now` in seconds since the epoch.
std::optional<user_secret> secret_from_row(const std::vector<std::optional<std::string>>& row,
                                           int64_t now);
// rolvaliduntil as PostgreSQL prints it with DateStyle ISO and TimeZone UTC
// ("2024-05-01 12:00:00+00", fractions allowed, "infinity", "-infinity"): seconds since
// the epoch, nullopt when unparseable.
std::optional<int64_t> parse_valid_until(std::string_view text);
// The lookup's SQL error (e.g. 42501 on pg_authid) as an operator can act on it.
lookup_failure explain_query_error(const pg::error_fields& e, const std::string& auth_user,
                                   bool default_sql);

net::awaitable<lookup_result> run_auth_query(const route_runtime& route, tunnel::manager* tunnels,
                                             const std::string& user, const std::string& database);

}  // namespace sluice::gateway
