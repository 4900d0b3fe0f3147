#include "sync/apply.hpp"

#include <algorithm>
#include <charconv>

#include "config/log.hpp"
#include "sync/stage_rows.hpp"

namespace sluice::sync {

namespace {

std::string join(const std::vector<std::string>& v, const std::string& prefix,
                 const std::string& sep = ", ") {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (i)
      out += sep;
    out += prefix + v[i];
  }
  return out;
}

struct counts {
  uint64_t rows = 0, events = 0;
};

counts two_counts(const pg_result& r) {
  return {static_cast<uint64_t>(r.get_int(0, 0)), static_cast<uint64_t>(r.get_int(0, 1))};
}

// Runs the batch's statement, overlapped with `meanwhile` when the caller has work for
// the time the server spends on it (once per batch: it is cleared here).
pg_result run(pg_conn& c, const std::string& sql, std::function<void()>& meanwhile) {
  if (!meanwhile)
    return c.exec(sql);
  auto m = std::move(meanwhile);
  meanwhile = nullptr;
  return c.exec_overlapped(sql, m);
}

// Upserts from the stage: insert new ids, update stored rows whose version is not
// newer when the data differs (or the version moved forward), one event per change.
counts merge_upserts(pg_conn& c, const config::sync& s, const std::string& sq, const table_info& t,
                     const std::string& coll, const std::string& stage,
                     std::function<void()>& meanwhile) {
  const std::string qt = sq + "." + quote_ident(t.ident);
  std::vector<std::string> cols;
  for (const auto& ident : t.order)
    cols.push_back(quote_ident(ident));
  const bool soft = s.deletes == config::delete_mode::soft;
  std::string lit = quote_literal(coll);
  std::string sql = "with s as (select * from " + stage + " as _stage where not _del";
  if (t.tombstones) {
    sql += " and not exists (select 1 from " + sq +
           "._sync_deleted d where d.object_type = " + lit +
           " and d.record_id = _stage.id and d.version >= _stage._sync_version)";
  }
  sql += ")";
  if (s.events)
    sql += ", old as (select t.* from " + qt + " t join s on s.id = t.id)";
  std::string set = "_sync_version = excluded._sync_version, _sync_updated_at = now()";
  for (const auto& col : cols)
    set += ", " + col + " = excluded." + col;
  if (soft)
    set += ", _sync_deleted_at = null";
  std::vector<std::string> mine, theirs;
  for (const auto& col : cols) {
    mine.push_back("t." + col);
    theirs.push_back("excluded." + col);
  }
  if (soft) {
    mine.push_back("t._sync_deleted_at");
    theirs.push_back("null::timestamptz");
  }
  std::string distinct =
      mine.empty() ? "false"
                   : "row(" + join(mine, "") + ") is distinct from row(" + join(theirs, "") + ")";
  sql += ", up as (insert into " + qt + " as t (id, _sync_version" +
         (cols.empty() ? "" : ", " + join(cols, "")) + ") select id, _sync_version" +
         (cols.empty() ? "" : ", " + join(cols, "")) + " from s on conflict (id) do update set " +
         set + " where t._sync_version <= excluded._sync_version and (" + distinct +
         " or t._sync_version < excluded._sync_version) returning " + (s.events ? "t.*)" : "1)");
  if (s.events) {
    // An update that only moved the version forward is not a change: no event.
    sql +=
        ", ch as (select up.id, to_jsonb(up) as rec, case when old.id is null then null "
        "else (select coalesce(jsonb_object_agg(e.key, e.value), '{}'::jsonb) from "
        "jsonb_each(to_jsonb(old)) e where e.key not in ('_sync_version', "
        "'_sync_updated_at') and e.value is distinct from to_jsonb(up) -> e.key) end as "
        "changes from up left join old on old.id = up.id), ev as (insert into " +
        sq +
        "._sync_event (event_type, object_type, record_id, payload) select case when "
        "changes is null then 'insert' else 'update' end, " +
        lit +
        ", id, case when changes is null then jsonb_build_object('record', rec) else "
        "jsonb_build_object('record', rec, 'changes', changes) end from ch where changes "
        "is null or changes <> '{}'::jsonb returning 1)"
        " select (select count(*) from up), (select count(*) from ev)";
  } else {
    sql += " select (select count(*) from up), 0";
  }
  return two_counts(run(c, sql, meanwhile));
}

counts apply_deletes(pg_conn& c, const config::sync& s, const std::string& sq, const table_info& t,
                     const std::string& coll, const std::string& stage,
                     std::function<void()>& meanwhile) {
  const std::string qt = sq + "." + quote_ident(t.ident);
  std::string lit = quote_literal(coll);
  std::string sql =
      "with s as (select id, _sync_version from " + stage + " where _del), tomb as (insert into " +
      sq + "._sync_deleted as d (object_type, record_id, version) select " + lit +
      ", id, _sync_version from s on conflict (object_type, record_id) do update set version "
      "= greatest(d.version, excluded.version)), ";
  if (s.deletes == config::delete_mode::soft) {
    sql += "gone as (update " + qt +
           " t set _sync_deleted_at = now(), _sync_updated_at = now(), _sync_version = "
           "s._sync_version from s where t.id = s.id and t._sync_version <= s._sync_version "
           "and t._sync_deleted_at is null returning " +
           (s.events ? "t.*)" : "1)");
  } else {
    sql += "gone as (delete from " + qt +
           " t using s where t.id = s.id and t._sync_version <= s._sync_version returning " +
           (s.events ? "t.*)" : "1)");
  }
  if (s.events) {
    sql += ", ev as (insert into " + sq +
           "._sync_event (event_type, object_type, record_id, payload) select 'delete', " + lit +
           ", gone.id, jsonb_build_object('record', to_jsonb(gone)) from gone returning 1) "
           "select (select count(*) from gone), (select count(*) from ev)";
  } else {
    sql += " select (select count(*) from gone), 0";
  }
  return two_counts(run(c, sql, meanwhile));
}

}  // namespace

int64_t stored_sequence(pg_conn& c, const std::string& schema, const std::string& sync) {
  auto r = c.exec("select sequence from " + quote_ident(schema) + "._sync_state where sync = $1",
                  {sync});
  return r.rows() ? r.get_int(0, 0) : 0;
}

apply_result apply_batch(pg_conn& c, catalog& cat, const config::sync& s, int64_t sequence,
                         const std::vector<collection_batch>& groups, size_t total,
                         const apply_hooks& hooks) {
  apply_result res;
  const std::string sq = quote_ident(cat.schema());
  c.exec("begin");
  try {
    // The cursor row is locked for the whole transaction: the check and the write of
    // the new sequence cannot interleave with another writer.
    auto cur =
        c.exec("select sequence from " + sq + "._sync_state where sync = $1 for update", {s.name});
    res.stored_sequence = cur.rows() ? cur.get_int(0, 0) : 0;
    if (sequence <= res.stored_sequence || sequence != res.stored_sequence + 1) {
      res.outcome =
          sequence <= res.stored_sequence ? apply_result::kind::duplicate : apply_result::kind::gap;
      c.exec("rollback");
      return res;
    }
    if (!cat.loaded())
      cat.load(c);
    // Every table's DDL first, so the catalog is final for this batch before its first
    // merge runs (the stager predicts the next batch's columns from it meanwhile).
    std::vector<table_info*> tables;
    for (const auto& cb : groups) {
      auto& t = cat.ensure(c, s, cb);
      auto ts =
          c.exec("select exists (select 1 from " + sq + "._sync_deleted where object_type = $1)",
                 {cb.collection});
      t.tombstones = ts.get(0, 0) == "t";
      tables.push_back(&t);
    }
    std::function<void()> meanwhile = hooks.meanwhile;
    for (size_t g = 0; g < groups.size(); ++g) {
      const auto& cb = groups[g];
      auto& t = *tables[g];
      bool any_up = false, any_del = false;
      for (const auto* r : cb.records)
        (r->operation == op::upsert ? any_up : any_del) = true;
      // First loads: COPY straight into the table while it only ever received new ids.
      // A duplicate key rolls back to the savepoint and the batch takes the merge path.
      if (copies_straight_in(t, s, cb)) {
        std::string cols = "id, _sync_version";
        for (const auto& ident : t.order)
          cols += ", " + quote_ident(ident);
        c.exec("savepoint sluice_fast_insert");
        try {
          copy_rows(c, "copy " + sq + "." + quote_ident(t.ident) + " (" + cols + ") from stdin", t,
                    cb, false);
          c.exec("release savepoint sluice_fast_insert");
          res.applied += cb.records.size();
          continue;
        } catch (const pg_error& e) {
          if (e.sqlstate() != "23505" || !c.ok())
            throw;
          c.exec("rollback to savepoint sluice_fast_insert");
          t.fast_insert = false;
        }
      }
      // The stager may have COPYed these records already, with these very columns.
      std::string stage =
          hooks.prestaged ? hooks.prestaged(cb.collection, stage_signature(t)) : std::string();
      const bool own_stage = stage.empty();
      if (own_stage) {
        stage = "pg_temp._stage";
        c.exec("create temp table _stage (" + stage_columns(t) + ") on commit drop");
        copy_rows(c, "copy pg_temp._stage from stdin", t, cb, true);
      } else {
        ++res.prestaged;
      }
      counts total_counts;
      if (any_up) {
        auto n = merge_upserts(c, s, sq, t, cb.collection, stage, meanwhile);
        total_counts.rows += n.rows;
        total_counts.events += n.events;
      }
      if (any_del) {
        auto n = apply_deletes(c, s, sq, t, cb.collection, stage, meanwhile);
        total_counts.rows += n.rows;
        total_counts.events += n.events;
      }
      if (own_stage)
        c.exec("drop table pg_temp._stage");
      res.applied += total_counts.rows;
      res.events += total_counts.events;
    }
    res.skipped = total - res.applied;
    c.exec("insert into " + sq +
               "._sync_state (sync, sequence, updated_at) values ($1, $2, now()) on conflict "
               "(sync) do update set sequence = excluded.sequence, updated_at = now()",
           {s.name, std::to_string(sequence)});
    if (res.events > 0)
      c.exec("select pg_notify('_sync_event', $1)", {cat.schema()});
    c.exec("commit");
  } catch (...) {
    cat.invalidate();
    if (c.ok()) {
      try {
        c.exec("rollback");
      } catch (...) {
      }
    }
    throw;
  }
  return res;
}

}  // namespace sluice::sync
