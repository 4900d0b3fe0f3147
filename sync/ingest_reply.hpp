// The ingest API's answers: a status, a JSON body and Retry-After. to_reply() is the one
// place a batch's outcome becomes HTTP (pure; tests/unit/sync/ingest_reply_test.cpp).
#pragma once

#include <nlohmann/json.hpp>

#include "sync/batch_outcome.hpp"

namespace sluice::sync {

struct reply {
  int status = 200;
  nlohmann::json body;
  int retry_after = 0;  // seconds, for 429/503
};

// Retry-After for a batch the writer could not apply in time (it is not connected).
inline constexpr int kUnavailableRetryAfter = 5;
// Retry-After while the sync is stopped: it needs a fix and a reload first.
inline constexpr int kStoppedRetryAfter = 30;

reply to_reply(const batch_outcome& o);

}  // namespace sluice::sync
