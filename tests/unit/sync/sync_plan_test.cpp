// plan_columns: which column changes a batch asks for. A declared type (configured,
// declared by a record, or timestamptz) never widens; a held widening (a view over the
// column) waits and aims higher; only inferred types widen. Pure, no database.
#include <catch2/catch.hpp>
#include <string>

#include "sync/batch.hpp"
#include "sync/schema_manager.hpp"
#include "tests/unit/sync/batch_parse.hpp"

using namespace sluice::sync;

namespace {

// A table with columns amount bigint and at timestamptz.
table_info table() {
  table_info t;
  t.ident.push_back('c');  // not = "c": GCC 12 warns falsely (-Wrestrict, PR 105329)
  const std::string amount = "amount", at = "at";
  t.fields.remember(amount, amount);
  t.fields.remember(at, at);
  t.cols[amount] = col_type::bigint;
  t.cols[at] = col_type::timestamptz;
  t.order = {amount, at};
  t.order_fields = {amount, at};
  return t;
}

}  // namespace

TEST_CASE("plan: declared types keep their column and held widenings wait", "[sync]") {
  auto b = parse_ok(R"({"collection":"c","id":"1","version":1,"data":{"amount":"ten","at":true}})");
  size_t dropped = 0;
  auto groups = dedupe(b.records, dropped);
  REQUIRE(groups.size() == 1);

  SECTION("inferred: amount widens; timestamptz is always declared: kept") {
    auto t = table();
    auto ch = plan_columns(t, groups[0]);
    REQUIRE(ch.size() == 1);
    CHECK(ch[0].widen);
    CHECK(ch[0].ident == "amount");
    CHECK(ch[0].to == col_type::text);
    CHECK(t.cols["at"] == col_type::timestamptz);
    CHECK(t.has_overflow);
  }
  SECTION("configured bigint: no change at all, the misfits go to _sync_overflow") {
    auto t = table();
    std::map<std::string, std::string> declared{{"amount", "bigint"}};
    CHECK(plan_columns(t, groups[0], &declared).empty());
    CHECK(t.cols["amount"] == col_type::bigint);
    CHECK(t.has_overflow);
  }
  SECTION("held: no DDL, the held target moves up") {
    auto t = table();
    t.has_overflow = true;
    t.held["amount"] = held_widening{"amount", col_type::numeric, {"reports.v"}, ""};
    CHECK(plan_columns(t, groups[0]).empty());
    CHECK(t.cols["amount"] == col_type::bigint);
    CHECK(t.held["amount"].to == col_type::text);
  }
  SECTION("a new column declared by its record keeps the declared type") {
    auto nb = parse_ok(R"({"collection":"c","id":"1","version":1,"data":{"score":"high"},)"
                       R"("types":{"score":"numeric"}})");
    auto ng = dedupe(nb.records, dropped);
    auto t = table();
    auto ch = plan_columns(t, ng[0]);
    REQUIRE(ch.size() == 1);
    CHECK_FALSE(ch[0].widen);
    CHECK(ch[0].to == col_type::numeric);
    CHECK(t.has_overflow);
  }
  SECTION("timestamptz_ms in the configuration marks the column") {
    auto mb = parse_ok(R"({"collection":"c","id":"1","version":1,"data":{"paid":1700000000123}})");
    auto mg = dedupe(mb.records, dropped);
    auto t = table();
    std::map<std::string, std::string> declared{{"paid", "timestamptz_ms"}};
    auto ch = plan_columns(t, mg[0], &declared);
    REQUIRE(ch.size() == 1);
    CHECK(ch[0].to == col_type::timestamptz);
    CHECK(t.unix_ms.count("paid") == 1);
    CHECK_FALSE(t.has_overflow);
  }
}
