// The one mapping from a batch's outcome to the ingest API's HTTP answer.
#include <catch2/catch.hpp>

#include "sync/ingest_reply.hpp"

using namespace sluice::sync;
using kind = batch_outcome::kind;

namespace {

batch_outcome outcome(kind k) {
  batch_outcome o;
  o.what = k;
  o.sequence = 7;
  o.records = 3;
  return o;
}

}  // namespace

TEST_CASE("every batch outcome has its status, Retry-After and body") {
  struct row {
    kind what;
    int status;
    int retry_after;
    const char* body;  // the whole JSON body
  };
  const row rows[] = {
      {kind::applied, 200, 0,
       R"({"applied":2,"duplicate":false,"events":4,"sequence":7,"skipped":1})"},
      {kind::duplicate, 200, 0, R"({"applied":0,"duplicate":true,"sequence":7,"skipped":3})"},
      {kind::gap, 409, 0, R"({"error":"sequence gap","expected_sequence":6,"stored_sequence":5})"},
      {kind::refused, 422, 0, R"({"error":"invalid input syntax","sqlstate":"22007"})"},
      {kind::stopped_now, 500, 0, R"({"error":"sync stopped: invalid input syntax"})"},
      {kind::stopped, 503, kStoppedRetryAfter, R"({"error":"sync stopped: invalid input syntax"})"},
      {kind::unavailable, 503, kUnavailableRetryAfter,
       R"({"error":"sync writer not connected to its destination for 30 s: invalid input )"
       R"(syntax; re-send this batch"})"},
      {kind::shutting_down, 503, 1, R"({"error":"gateway shutting down; re-send this batch"})"},
  };
  for (const auto& r : rows) {
    auto o = outcome(r.what);
    o.apply.applied = 2;
    o.apply.skipped = 1;
    o.apply.events = 4;
    o.apply.stored_sequence = 5;
    o.error = "invalid input syntax";
    o.sqlstate = "22007";
    o.waited = std::chrono::seconds(30);
    auto rep = to_reply(o);
    INFO("outcome " << static_cast<int>(r.what));
    CHECK(rep.status == r.status);
    CHECK(rep.retry_after == r.retry_after);
    CHECK(rep.body.dump() == r.body);
  }
}

TEST_CASE("an applied batch lists what it stripped, overflowed, rejected and holds") {
  auto o = outcome(kind::applied);
  o.apply.applied = 1;
  o.nul_stripped = 2;
  o.apply.overflow_values = 3;
  o.apply.rejected.push_back({4, "orders", "o_1", "total", "22P02", "bad number"});
  o.held_widenings = nlohmann::json::array({{{"table", "orders"}}});
  auto rep = to_reply(o);
  CHECK(rep.status == 200);
  CHECK(rep.body["nul_stripped"] == 2);
  CHECK(rep.body["overflow_values"] == 3);
  CHECK(rep.body["rejected"] == 1);
  CHECK(rep.body["rejected_records"].dump() ==
        R"([{"collection":"orders","field":"total","id":"o_1","index":4,"reason":"bad number",)"
        R"("sqlstate":"22P02"}])");
  CHECK(rep.body["held_widenings"].dump() == R"([{"table":"orders"}])");
}

TEST_CASE("an applied batch without extras has none of their keys") {
  auto rep = to_reply(outcome(kind::applied));
  for (const char* key :
       {"nul_stripped", "overflow_values", "rejected", "rejected_records", "held_widenings"})
    CHECK_FALSE(rep.body.contains(key));
}
