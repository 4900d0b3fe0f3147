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

// The stage's rows to upsert: no deletes, none a tombstone already supersedes.
std::string upsert_source(const std::string& sq, const table_info& t, const std::string& lit,
                          const std::string& stage) {
  std::string sql = "select * from " + stage + " as _stage where not _del";
  if (t.tombstones) {
    sql += " and not exists (select 1 from " + sq +
           "._sync_deleted d where d.object_type = " + lit +
           " and d.record_id = _stage.id and d.version >= _stage._sync_version)";
  }
  return sql;
}

// The data columns a merge replaces, quoted: the table's, then the overflow column.
std::vector<std::string> merged_columns(const table_info& t) {
  std::vector<std::string> cols;
  for (const auto& ident : t.order)
    cols.push_back(quote_ident(ident));
  if (t.has_overflow)
    cols.push_back(kOverflowColumn);  // replaced with the row like every data column
  return cols;
}

// When a stored row takes the incoming one (`in` names it): its version is not newer,
// and the version moved forward or the data differs. The version test comes first: OR
// stops there for a newer version, which spares the row comparison (detoasting and
// comparing every column) on the update path.
std::string takes_incoming(const std::vector<std::string>& cols, bool soft, const std::string& in) {
  std::vector<std::string> mine, theirs;
  for (const auto& col : cols) {
    mine.push_back("t." + col);
    theirs.push_back(in + "." + col);
  }
  if (soft) {
    mine.push_back("t._sync_deleted_at");
    theirs.push_back("null::timestamptz");
  }
  std::string distinct =
      mine.empty() ? "false"
                   : "row(" + join(mine, "") + ") is distinct from row(" + join(theirs, "") + ")";
  return "t._sync_version <= " + in + "._sync_version and (t._sync_version < " + in +
         "._sync_version or " + distinct + ")";
}

// The columns an upsert inserts, in its order: id, the version, the data. With a prefix
// ("s.") the same list names the source's values.
std::string inserted_columns(const std::vector<std::string>& cols, const std::string& prefix = "") {
  std::vector<std::string> all{"id", "_sync_version"};
  all.insert(all.end(), cols.begin(), cols.end());
  return join(all, prefix);
}

std::string update_set(const std::vector<std::string>& cols, bool soft, const std::string& in) {
  std::string set = "_sync_version = " + in + "._sync_version, _sync_updated_at = now()";
  for (const auto& col : cols)
    set += ", " + col + " = " + in + "." + col;
  if (soft)
    set += ", _sync_deleted_at = null";
  return set;
}

// Without events, on PostgreSQL 15 and later, upserts are one MERGE. With events the
// statement needs RETURNING, which MERGE has only from PostgreSQL 17.
bool upserts_by_merge(const config::sync& s, const pg_conn& c) {
  return !s.events && c.server_version() >= 150000;
}

// For batches that upsert by MERGE: the plan every join of the stage with its table should
// get is one index probe per staged row (MERGE's join, and apply_deletes' after it). The
// planner does not know the stage's size and, for a big batch, would hash or sort the
// whole table instead. JIT is off because compiling those plans costs more than the
// statements ever run. Not with events: their statements also join two CTEs, which have
// no index and need a hash join. The settings last until the batch's transaction ends,
// so they are sent once per transaction.
void plan_stage_joins(pg_conn& c, bool& planned) {
  if (planned)
    return;
  c.exec(
      "select set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', "
      "'off', true), set_config('jit', 'off', true)");
  planned = true;
}

// Upserts without events on PostgreSQL 15 and later: one MERGE. Against INSERT ... ON
// CONFLICT DO UPDATE it spares each updated row a speculative insertion and a tuple-lock
// WAL record (a quarter less WAL when every row changes).
counts merge_statement(pg_conn& c, const config::sync& s, const std::string& sq,
                       const table_info& t, const std::string& coll, const std::string& stage,
                       std::function<void()>& meanwhile) {
  const std::string qt = sq + "." + quote_ident(t.ident);
  const auto cols = merged_columns(t);
  const bool soft = s.deletes == config::delete_mode::soft;
  std::string sql =
      "merge into " + qt + " as t using (" + upsert_source(sq, t, quote_literal(coll), stage) +
      ") as s on t.id = s.id when matched and " + takes_incoming(cols, soft, "s") +
      " then update set " + update_set(cols, soft, "s") + " when not matched then insert (" +
      inserted_columns(cols) + ") values (" + inserted_columns(cols, "s.") + ")";
  return {static_cast<uint64_t>(run(c, sql, meanwhile).affected()), 0};
}

// Upserts from the stage: insert new ids, update stored rows whose version is not
// newer when the data differs (or the version moved forward), one event per change.
counts merge_upserts(pg_conn& c, const config::sync& s, const std::string& sq, const table_info& t,
                     const std::string& coll, const std::string& stage,
                     std::function<void()>& meanwhile) {
  if (upserts_by_merge(s, c))
    return merge_statement(c, s, sq, t, coll, stage, meanwhile);
  const std::string qt = sq + "." + quote_ident(t.ident);
  const auto cols = merged_columns(t);
  const bool soft = s.deletes == config::delete_mode::soft;
  std::string lit = quote_literal(coll);
  std::string sql = "with s as (" + upsert_source(sq, t, lit, stage) + ")";
  if (s.events)
    sql += ", old as (select t.* from " + qt + " t join s on s.id = t.id)";
  sql += ", up as (insert into " + qt + " as t (" + inserted_columns(cols) + ") select " +
         inserted_columns(cols) + " from s on conflict (id) do update set " +
         update_set(cols, soft, "excluded") + " where " + takes_incoming(cols, soft, "excluded") +
         " returning " + (s.events ? "t.*)" : "1)");
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

// COPY stops at the first value the database refuses and names its COPY line and
// column: the sender needs the record (its position in `cb`, index in the batch, id and
// field) instead. nullopt for any other error.
struct refused {
  size_t pos = 0;  // in cb.records
  rejection what;
  std::string message;  // "record 3 (collection c, id x, field f): <the server's>"
};

std::optional<refused> refused_record(const pg_error& e, const table_info& t,
                                      const collection_batch& cb,
                                      const std::vector<record>* batch) {
  const std::string msg = e.what();
  auto at = msg.find(", line ");
  if (e.sqlstate().rfind("22", 0) != 0 || msg.find("COPY ") == std::string::npos ||
      at == std::string::npos)
    return std::nullopt;
  size_t line = 0;
  auto p = msg.c_str() + at + 7;
  std::from_chars(p, msg.c_str() + msg.size(), line);
  if (line == 0 || line > cb.records.size())
    return std::nullopt;
  refused out;
  out.pos = line - 1;
  const record* r = cb.records[out.pos];
  std::string which = "record";
  if (batch && !batch->empty() && r >= batch->data() && r < batch->data() + batch->size()) {
    out.what.index = static_cast<size_t>(r - batch->data());
    which += " " + std::to_string(out.what.index);
  }
  which += " (collection " + cb.collection + ", id " + std::string(r->id);
  if (auto col = msg.find(", column ", at); col != std::string::npos) {
    std::string ident = msg.substr(col + 9, msg.find(':', col + 9) - col - 9);
    auto pos = std::find(t.order.begin(), t.order.end(), ident);
    out.what.field = pos == t.order.end() ? ident : t.order_fields[pos - t.order.begin()];
    which += ", field " + out.what.field;
  }
  which += ")";
  out.what.collection = cb.collection;
  out.what.id = std::string(r->id);
  out.what.sqlstate = e.sqlstate();
  // The server's message without its COPY context line: the record says where.
  out.what.reason = msg.substr(0, msg.find("\nCONTEXT:"));
  if (out.what.reason.rfind("ERROR:", 0) == 0)
    out.what.reason.erase(0, out.what.reason.find_first_not_of(' ', 6));
  out.message = which + ": " + msg;
  return out;
}

// COPYs `cb` (with `copy`) under a savepoint. A record the database refuses is, with
// quarantine on, taken out of `cb` (into `rejected`) and the COPY retried without it;
// otherwise (or past kMaxRejectedPerBatch) the batch fails naming the record. `cb` may
// end up empty.
template <class F>
void copy_quarantining(pg_conn& c, const config::sync& s, const table_info& t, collection_batch& cb,
                       const std::vector<record>* batch, std::vector<rejection>& rejected,
                       const char* savepoint, F&& copy) {
  while (true) {
    c.exec(std::string("savepoint ") + savepoint);
    try {
      copy(cb);
      c.exec(std::string("release savepoint ") + savepoint);
      return;
    } catch (const pg_error& e) {
      auto r = c.ok() ? refused_record(e, t, cb, batch) : std::nullopt;
      if (!r)
        throw;
      if (!s.quarantine || rejected.size() >= kMaxRejectedPerBatch) {
        std::string why = r->message;
        if (s.quarantine) {
          why = "more than " + std::to_string(kMaxRejectedPerBatch) +
                " records of this batch refused by the database; the last: " + why;
        }
        throw pg_error(why, e.sqlstate(), e.sql());
      }
      c.exec(std::string("rollback to savepoint ") + savepoint);
      rejected.push_back(std::move(r->what));
      cb.records.erase(cb.records.begin() + static_cast<ptrdiff_t>(r->pos));
    }
  }
}

// The refused records, as sent, in _sync_rejected (same transaction as the batch).
void store_rejected(pg_conn& c, const std::string& sq, const config::sync& s, int64_t sequence,
                    const std::vector<rejection>& rejected, const std::vector<record>* batch) {
  for (const auto& r : rejected) {
    std::string raw;
    if (batch && r.index < batch->size())
      raw = std::string((*batch)[r.index].raw);
    c.exec("insert into " + sq +
               "._sync_rejected (sync, sequence, record_index, object_type, record_id, field, "
               "sqlstate, reason, record) values ($1, $2, $3, $4, $5, nullif($6, ''), $7, $8, $9)",
           {s.name, std::to_string(sequence), std::to_string(r.index), r.collection, r.id, r.field,
            r.sqlstate, r.reason, raw});
  }
}

// A record the merge would skip (its stored row or tombstone is newer) must change
// nothing, not even a column's type. Only when the batch would alter the table: the
// upserts the merge will skip are left out of the batch (the merge would ignore them
// anyway), so the columns are planned from the records that count. Returns false when
// none is skipped (use `cb` as it is).
bool drop_skipped(pg_conn& c, const catalog& cat, const config::sync& s, const collection_batch& cb,
                  std::vector<record>& kept, collection_batch& out) {
  const auto* t = cat.find(cb.collection);
  if (!t || !cat.would_alter(s, cb))
    return false;
  std::string ids = "{", versions = "{";
  for (size_t i = 0; i < cb.records.size(); ++i) {
    if (i) {
      ids += ',';
      versions += ',';
    }
    ids += '"';
    for (char ch : cb.records[i]->id) {
      if (ch == '"' || ch == '\\')
        ids += '\\';
      ids += ch;
    }
    ids += '"';
    versions += std::to_string(cb.records[i]->version);
  }
  ids += '}';
  versions += '}';
  const std::string sq = quote_ident(cat.schema());
  auto r = c.exec(
      "select s.n - 1 from unnest($1::text[], $2::bigint[]) with ordinality as "
      "s(id, v, n) where exists (select 1 from " +
          sq + "." + quote_ident(t->ident) +
          " t where t.id = s.id and t._sync_version > s.v) or exists (select 1 from " + sq +
          "._sync_deleted d where d.object_type = $3 and d.record_id = s.id and "
          "d.version >= s.v)",
      {ids, versions, cb.collection});
  if (r.rows() == 0)
    return false;
  std::vector<bool> skip(cb.records.size(), false);
  for (int i = 0; i < r.rows(); ++i)
    skip[static_cast<size_t>(r.get_int(i, 0))] = true;
  kept.clear();
  for (size_t i = 0; i < cb.records.size(); ++i) {
    // Deletes stay: they never alter a table.
    if (!skip[i] || cb.records[i]->operation == op::remove)
      kept.push_back(*cb.records[i]);
  }
  size_t dropped = 0;
  auto groups = dedupe(kept, dropped);
  out = groups.empty() ? collection_batch{cb.collection, {}, {}} : std::move(groups.front());
  return true;
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
    // Collections whose skipped records were left out (drop_skipped), and their records.
    std::vector<std::vector<record>> kept(groups.size());
    std::vector<collection_batch> narrowed(groups.size());
    std::vector<const collection_batch*> use(groups.size());
    for (size_t g = 0; g < groups.size(); ++g) {
      use[g] = drop_skipped(c, cat, s, groups[g], kept[g], narrowed[g]) ? &narrowed[g] : &groups[g];
    }
    for (size_t g = 0; g < groups.size(); ++g) {
      const auto& cb = *use[g];
      auto& t = cat.ensure(c, s, cb);
      auto ts =
          c.exec("select exists (select 1 from " + sq + "._sync_deleted where object_type = $1)",
                 {cb.collection});
      t.tombstones = ts.get(0, 0) == "t";
      tables.push_back(&t);
    }
    std::function<void()> meanwhile = hooks.meanwhile;
    bool planned = false;  // plan_stage_joins ran in this transaction
    for (size_t g = 0; g < groups.size(); ++g) {
      collection_batch cb = *use[g];  // a copy: quarantine may take records out of it
      auto& t = *tables[g];
      res.overflow_values += count_overflow(t, cb);
      // First loads: COPY straight into the table while it only ever received new ids.
      // A duplicate key rolls back to the savepoint and the batch takes the merge path.
      if (copies_straight_in(t, s, cb)) {
        const std::string sql =
            "copy " + sq + "." + quote_ident(t.ident) + " (" + copy_columns(t) + ") from stdin";
        try {
          copy_quarantining(c, s, t, cb, hooks.records, res.rejected, "sluice_fast_insert",
                            [&](const collection_batch& b) { copy_rows(c, sql, t, b, false); });
          res.applied += cb.records.size();
          continue;
        } catch (const pg_error& e) {
          if (e.sqlstate() != "23505" || !c.ok())
            throw;
          c.exec("rollback to savepoint sluice_fast_insert");
          t.fast_insert = false;
        }
      }
      // The stager may have COPYed these records already, with these very columns (it
      // fills nothing for a batch with a value the database refuses).
      std::string stage =
          hooks.prestaged ? hooks.prestaged(cb.collection, stage_signature(t)) : std::string();
      const bool own_stage = stage.empty();
      if (own_stage) {
        stage = "pg_temp._stage";
        c.exec("create temp table _stage (" + stage_columns(t) + ") on commit drop");
        copy_quarantining(c, s, t, cb, hooks.records, res.rejected, "sluice_stage",
                          [&](const collection_batch& b) {
                            copy_rows(c, "copy pg_temp._stage from stdin", t, b, true);
                          });
      } else {
        ++res.prestaged;
      }
      bool any_up = false, any_del = false;
      for (const auto* r : cb.records)
        (r->operation == op::upsert ? any_up : any_del) = true;
      counts total_counts;
      if (any_up && upserts_by_merge(s, c))
        plan_stage_joins(c, planned);
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
    if (!res.rejected.empty())
      store_rejected(c, sq, s, sequence, res.rejected, hooks.records);
    res.skipped = total - res.applied - res.rejected.size();
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
