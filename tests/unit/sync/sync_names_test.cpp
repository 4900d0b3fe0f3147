// The name rules (sync/naming.hpp): records whose names PostgreSQL cannot store, or
// that would meet the writer's own tables and columns, are refused with 422 when the
// batch is parsed, naming the record, its id and the field (issue 16, defect 5: they
// used to fail in the database and stop the whole sync).
#include <catch2/catch.hpp>
#include <string>

#include "sync/batch.hpp"
#include "sync/naming.hpp"

using namespace sluice::sync;

namespace {

parse_error refused(const std::string& body) {
  auto r = parse_batch(body);
  REQUIRE(std::holds_alternative<parse_error>(r));
  return std::get<parse_error>(r);
}

std::string rec(const std::string& collection, const std::string& id, const std::string& data) {
  return R"({"collection":")" + collection + R"(","id":")" + id + R"(","version":1,"data":)" +
         data + "}";
}

// `n` fields; booleans by default, small enough that any number of them fits a row.
std::string fields(size_t n, const std::string& prefix, const std::string& value = "true") {
  std::string d = "{";
  for (size_t i = 0; i < n; ++i)
    d += (i ? ",\"" : "\"") + prefix + std::to_string(i) + "\":" + value;
  return d + "}";
}

// Two names longer than 63 bytes whose identifiers meet: the same 53-byte head and
// the same first 32 bits of SHA-1 (found by a search over "f" x 60 + N).
const std::string kLongA = std::string(60, 'f') + "2643";
const std::string kLongB = std::string(60, 'f') + "23562";

}  // namespace

TEST_CASE("names: the colliding pair really collides", "[sync]") {
  CHECK(to_identifier(kLongA) == to_identifier(kLongB));
  CHECK(to_identifier(kLongA) == std::string(53, 'f') + "_h0d702ac2");
}

TEST_CASE("names: each rule refuses the batch with 422, the record's index, id and field",
          "[sync]") {
  struct row {
    const char* what;
    std::string line;      // the second record of an NDJSON batch
    const char* expected;  // part of the reason after "record 1 (id ..."
  };
  const std::string shortened = std::string(53, 'a') + "_h0123abcd";
  const row rows[] = {
      {"NUL in a field name", rec("c", "2", R"({"a\u0000b":1})"),
       R"(field "a\u0000b" contains a NUL character)"},
      {"NUL in a collection name", rec("c\\u0000x", "2", "{}"),
       R"(collection "c\u0000x" contains a NUL character)"},
      {"NUL in an id", rec("c", "a\\u0000b", "{}"), "id contains a NUL character"},
      {"an empty field name", rec("c", "2", R"({"":1})"), R"(field "" must not be empty)"},
      {"ctid", rec("c", "2", R"({"ctid":1})"), R"(field "ctid" is reserved (a PostgreSQL)"},
      {"xmin", rec("c", "2", R"({"xmin":1})"), R"(field "xmin" is reserved)"},
      {"xmax", rec("c", "2", R"({"xmax":1})"), R"(field "xmax" is reserved)"},
      {"cmin", rec("c", "2", R"({"cmin":1})"), R"(field "cmin" is reserved)"},
      {"cmax", rec("c", "2", R"({"cmax":1})"), R"(field "cmax" is reserved)"},
      {"tableoid", rec("c", "2", R"({"tableoid":1})"), R"(field "tableoid" is reserved)"},
      {"the stage's _del", rec("c", "2", R"({"_del":true})"), R"(field "_del" is reserved)"},
      {"a writer column", rec("c", "2", R"({"_sync_version":1})"),
       R"(field "_sync_version" is reserved (names starting with _sync_)"},
      {"the reserved prefix", rec("c", "2", R"({"_sync_anything":1})"),
       R"(field "_sync_anything" is reserved)"},
      {"_sync_state as a collection", rec("_sync_state", "2", "{}"),
       R"(collection "_sync_state" is reserved)"},
      {"_sync_event as a collection", rec("_sync_event", "2", "{}"),
       R"(collection "_sync_event" is reserved)"},
      {"_sync_deleted as a collection", rec("_sync_deleted", "2", "{}"),
       R"(collection "_sync_deleted" is reserved)"},
      {"a stage table as a collection", rec("_sync_stage_0_1", "2", "{}"),
       R"(collection "_sync_stage_0_1" is reserved)"},
      {"a shortened-form field", rec("c", "2", "{\"" + shortened + "\":1}"),
       "is reserved (60..63 bytes ending in _h"},
      {"a shortened-form collection", rec(shortened, "2", "{}"),
       "is reserved (60..63 bytes ending in _h"},
      {"long field names that collide",
       rec("c", "2", "{\"" + kLongA + "\":1,\"" + kLongB + "\":2}"), "both shorten to column"},
      {"a collection name over the limit",
       rec(std::string(kMaxCollectionBytes + 1, 'c'), "2", "{}"),
       "collection names may have at most 1024"},
      {"an id over the key limit", rec("c", std::string(kMaxKeyBytes, 'i'), "{}"),
       "an id may have at most 2600 bytes"},
      {"a row too big for a page", rec("c", "2", fields(1100, "n", "1")), "row needs at least 8"},
      {"more fields than a table holds", rec("c", "2", fields(kMaxFields + 1, "f")),
       "1598 distinct fields in this batch; a table holds at most 1596"},
  };
  const std::string first = rec("c", "1", R"({"name":"ok"})");
  for (const auto& r : rows) {
    INFO(r.what);
    for (bool array : {false, true}) {
      INFO((array ? "array" : "NDJSON"));
      std::string body = array ? "[" + first + ",\n" + r.line + "]" : first + "\n" + r.line + "\n";
      auto e = refused(body);
      INFO(e.reason);
      CHECK(e.status == 422);
      CHECK(e.line == 2);
      CHECK(e.reason.rfind("record 1 (id \"", 0) == 0);
      CHECK(e.reason.find(r.expected) != std::string::npos);
    }
  }
}

TEST_CASE("names: limits are exact and count distinct fields across a collection's records",
          "[sync]") {
  // kMaxFields fields fit; names starting like reserved ones but not equal are fine.
  auto full = parse_batch(rec("c", "1", fields(kMaxFields, "f")));
  CHECK(std::holds_alternative<batch>(full));
  // Two records with 1000 different fields each: the table would need 2000 columns.
  auto two = refused(rec("c", "1", fields(1000, "a")) + "\n" + rec("c", "2", fields(1000, "b")));
  CHECK(two.status == 422);
  CHECK(two.line == 2);
  CHECK(two.reason.find("record 1 (id \"2\"): collection \"c\" has 2000 distinct fields") == 0);
  // The same fields again in many records cost nothing; another collection has its own.
  std::string many;
  for (int i = 0; i < 50; ++i)
    many += rec("c", std::to_string(i), fields(kMaxFields, "f")) + "\n";
  many += rec("d", "1", fields(kMaxFields, "g")) + "\n";
  CHECK(std::holds_alternative<batch>(parse_batch(many)));
  // Row size: 1100 bigints (8 bytes each) cannot fit 8160 bytes; 1100 short strings,
  // booleans or nulls can, and so can long strings, which move out of line.
  std::string strings = "{", bools = "{", nulls = "{", longs_text = "{";
  for (int i = 0; i < 1100; ++i) {
    auto k = std::string(i ? ",\"" : "\"") + "f" + std::to_string(i) + "\":";
    strings += k + "\"v\"";
    bools += k + "true";
    nulls += k + "null";
    if (i < 600)
      longs_text += k + "\"" + std::string(200, 'x') + "\"";
  }
  for (auto* d : {&strings, &bools, &nulls, &longs_text}) {
    *d += "}";
    CHECK(std::holds_alternative<batch>(parse_batch(rec("c", "1", *d))));
  }
  auto wide = refused(rec("c", "1", fields(1100, "n", "1")));
  CHECK(wide.status == 422);
  CHECK(wide.reason.find("row needs at least") != std::string::npos);
  // A declared timestamptz is 8 bytes too, whatever the text.
  std::string stamps = "{", types = "{";
  for (int i = 0; i < 1100; ++i) {
    auto k = std::string(i ? ",\"" : "\"") + "t" + std::to_string(i) + "\":";
    stamps += k + "\"2024-01-01\"";
    types += k + "\"timestamptz\"";
  }
  auto declared = refused(R"({"collection":"c","id":"1","version":1,"data":)" + stamps +
                          "},\"types\":" + types + "}}");
  CHECK(declared.reason.find("row needs at least") != std::string::npos);
  // The id limit counts the collection's name too.
  auto at_limit = parse_batch(rec("c", std::string(kMaxKeyBytes - 1, 'i'), "{}"));
  CHECK(std::holds_alternative<batch>(at_limit));
  // Long names that do not collide are fine, once each or repeated.
  auto longs = parse_batch(rec("c", "1", "{\"" + kLongA + "\":1}") + "\n" +
                           rec("c", "2", "{\"" + kLongA + "\":1}") + "\n" + rec(kLongA, "3", "{}"));
  CHECK(std::holds_alternative<batch>(longs));
  // Colliding long collection names are refused like colliding fields.
  auto colls = refused(rec(kLongA, "1", "{}") + "\n" + rec(kLongB, "1", "{}"));
  CHECK(colls.status == 422);
  CHECK(colls.reason.find("both shorten to table") != std::string::npos);
}

TEST_CASE("names: neighbours of the reserved names are allowed", "[sync]") {
  for (const char* name : {"Xmin", "xmin2", "ctid_", "_sync", "_syncx", "sync_state", "_dele",
                           "oid", "del", "id_", "name"}) {
    INFO(name);
    CHECK(field_problem(name).empty());
    CHECK(collection_problem(name).empty());
  }
  // 63 bytes ending in _h + 8 characters that are not all lowercase hex.
  CHECK(field_problem(std::string(53, 'a') + "_h0123ABCD").empty());
  CHECK(field_problem(std::string(53, 'a') + "_h0123abcg").empty());
  CHECK(field_problem(std::string(49, 'a') + "_h0123abcd").empty());  // 59 bytes
  CHECK_FALSE(field_problem(std::string(50, 'a') + "_h0123abcd").empty());
  // "id" in data is the record id, not a field: it is dropped, not refused.
  auto b = parse_batch(rec("c", "1", R"({"id":"1","x":1})"));
  REQUIRE(std::holds_alternative<batch>(b));
  CHECK(std::get<batch>(b).records[0].data.size() == 1);
  // A malformed record still wins over a refused name: 400 before 422.
  auto m = refused(rec("c", "1", R"({"xmin":1})") + "\n{\"collection\": }\n");
  CHECK(m.status == 400);
}
