#include "sync/ingest_reply.hpp"

namespace sluice::sync {

namespace {

reply error(int status, std::string message, int retry_after = 0) {
  return {status, {{"error", std::move(message)}}, retry_after};
}

nlohmann::json rejected_list(const std::vector<rejection>& rejected) {
  auto list = nlohmann::json::array();
  for (const auto& r : rejected) {
    list.push_back({{"index", r.index},
                    {"collection", r.collection},
                    {"id", r.id},
                    {"field", r.field},
                    {"sqlstate", r.sqlstate},
                    {"reason", r.reason}});
  }
  return list;
}

}  // namespace

reply to_reply(const batch_outcome& o) {
  using kind = batch_outcome::kind;
  switch (o.what) {
    case kind::applied: {
      reply r{200,
              {{"sequence", o.sequence},
               {"duplicate", false},
               {"applied", o.apply.applied},
               {"skipped", o.apply.skipped},
               {"events", o.apply.events}},
              0};
      if (o.nul_stripped)
        r.body["nul_stripped"] = o.nul_stripped;
      if (o.apply.overflow_values)
        r.body["overflow_values"] = o.apply.overflow_values;
      if (!o.apply.rejected.empty()) {
        r.body["rejected"] = o.apply.rejected.size();
        r.body["rejected_records"] = rejected_list(o.apply.rejected);
      }
      if (!o.held_widenings.empty())
        r.body["held_widenings"] = o.held_widenings;
      return r;
    }
    case kind::duplicate:
      return {
          200,
          {{"sequence", o.sequence}, {"duplicate", true}, {"applied", 0}, {"skipped", o.records}},
          0};
    case kind::gap:
      return {409,
              {{"error", "sequence gap"},
               {"expected_sequence", o.apply.stored_sequence + 1},
               {"stored_sequence", o.apply.stored_sequence}},
              0};
    case kind::refused:
      // Bad data or a limit the batch would cross: this batch only, the sync goes on.
      return {422, {{"error", o.error}, {"sqlstate", o.sqlstate}}, 0};
    case kind::stopped_now:
      return error(500, "sync stopped: " + o.error);
    case kind::stopped:
      return error(503, "sync stopped: " + o.error, kStoppedRetryAfter);
    case kind::unavailable:
      return error(503,
                   "sync writer not connected to its destination for " +
                       std::to_string(o.waited.count()) + " s: " + o.error + "; re-send this batch",
                   kUnavailableRetryAfter);
    case kind::shutting_down:
      return error(503, "gateway shutting down; re-send this batch", 1);
  }
  return error(500, "unknown batch outcome");
}

}  // namespace sluice::sync
