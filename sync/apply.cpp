#include "sync/apply.hpp"

#include <algorithm>
#include <charconv>

#include "config/log.hpp"

namespace sluice::sync {

namespace {

// Streams the rows as COPY text to `copy_sql`: [_del,] id, _sync_version, then every
// data column in table order. Parts of ~1 MiB, so the server parses while we write.
void copy_rows(pg_conn& c, const std::string& copy_sql, const table_info& t,
               const collection_batch& cb, bool with_op) {
  static const jvalue null_value;
  // Field name -> column position, sorted by name like each record's fields, so a
  // record maps onto the columns in one merge walk.
  std::vector<std::pair<std::string_view, size_t>> by_name;
  for (size_t i = 0; i < t.order_fields.size(); ++i)
    by_name.emplace_back(t.order_fields[i], i);
  std::sort(by_name.begin(), by_name.end());
  std::vector<col_type> types;
  for (const auto& ident : t.order)
    types.push_back(t.cols.at(ident));
  std::vector<const jvalue*> values(t.order.size());
  constexpr size_t kPart = 1 << 20;
  size_t next = 0;
  c.copy_in(copy_sql, [&](std::string& out) {
    out.reserve(kPart + 64 * 1024);
    while (next < cb.records.size() && out.size() < kPart) {
      const record* r = cb.records[next++];
      if (with_op)
        out += r->operation == op::remove ? "t\t" : "f\t";
      append_copy_text(out, r->id);
      out += '\t';
      char num[24];
      auto [end, ec] = std::to_chars(num, num + sizeof num, r->version);
      out.append(num, end);
      std::fill(values.begin(), values.end(), &null_value);
      size_t j = 0;
      for (const auto& f : r->data) {
        while (j < by_name.size() && by_name[j].first < f.name)
          ++j;
        if (j == by_name.size())
          break;
        if (by_name[j].first == f.name)
          values[by_name[j].second] = &f.value;
      }
      for (size_t i = 0; i < values.size(); ++i) {
        out += '\t';
        append_copy_value(out, *values[i], types[i]);
      }
      out += '\n';
    }
    return next < cb.records.size();
  });
}

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

// Upserts from the stage: insert new ids, update stored rows whose version is not
// newer when the data differs (or the version moved forward), one event per change.
counts merge_upserts(pg_conn& c, const config::sync& s, const std::string& sq, const table_info& t,
                     const std::string& coll) {
  const std::string qt = sq + "." + quote_ident(t.ident);
  std::vector<std::string> cols;
  for (const auto& ident : t.order)
    cols.push_back(quote_ident(ident));
  const bool soft = s.deletes == config::delete_mode::soft;
  std::string lit = quote_literal(coll);
  std::string sql = "with s as (select * from pg_temp._stage where not _del";
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
  return two_counts(c.exec(sql));
}

counts apply_deletes(pg_conn& c, const config::sync& s, const std::string& sq, const table_info& t,
                     const std::string& coll) {
  const std::string qt = sq + "." + quote_ident(t.ident);
  std::string lit = quote_literal(coll);
  std::string sql =
      "with s as (select id, _sync_version from pg_temp._stage where _del), tomb as (insert "
      "into " +
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
  return two_counts(c.exec(sql));
}

}  // namespace

int64_t stored_sequence(pg_conn& c, const std::string& schema, const std::string& sync) {
  auto r = c.exec("select sequence from " + quote_ident(schema) + "._sync_state where sync = $1",
                  {sync});
  return r.rows() ? r.get_int(0, 0) : 0;
}

apply_result apply_batch(pg_conn& c, catalog& cat, const config::sync& s, int64_t sequence,
                         const std::vector<collection_batch>& groups, size_t total) {
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
    for (const auto& cb : groups) {
      auto& t = cat.ensure(c, s, cb);
      auto ts =
          c.exec("select exists (select 1 from " + sq + "._sync_deleted where object_type = $1)",
                 {cb.collection});
      t.tombstones = ts.get(0, 0) == "t";
      bool any_up = false, any_del = false;
      for (const auto* r : cb.records)
        (r->operation == op::upsert ? any_up : any_del) = true;
      // First loads: COPY straight into the table while it only ever received new ids.
      // A duplicate key rolls back to the savepoint and the batch takes the merge path.
      if (t.fast_insert && !t.tombstones && !any_del && !s.events) {
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
      std::string cols = "_del boolean, id text, _sync_version bigint";
      for (const auto& ident : t.order) {
        cols += ", " + quote_ident(ident) + " " + std::string(sql_name(t.cols.at(ident)));
      }
      c.exec("create temp table _stage (" + cols + ") on commit drop");
      copy_rows(c, "copy pg_temp._stage from stdin", t, cb, true);
      counts total_counts;
      if (any_up) {
        auto n = merge_upserts(c, s, sq, t, cb.collection);
        total_counts.rows += n.rows;
        total_counts.events += n.events;
      }
      if (any_del) {
        auto n = apply_deletes(c, s, sq, t, cb.collection);
        total_counts.rows += n.rows;
        total_counts.events += n.events;
      }
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
