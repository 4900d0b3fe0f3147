#include <catch2/catch.hpp>

#include "sync/naming.hpp"
#include "sync/pg_conn.hpp"
#include "sync/types.hpp"

using namespace sluice::sync;
using json = nlohmann::json;

TEST_CASE("types: inference and widening", "[sync]") {
  CHECK(infer(json(true)) == col_type::boolean);
  CHECK(infer(json(5)) == col_type::bigint);
  CHECK(infer(json(18446744073709551615ull)) == col_type::numeric);
  CHECK(infer(json(1.5)) == col_type::numeric);
  CHECK(infer(json("x")) == col_type::text);
  CHECK(infer(json::object()) == col_type::jsonb);
  CHECK(infer(json::array()) == col_type::jsonb);
  CHECK(!infer(json(nullptr)));
  CHECK(widen(col_type::bigint, col_type::numeric) == col_type::numeric);
  CHECK(widen(col_type::bigint, col_type::text) == col_type::text);
  CHECK(widen(col_type::boolean, col_type::bigint) == col_type::text);
  CHECK(widen(col_type::jsonb, col_type::text) == col_type::text);
  CHECK(fits(json("2024-01-01T00:00:00Z"), col_type::timestamptz));
  CHECK(!fits(json(5), col_type::timestamptz));
  CHECK(fits(json(5), col_type::numeric));
  CHECK(!fits(json(1.5), col_type::bigint));
  CHECK(fits(json(nullptr), col_type::boolean));
  for (auto t : {col_type::boolean, col_type::bigint, col_type::numeric, col_type::text,
                 col_type::timestamptz, col_type::jsonb}) {
    CHECK(from_sql_name(sql_name(t)) == t);
  }
}

TEST_CASE("types: COPY text escaping", "[sync]") {
  std::string out;
  append_copy_value(out, json("a\tb\nc\\d\re"), col_type::text);
  CHECK(out == "a\\tb\\nc\\\\d\\re");
  out.clear();
  append_copy_value(out, json(nullptr), col_type::text);
  CHECK(out == "\\N");
  out.clear();
  append_copy_value(out, json(false), col_type::boolean);
  CHECK(out == "f");
  out.clear();
  append_copy_value(out, json{{"k", "v\n"}}, col_type::jsonb);
  CHECK(out == "{\"k\":\"v\\\\n\"}");
  out.clear();
  append_copy_value(out, json(true), col_type::text);
  CHECK(out == "true");
}

TEST_CASE("naming: 63-byte identifiers with a hash suffix, collisions refused", "[sync]") {
  CHECK(to_identifier("customer") == "customer");
  std::string long_name(80, 'a');
  auto id = to_identifier(long_name);
  CHECK(id.size() == 63);
  CHECK(id.substr(0, 53) == std::string(53, 'a'));
  CHECK(id.substr(53, 2) == "_h");
  CHECK(to_identifier(long_name + "b") != id);
  // Multi-byte characters are never split.
  std::string utf;
  for (int i = 0; i < 40; ++i)
    utf += "\xc3\xa9";  // é
  auto u = to_identifier(utf);
  CHECK(u.size() <= 63);
  CHECK(u.substr(0, u.size() - 10).size() % 2 == 0);

  name_map m;
  std::string err;
  REQUIRE(m.add(long_name, err) == id);
  CHECK(m.add(long_name, err) == id);  // stable
  // A short name spelled exactly like the truncated one collides.
  CHECK(!m.add(id, err));
  CHECK(err.find("both map") != std::string::npos);
  CHECK(quote_ident("we\"ird") == "\"we\"\"ird\"");
  CHECK(quote_literal("it's\\") == "E'it''s\\\\'");
}
