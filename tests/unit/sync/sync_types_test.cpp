#include <catch2/catch.hpp>
#include <deque>

#include "sync/naming.hpp"
#include "sync/pg_conn.hpp"
#include "sync/types.hpp"

using namespace sluice::sync;

namespace {
// A scanned value; the text it points into lives as long as the test binary.
jvalue jv(std::string_view text) {
  static std::deque<std::string> keep;
  keep.emplace_back(text);
  const std::string& t = keep.back();
  json_scanner s(t, 0, t.size());
  jvalue v = s.value(0);
  REQUIRE(s.at_end());
  return v;
}
std::string copy_of(std::string_view text, col_type t) {
  std::string out;
  append_copy_value(out, jv(text), t);
  return out;
}
}  // namespace

TEST_CASE("types: inference and widening", "[sync]") {
  CHECK(infer(jv("true")) == col_type::boolean);
  CHECK(infer(jv("5")) == col_type::bigint);
  CHECK(infer(jv("-0")) == col_type::bigint);
  CHECK(infer(jv("9223372036854775807")) == col_type::bigint);
  CHECK(infer(jv("-9223372036854775808")) == col_type::bigint);
  CHECK(infer(jv("9223372036854775808")) == col_type::numeric);
  CHECK(infer(jv("-9223372036854775809")) == col_type::numeric);
  CHECK(infer(jv("18446744073709551615")) == col_type::numeric);
  CHECK(infer(jv("123456789012345678901234567890")) == col_type::numeric);
  CHECK(infer(jv("1.5")) == col_type::numeric);
  CHECK(infer(jv("1e3")) == col_type::numeric);
  CHECK(infer(jv("1E+3")) == col_type::numeric);
  CHECK(infer(jv("-0.0")) == col_type::numeric);
  CHECK(infer(jv("\"x\"")) == col_type::text);
  CHECK(infer(jv("{}")) == col_type::jsonb);
  CHECK(infer(jv("[]")) == col_type::jsonb);
  CHECK(!infer(jv("null")));
  CHECK(widen(col_type::bigint, col_type::numeric) == col_type::numeric);
  CHECK(widen(col_type::bigint, col_type::text) == col_type::text);
  CHECK(widen(col_type::boolean, col_type::bigint) == col_type::text);
  CHECK(widen(col_type::jsonb, col_type::text) == col_type::text);
  CHECK(fits(jv("\"2024-01-01T00:00:00Z\""), col_type::timestamptz));
  CHECK(fits(jv("1700000000"), col_type::timestamptz));  // unix seconds
  CHECK(!fits(jv("1.5"), col_type::timestamptz));
  CHECK(!fits(jv("true"), col_type::timestamptz));
  CHECK(fits(jv("5"), col_type::numeric));
  CHECK(fits(jv("1e400"), col_type::numeric));
  CHECK(!fits(jv("1.5"), col_type::bigint));
  CHECK(!fits(jv("1e2"), col_type::bigint));
  CHECK(!fits(jv("9223372036854775808"), col_type::bigint));
  CHECK(fits(jv("null"), col_type::boolean));
  CHECK(!fits(jv("\"t\""), col_type::boolean));
  CHECK(!fits(jv("[1]"), col_type::numeric));
  CHECK(fits(jv("{\"a\":1}"), col_type::text));
  for (auto t : {col_type::boolean, col_type::bigint, col_type::numeric, col_type::text,
                 col_type::timestamptz, col_type::jsonb}) {
    CHECK(from_sql_name(sql_name(t)) == t);
  }
}

TEST_CASE("types: COPY text escaping", "[sync]") {
  struct row {
    const char* json;
    col_type type;
    const char* copy;
  };
  const row rows[] = {
      {R"("a\tb\nc\\d\re")", col_type::text, R"(a\tb\nc\\d\re)"},
      {R"("plain")", col_type::text, "plain"},
      {R"("q\"s\/")", col_type::text, "q\"s/"},
      {R"("\b\f")", col_type::text, "\b\f"},
      {R"("\u00e9\u20AC")", col_type::text, "\xc3\xa9\xe2\x82\xac"},
      {R"("\ud83d\ude00")", col_type::text, "\xf0\x9f\x98\x80"},
      {R"("\u005c\u0009\u000a\u000d")", col_type::text, R"(\\\t\n\r)"},
      {"\"h\xc3\xa9\"", col_type::text, "h\xc3\xa9"},
      {R"("2024-01-01T00:00:00Z")", col_type::timestamptz, "2024-01-01T00:00:00Z"},
      {"null", col_type::text, R"(\N)"},
      {"null", col_type::bigint, R"(\N)"},
      {"false", col_type::boolean, "f"},
      {"true", col_type::boolean, "t"},
      {"true", col_type::text, "true"},
      {"-0", col_type::bigint, "-0"},
      {"1.50", col_type::numeric, "1.50"},
      {"-1.5E-7", col_type::numeric, "-1.5E-7"},
      {"123456789012345678901234567890", col_type::numeric, "123456789012345678901234567890"},
      // Objects and arrays go to jsonb as sent; COPY escapes their backslashes and
      // the tabs and newlines between tokens.
      {R"({"k":"v\n"})", col_type::jsonb, R"({"k":"v\\n"})"},
      {"{ \"k\" :\t[1, 2,\n{}] }", col_type::jsonb, R"({ "k" :\t[1, 2,\n{}] })"},
      {R"(["\u00e9",null])", col_type::jsonb, R"(["\\u00e9",null])"},
      {R"({"a":1})", col_type::text, R"({"a":1})"},
      // NUL cannot be stored in text or jsonb: stripped; an escaped backslash before
      // "u0000" is not a NUL.
      {R"("a\u0000b")", col_type::text, "ab"},
      {R"({"k":"a\u0000b","n":{"x":"\u0000"}})", col_type::jsonb, R"({"k":"ab","n":{"x":""}})"},
      {R"({"k":"\\u0000"})", col_type::jsonb, R"({"k":"\\\\u0000"})"},
      {R"({"k":"\u0000"})", col_type::text, R"({"k":"\\u0000"})"},
      // Unix seconds for a timestamptz column.
      {"0", col_type::timestamptz, "1970-01-01 00:00:00+00"},
      {"1700000000", col_type::timestamptz, "2023-11-14 22:13:20+00"},
      {"-1", col_type::timestamptz, "1969-12-31 23:59:59+00"},
      {"951782400", col_type::timestamptz, "2000-02-29 00:00:00+00"},
      {"-62135596800", col_type::timestamptz, "0001-01-01 00:00:00+00"},
      {"-62135596801", col_type::timestamptz, "0001-12-31 23:59:59+00 BC"},
      {"253402300799", col_type::timestamptz, "9999-12-31 23:59:59+00"},
      {"9000000000000000", col_type::timestamptz, "9000000000000000"},
  };
  for (const auto& r : rows) {
    INFO(r.json);
    CHECK(copy_of(r.json, r.type) == r.copy);
  }
  CHECK(count_nul_escapes(R"({"a":"\u0000\u0000","b":"\\u0000"})") == 2);
  CHECK(count_nul_escapes("plain") == 0);
  std::string out;
  append_copy_text(out, "a\\b\tc\nd\re");
  CHECK(out == R"(a\\b\tc\nd\re)");
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

TEST_CASE("types: unix milliseconds and JSON strings", "[sync]") {
  struct row {
    const char* digits;
    const char* copy;
  };
  const row rows[] = {
      {"0", "1970-01-01 00:00:00.000+00"},
      {"1700000000123", "2023-11-14 22:13:20.123+00"},
      {"-1", "1969-12-31 23:59:59.999+00"},
      {"-1000", "1969-12-31 23:59:59.000+00"},
      {"951782400005", "2000-02-29 00:00:00.005+00"},
      {"-62135596800001", "0001-12-31 23:59:59.999+00 BC"},
      {"9000000000000000000", "9000000000000000000"},  // beyond any year: as sent
      {"12x", "12x"},
  };
  for (const auto& r : rows) {
    INFO(r.digits);
    std::string out;
    append_unix_ms(out, r.digits);
    CHECK(out == r.copy);
  }
  CHECK(from_declared("timestamptz_ms") == col_type::timestamptz);
  std::string j;
  append_json_string(j, std::string("a\"b\\c\n\x01\0d", 9));
  CHECK(j == R"("a\"b\\c\u000a\u0001\u0000d")");
}
