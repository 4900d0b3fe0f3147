#include "sync/checks.hpp"

#include "sync/rename.hpp"

namespace sluice::sync {

namespace {

check make(std::string name, bool ok, std::string detail, std::string fix = "") {
  return {std::move(name), ok ? check_status::pass : check_status::fail, std::move(detail),
          ok ? "" : std::move(fix)};
}

// A read-role line: readers are a convenience, so a problem there is a warning that
// never fails verify or setup (and never blocks batches), with its fix.
check read_role_line(std::string name, bool ok, std::string detail, std::string fix) {
  if (ok)
    return {std::move(name), check_status::pass, "", ""};
  return {std::move(name), check_status::warn, std::move(detail), std::move(fix)};
}

// The privileges the writer uses on each of its own tables: the cursor row is locked
// and updated, events and tombstones inserted, rows merged and deleted, and a schema
// move copies them all.
void check_own_tables(pg_conn& c, const config::sync& s, bool super, std::vector<check>& out) {
  const std::string user = quote_ident(s.destination.user), sq = quote_ident(s.schema);
  auto t = c.exec(
      "select c.relname, c.relkind, pg_get_userbyid(c.relowner), "
      "pg_get_userbyid(c.relowner) = current_user, "
      "has_table_privilege(c.oid, 'SELECT'), has_table_privilege(c.oid, 'INSERT'), "
      "has_table_privilege(c.oid, 'UPDATE'), has_table_privilege(c.oid, 'DELETE'), "
      "coalesce(obj_description(c.oid, 'pg_class'), '') like 'sluice collection: %' "
      "from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = $1 and "
      "(c.relname in ('_sync_state', '_sync_event', '_sync_deleted', '_sync_read_grants', "
      "'_sync_rejected') or "
      "(c.relkind = 'r' and coalesce(obj_description(c.oid, 'pg_class'), '') like "
      "'sluice collection: %')) order by c.relname",
      {s.schema});
  for (int i = 0; i < t.rows(); ++i) {
    const std::string name = t.get(i, 0), qt = sq + "." + quote_ident(name);
    const std::string line = "privileges on " + s.schema + "." + name;
    if (t.get(i, 3) == "t" || super) {
      continue;  // owned: nothing to report for each of the writer's tables
    }
    if (t.get(i, 1) != "r") {
      out.push_back(make(line, false,
                         "a view or other object owned by " + t.get(i, 2) +
                             " has the name of a table the writer keeps",
                         "-- rename or move " + qt + ": the writer never touches it"));
      continue;
    }
    std::string missing;
    const char* privs[] = {"select", "insert", "update", "delete"};
    for (int k = 0; k < 4; ++k) {
      if (t.get(i, 4 + k) != "t")
        missing += std::string(missing.empty() ? "" : ", ") + privs[k];
    }
    const bool collection = t.get(i, 8) == "t";
    if (!missing.empty()) {
      out.push_back(make(line, false, "owned by " + t.get(i, 2) + ", not " + s.destination.user,
                         "grant " + missing + " on " + qt + " to " + user + ";"));
    } else if (collection) {
      // Writes work; a new field or a wider type needs ALTER TABLE, which only the
      // owner may run.
      out.push_back({line, check_status::warn,
                     "owned by " + t.get(i, 2) +
                         ": rows are written, but a new field or a wider type will stop the "
                         "sync until " +
                         s.destination.user + " owns it again",
                     "alter table " + qt + " owner to " + user + ";"});
    } else {
      out.push_back(
          {line, check_status::pass, "owned by " + t.get(i, 2) + "; privileges granted", ""});
    }
  }
  // _sync_event's and _sync_rejected's ids come from their sequences.
  for (const char* table : {"_sync_event", "_sync_rejected"}) {
    auto seq = c.exec(
        "select quote_ident(n.nspname) || '.' || quote_ident(q.relname), "
        "has_sequence_privilege(q.oid, 'USAGE') from pg_class q join pg_namespace n on n.oid = "
        "q.relnamespace where q.oid = (case when to_regclass($1) is not null then "
        "pg_get_serial_sequence($1, 'id') end)::regclass",
        {sq + "." + table});
    if (seq.rows() && seq.get(0, 1) != "t" && !super) {
      out.push_back(make("USAGE on sequence " + seq.get(0, 0), false,
                         std::string(table) + "'s ids come from it",
                         "grant usage on sequence " + seq.get(0, 0) + " to " + user + ";"));
    }
  }
}

}  // namespace

check connection_check(const pg_error& e, const config::sync& s) {
  const auto& d = s.destination;
  const std::string user = quote_ident(d.user);
  check c{"connect to database " + d.database + " as " + d.user, check_status::fail, e.what(), ""};
  const std::string msg = e.what();
  const std::string password =
      d.password_file.empty() ? "'...'" : "'<the password in " + d.password_file + ">'";
  if (e.sqlstate() == "42501") {
    c.fix_sql = "grant connect on database " + quote_ident(d.database) + " to " + user + ";";
  } else if (e.sqlstate() == "28P01") {
    // With password authentication the server does not say whether the user exists:
    // the fix creates it, and the detail says what to run when it does exist.
    c.fix_sql = "create user " + user + " with encrypted password " + password + ";";
    c.detail += "; if " + d.user +
                " already exists, its password differs from password_file: " + "alter user " +
                user + " with encrypted password " + password + ";";
  } else if (e.sqlstate() == "3D000" && msg.find("role") != std::string::npos) {
    c.fix_sql = "create user " + user + " with encrypted password " + password + ";";
  } else if (e.sqlstate() == "3D000" && msg.find("database") != std::string::npos) {
    c.fix_sql = "create database " + quote_ident(d.database) + ";";
  } else {
    // No SQL fixes a network, TLS or pg_hba problem: the doctor walks each stage.
    c.detail += "; `sluice doctor sync " + s.name + " -c CONFIG` walks each stage";
  }
  return c;
}

bool is_connection_failure(const check& c) {
  return c.status == check_status::fail && c.fix_sql.empty() &&
         c.detail.find("`sluice doctor sync ") != std::string::npos;
}

std::string permission_fix(const pg_error& e, const config::sync& s) {
  const auto& d = s.destination;
  const std::string user = quote_ident(d.user);
  const std::string msg = e.what(), sql = e.sql();
  // "permission denied for table x" / "... for sequence x" / "must be owner of table x":
  // the object named in the message, qualified with the sync's schema.
  auto named = [&](const std::string& after) -> std::string {
    auto at = msg.find(after);
    if (at == std::string::npos)
      return "";
    std::string name = msg.substr(at + after.size());
    auto end = name.find_first_of(" \n\r");
    return name.substr(0, end);
  };
  const std::string sq = quote_ident(s.schema);
  if (auto t = named("permission denied for table "); !t.empty()) {
    return "grant select, insert, update, delete on " + sq + "." + quote_ident(t) + " to " + user +
           ";";
  }
  if (auto q = named("permission denied for sequence "); !q.empty())
    return "grant usage on sequence " + sq + "." + quote_ident(q) + " to " + user + ";";
  if (auto t = named("must be owner of table "); !t.empty()) {
    return "alter table " + sq + "." + quote_ident(t) + " owner to " + user +
           ";  -- adding or widening columns needs ownership";
  }
  if (msg.find("permission denied to create temporary tables") != std::string::npos ||
      (msg.find("permission denied for database") != std::string::npos &&
       sql.find("temp") != std::string::npos)) {
    return "grant temporary on database " + quote_ident(d.database) + " to " + user + ";";
  }
  if (msg.find("permission denied for schema") != std::string::npos) {
    return "grant usage, create on schema " + sq + " to " + user + ";";
  }
  if (msg.find("permission denied for database") != std::string::npos) {
    return "grant connect, create on database " + quote_ident(d.database) + " to " + user + ";";
  }
  if (msg.find("role") != std::string::npos && !s.read_role.name.empty()) {
    return "grant " + quote_ident(s.read_role.name) + " to " + user + " with admin option;";
  }
  return "-- run `sluice sync verify " + s.name + " -c CONFIG`: it checks every privilege " +
         "the writer needs and prints the grant for each";
}

std::vector<check> verify(pg_conn& c, const config::sync& s) {
  std::vector<check> out;
  const auto& d = s.destination;
  const std::string user = quote_ident(d.user), db = quote_ident(d.database);
  out.push_back(make("connect to database " + d.database + " as " + d.user, true, ""));

  auto v = c.exec(
      "select current_setting('server_version_num')::int, "
      "current_setting('server_version'), current_user, "
      "(select rolsuper from pg_roles where rolname = current_user)");
  int num = static_cast<int>(v.get_int(0, 0));
  bool super = v.get(0, 3) == "t";
  out.push_back(make("server version >= 10", num >= 100000,
                     "server is PostgreSQL " + v.get(0, 1) +
                         (num >= 100000 ? "" : "; the sync writer needs PostgreSQL 10 or later"),
                     "-- upgrade the server to PostgreSQL 10 or later"));

  auto p = c.exec(
      "select has_database_privilege(current_database(), 'CONNECT'), "
      "has_database_privilege(current_database(), 'CREATE'), "
      "has_database_privilege(current_database(), 'TEMPORARY')");
  out.push_back(make("CONNECT on database " + d.database, p.get(0, 0) == "t", "",
                     "grant connect on database " + db + " to " + user + ";"));
  auto sch = c.exec(
      "select pg_get_userbyid(nspowner) = current_user, pg_get_userbyid(nspowner), "
      "has_schema_privilege(oid, 'USAGE'), has_schema_privilege(oid, 'CREATE') "
      "from pg_namespace where nspname = $1",
      {s.schema});
  bool schema_exists = sch.rows() == 1;
  bool schema_owned = schema_exists && sch.get(0, 0) == "t";
  out.push_back(make("CREATE on database " + d.database, p.get(0, 1) == "t" || schema_owned,
                     schema_exists ? "" : "needed to create schema " + s.schema,
                     "grant create on database " + db + " to " + user + ";"));

  // Every batch that merges stages its records in a temporary table; hardened databases
  // (CIS) revoke TEMPORARY from PUBLIC.
  out.push_back(make("TEMPORARY on database " + d.database, p.get(0, 2) == "t" || super,
                     "each batch stages its records in a temporary table",
                     "grant temporary on database " + db + " to " + user + ";"));

  if (!schema_exists) {
    out.push_back(make("schema " + s.schema, true, "does not exist yet; setup creates it"));
  } else if (schema_owned) {
    out.push_back(make("schema " + s.schema, true, "exists, owned by " + d.user));
  } else {
    const std::string sq = quote_ident(s.schema);
    out.push_back(check{"schema " + s.schema + " already exists", check_status::warn,
                        "owned by " + sch.get(0, 1) +
                            ": syncing into an existing schema risks data loss; a new schema "
                            "is recommended",
                        ""});
    out.push_back(make("USAGE on schema " + s.schema, sch.get(0, 2) == "t" || super, "",
                       "grant usage on schema " + sq + " to " + user + ";"));
    out.push_back(make("CREATE on schema " + s.schema, sch.get(0, 3) == "t" || super, "",
                       "grant create on schema " + sq + " to " + user + ";"));
  }

  // Without USAGE on the schema its tables cannot even be named (the line above fails).
  if (schema_exists && (schema_owned || super || sch.get(0, 2) == "t")) {
    if (auto why = moved_away_from(c, s, s.schema)) {
      out.push_back(make("schema " + s.schema + " is not a copy this sync moved away from", false,
                         *why, "-- choose a new schema name, or run the drop statements above"));
    }
    check_own_tables(c, s, super, out);
  }

  if (!s.read_role.name.empty()) {
    const auto& role = s.read_role.name;
    const std::string rq = quote_ident(role);
    auto r = c.exec("select 1 from pg_roles where rolname = $1", {role});
    if (r.rows() == 0) {
      out.push_back(make("read role " + role + " exists", false, "",
                         "create role " + rq + " with admin " + user + ";"));
    } else {
      auto a = c.exec(
          "select exists (select 1 from pg_auth_members m join pg_roles r on r.oid = m.roleid "
          "where r.rolname = $1 and m.member = (select oid from pg_roles where rolname = "
          "current_user) and m.admin_option)",
          {role});
      out.push_back(make("read role " + role + " exists", true, ""));
      out.push_back(make(d.user + " holds " + role + " WITH ADMIN OPTION",
                         a.get(0, 0) == "t" || super, "",
                         "grant " + rq + " to " + user + " with admin option;"));
      // In a schema the sync user does not own, setup cannot grant USAGE on it: readers
      // would get "permission denied for schema" without this line.
      if (schema_exists && !schema_owned) {
        auto u = c.exec("select has_schema_privilege($1, $2, 'USAGE')", {role, s.schema});
        out.push_back(read_role_line(
            "read role " + role + " has USAGE on schema " + s.schema, u.get(0, 0) == "t",
            "the schema belongs to " + sch.get(0, 1) + ": only its owner can grant this",
            "grant usage on schema " + quote_ident(s.schema) + " to " + rq + ";"));
      }
    }
  }
  for (const auto& g : s.read_role.grant_to) {
    auto gr = c.exec("select 1 from pg_roles where rolname = $1", {g});
    out.push_back(
        read_role_line("read_role.grant_to user " + g + " exists", gr.rows() == 1,
                       "not granted the read role until it exists; batches flow anyway",
                       "create user " + quote_ident(g) + " with encrypted password '...';"));
  }
  return out;
}

bool all_pass(const std::vector<check>& checks) {
  for (const auto& c : checks) {
    if (c.status == check_status::fail)
      return false;
  }
  return true;
}

std::string render(const std::vector<check>& checks) {
  std::string out;
  for (const auto& c : checks) {
    out += c.status == check_status::pass   ? "[ok]   "
           : c.status == check_status::warn ? "[warn] "
                                            : "[FAIL] ";
    out += c.name;
    if (!c.detail.empty())
      out += " (" + c.detail + ")";
    out += "\n";
    if (!c.fix_sql.empty())
      out += "       fix: " + c.fix_sql + "\n";
  }
  return out;
}

nlohmann::json to_json(const std::vector<check>& checks) {
  auto arr = nlohmann::json::array();
  for (const auto& c : checks) {
    arr.push_back({{"check", c.name},
                   {"status", c.status == check_status::pass   ? "pass"
                              : c.status == check_status::warn ? "warn"
                                                               : "fail"},
                   {"detail", c.detail},
                   {"fix", c.fix_sql}});
  }
  return arr;
}

}  // namespace sluice::sync
