// The destination checklist behind `sluice sync verify`, the start-up check and the
// HTTP verify endpoint. Each failed line carries the SQL that fixes it.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "config/settings.hpp"
#include "sync/pg_conn.hpp"

namespace sluice::sync {

enum class check_status { pass, warn, fail };

struct check {
  std::string name;
  check_status status = check_status::pass;
  std::string detail;
  std::string fix_sql;  // run as a superuser (or the database owner) to fix
};

// Runs every check on an open connection as the sync user.
std::vector<check> verify(pg_conn& c, const config::sync& s);
// A connection failure as a checklist line (with a fix when it is a missing grant).
check connection_check(const pg_error& e, const config::sync& s);
// True for a connection failure no SQL fixes (network, TLS, pg_hba): `sluice doctor sync`.
bool is_connection_failure(const check& c);
// The exact statement that most likely fixes a permission error (42501) the writer met,
// from its message and the failing SQL.
std::string permission_fix(const pg_error& e, const config::sync& s);

bool all_pass(const std::vector<check>& checks);       // warnings pass
std::string render(const std::vector<check>& checks);  // "[ok] ...", "[FAIL] ...\n  fix: SQL"
nlohmann::json to_json(const std::vector<check>& checks);

}  // namespace sluice::sync
