#include "sync/rename.hpp"

#include "sync/schema_manager.hpp"
#include "sync/stager.hpp"

namespace sluice::sync {

std::optional<std::string> previous_schema(pg_conn& c, const config::sync& s,
                                           const std::string& schema) {
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
        "and pg_get_userbyid(c.relowner) = current_user and obj_description(c.oid, "
        "'pg_class') like 'sluice collection: %' order by c.relname",
        {from});
    for (int i = 0; i < tables.rows(); ++i) {
      std::string t = quote_ident(tables.get(i, 0));
      c.exec("create table " + tq + "." + t + " (like " + fq + "." + t + " including all)");
      c.exec("comment on table " + tq + "." + t + " is " + quote_literal(tables.get(i, 1)));
      c.exec("insert into " + tq + "." + t + " select * from " + fq + "." + t);
      if (auto g = grant_select_sql(s, tq + "." + t); !g.empty())
        c.exec(g);
      drop_sql += "drop table " + fq + "." + t + "; ";
    }
    c.exec("insert into " + tq + "._sync_deleted select * from " + fq +
           "._sync_deleted on conflict do nothing");
    c.exec("insert into " + tq + "._sync_event select * from " + fq + "._sync_event");
    c.exec("select setval(pg_get_serial_sequence($1, 'id'), greatest((select max(id) from " + tq +
               "._sync_event), 1))",
           {tq + "._sync_event"});
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
  // The old schema's stage tables (the stager's scratch space) go with it.
  auto stages = c.exec(
      "select quote_ident(c.relname) from pg_class c join pg_namespace n on n.oid = "
      "c.relnamespace where n.nspname = $1 and c.relkind = 'r' and pg_get_userbyid(c.relowner) "
      "= current_user and obj_description(c.oid, 'pg_class') = $2 order by c.relname",
      {from, kStageComment});
  for (int i = 0; i < stages.rows(); ++i)
    drop_sql += "drop table " + fq + "." + stages.get(i, 0) + "; ";
  for (const char* t : {"_sync_event", "_sync_deleted", "_sync_state"}) {
    drop_sql += "drop table " + fq + "." + t + "; ";
  }
  drop_sql += "drop schema " + fq + ";  -- fails while other objects remain: check them first";
  return drop_sql;
}

}  // namespace sluice::sync
