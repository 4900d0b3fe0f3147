#include "sync/schema_manager.hpp"

#include <algorithm>
#include <map>
#include <set>

#include "config/log.hpp"
#include "sync/stage_rows.hpp"

namespace sluice::sync {

std::string grant_select_sql(const config::sync& s, const std::string& qualified_table) {
  if (s.read_role.name.empty())
    return "";
  return "grant select on " + qualified_table + " to " + quote_ident(s.read_role.name);
}

namespace {

// Runs one read-role statement under a savepoint: a failure (a dropped account, a
// missing grant option) is reported and skipped, never fatal for the data tables.
bool best_effort(pg_conn& c, const std::string& sql, const std::string& what,
                 const std::string& fix, std::vector<grant_problem>& problems) {
  c.exec("savepoint sluice_read_role");
  try {
    c.exec(sql);
    c.exec("release savepoint sluice_read_role");
    return true;
  } catch (const pg_error& e) {
    if (!c.ok())
      throw;
    c.exec("rollback to savepoint sluice_read_role");
    problems.push_back({what + ": " + e.what(), fix});
    return false;
  }
}

// grant_to: sluice grants the read role once, when a user first appears in the list
// (or first exists), and records it in _sync_read_grants; a manual REVOKE afterwards
// is respected. A user removed from the list loses the role only if sluice granted it.
void sync_members(pg_conn& c, const config::sync& s, const std::string& q,
                  std::vector<grant_problem>& problems) {
  const std::string role = quote_ident(s.read_role.name);
  auto rec = c.exec("select grantee, role, granted from " + q + "._sync_read_grants");
  std::map<std::string, std::pair<std::string, bool>> recorded;
  for (int i = 0; i < rec.rows(); ++i)
    recorded[rec.get(i, 0)] = {rec.get(i, 1), rec.get(i, 2) == "t"};
  std::set<std::string> wanted(s.read_role.grant_to.begin(), s.read_role.grant_to.end());
  for (const auto& u : wanted) {
    auto it = recorded.find(u);
    if (it != recorded.end() && it->second.first == s.read_role.name)
      continue;  // handled once already: manual changes since are the customer's
    auto exists = c.exec("select 1 from pg_roles where rolname = $1", {u});
    if (!exists.rows()) {
      problems.push_back({"read_role.grant_to user " + u + " does not exist",
                          "create user " + quote_ident(u) + " with encrypted password '...';"});
      continue;  // granted once it exists
    }
    auto m = c.exec("select pg_has_role($1, $2, 'MEMBER')", {u, s.read_role.name});
    bool granted = false;
    if (m.get(0, 0) != "t") {
      const std::string g = "grant " + role + " to " + quote_ident(u);
      if (!best_effort(c, g, "grant " + s.read_role.name + " to " + u, g + ";", problems))
        continue;
      granted = true;
    }
    c.exec("insert into " + q +
               "._sync_read_grants (grantee, role, granted) values ($1, $2, $3) on conflict "
               "(grantee) do update set role = excluded.role, granted = excluded.granted",
           {u, s.read_role.name, granted ? "t" : "f"});
  }
  for (const auto& [u, r] : recorded) {
    if (wanted.count(u) && r.first == s.read_role.name)
      continue;
    // Removed from grant_to (or the read role changed): undo only sluice's own grant.
    if (r.second) {
      auto still = c.exec(
          "select exists (select 1 from pg_auth_members m join pg_roles g on g.oid = m.roleid "
          "join pg_roles u on u.oid = m.member where g.rolname = $1 and u.rolname = $2)",
          {r.first, u});
      if (still.get(0, 0) == "t") {
        const std::string rv = "revoke " + quote_ident(r.first) + " from " + quote_ident(u);
        if (!best_effort(c, rv, "revoke " + r.first + " from " + u, rv + ";", problems))
          continue;
      }
    }
    c.exec("delete from " + q + "._sync_read_grants where grantee = $1", {u});
  }
}

}  // namespace

std::vector<grant_problem> setup(pg_conn& c, const config::sync& s, const std::string& schema) {
  const std::string q = quote_ident(schema);
  std::vector<grant_problem> problems;
  c.exec("begin");
  try {
    c.exec("create schema if not exists " + q);
    c.exec("create table if not exists " + q +
           "._sync_state (sync text primary key, sequence bigint not null default 0, "
           "updated_at timestamptz not null default now(), moved_to text)");
    c.exec("create table if not exists " + q +
           "._sync_event (id bigserial primary key, inserted_at timestamptz not null default "
           "now(), event_type text not null, object_type text not null, record_id text not "
           "null, payload jsonb not null)");
    // Versions of deleted ids, so an older upsert arriving late cannot resurrect a row.
    c.exec("create table if not exists " + q +
           "._sync_deleted (object_type text, record_id text, version bigint not null, "
           "primary key (object_type, record_id))");
    // Records the database refused (refused_records: quarantine), as sent, with why.
    c.exec("create table if not exists " + q +
           "._sync_rejected (id bigserial primary key, rejected_at timestamptz not null default "
           "now(), sync text not null, sequence bigint not null, record_index integer not null, "
           "object_type text not null, record_id text not null, field text, sqlstate text not "
           "null, reason text not null, record text not null)");
    // Which grant_to users sluice has handled (granted = it granted the role itself).
    c.exec("create table if not exists " + q +
           "._sync_read_grants (grantee text primary key, role text not null, granted boolean "
           "not null, updated_at timestamptz not null default now())");
    if (!s.read_role.name.empty()) {
      const std::string role = quote_ident(s.read_role.name);
      auto exists = c.exec("select 1 from pg_roles where rolname = $1", {s.read_role.name});
      if (!exists.rows()) {
        problems.push_back(
            {"read role " + s.read_role.name + " does not exist",
             "create role " + role + " with admin " + quote_ident(s.destination.user) + ";"});
      } else {
        auto owned = c.exec(
            "select pg_get_userbyid(nspowner) = current_user from pg_namespace where nspname = "
            "$1",
            {schema});
        // GRANT USAGE needs ownership (or a grant option) of the schema; in a schema the
        // sync user does not own, verify warns and the owner grants it.
        if (owned.rows() == 1 && owned.get(0, 0) == "t") {
          const std::string g = "grant usage on schema " + q + " to " + role;
          best_effort(c, g, "grant USAGE on schema " + schema + " to " + s.read_role.name, g + ";",
                      problems);
        }
        auto tables = c.exec(
            "select quote_ident(c.relname) from pg_class c join pg_namespace n on n.oid = "
            "c.relnamespace where n.nspname = $1 and c.relkind in ('r', 'p') and "
            "pg_get_userbyid(c.relowner) = current_user and "
            "coalesce(obj_description(c.oid, 'pg_class'), '') <> $2",
            {schema, kStageComment});  // stages are scratch space, not synced tables
        for (int i = 0; i < tables.rows(); ++i) {
          const std::string g = "grant select on " + q + "." + tables.get(i, 0) + " to " + role;
          best_effort(c, g, "grant SELECT to " + s.read_role.name, g + ";", problems);
        }
        const std::string dp =
            "alter default privileges in schema " + q + " grant select on tables to " + role;
        best_effort(c, dp, "default privileges for " + s.read_role.name, dp + ";", problems);
        sync_members(c, s, q, problems);
      }
    }
    c.exec("commit");
  } catch (...) {
    try {
      c.exec("rollback");
    } catch (...) {
    }
    throw;
  }
  for (const auto& p : problems) {
    log::warn("sync_read_role_problem")
        .kv("sync", s.name)
        .kv("problem", p.what)
        .kv("fix", p.fix)
        .kv("effect", "readers may lack access; batches keep flowing");
  }
  return problems;
}

nlohmann::json to_json(const std::vector<grant_problem>& problems) {
  auto out = nlohmann::json::array();
  for (const auto& p : problems)
    out.push_back({{"problem", p.what}, {"fix", p.fix}});
  return out;
}

namespace {

constexpr const char* kOverflowComment =
    "sluice: values that did not fit their column, by field; held widenings ";

// The held widenings as _sync_overflow's comment records them ({"column": "type"}).
void load_held(const std::string& comment, table_info& t) {
  auto brace = comment.find('{');
  if (brace == std::string::npos)
    return;
  auto j = nlohmann::json::parse(comment.substr(brace), nullptr, false);
  if (!j.is_object())
    return;
  for (auto& [ident, v] : j.items()) {
    if (!v.is_object() || !v.contains("to") || !v["to"].is_string())
      continue;
    auto to = from_sql_name(v["to"].get<std::string>());
    if (!to)
      continue;
    held_widening h;
    h.field = v.value("field", ident);
    h.to = *to;
    t.held[ident] = std::move(h);
  }
}

// The views (and other relations with rules) that depend on column `ident` of `qt`, in
// any schema, with the SQL that would recreate each.
std::vector<std::pair<std::string, std::string>> dependents(pg_conn& c, const std::string& qt,
                                                            const std::string& ident) {
  auto r = c.exec(
      "select distinct quote_ident(vn.nspname) || '.' || quote_ident(v.relname), v.relkind, "
      "case when v.relkind in ('v', 'm') then pg_get_viewdef(v.oid) else '' end from "
      "pg_attribute a join pg_depend d on d.refclassid = 'pg_class'::regclass and d.refobjid "
      "= a.attrelid and d.refobjsubid = a.attnum and d.classid = 'pg_rewrite'::regclass join "
      "pg_rewrite rw on rw.oid = d.objid join pg_class v on v.oid = rw.ev_class join "
      "pg_namespace vn on vn.oid = v.relnamespace where a.attrelid = $1::regclass and "
      "a.attname = $2 and v.oid <> a.attrelid order by 1",
      {qt, ident});
  std::vector<std::pair<std::string, std::string>> out;
  for (int i = 0; i < r.rows(); ++i) {
    const std::string name = r.get(i, 0), kind = r.get(i, 1);
    std::string recreate;
    if (kind == "v")
      recreate = "create view " + name + " as " + r.get(i, 2);
    else if (kind == "m")
      recreate = "create materialized view " + name + " as " + r.get(i, 2);
    out.emplace_back(name, recreate);
  }
  return out;
}

void describe_blockers(held_widening& h, const std::vector<std::pair<std::string, std::string>>& d,
                       const std::string& qt, const std::string& ident) {
  h.blocked_by.clear();
  std::string drops, recreates;
  for (const auto& [name, recreate] : d) {
    h.blocked_by.push_back(name);
    const bool matview = recreate.rfind("create materialized", 0) == 0;
    drops += std::string(matview ? "drop materialized view " : "drop view ") + name + "; ";
    if (!recreate.empty())
      recreates += " " + recreate;
  }
  if (d.empty()) {
    h.fix = "";
    return;
  }
  h.fix = drops + "-- sluice then widens " + qt + "." + ident + " to " +
          std::string(sql_name(h.to)) +
          " at its next batch and moves the kept values back from _sync_overflow; afterwards "
          "recreate:" +
          recreates;
}

}  // namespace

void catalog::save_held(pg_conn& c, const table_info& t) {
  auto j = nlohmann::json::object();
  for (const auto& [ident, h] : t.held)
    j[ident] = {{"field", h.field}, {"to", sql_name(h.to)}};
  c.exec("comment on column " + quote_ident(schema_) + "." + quote_ident(t.ident) + "." +
         kOverflowColumn + " is " + quote_literal(kOverflowComment + j.dump()));
}

void catalog::hold(pg_conn& c, const config::sync& s, table_info& t, const column_change& ch) {
  const std::string qt = quote_ident(schema_) + "." + quote_ident(t.ident);
  t.cols[ch.ident] = ch.from;
  auto& h = t.held[ch.ident];
  h.field = ch.field;
  h.to = ch.to;
  describe_blockers(h, dependents(c, qt, ch.ident), schema_ + "." + t.ident, ch.ident);
  t.has_overflow = true;
  std::string views;
  for (const auto& v : h.blocked_by)
    views += (views.empty() ? "" : ", ") + v;
  log::warn("sync_widening_held")
      .kv("sync", s.name)
      .kv("table", schema_ + "." + t.ident)
      .kv("column", ch.ident)
      .kv("from", sql_name(ch.from))
      .kv("to", sql_name(ch.to))
      .kv("blocked_by", views.empty() ? std::string("objects depending on the column") : views)
      .kv("effect", "values that need the wider type are kept in _sync_overflow, the column NULL")
      .kv("fix", h.fix);
}

void catalog::finish_held(pg_conn& c, const config::sync& s, table_info& t) {
  if (t.held.empty())
    return;
  const std::string qt = quote_ident(schema_) + "." + quote_ident(t.ident);
  bool changed = false;
  for (auto it = t.held.begin(); it != t.held.end();) {
    const std::string ident = it->first;
    auto& h = it->second;
    auto deps = dependents(c, qt, ident);
    if (!deps.empty()) {
      describe_blockers(h, deps, schema_ + "." + t.ident, ident);
      ++it;
      continue;
    }
    const std::string col = quote_ident(ident), type(sql_name(h.to));
    const std::string value = h.to == col_type::jsonb
                                  ? std::string(kOverflowColumn) + " -> $1"
                                  : "(" + std::string(kOverflowColumn) + " ->> $1)::" + type;
    c.exec("savepoint sluice_widen");
    try {
      c.exec("alter table " + qt + " alter column " + col + " type " + type + " using " + col +
             "::" + type);
      auto moved = c.exec("with m as (update " + qt + " set " + col + " = " + value + ", " +
                              kOverflowColumn + " = nullif(" + kOverflowColumn +
                              " - $1::text, '{}'::jsonb) where " + kOverflowColumn +
                              " ? $1 returning 1) select count(*) from m",
                          {h.field});
      c.exec("release savepoint sluice_widen");
      log::notice("sync_widening_finished")
          .kv("sync", s.name)
          .kv("table", schema_ + "." + t.ident)
          .kv("column", ident)
          .kv("from", sql_name(t.cols[ident]))
          .kv("to", type)
          .kv("values_moved_back", moved.get_int(0, 0));
      t.cols[ident] = h.to;
      it = t.held.erase(it);
      changed = true;
    } catch (const pg_error& e) {
      if (!c.ok())
        throw;
      c.exec("rollback to savepoint sluice_widen");
      describe_blockers(h, {}, schema_ + "." + t.ident, ident);
      h.fix = std::string("-- the widening still fails: ") + e.what();
      ++it;
    }
  }
  if (changed)
    save_held(c, t);
}

nlohmann::json catalog::held_json() const {
  auto out = nlohmann::json::array();
  for (const auto& [coll, t] : info_) {
    for (const auto& [ident, h] : t.held) {
      auto type = t.cols.find(ident);
      out.push_back({{"table", schema_ + "." + t.ident},
                     {"collection", coll},
                     {"column", ident},
                     {"field", h.field},
                     {"type", sql_name(type == t.cols.end() ? col_type::text : type->second)},
                     {"wanted", sql_name(h.to)},
                     {"blocked_by", h.blocked_by},
                     {"fix", h.fix}});
    }
  }
  return out;
}

void catalog::load(pg_conn& c) {
  tables_ = {};
  info_.clear();
  foreign_.clear();
  auto r = c.exec(
      "select c.relname, coalesce(obj_description(c.oid, 'pg_class'), ''), "
      "pg_get_userbyid(c.relowner), pg_get_userbyid(c.relowner) = current_user, "
      "a.attname, format_type(a.atttypid, a.atttypmod), coalesce(col_description(c.oid, "
      "a.attnum), ''), c.relkind from pg_class c join pg_namespace n on n.oid = c.relnamespace "
      "left join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped "
      "where n.nspname = $1 and c.relkind in ('r', 'p', 'v', 'm', 'f') order by c.relname, "
      "a.attnum",
      {schema_});
  const std::string prefix = kTableComment;
  for (int i = 0; i < r.rows(); ++i) {
    std::string rel = r.get(i, 0), comment = r.get(i, 1);
    // A table sluice created stays the writer's even when someone changed its owner
    // since: rows are written with whatever privileges remain (verify lists the grant
    // for each missing one) and only DDL needs ownership back.
    bool ours = r.get(i, 7) == "r" && comment.rfind(prefix, 0) == 0;
    if (!ours) {
      foreign_[rel] = r.get(i, 2);
      continue;
    }
    std::string coll = comment.substr(prefix.size());
    tables_.remember(coll, rel);
    auto& t = info_[coll];
    t.ident = rel;
    if (r.null(i, 4))
      continue;
    std::string col = r.get(i, 4);
    if (col == "_sync_deleted_at")
      t.has_deleted_at = true;
    if (col == kOverflowColumn) {
      t.has_overflow = true;
      load_held(r.get(i, 6), t);
    }
    if (col == "id" || col.rfind("_sync_", 0) == 0)
      continue;
    auto type = from_sql_name(r.get(i, 5)).value_or(col_type::text);
    std::string field = r.get(i, 6).empty() ? col : r.get(i, 6);
    t.fields.remember(field, col);
    t.cols[col] = type;
    t.order.push_back(col);
    t.order_fields.push_back(field);
  }
  for (auto& [coll, t] : info_) {
    auto e = c.exec("select not exists (select 1 from " + quote_ident(schema_) + "." +
                    quote_ident(t.ident) + ")");
    t.fast_insert = e.get(0, 0) == "t";
  }
  loaded_ = true;
}

std::vector<column_change> plan_columns(table_info& t, const collection_batch& cb,
                                        const std::map<std::string, std::string>* declared) {
  // The type each field needs (the batch's summary, made on the ingest thread): the
  // column's type widened to hold the batch's values, or for a new column the declared
  // or first inferred type, widened likewise unless declared.
  std::vector<column_change> out;
  std::string err;
  for (const auto& need : cb.needs) {
    const std::string field(need.name);
    const std::string* config_type = nullptr;
    if (declared) {
      if (auto d = declared->find(field); d != declared->end())
        config_type = &d->second;
    }
    const bool is_declared = config_type || need.declared;
    if (const auto* ident = t.fields.find(field)) {
      if (config_type && *config_type == kUnixMsType)
        t.unix_ms.insert(*ident);
      col_type have = t.cols[*ident];
      if (auto h = t.held.find(*ident); h != t.held.end()) {
        h->second.to = settle(h->second.to, need.seen);  // still waiting: aim higher
        continue;
      }
      col_type want = settle(have, need.seen);
      if (have == want)
        continue;
      if (is_declared || have == col_type::timestamptz) {
        t.has_overflow = true;  // a declared type is kept; the misfits go to _sync_overflow
        continue;
      }
      out.push_back({true, *ident, field, have, want});
      t.cols[*ident] = want;
      continue;
    }
    col_type start = need.start;
    if (config_type)
      start = from_declared(*config_type).value_or(start);
    col_type want = settle(start, need.seen);
    if (is_declared && want != start) {
      want = start;
      t.has_overflow = true;
    }
    auto ident = t.fields.add(field, err);
    if (!ident)
      throw schema_conflict("collection '" + cb.collection + "': field " + err);
    if (*ident == "id" || ident->rfind("_sync_", 0) == 0) {
      throw schema_conflict("field '" + field + "' maps to a reserved column name");
    }
    if (config_type && *config_type == kUnixMsType)
      t.unix_ms.insert(*ident);
    out.push_back({false, *ident, field, want, want});
    t.cols[*ident] = want;
    t.order.push_back(*ident);
    t.order_fields.push_back(field);
  }
  return out;
}

std::optional<table_info> catalog::predict(const collection_batch& cb) const {
  auto it = info_.find(cb.collection);
  if (!loaded_ || it == info_.end())
    return std::nullopt;
  table_info t = it->second;
  auto d = types_.find(cb.collection);
  try {
    plan_columns(t, cb, d == types_.end() ? nullptr : &d->second);
  } catch (const schema_conflict&) {
    return std::nullopt;
  }
  return t;
}

bool catalog::would_alter(const config::sync& s, const collection_batch& cb) const {
  auto it = info_.find(cb.collection);
  if (!loaded_ || it == info_.end())
    return false;
  table_info t = it->second;
  auto d = s.types.find(cb.collection);
  try {
    // Adding _sync_overflow, or aiming a held widening higher, alters the table too.
    auto changes = plan_columns(t, cb, d == s.types.end() ? nullptr : &d->second);
    bool held_moved = false;
    for (const auto& [ident, h] : t.held)
      held_moved |= it->second.held.at(ident).to != h.to;
    return !changes.empty() || t.has_overflow != it->second.has_overflow || held_moved;
  } catch (const schema_conflict&) {
    return false;  // ensure() reports it
  }
}

table_info& catalog::ensure(pg_conn& c, const config::sync& s, const collection_batch& cb) {
  const std::string sq = quote_ident(schema_);
  std::string err;
  auto it = info_.find(cb.collection);
  if (it == info_.end()) {
    auto ident = tables_.add(cb.collection, err);
    if (!ident)
      throw schema_conflict("collection " + err);
    if (ident->rfind("_sync_", 0) == 0) {
      throw schema_conflict("collection '" + cb.collection + "' uses the reserved prefix _sync_");
    }
    if (auto f = foreign_.find(*ident); f != foreign_.end()) {
      throw schema_conflict("collection '" + cb.collection + "' needs table " + schema_ + "." +
                            *ident + ", but a table or view of that name owned by " + f->second +
                            " (not created by sluice) is in the way; the writer never touches it");
    }
    // The catalog may predate a table someone added since: ask before creating.
    auto other = c.exec(
        "select pg_get_userbyid(c.relowner) from pg_class c join pg_namespace n on n.oid = "
        "c.relnamespace where n.nspname = $1 and c.relname = $2",
        {schema_, *ident});
    if (other.rows()) {
      foreign_[*ident] = other.get(0, 0);
      tables_ = {};
      invalidate();
      throw schema_conflict("collection '" + cb.collection + "' needs table " + schema_ + "." +
                            *ident + ", but a table or view of that name owned by " +
                            other.get(0, 0) +
                            " (not created by sluice) is in the way; the writer never touches it");
    }
    std::string qt = sq + "." + quote_ident(*ident);
    c.exec("create table " + qt +
           " (id text primary key, _sync_version bigint not null, _sync_updated_at timestamptz "
           "not null default now()" +
           (s.deletes == config::delete_mode::soft ? ", _sync_deleted_at timestamptz" : "") + ")");
    c.exec("comment on table " + qt + " is " + quote_literal(kTableComment + cb.collection));
    if (auto g = grant_select_sql(s, qt); !g.empty())
      c.exec(g);
    it = info_.emplace(cb.collection, table_info{}).first;
    it->second.ident = *ident;
    it->second.fast_insert = true;
    it->second.has_deleted_at = s.deletes == config::delete_mode::soft;
  }
  auto& t = it->second;
  const std::string qt = sq + "." + quote_ident(t.ident);
  if (s.deletes == config::delete_mode::soft && !t.has_deleted_at) {
    // Switched from hard to soft deletes: the table is ours, so it gets the column.
    c.exec("alter table " + qt + " add column if not exists _sync_deleted_at timestamptz");
    t.has_deleted_at = true;
  }

  finish_held(c, s, t);
  types_ = s.types;
  auto declared = s.types.find(cb.collection);
  const bool had_overflow = t.has_overflow;
  std::map<std::string, col_type> held_before;
  for (const auto& [ident, h] : t.held)
    held_before[ident] = h.to;
  for (const auto& ch :
       plan_columns(t, cb, declared == s.types.end() ? nullptr : &declared->second)) {
    // The table is ours (checked at load), so ALTER is allowed.
    if (ch.widen) {
      // A view over the column (0A000, "cannot alter type of a column used by a view")
      // holds the widening instead of stopping the sync.
      c.exec("savepoint sluice_widen");
      try {
        c.exec("alter table " + qt + " alter column " + quote_ident(ch.ident) + " type " +
               std::string(sql_name(ch.to)) + " using " + quote_ident(ch.ident) +
               "::" + std::string(sql_name(ch.to)));
        c.exec("release savepoint sluice_widen");
      } catch (const pg_error& e) {
        if (e.sqlstate() != "0A000" || !c.ok())
          throw;
        c.exec("rollback to savepoint sluice_widen");
        hold(c, s, t, ch);
        continue;
      }
      log::notice("sync_column_widened")
          .kv("sync", s.name)
          .kv("table", t.ident)
          .kv("column", ch.ident)
          .kv("from", sql_name(ch.from))
          .kv("to", sql_name(ch.to));
      continue;
    }
    c.exec("alter table " + qt + " add column " + quote_ident(ch.ident) + " " +
           std::string(sql_name(ch.to)));
    if (ch.ident != ch.field) {
      c.exec("comment on column " + qt + "." + quote_ident(ch.ident) + " is " +
             quote_literal(ch.field));
    }
  }
  if (t.has_overflow && !had_overflow)
    c.exec("alter table " + qt + " add column if not exists " + kOverflowColumn + " jsonb");
  std::map<std::string, col_type> held_after;
  for (const auto& [ident, h] : t.held)
    held_after[ident] = h.to;
  if (held_after != held_before)
    save_held(c, t);
  return t;
}

}  // namespace sluice::sync
