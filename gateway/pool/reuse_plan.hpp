// Whether a warm backend, started with one set of startup parameters, may serve a client
// that asked for another, and the SQL that makes the difference (PgBouncer's
// track_extra_parameters idea). Parameters a session can change (application_name,
// DateStyle, TimeZone, search_path, client_encoding...) are set with set_config(), which
// takes the value as the startup packet gave it (search_path lists included). Anything
// else must be equal; so must the presence of a tracked one, because after the reset
// (DISCARD ALL, i.e. RESET ALL) a backend falls back to its own startup values, never
// to the server's defaults. Pure.
#pragma once

#include <string>
#include <string_view>

#include "gateway/pool/params.hpp"

namespace sluice::gateway::pool {

// Tracked: may differ, are sent as set_config().
bool is_tracked(std::string_view name);

struct reuse_plan {
  bool reusable = false;
  std::string sql;  // empty: nothing to change
  std::string why;  // not reusable: the first parameter that differs
};

// `origin`: the backend's startup parameters; `wanted`: the client's (user and database
// are the pool's key and are ignored here).
reuse_plan plan_reuse(const param_list& origin, const param_list& wanted);

// A SQL string literal ('' doubled); standard_conforming_strings is on (the default since
// PostgreSQL 9.1), so backslashes are taken as they are.
std::string quote_literal(std::string_view s);

}  // namespace sluice::gateway::pool
