// What became of one batch, as the writer saw it. The writer says what happened; the
// ingest layer (sync/ingest_reply.hpp) decides the HTTP status, body and Retry-After.
#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "sync/apply.hpp"

namespace sluice::sync {

struct batch_outcome {
  enum class kind {
    applied,        // committed; `apply` says how many rows, skipped, rejected
    duplicate,      // at or below the stored cursor: nothing changed
    gap,            // ahead of the stored cursor (apply.stored_sequence)
    refused,        // the database refused this batch's data; the sync goes on
    stopped_now,    // this batch stopped the sync (a cause retrying cannot fix)
    stopped,        // the sync had stopped before this batch
    unavailable,    // not connected to the destination within `waited`
    shutting_down,  // the gateway stops; the batch was never committed
  } what = kind::applied;
  int64_t sequence = 0;
  uint64_t records = 0;       // in the batch
  apply_result apply;         // applied, duplicate, gap
  uint64_t nul_stripped = 0;  // applied: NUL characters removed from values (docs/sync.md)
  nlohmann::json held_widenings = nlohmann::json::array();  // applied: what views block
  std::string error;               // refused, stopped_now, stopped, unavailable
  std::string sqlstate;            // refused
  std::chrono::seconds waited{0};  // unavailable
};

}  // namespace sluice::sync
