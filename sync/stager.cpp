#include "sync/stager.hpp"

#include <chrono>
#include <thread>

#include "config/log.hpp"
#include "sync/stage_rows.hpp"

namespace sluice::sync {

std::unique_ptr<stager> stager::open(const std::map<std::string, std::string>& params,
                                     const config::sync& s) {
  auto p = params;
  p["application_name"] = "sluice-sync-stage";
  auto c = std::make_unique<pg_conn>(p);
  // A second key beside the writer's lock: a stager of an instance that lost its main
  // connection keeps this until its own session ends, so two stagers never share slots.
  // Right after a reconnect the previous stager's backend may still be exiting: give its
  // lock half a second to go before deciding that someone else holds it.
  const std::string try_lock =
      "select pg_try_advisory_lock(hashtext('sluice-sync-stage'), hashtext(" +
      quote_literal(s.name) + "))";
  for (int attempt = 0; c->exec(try_lock).get(0, 0) != "t"; ++attempt) {
    if (attempt == 10)
      return nullptr;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  // A user's long transaction on a stage table must not stall the writer: give up the
  // fill instead (the main connection stages the batch itself).
  c->exec("set lock_timeout = '2s'");
  return std::unique_ptr<stager>(new stager(std::move(c)));
}

bool stager::prepare(const config::sync& s, const std::string& schema, const std::string& name,
                     const table_info& t, const std::string& signature) {
  const std::string qn = quote_ident(schema) + "." + quote_ident(name);
  // Checked before every fill, not once per session: someone may have dropped our table
  // and created their own under the name since.
  auto r = c_->exec(
      "select c.relkind = 'r' and pg_get_userbyid(c.relowner) = current_user and "
      "coalesce(obj_description(c.oid, 'pg_class'), '') = $3 from pg_class c join pg_namespace "
      "n on n.oid = c.relnamespace where n.nspname = $1 and c.relname = $2",
      {schema, name, kStageComment});
  if (r.rows()) {
    if (r.get(0, 0) != "t") {
      if (in_the_way_.insert(qn).second) {
        log::warn("sync_stage_in_the_way")
            .kv("sync", s.name)
            .kv("table", schema + "." + name)
            .kv("detail",
                "not created by sluice: left alone, the batch is staged in a "
                "temporary table instead");
      }
      return false;
    }
    if (auto it = created_.find(qn); it != created_.end() && it->second == signature) {
      c_->exec("truncate " + qn);
      return true;
    }
    c_->exec("drop table " + qn);  // ours, with other columns: never CASCADE
  }
  c_->exec("create unlogged table " + qn + " (" + stage_columns(t) +
           ") with (autovacuum_enabled = false)");
  c_->exec("comment on table " + qn + " is " + quote_literal(kStageComment));
  // The schema's default privileges grant the read role SELECT on new tables; a stage
  // is sluice's scratch space, not a synced table.
  if (!s.read_role.name.empty())
    c_->exec("revoke all on " + qn + " from " + quote_ident(s.read_role.name));
  created_[qn] = signature;
  return true;
}

bool stager::fill(const catalog& cat, const config::sync& s, uint64_t batch_id,
                  const std::vector<collection_batch>& groups) {
  slot_ ^= 1;
  slots_[slot_] = {};
  filled next{batch_id, {}};
  try {
    c_->exec("begin");
    // The stage is unlogged scratch space: its commit need not wait for a WAL flush.
    // The merge that reads it commits later on the main connection, which flushes
    // the WAL up to and past this commit record anyway.
    c_->exec("set local synchronous_commit = off");
    int n = 0;
    for (const auto& cb : groups) {
      auto t = cat.predict(cb);
      if (!t)
        continue;  // a new table: its first batch is a first load
      if (copies_straight_in(*t, s, cb))
        continue;  // apply_batch's first-load path needs no stage
      const std::string name = kStagePrefix + std::to_string(slot_) + "_" + std::to_string(n++);
      const std::string sig = stage_signature(*t);
      if (!prepare(s, cat.schema(), name, *t, sig))
        continue;
      const std::string qn = quote_ident(cat.schema()) + "." + quote_ident(name);
      copy_rows(*c_, "copy " + qn + " from stdin", *t, cb, true);
      next.by_collection[cb.collection] = {qn, sig};
    }
    c_->exec("commit");
  } catch (const std::exception& e) {
    error_ = e.what();
    created_.clear();  // tables created in the rolled-back transaction are gone
    bool rolled_back = false;
    if (c_->ok()) {
      try {
        c_->exec("rollback");
        rolled_back = true;
      } catch (...) {
      }
    }
    // A value the database refuses (class 22: the main connection answers the batch with
    // 422) or a user's lock on a stage: nothing wrong with this connection, the batch is
    // just staged by the main connection.
    const auto* pe = dynamic_cast<const pg_error*>(&e);
    if (rolled_back && pe && (pe->sqlstate().rfind("22", 0) == 0 || pe->sqlstate() == "55P03"))
      return true;
    return false;
  }
  slots_[slot_] = std::move(next);
  return true;
}

std::string stager::lookup(uint64_t batch_id, const std::string& collection,
                           const std::string& signature) const {
  for (const auto& f : slots_) {
    if (f.batch_id != batch_id)
      continue;
    auto it = f.by_collection.find(collection);
    if (it != f.by_collection.end() && it->second.second == signature)
      return it->second.first;
  }
  return "";
}

}  // namespace sluice::sync
