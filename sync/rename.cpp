#include "sync/rename.hpp"

#include "sync/schema_manager.hpp"
#include "sync/stager.hpp"

namespace sluice::sync {

namespace {

// The statements that drop what the writer left in `schema` (collection tables, stage
// tables and its own bookkeeping), then the schema itself.
std::string drop_statements(pg_conn& c, const std::string& schema) {
  const std::string fq = quote_ident(schema);
  std::string sql;
  auto mine = c.exec(
      "select quote_ident(c.relname) from pg_class c join pg_namespace n on n.oid = "
      "c.relnamespace where n.nspname = $1 and c.relkind = 'r' and "
      "(obj_description(c.oid, 'pg_class') like 'sluice collection: %' or "
      "(obj_description(c.oid, 'pg_class') = $2 and pg_get_userbyid(c.relowner) = "
      "current_user)) order by c.relname",
      {schema, kStageComment});
  for (int i = 0; i < mine.rows(); ++i)
    sql += "drop table " + fq + "." + mine.get(i, 0) + "; ";
  for (const char* t :
       {"_sync_event", "_sync_deleted", "_sync_read_grants", "_sync_rejected", "_sync_state"}) {
    if (c.exec("select to_regclass($1) is not null", {fq + "." + t}).get(0, 0) == "t")
      sql += "drop table " + fq + "." + t + "; ";
  }
  return sql + "drop schema " + fq + ";  -- fails while other objects remain: check them first";
}

}  // namespace

std::optional<std::string> moved_away_from(pg_conn& c, const config::sync& s,
                                           const std::string& schema) {
  if (c.exec("select to_regclass($1) is not null", {quote_ident(schema) + "._sync_state"})
          .get(0, 0) != "t")
    return std::nullopt;
  auto r = c.exec("select moved_to, sequence from " + quote_ident(schema) +
                      "._sync_state where sync = $1 and moved_to is not null",
                  {s.name});
  if (!r.rows())
    return std::nullopt;
  return "schema " + schema + " is a stale copy: sync " + s.name + " moved from it to " +
         r.get(0, 0) + " (its cursor there stopped at " + r.get(0, 1) +
         "); writing to it again would move the cursor backwards and lose what was written "
         "since. Either choose a new schema name, or drop the stale copy and reload (the "
         "writer then moves the live schema into " +
         schema + "): " + drop_statements(c, schema);
}

std::optional<std::string> previous_schema(pg_conn& c, const config::sync& s,
                                           const std::string& schema) {
  if (auto why = moved_away_from(c, s, schema))
    throw schema_conflict(*why);
  auto cands = c.exec(
      "select n.nspname from pg_class c join pg_namespace n on n.oid = c.relnamespace where "
      "c.relname = '_sync_state' and c.relkind = 'r' and pg_get_userbyid(c.relowner) = "
      "current_user and n.nspname <> $1 order by n.nspname",
      {schema});
  // Only when the new schema has no cursor yet: otherwise it is already the live one.
  auto here = c.exec(
      "select 1 from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname "
      "= $1 and c.relname = '_sync_state'",
      {schema});
  if (here.rows() &&
      c.exec("select 1 from " + quote_ident(schema) + "._sync_state where sync = $1", {s.name})
          .rows()) {
    return std::nullopt;
  }
  for (int i = 0; i < cands.rows(); ++i) {
    std::string old = cands.get(i, 0);
    auto r = c.exec(
        "select 1 from " + quote_ident(old) + "._sync_state where sync = $1 and moved_to is null",
        {s.name});
    if (r.rows())
      return old;
  }
  return std::nullopt;
}

std::string move_schema(pg_conn& c, const config::sync& s, const std::string& from,
                        const std::string& to) {
  const std::string fq = quote_ident(from), tq = quote_ident(to);
  std::string drop_sql;
  c.exec("begin");
  try {
    // Lock the old cursor so nothing writes the old schema while we copy.
    c.exec("select 1 from " + fq + "._sync_state where sync = $1 for update", {s.name});
    auto tables = c.exec(
        "select c.relname, obj_description(c.oid, 'pg_class') from pg_class c join "
        "pg_namespace n on n.oid = c.relnamespace where n.nspname = $1 and c.relkind = 'r' "
        "and obj_description(c.oid, 'pg_class') like 'sluice collection: %' order by "
        "c.relname",
        {from});
    for (int i = 0; i < tables.rows(); ++i) {
      std::string t = quote_ident(tables.get(i, 0));
      c.exec("create table " + tq + "." + t + " (like " + fq + "." + t + " including all)");
      c.exec("comment on table " + tq + "." + t + " is " + quote_literal(tables.get(i, 1)));
      c.exec("insert into " + tq + "." + t + " select * from " + fq + "." + t);
      if (auto g = grant_select_sql(s, tq + "." + t); !g.empty())
        c.exec(g);
    }
    c.exec("insert into " + tq + "._sync_deleted select * from " + fq +
           "._sync_deleted on conflict do nothing");
    c.exec("insert into " + tq + "._sync_event select * from " + fq + "._sync_event");
    // Which readers sluice granted the role to (an older schema may not have the table).
    if (c.exec("select to_regclass($1) is not null", {fq + "._sync_read_grants"}).get(0, 0) ==
        "t") {
      c.exec("insert into " + tq + "._sync_read_grants select * from " + fq +
             "._sync_read_grants on conflict do nothing");
    }
    c.exec("select setval(pg_get_serial_sequence($1, 'id'), greatest((select max(id) from " + tq +
               "._sync_event), 1))",
           {tq + "._sync_event"});
    // Quarantined records move too (an older schema may not have the table).
    if (c.exec("select to_regclass($1) is not null", {fq + "._sync_rejected"}).get(0, 0) == "t") {
      c.exec("insert into " + tq + "._sync_rejected select * from " + fq + "._sync_rejected");
      c.exec("select setval(pg_get_serial_sequence($1, 'id'), greatest((select max(id) from " + tq +
                 "._sync_rejected), 1))",
             {tq + "._sync_rejected"});
    }
    c.exec("insert into " + tq +
               "._sync_state (sync, sequence, updated_at) select sync, "
               "sequence, now() from " +
               fq +
               "._sync_state where sync = $1 on conflict (sync) do "
               "update set sequence = excluded.sequence",
           {s.name});
    c.exec("update " + fq + "._sync_state set moved_to = $2 where sync = $1", {s.name, to});
    c.exec("commit");
  } catch (...) {
    try {
      c.exec("rollback");
    } catch (...) {
    }
    throw;
  }
  // Everything the writer left in the old schema, its stage tables included.
  drop_sql = drop_statements(c, from);
  return drop_sql;
}

}  // namespace sluice::sync
