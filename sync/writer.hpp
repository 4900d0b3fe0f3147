// One writer per sync: a bounded queue of batches and a thread that applies them in
// order on its own connection, holding the sync's advisory lock on the destination.
// Connection loss, tunnel drops and serialization failures are retried with backoff
// (the batch stays at the head of the queue); constraint and permission errors stop
// the sync with the failing SQL and the grant that would fix it.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>

#include "config/settings.hpp"
#include "sync/batch.hpp"
#include "sync/batch_outcome.hpp"
#include "sync/checks.hpp"
#include "sync/service.hpp"

namespace sluice::sync {

struct job {
  uint64_t id = 0;  // unique per writer (set by submit): a re-sent batch is another job
  int64_t sequence = 0;
  std::vector<record> records;
  std::shared_ptr<const batch_store> store;  // the body and fields the records point into
  std::vector<collection_batch> groups;      // dedupe(records): points into `records`
  std::function<void(batch_outcome)> done;   // called once, on the writer thread
  std::chrono::steady_clock::time_point queued_at{};
};

// Batches may arrive slightly out of order over several connections: one ahead of the
// cursor waits this long for the missing ones before it is answered as a gap.
inline constexpr std::chrono::milliseconds kReorderWindow{2000};

class writer {
 public:
  writer(config::sync cfg, config::settings_ptr settings, forward_fn forward, uint32_t depth);
  ~writer();
  writer(const writer&) = delete;
  writer& operator=(const writer&) = delete;

  // False when the queue is full (the ingest layer answers 429 with Retry-After).
  bool submit(job j);
  // A reload: new settings for the same sync name; clears a stopped state. Reconnects
  // only when reconnect_reason (sync/reconnect_rule.hpp) gives a reason.
  void update(config::sync cfg, config::settings_ptr settings, uint32_t depth);
  nlohmann::json status() const;
  // Runs the checklist on a fresh connection (used at start and by the HTTP API).
  std::vector<check> verify_now() const;

 private:
  // Locking: run() holds the mutex except around the calls it makes; every other
  // function is called without it and takes it only in blocks that call nothing which
  // takes it again (sleep_for, next_backoff, open_stager and stage_off take it
  // themselves), so no path can lock it twice.
  void run();
  // stopped: a cause retrying cannot fix (the sync is stopped until a reload).
  enum class connect_outcome { connected, failed, interrupted, stopped };
  // Connects, waits for the advisory lock, runs setup; called without the mutex.
  connect_outcome connect(const config::sync& cfg, const config::settings_ptr& settings,
                          const forward_fn& fwd);
  bool handle(job& j);  // false: retry later (the job goes back to the queue)
  // While `j` merges: takes the next job out of the queue when it follows `j`, and has
  // the stager COPY it into stage tables on the second connection.
  void stage_next(const job& j, const config::sync& cfg);
  void open_stager(const config::sync& cfg);  // with stage_params; stage_off() on failure
  void fail_stopped(job& j);
  void requeue(job j);
  void put_back_next();
  void stage_off(const config::sync& cfg, std::string why);
  // Waits up to `d`; true when interrupted by a stop or a reconnect.
  bool sleep_for(std::chrono::milliseconds d);
  std::chrono::milliseconds next_backoff();  // the wait before the next retry (doubles)

  struct state;
  std::unique_ptr<state> st_;
  std::thread thread_;
};

}  // namespace sluice::sync
