#include <catch2/catch.hpp>

#include "sync/batch.hpp"

using namespace sluice::sync;

namespace {
batch ok(std::string_view body) {
  auto r = parse_batch(body);
  if (auto* e = std::get_if<parse_error>(&r))
    FAIL("line " << e->line << ": " << e->reason);
  return std::get<batch>(r);
}
parse_error bad(std::string_view body) {
  auto r = parse_batch(body);
  REQUIRE(std::holds_alternative<parse_error>(r));
  return std::get<parse_error>(r);
}
}  // namespace

TEST_CASE("batch: NDJSON with a sequence header line", "[sync]") {
  auto b =
      ok("{\"sequence\": 7}\n"
         "{\"collection\":\"customer\",\"id\":\"c1\",\"op\":\"upsert\",\"version\":3,"
         "\"data\":{\"name\":\"A\",\"id\":\"c1\"}}\n\n"
         "{\"collection\":\"customer\",\"id\":42,\"op\":\"delete\",\"version\":4}\n");
  REQUIRE(b.sequence == 7);
  REQUIRE(b.records.size() == 2);
  CHECK(b.records[0].data.size() == 1);  // "id" inside data is the key, not a column
  CHECK(b.records[1].id == "42");
  CHECK(b.records[1].operation == op::remove);
}

TEST_CASE("batch: JSON array and object forms", "[sync]") {
  auto a = ok(R"([{"collection":"c","id":"1","version":1,"data":{}}])");
  CHECK(!a.sequence);
  CHECK(a.records.size() == 1);
  auto o = ok(R"({"sequence": 3, "records": [{"collection":"c","id":"1","version":1,"data":{"x":1},
               "types": {"x": "numeric"}}]})");
  CHECK(o.sequence == 3);
  CHECK(o.records[0].declared.at("x") == col_type::numeric);
}

TEST_CASE("batch: errors name the line and the reason", "[sync]") {
  auto e =
      bad("{\"collection\":\"c\",\"id\":\"1\",\"version\":1,\"data\":{}}\n{\"collection\": }\n");
  CHECK(e.line == 2);
  CHECK(e.reason.find("parse") != std::string::npos);
  auto v = bad("{\"collection\":\"c\",\"id\":\"1\",\"data\":{}}\n");
  CHECK(v.line == 1);
  CHECK(v.reason.find("version") != std::string::npos);
  CHECK(
      bad("{\"collection\":\"c\",\"id\":\"1\",\"version\":1,\"op\":\"merge\"}").reason.find("op") !=
      std::string::npos);
  CHECK(bad("[{\"collection\":\"c\",\n\"id\":1,,}]").line == 2);
  CHECK(bad("{\"collection\":\"c\",\"id\":\"1\",\"version\":1,\"data\":{\"_sync_version\":1}}")
            .reason.find("reserved") != std::string::npos);
  CHECK(bad("  \n").reason == "empty body");
}

TEST_CASE("batch: dedupe keeps the highest version, the later on ties", "[sync]") {
  auto rec = [](std::string c, std::string id, int64_t v, op o, int tag) {
    record r;
    r.collection = std::move(c);
    r.id = std::move(id);
    r.version = v;
    r.operation = o;
    r.data = {{"tag", tag}};
    return r;
  };
  std::vector<record> in{rec("a", "1", 5, op::upsert, 1), rec("a", "1", 3, op::upsert, 2),
                         rec("b", "1", 1, op::upsert, 3), rec("a", "2", 1, op::upsert, 4),
                         rec("a", "1", 5, op::remove, 5), rec("a", "2", 2, op::upsert, 6)};
  size_t dropped = 0;
  auto out = dedupe(in, dropped);
  CHECK(dropped == 3);
  REQUIRE(out.size() == 2);
  CHECK(out[0].collection == "a");
  REQUIRE(out[0].records.size() == 2);
  CHECK(out[0].records[0]->operation == op::remove);  // tie at v5: the later one wins
  CHECK(out[0].records[1]->data["tag"] == 6);
  CHECK(out[1].records.size() == 1);
}
