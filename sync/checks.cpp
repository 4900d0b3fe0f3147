#include "sync/checks.hpp"

namespace sluice::sync {

namespace {

check make(std::string name, bool ok, std::string detail, std::string fix = "") {
  return {std::move(name), ok ? check_status::pass : check_status::fail, std::move(detail),
          ok ? "" : std::move(fix)};
}

}  // namespace

check connection_check(const pg_error& e, const config::sync& s) {
  const auto& d = s.destination;
  check c{"connect to database " + d.database + " as " + d.user, check_status::fail, e.what(), ""};
  if (e.sqlstate() == "42501") {
    c.fix_sql =
        "grant connect on database " + quote_ident(d.database) + " to " + quote_ident(d.user) + ";";
  } else if (e.sqlstate() == "28P01") {
    c.fix_sql = "alter user " + quote_ident(d.user) + " with password '<the password in " +
                d.password_file + ">';";
  } else if (e.sqlstate() == "3D000" && std::string(e.what()).find("role") != std::string::npos) {
    c.fix_sql = "create user " + quote_ident(d.user) + " with encrypted password '...';";
  }
  return c;
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
      "has_database_privilege(current_database(), 'CREATE')");
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
    }
  }
  for (const auto& g : s.read_role.grant_to) {
    auto gr = c.exec("select 1 from pg_roles where rolname = $1", {g});
    out.push_back(make("read_role.grant_to user " + g + " exists", gr.rows() == 1, "",
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
