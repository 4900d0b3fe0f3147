// Applies one batch in one transaction: cursor check, COPY into a temporary stage,
// merge with a version guard and IS DISTINCT FROM, deletes, _sync_event rows and
// NOTIFY, the new cursor in _sync_state, COMMIT. Nothing is reported applied that was
// not committed; a batch at or below the cursor is a duplicate and changes nothing.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "config/settings.hpp"
#include "sync/batch.hpp"
#include "sync/pg_conn.hpp"
#include "sync/schema_manager.hpp"

namespace sluice::sync {

// A record the database refused, kept in _sync_rejected (refused_records: quarantine).
struct rejection {
  size_t index = 0;  // in the batch
  std::string collection, id, field, sqlstate, reason;
};

// More refused records than this in one batch refuse the whole batch (422): each one
// costs another COPY of its collection.
inline constexpr size_t kMaxRejectedPerBatch = 100;

struct apply_result {
  enum class kind { applied, duplicate, gap } outcome = kind::applied;
  int64_t stored_sequence = 0;  // the cursor before this batch
  uint64_t applied = 0;         // rows inserted, updated or deleted
  uint64_t skipped = 0;         // records older than, or equal to, what is stored
  uint64_t events = 0;
  uint32_t prestaged = 0;        // collections merged from a stage the stager had filled
  uint64_t overflow_values = 0;  // values kept in _sync_overflow (did not fit their column)
  std::vector<rejection> rejected;
};

// Hooks for the writer's second connection; both optional.
struct apply_hooks {
  // The qualified stage table already holding `collection`'s records of this batch with
  // exactly the columns `signature` (stage_signature()), or "".
  std::function<std::string(const std::string& collection, const std::string& signature)> prestaged;
  // Runs once, while the server executes the batch's first merge statement.
  std::function<void()> meanwhile;
  // The batch's records: a value the database refuses is named by its index.
  const std::vector<record>* records = nullptr;
};

// The stored cursor (0 when the sync never wrote).
int64_t stored_sequence(pg_conn& c, const std::string& schema, const std::string& sync);

// `groups` is dedupe() of the batch's `total` records (done before the batch is queued,
// off the writer's serial path). Throws pg_error or schema_conflict; the transaction is
// rolled back and the catalog invalidated on any failure.
apply_result apply_batch(pg_conn& c, catalog& cat, const config::sync& s, int64_t sequence,
                         const std::vector<collection_batch>& groups, size_t total,
                         const apply_hooks& hooks = {});

}  // namespace sluice::sync
