#include "sync/writer.hpp"

#include <algorithm>
#include <map>

#include "config/log.hpp"
#include "sync/apply.hpp"
#include "sync/bulk_thread.hpp"
#include "sync/destination.hpp"
#include "sync/reconnect_rule.hpp"
#include "sync/rename.hpp"
#include "sync/schema_manager.hpp"
#include "sync/stager.hpp"

namespace sluice::sync {

namespace {

using clock = std::chrono::steady_clock;

// Every ingest request is answered within about this long: a batch that has waited this
// long while the writer cannot write (no connection, another instance's lock) is
// answered 503 with the reason and Retry-After; the sender re-sends it.
constexpr std::chrono::seconds kAnswerWithin{30};

// Under the writer's mutex: the queued jobs that have waited kAnswerWithin.
std::vector<job> take_expired(std::deque<job>& queue) {
  std::vector<job> out;
  const auto now = clock::now();
  for (auto it = queue.begin(); it != queue.end();) {
    if (now - it->queued_at >= kAnswerWithin) {
      out.push_back(std::move(*it));
      it = queue.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

// How long until the next queued job reaches kAnswerWithin (under the mutex).
std::chrono::milliseconds until_next_expiry(const std::deque<job>& queue) {
  auto soonest = std::chrono::milliseconds(kAnswerWithin);
  const auto now = clock::now();
  for (const auto& j : queue) {
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(j.queued_at + kAnswerWithin - now);
    soonest = std::min(soonest, std::max(left, std::chrono::milliseconds(0)));
  }
  return soonest;
}

// Without the mutex: the answer for jobs the writer could not apply in time.
void answer_unavailable(std::vector<job>& jobs, const std::string& why) {
  for (auto& j : jobs) {
    batch_outcome o;
    o.what = batch_outcome::kind::unavailable;
    o.sequence = j.sequence;
    o.records = j.records.size();
    o.error = why;
    o.waited = kAnswerWithin;
    j.done(std::move(o));
  }
}

}  // namespace

struct writer::state {
  mutable std::mutex mu;
  std::condition_variable cv;
  config::sync cfg;
  config::settings_ptr settings;
  forward_fn forward;
  uint32_t depth = config::ingest_settings{}.queue_depth;
  std::deque<job> queue;
  // The job after the one being applied, taken out of the queue so the stager can read
  // it; applied next (or put back at the queue's head on a retry).
  std::optional<job> next;
  uint64_t next_job_id = 1;
  bool stopping = false;
  bool reconnect = false;  // a reload needs a new connection: drop it (reconnect_rule.hpp)
  // Status (under mu).
  bool stopped = false;  // a non-retryable error: needs a fix and a reload
  std::string last_error;
  int64_t last_sequence = -1;
  uint64_t batches = 0, records = 0;
  uint64_t prestaged_batches = 0;  // merged from stages the second connection filled
  bool stager_active = false;
  clock::time_point last_commit{};
  bool connected = false;
  bool connecting = false;  // in connect(), including the wait for the lock
  bool waiting_for_lock = false;
  nlohmann::json read_role_problems = nlohmann::json::array();  // from the last setup
  // Widenings a view blocks (catalog::held_json), as of the last batch or connect.
  nlohmann::json held_widenings = nlohmann::json::array();
  uint64_t overflow_values = 0, rejected = 0;  // since start
  // Writer-thread only.
  std::unique_ptr<pg_conn> conn;
  std::unique_ptr<catalog> cat;
  std::unique_ptr<stager> stage;  // the second connection; null when off or broken
  std::map<std::string, std::string> stage_params;
  clock::time_point stage_retry_at{};
  std::chrono::milliseconds backoff{500};
};

writer::writer(config::sync cfg, config::settings_ptr settings, forward_fn forward, uint32_t depth)
    : st_(std::make_unique<state>()) {
  st_->cfg = std::move(cfg);
  st_->settings = std::move(settings);
  st_->forward = std::move(forward);
  st_->depth = depth;
  st_->reconnect = true;  // connect (lock, setup, schema move) before the first batch
  thread_ = std::thread([this] {
    mark_bulk_thread("sluice-sync");
    run();
  });
}

writer::~writer() {
  {
    std::lock_guard lk(st_->mu);
    st_->stopping = true;
  }
  st_->cv.notify_all();
  if (thread_.joinable())
    thread_.join();
  // Whatever is still queued was never committed: tell the clients to retry.
  put_back_next();
  for (auto& j : st_->queue) {
    batch_outcome o;
    o.what = batch_outcome::kind::shutting_down;
    o.sequence = j.sequence;
    j.done(std::move(o));
  }
}

bool writer::submit(job j) {
  {
    std::lock_guard lk(st_->mu);
    // `next` (taken out for the stager) still counts: the depth is what is waiting.
    if (st_->queue.size() + (st_->next ? 1 : 0) >= st_->depth)
      return false;
    j.queued_at = clock::now();
    j.id = st_->next_job_id++;
    // Ordered by sequence (stable), so pipelined senders need not arrive in order.
    auto pos = std::upper_bound(st_->queue.begin(), st_->queue.end(), j.sequence,
                                [](int64_t seq, const job& q) { return seq < q.sequence; });
    st_->queue.insert(pos, std::move(j));
  }
  st_->cv.notify_all();
  return true;
}

void writer::update(config::sync cfg, config::settings_ptr settings, uint32_t depth) {
  const std::string name = cfg.name;
  std::string why;
  {
    std::lock_guard lk(st_->mu);
    why = reconnect_reason(
        *st_->settings, st_->cfg, *settings, cfg,
        {st_->connected, st_->connecting, st_->stopped, !st_->read_role_problems.empty()});
    st_->cfg = std::move(cfg);
    st_->settings = std::move(settings);
    st_->depth = depth;
    st_->stopped = false;
    if (!why.empty())
      st_->reconnect = true;
  }
  if (why.empty())
    log::info("sync_connection_kept").kv("sync", name);
  else
    log::notice("sync_reconnecting").kv("sync", name).kv("reason", why);
  st_->cv.notify_all();
}

nlohmann::json writer::status() const {
  std::lock_guard lk(st_->mu);
  double lag = 0;
  if (!st_->queue.empty()) {
    lag = st_->last_commit == clock::time_point{}
              ? 0
              : std::chrono::duration<double>(clock::now() - st_->last_commit).count();
  }
  return {{"name", st_->cfg.name},
          {"schema", st_->cfg.schema},
          {"last_sequence", st_->last_sequence},
          {"lag_seconds", lag},
          {"queued", st_->queue.size() + (st_->next ? 1 : 0)},
          {"batches", st_->batches},
          {"records", st_->records},
          {"prestaged_batches", st_->prestaged_batches},
          {"stage_connection", st_->stager_active},
          {"connected", st_->connected},
          {"waiting_for_lock", st_->waiting_for_lock},
          {"stopped", st_->stopped},
          {"last_error", st_->last_error},
          {"read_role_problems", st_->read_role_problems},
          {"held_widenings", st_->held_widenings},
          {"overflow_values", st_->overflow_values},
          {"rejected_records", st_->rejected}};
}

std::vector<check> writer::verify_now() const {
  config::sync cfg;
  config::settings_ptr settings;
  forward_fn fwd;
  {
    std::lock_guard lk(st_->mu);
    cfg = st_->cfg;
    settings = st_->settings;
    fwd = st_->forward;
  }
  try {
    auto dst = resolve_destination(*settings, cfg, fwd);
    pg_conn c(dst.params);
    return verify(c, cfg);
  } catch (const pg_error& e) {
    return {connection_check(e, cfg)};
  } catch (const std::exception& e) {
    return {check{"resolve destination", check_status::fail, e.what(), ""}};
  }
}

bool writer::sleep_for(std::chrono::milliseconds d) {
  std::unique_lock lk(st_->mu);
  return st_->cv.wait_for(lk, d, [this] { return st_->stopping || st_->reconnect; });
}

std::chrono::milliseconds writer::next_backoff() {
  std::lock_guard g(st_->mu);
  auto wait = st_->backoff;
  st_->backoff = std::min(st_->backoff * 2, std::chrono::milliseconds(30'000));
  return wait;
}

// Connects, takes the advisory lock (waiting while another instance holds it), runs
// setup and a pending schema move. `interrupted`: a stop or a reload that needs a new
// connection came while it waited for the lock.
writer::connect_outcome writer::connect(const config::sync& cfg,
                                        const config::settings_ptr& settings,
                                        const forward_fn& fwd) {
  std::string error;
  try {
    auto dst = resolve_destination(*settings, cfg, fwd);
    auto conn = std::make_unique<pg_conn>(dst.params);
    // One writer per sync across instances: a session lock, released when the
    // connection (or the instance holding it) dies.
    const std::string key = "select pg_try_advisory_lock(hashtext('sluice-sync'), hashtext(" +
                            quote_literal(cfg.name) + "))";
    bool logged = false;
    while (conn->exec(key).get(0, 0) != "t") {
      if (!logged) {
        log::notice("sync_waiting_for_lock").kv("sync", cfg.name).kv("destination", dst.describe);
        logged = true;
      }
      std::vector<job> expired;
      {
        std::lock_guard g(st_->mu);
        st_->waiting_for_lock = true;
        expired = take_expired(st_->queue);
      }
      answer_unavailable(expired, "another instance holds this sync's lock (" + dst.describe +
                                      "); this one takes over when it ends");
      if (sleep_for(std::chrono::milliseconds(1000))) {
        std::lock_guard g(st_->mu);
        st_->waiting_for_lock = false;
        st_->connecting = false;
        return connect_outcome::interrupted;
      }
    }
    auto read_role_problems = to_json(setup(*conn, cfg, cfg.schema));
    if (auto old = previous_schema(*conn, cfg, cfg.schema)) {
      auto drop = move_schema(*conn, cfg, *old, cfg.schema);
      log::notice("sync_schema_moved")
          .kv("sync", cfg.name)
          .kv("from", *old)
          .kv("to", cfg.schema)
          .kv("old_schema_kept", true)
          .kv("to_drop_it_run", drop);
    }
    auto cat = std::make_unique<catalog>(cfg.schema);
    cat->load(*conn);
    int64_t seq = stored_sequence(*conn, cfg.schema, cfg.name);
    log::info("sync_connected")
        .kv("sync", cfg.name)
        .kv("destination", dst.describe)
        .kv("sequence", seq);
    st_->conn = std::move(conn);
    st_->cat = std::move(cat);
    st_->stage_params = dst.params;
    open_stager(cfg);
    std::lock_guard g(st_->mu);
    st_->connected = true;
    st_->connecting = false;
    st_->read_role_problems = std::move(read_role_problems);
    st_->held_widenings = st_->cat->held_json();
    st_->waiting_for_lock = false;
    st_->last_sequence = seq;
    st_->backoff = std::chrono::milliseconds(500);
    if (!st_->last_error.empty() && !st_->stopped)
      st_->last_error.clear();
    return connect_outcome::connected;
  } catch (const pg_error& e) {
    error = e.what();
    if (!e.transient() && (e.sqlstate() == "42501" || e.sqlstate() == "28P01")) {
      error += e.sql().empty() ? "" : " (SQL: " + e.sql() + ")";
      error +=
          "; fix: " + (e.sql().empty() ? connection_check(e, cfg).fix_sql : permission_fix(e, cfg));
    }
  } catch (const schema_conflict& e) {
    // Retrying cannot fix it (a rename back onto a stale copy): stop until a reload, so
    // batches are answered at once with the reason.
    log::error("sync_stopped").kv("sync", cfg.name).kv("error", e.what());
    std::lock_guard g(st_->mu);
    st_->connected = false;
    st_->connecting = false;
    st_->waiting_for_lock = false;
    st_->stopped = true;
    st_->last_error = e.what();
    return connect_outcome::stopped;
  } catch (const std::exception& e) {
    error = e.what();
  }
  log::warn("sync_connect_failed").kv("sync", cfg.name).kv("error", error);
  std::lock_guard g(st_->mu);
  st_->connected = false;
  st_->connecting = false;
  st_->waiting_for_lock = false;
  st_->last_error = error;
  return connect_outcome::failed;
}

void writer::run() {
  std::unique_lock lk(st_->mu);
  while (true) {
    st_->cv.wait(
        lk, [this] { return st_->stopping || st_->next || !st_->queue.empty() || st_->reconnect; });
    if (st_->stopping)
      return;
    if (st_->reconnect) {
      lk.unlock();
      st_->stage.reset();
      st_->conn.reset();
      st_->cat.reset();
      lk.lock();
      st_->connected = false;
      st_->reconnect = false;
      // Connect eagerly so setup, the lock and a schema move happen before traffic.
    }
    if (st_->stopped) {
      put_back_next();
      while (!st_->queue.empty()) {
        job j = std::move(st_->queue.front());
        st_->queue.pop_front();
        lk.unlock();
        fail_stopped(j);
        lk.lock();
      }
      continue;
    }
    if (!st_->conn || !st_->conn->ok()) {
      // A copy: a reload may replace the settings while this connects.
      const config::sync cfg = st_->cfg;
      const auto settings = st_->settings;
      const auto fwd = st_->forward;
      st_->connected = false;
      st_->connecting = true;  // connect() clears it as it returns
      lk.unlock();
      auto outcome = connect(cfg, settings, fwd);
      lk.lock();
      if (outcome == connect_outcome::failed) {
        put_back_next();
        auto expired = take_expired(st_->queue);
        // Wake for the next batch's deadline too, so none waits past it for the backoff.
        auto wait = std::min(st_->backoff, until_next_expiry(st_->queue));
        st_->backoff = std::min(st_->backoff * 2, std::chrono::milliseconds(30'000));
        std::string why = st_->last_error;
        lk.unlock();
        answer_unavailable(expired, why);
        sleep_for(wait);
        lk.lock();
        expired = take_expired(st_->queue);
        why = st_->last_error;
        lk.unlock();
        answer_unavailable(expired, why);
        lk.lock();
      }
      if (outcome != connect_outcome::connected)
        continue;
    }
    job j;
    if (st_->next) {  // taken for the stager: it is the successor, no reorder wait
      j = std::move(*st_->next);
      st_->next.reset();
    } else {
      if (st_->queue.empty())
        continue;
      const job& head = st_->queue.front();
      if (st_->last_sequence >= 0 && head.sequence > st_->last_sequence + 1 &&
          clock::now() < head.queued_at + kReorderWindow) {
        st_->cv.wait_until(lk, head.queued_at + kReorderWindow);
        continue;
      }
      j = std::move(st_->queue.front());
      st_->queue.pop_front();
    }
    lk.unlock();
    bool finished = handle(j);
    lk.lock();
    if (!finished)
      requeue(std::move(j));
  }
}

// A job to retry goes back to the head of the queue, ahead of the one taken for the
// stager (under the mutex).
void writer::requeue(job j) {
  put_back_next();
  st_->queue.push_front(std::move(j));
}

// The job taken for the stager goes back to the head of the queue (under the mutex).
void writer::put_back_next() {
  if (st_->next) {
    st_->queue.push_front(std::move(*st_->next));
    st_->next.reset();
  }
}

void writer::open_stager(const config::sync& cfg) {
  std::string why;
  try {
    st_->stage = stager::open(st_->stage_params, cfg);
    if (!st_->stage)
      why = "another session holds this sync's stage lock";
  } catch (const std::exception& e) {
    why = e.what();
  }
  if (!why.empty()) {
    stage_off(cfg, why);
    return;
  }
  std::lock_guard g(st_->mu);
  st_->stager_active = true;
}

// Drops the second connection until stage_retry_at; the writer stages on its own.
// Retried at most once a minute: a second connection is an optimisation, and a database
// at its connection limit should not see one attempt per batch.
void writer::stage_off(const config::sync& cfg, std::string why) {
  log::notice("sync_stage_connection_off")
      .kv("sync", cfg.name)
      .kv("reason", why)
      .kv("effect", "batches are staged on the main connection; retried in 60 s");
  st_->stage.reset();
  st_->stage_retry_at = clock::now() + std::chrono::seconds(60);
  std::lock_guard g(st_->mu);
  st_->stager_active = false;
}

void writer::stage_next(const job& j, const config::sync& cfg) {
  if (!st_->stage) {
    if (clock::now() < st_->stage_retry_at || st_->stage_params.empty())
      return;
    open_stager(cfg);
    if (!st_->stage)
      return;
  }
  const job* nj = nullptr;
  {
    // The next batch may still be arriving (its body uploading, being parsed): wait for
    // it as long as the merge runs, which is the time a fill can hide in.
    std::unique_lock lk(st_->mu);
    while (true) {
      if (st_->stopping || st_->reconnect)
        return;
      if (!st_->next && !st_->queue.empty() && st_->queue.front().sequence == j.sequence + 1) {
        st_->next = std::move(st_->queue.front());
        st_->queue.pop_front();
      }
      // Only this thread moves `next` out again, so it stays put while the stager reads it.
      if (st_->next && st_->next->sequence == j.sequence + 1) {
        nj = &*st_->next;
        break;
      }
      if (!st_->conn->busy())
        return;  // the merge is done: no time left to hide a fill in
      st_->cv.wait_for(lk, std::chrono::milliseconds(5));
    }
  }
  if (!st_->stage->fill(*st_->cat, cfg, nj->id, nj->groups))
    stage_off(cfg, st_->stage->last_error());
}

void writer::fail_stopped(job& j) {
  std::string err;
  {
    std::lock_guard g(st_->mu);
    err = st_->last_error;
  }
  batch_outcome o;
  o.what = batch_outcome::kind::stopped;
  o.sequence = j.sequence;
  o.error = std::move(err);
  j.done(std::move(o));
}

// Applies one batch and answers it, unless the failure is worth retrying (false).
bool writer::handle(job& j) {
  config::sync cfg;
  {
    std::lock_guard g(st_->mu);
    cfg = st_->cfg;
  }
  batch_outcome out;
  out.sequence = j.sequence;
  out.records = j.records.size();
  bool retry = false, stop = false;
  std::string error;
  size_t n_records = j.records.size();
  try {
    auto t0 = clock::now();
    apply_hooks hooks;
    hooks.records = &j.records;
    if (st_->stage) {
      // Read st_->stage at each call: a failed fill during this batch's first merge
      // (stage_next) resets it before the batch's later collections look up theirs.
      hooks.prestaged = [this, id = j.id](const std::string& coll, const std::string& sig) {
        return st_->stage ? st_->stage->lookup(id, coll, sig) : std::string();
      };
    }
    if (st_->stage || clock::now() >= st_->stage_retry_at)
      hooks.meanwhile = [this, &j, &cfg] { stage_next(j, cfg); };
    auto res = apply_batch(*st_->conn, *st_->cat, cfg, j.sequence, j.groups, n_records, hooks);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - t0).count();
    switch (res.outcome) {
      case apply_result::kind::duplicate:
        out.what = batch_outcome::kind::duplicate;
        break;
      case apply_result::kind::gap:
        out.what = batch_outcome::kind::gap;
        break;
      case apply_result::kind::applied:
        out.what = batch_outcome::kind::applied;
        out.nul_stripped = j.store ? count_nul_escapes(j.store->body) : 0;
        for (const auto& r : res.rejected) {
          log::warn("sync_record_rejected")
              .kv("sync", cfg.name)
              .kv("sequence", static_cast<int64_t>(j.sequence))
              .kv("index", static_cast<uint64_t>(r.index))
              .kv("collection", r.collection)
              .kv("id", r.id)
              .kv("field", r.field)
              .kv("reason", r.reason)
              .kv("kept_in", cfg.schema + "._sync_rejected");
        }
        out.held_widenings = st_->cat->held_json();
        log::info("batch_applied")
            .kv("sync", cfg.name)
            .kv("sequence", static_cast<int64_t>(j.sequence))
            .kv("records", static_cast<uint64_t>(n_records))
            .kv("applied", res.applied)
            .kv("skipped", res.skipped)
            .kv("overflow_values", res.overflow_values)
            .kv("rejected", static_cast<uint64_t>(res.rejected.size()))
            .kv("ms", static_cast<int64_t>(ms));
        break;
    }
    std::lock_guard g(st_->mu);
    if (res.outcome == apply_result::kind::applied) {
      st_->held_widenings = out.held_widenings;
      st_->overflow_values += res.overflow_values;
      st_->rejected += res.rejected.size();
      st_->last_sequence = j.sequence;
      st_->batches++;
      if (res.prestaged)
        st_->prestaged_batches++;
      st_->records += n_records;
      st_->last_commit = clock::now();
    } else {
      st_->last_sequence = std::max(st_->last_sequence, res.stored_sequence);
    }
    out.apply = std::move(res);
  } catch (const pg_error& e) {
    error = e.what();
    if (e.transient() || !st_->conn->ok()) {
      retry = true;
    } else if (e.sqlstate().rfind("22", 0) == 0 || e.sqlstate().rfind("54", 0) == 0) {
      // Bad data (an invalid timestamp, say) or a limit the batch would cross (54: more
      // than 1,600 columns across batches, a row or index entry too big): this batch is
      // refused, the sync goes on; the rollback already dropped the cached catalog.
      out.what = batch_outcome::kind::refused;
      out.error = error;
      out.sqlstate = e.sqlstate();
    } else {
      stop = true;
      std::string fix = e.sqlstate() == "42501" ? permission_fix(e, cfg) : "";
      error += "; failing SQL: " + e.sql().substr(0, 2000);
      if (!fix.empty())
        error += "; fix: " + fix;
    }
  } catch (const schema_conflict& e) {
    stop = true;
    error = e.what();
  } catch (const std::exception& e) {
    stop = true;
    error = e.what();
  }
  if (retry) {
    log::warn("sync_retry")
        .kv("sync", cfg.name)
        .kv("sequence", static_cast<int64_t>(j.sequence))
        .kv("error", error);
    st_->stage.reset();
    st_->conn.reset();  // reconnect (and re-check the lock) before the next attempt
    {
      std::lock_guard g(st_->mu);
      st_->connected = false;
      st_->last_error = error;
    }
    sleep_for(next_backoff());
    return false;
  }
  if (stop) {
    log::error("sync_stopped").kv("sync", cfg.name).kv("error", error);
    out.what = batch_outcome::kind::stopped_now;
    out.error = error;
    std::lock_guard g(st_->mu);
    st_->stopped = true;
    st_->last_error = error;
  }
  j.done(std::move(out));
  return true;
}

}  // namespace sluice::sync
