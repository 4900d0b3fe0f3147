#include <catch2/catch.hpp>
#include <string>

#include "sync/batch.hpp"
#include "tests/unit/sync/batch_parse.hpp"

using namespace sluice::sync;

namespace {
// A one-line NDJSON upsert with `data` as given.
std::string with_data(std::string_view data) {
  return R"({"collection":"c","id":"1","version":1,"data":)" + std::string(data) + "}";
}
const field* find(const record& r, std::string_view name) {
  for (const auto& f : r.data)
    if (f.name == name)
      return &f;
  return nullptr;
}
std::string copy_of(const record& r, std::string_view name) {
  const field* f = find(r, name);
  REQUIRE(f);
  std::string out;
  append_copy_value(out, f->value, infer(f->value).value_or(col_type::text));
  return out;
}
}  // namespace

TEST_CASE("batch: NDJSON with a sequence header line", "[sync]") {
  auto b = parse_ok(
      "{\"sequence\": 7}\n"
      "{\"collection\":\"customer\",\"id\":\"c1\",\"op\":\"upsert\",\"version\":3,"
      "\"data\":{\"name\":\"A\",\"id\":\"c1\"}}\n\n"
      "{\"collection\":\"customer\",\"id\":42,\"op\":\"delete\",\"version\":4}\n");
  REQUIRE(b.sequence == 7);
  REQUIRE(b.records.size() == 2);
  CHECK(b.records[0].data.size() == 1);  // "id" inside data is the key, not a column
  CHECK(b.records[0].data[0].name == "name");
  CHECK(b.records[0].version == 3);
  CHECK(b.records[1].id == "42");
  CHECK(b.records[1].operation == op::remove);
  CHECK(b.records[1].data.empty());
}

TEST_CASE("batch: JSON array and object forms", "[sync]") {
  auto a = parse_ok(R"([{"collection":"c","id":"1","version":1,"data":{}}])");
  CHECK(!a.sequence);
  CHECK(a.records.size() == 1);
  auto o =
      parse_ok(R"({"sequence": 3, "records": [{"collection":"c","id":"1","version":1,"data":{"x":1},
               "types": {"x": "numeric"}}]})");
  CHECK(o.sequence == 3);
  CHECK(o.records[0].declared.at("x") == col_type::numeric);
  // Pretty-printed, CRLF line ends, the sequence after the records.
  auto p = parse_ok(
      "{\r\n  \"records\": [\r\n    {\"collection\": \"c\", \"id\": 2, \"version\": 5,\r\n"
      "     \"data\": {\"a\": [1, {\"b\": null}]}}\r\n  ],\r\n  \"sequence\": 9\r\n}\r\n");
  CHECK(p.sequence == 9);
  REQUIRE(p.records.size() == 1);
  CHECK(p.records[0].id == "2");
  CHECK(find(p.records[0], "a")->value.kind == jkind::array);
  // A single NDJSON line that is a record (no "records" key).
  auto one = parse_ok(with_data(R"({"x":true})"));
  REQUIRE(one.records.size() == 1);
  CHECK(find(one.records[0], "x")->value.is_true());
}

TEST_CASE("batch: the records outlive copies and moves of the batch", "[sync]") {
  batch b;
  {
    std::string body = with_data(R"({"name":"a long enough value to live on the heap"})");
    b = parse_ok(body);
    body.assign(body.size(), 'x');
  }
  batch c = b;
  b = batch{};
  REQUIRE(c.records.size() == 1);
  CHECK(copy_of(c.records[0], "name") == "a long enough value to live on the heap");
}

TEST_CASE("batch: errors name the line and the reason", "[sync]") {
  auto e = parse_bad(
      "{\"collection\":\"c\",\"id\":\"1\",\"version\":1,\"data\":{}}\n{\"collection\": }\n");
  CHECK(e.line == 2);
  CHECK(e.reason.find("parse") != std::string::npos);
  CHECK(e.reason.find("column 16") != std::string::npos);
  auto v = parse_bad("{\"collection\":\"c\",\"id\":\"1\",\"data\":{}}\n");
  CHECK(v.line == 1);
  CHECK(v.reason.find("version") != std::string::npos);
  CHECK(parse_bad("{\"collection\":\"c\",\"id\":\"1\",\"version\":1,\"op\":\"merge\"}")
            .reason.find("op") != std::string::npos);
  CHECK(parse_bad("[{\"collection\":\"c\",\n\"id\":1,,}]").line == 2);
  CHECK(
      parse_bad("{\"collection\":\"c\",\"id\":\"1\",\"version\":1,\"data\":{\"_sync_version\":1}}")
          .reason.find("reserved") != std::string::npos);
  CHECK(parse_bad("  \n").reason == "empty body");
  // A refused record in an array names its index and its line.
  auto r =
      parse_bad("[\n" + with_data("{}") + ",\n" + R"({"collection":"c","id":"2","data":{}})" + "]");
  CHECK(r.line == 3);
  CHECK(r.reason.find("record 1: \"version\"") == 0);
  // A syntax error deep in a pretty-printed document is reported where it is.
  auto d = parse_bad("{\"sequence\": 1,\n\"records\": [\n{\"collection\": \"c\",\n\"id\": tru}]}");
  CHECK(d.line == 4);
  CHECK(d.reason.find("line 4, column 7") != std::string::npos);
}

TEST_CASE("batch: strict JSON, byte by byte", "[sync]") {
  struct row {
    const char* what;
    std::string data;  // the value of "data" in a one-line record
    const char* reason;
  };
  const row rows[] = {
      {"trailing comma in an object", R"({"a":1,})", "expected a string as object key, got '}'"},
      {"trailing comma in an array", R"({"a":[1,]})", "expected a value, got ']'"},
      {"missing comma", R"({"a":1 "b":2})", "expected ',' or '}'"},
      {"missing colon", R"({"a" 1})", "expected ':'"},
      {"single quotes", R"({'a':1})", "expected a string as object key"},
      {"leading zero", R"({"a":01})", "leading zeros"},
      {"leading zero, negative", R"({"a":-012})", "leading zeros"},
      {"bare minus", R"({"a":-})", "expected a digit"},
      {"no digit after the point", R"({"a":1.})", "after the decimal point"},
      {"no exponent digits", R"({"a":1e+})", "in the exponent"},
      {"leading plus", R"({"a":+1})", "expected a value"},
      {"leading point", R"({"a":.5})", "expected a value"},
      {"NaN", R"({"a":NaN})", "expected a value"},
      {"bad literal", R"({"a":tru})", "invalid literal"},
      {"capitalised literal", R"({"a":True})", "expected a value"},
      {"bad escape", R"({"a":"\x"})", "invalid escape \\x"},
      {"short \\u", R"({"a":"\u12"})", "four hex digits"},
      {"non-hex \\u", R"({"a":"\u12G4"})", "four hex digits"},
      {"lone high surrogate", R"({"a":"\ud800"})", "must be followed by a low surrogate"},
      {"high surrogate then text", R"({"a":"\ud800x"})", "must be followed by a low surrogate"},
      {"two high surrogates", R"({"a":"\ud800\ud800"})", "must be followed by a low surrogate"},
      {"lone low surrogate", R"({"a":"\udc00"})", "lone low surrogate"},
      {"raw tab in a string", "{\"a\":\"x\ty\"}", "control character"},
      {"raw NUL in a string", std::string("{\"a\":\"x\0y\"}", 10), "control character"},
      {"raw DEL is allowed, but not a stray continuation byte", "{\"a\":\"\x7f\x80\"}",
       "invalid UTF-8"},
      {"overlong UTF-8", "{\"a\":\"\xc0\xaf\"}", "invalid UTF-8"},
      {"UTF-8 surrogate", "{\"a\":\"\xed\xa0\x80\"}", "invalid UTF-8"},
      {"beyond U+10FFFF", "{\"a\":\"\xf4\x90\x80\x80\"}", "invalid UTF-8"},
      {"truncated UTF-8", "{\"a\":\"\xe2\x82\"}", "invalid UTF-8"},
      {"unterminated string", R"({"a":"abc)", "unterminated string"},
      {"truncated object", R"({"a":1)", "expected ',' or '}'"},
      {"truncated array", R"({"a":[1)", "expected ',' or ']'"},
      {"deep nesting", "{\"a\":" + std::string(200, '[') + std::string(200, ']') + "}",
       "nesting deeper than"},
      {"garbage after the record", "{}} x", "expected the end of the line"},
  };
  for (const auto& r : rows) {
    INFO(r.what);
    auto e = parse_bad(with_data(r.data));
    CHECK(e.line == 1);
    CHECK(e.reason.find("parse error at line 1, column") == 0);
    CHECK(e.reason.find(r.reason) != std::string::npos);
    INFO(e.reason);
    // The same inside an array document, over two lines.
    auto a = parse_bad("[\n" + with_data(r.data) + "]");
    CHECK(a.line == 2);
  }
  CHECK(parse_bad(with_data("{\"a\":1}") + "\n[").reason.find("end of the input") !=
        std::string::npos);
  CHECK(parse_bad("[" + with_data("{}")).line == 1);
  CHECK(parse_bad("[" + with_data("{}") + "] []").reason.find("after the array") !=
        std::string::npos);
  CHECK(parse_bad("{\"collection\":\"c\"\n").reason.find("end of the input") != std::string::npos);
}

TEST_CASE("batch: valid values are kept as spans of the body", "[sync]") {
  auto b =
      parse_ok(with_data(R"({"s":"a\"b\\c\/d\u00e9\ud83d\ude00","n":-0,"i":9223372036854775807,)"
                         R"("big":9223372036854775808,"f":-1.25e-3,"t":true,"z":null,)"
                         R"("o":{"x":[1,{"y":"\t"}],"x":2},"a":[],"e":"","nest":)" +
                         std::string(100, '[') + std::string(100, ']') + "}"));
  const auto& r = b.records[0];
  CHECK(copy_of(r, "s") == "a\"b\\\\c/d\xc3\xa9\xf0\x9f\x98\x80");
  CHECK(find(r, "s")->value.escaped);
  CHECK(infer(find(r, "n")->value) == col_type::bigint);
  CHECK(copy_of(r, "n") == "-0");
  CHECK(infer(find(r, "i")->value) == col_type::bigint);
  CHECK(infer(find(r, "big")->value) == col_type::numeric);
  CHECK(copy_of(r, "big") == "9223372036854775808");
  CHECK(copy_of(r, "f") == "-1.25e-3");
  CHECK(copy_of(r, "t") == "t");
  CHECK(copy_of(r, "z") == "\\N");
  // Objects keep their raw text (duplicates and all: jsonb keeps the last one).
  CHECK(copy_of(r, "o") == R"({"x":[1,{"y":"\\t"}],"x":2})");
  CHECK(copy_of(r, "a") == "[]");
  CHECK(copy_of(r, "e") == "");
  CHECK(infer(find(r, "nest")->value) == col_type::jsonb);
}

TEST_CASE("batch: data fields are sorted by name, the last duplicate wins", "[sync]") {
  auto b =
      parse_ok(with_data(R"({"b":1,"a":"first","c":null,"a":"second","id":"x","\u0061":"third"})"));
  const auto& r = b.records[0];
  REQUIRE(r.data.size() == 3);
  CHECK(r.data[0].name == "a");
  CHECK(r.data[1].name == "b");
  CHECK(r.data[2].name == "c");
  CHECK(copy_of(r, "a") == "third");
  // A repeated top-level member: the last one counts, "data" included.
  auto t = parse_ok(
      R"({"collection":"c","id":"1","version":1,"data":{"x":1},"version":2,"data":{"y":2}})");
  CHECK(t.records[0].version == 2);
  REQUIRE(t.records[0].data.size() == 1);
  CHECK(t.records[0].data[0].name == "y");
  // Escaped names and ids are unescaped; integer ids keep their digits.
  auto e = parse_ok(R"({"coll\u0065ction":"c\u00e9","id":"a\tb","version":1,"data":{"\u00e9":1}})");
  CHECK(e.records[0].collection == "c\xc3\xa9");
  CHECK(e.records[0].id == "a\tb");
  CHECK(e.records[0].data[0].name == "\xc3\xa9");
  CHECK(parse_ok(R"({"collection":"c","id":18446744073709551615,"version":1,"data":{}})")
            .records[0]
            .id == "18446744073709551615");
  CHECK(parse_ok(R"({"collection":"c","id":-0,"version":1,"data":{}})").records[0].id == "0");
}

TEST_CASE("batch: record checks", "[sync]") {
  struct row {
    std::string line;
    const char* reason;
  };
  const row rows[] = {
      {"[1]", "a record must be a JSON object"},
      {R"({"id":"1","version":1,"data":{}})", "\"collection\" must be a non-empty string"},
      {R"({"collection":"","id":"1","version":1,"data":{}})", "\"collection\""},
      {R"({"collection":1,"id":"1","version":1,"data":{}})", "\"collection\""},
      {R"({"collection":"c","id":"","version":1,"data":{}})", "\"id\" must be"},
      {R"({"collection":"c","id":1.5,"version":1,"data":{}})", "\"id\" must be"},
      {R"({"collection":"c","id":18446744073709551616,"version":1,"data":{}})", "\"id\" must be"},
      {R"({"collection":"c","id":"1","version":1,"op":5,"data":{}})", "\"op\" must be"},
      {R"({"collection":"c","id":"1","version":"1","data":{}})", "\"version\" must be"},
      {R"({"collection":"c","id":"1","version":1.0,"data":{}})", "\"version\" must be"},
      {R"({"collection":"c","id":"1","version":9223372036854775808,"data":{}})", "\"version\""},
      {R"({"collection":"c","id":"1","version":1})", "\"data\" must be an object"},
      {R"({"collection":"c","id":"1","version":1,"data":[]})", "\"data\" must be an object"},
      {R"({"collection":"c","id":"1","version":1,"data":{"":1}})", "must not be empty"},
      {R"({"collection":"c","id":"1","version":1,"data":{"_sync_x":1}})", "reserved"},
      {R"({"collection":"c","id":"1","version":1,"data":{},"types":[]})", "\"types\" must map"},
      {R"({"collection":"c","id":"1","version":1,"data":{},"types":{"x":"int"}})",
       "type for \"x\" must be one of"},
      {R"({"sequence":0})", "\"sequence\" must be a positive integer"},
      {R"({"sequence":"1"})", "\"sequence\" must be a positive integer"},
  };
  for (const auto& r : rows) {
    INFO(r.line);
    auto e = parse_bad("\n" + r.line + "\n");
    CHECK(e.line == 2);
    CHECK(e.reason.find(r.reason) != std::string::npos);
  }
  // Deletes need no data; a header only counts before the first record.
  auto d = parse_ok(R"({"collection":"c","id":"1","version":1,"op":"delete","data":5})");
  CHECK(d.records[0].operation == op::remove);
  CHECK(parse_bad(with_data("{}") + "\n{\"sequence\":2}").reason.find("collection") !=
        std::string::npos);
  CHECK(parse_bad(R"({"sequence":1,"records":{}})").reason == "\"records\" must be an array");
  CHECK(parse_bad(R"({"sequence":-1,"records":[]})").reason.find("sequence") != std::string::npos);
  // Declared types: the last one given for a field wins.
  auto t = parse_ok(R"({"collection":"c","id":"1","version":1,"data":{"w":"2024-01-01"},)"
                    R"("types":{"w":"text","w":"timestamptz"}})");
  CHECK(t.records[0].declared.at("w") == col_type::timestamptz);
}

TEST_CASE("batch: dedupe keeps the highest version, the later on ties", "[sync]") {
  std::vector<field> tags;
  for (int i = 1; i <= 6; ++i)
    tags.push_back({"tag", jvalue{jkind::integer, false, true, i == 6 ? "6" : "0"}});
  auto rec = [&](std::string_view c, std::string_view id, int64_t v, op o, int tag) {
    record r;
    r.collection = c;
    r.id = id;
    r.version = v;
    r.operation = o;
    r.data = std::span<const field>(&tags[static_cast<size_t>(tag - 1)], 1);
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
  CHECK(out[0].records[1]->data[0].value.text == "6");
  CHECK(out[1].records.size() == 1);
}

TEST_CASE("batch: dedupe summarizes each field for the schema check", "[sync]") {
  auto b = parse_ok(R"({"sequence":1}
{"collection":"c","id":"1","version":1,"data":{"b":null,"a":1}}
{"collection":"c","id":"2","version":1,"data":{"b":"x","a":2.5,"c":true},"types":{"c":"text"}}
{"collection":"c","id":"3","version":1,"data":{"d":null},"types":{"d":"timestamptz"}}
{"collection":"c","id":"4","op":"delete","version":1})");
  size_t dropped = 0;
  auto out = dedupe(b.records, dropped);
  REQUIRE(out.size() == 1);
  const auto& n = out[0].needs;
  // First-seen order among fields that offer a type; "b" waits for its first non-null.
  REQUIRE(n.size() == 4);
  CHECK(n[0].name == "a");
  CHECK(n[0].start == col_type::bigint);
  CHECK(settle(n[0].start, n[0].seen) == col_type::numeric);
  CHECK(n[1].name == "b");
  CHECK(settle(n[1].start, n[1].seen) == col_type::text);
  CHECK(n[2].name == "c");
  CHECK(n[2].start == col_type::text);  // declared wins over the value's boolean
  CHECK(settle(n[2].start, n[2].seen) == col_type::text);
  CHECK(n[3].name == "d");
  CHECK(n[3].seen == 0);
  CHECK(settle(n[3].start, n[3].seen) == col_type::timestamptz);
  CHECK(settle(col_type::timestamptz, n[1].seen) == col_type::timestamptz);  // strings fit
  CHECK(settle(col_type::bigint, n[1].seen) == col_type::text);
}

TEST_CASE("batch: settle equals widening value by value, in any order", "[sync]") {
  const std::vector<std::string> vals{"true", "5", "1.5", "\"x\"", "{}", "null"};
  const col_type all[] = {col_type::boolean, col_type::bigint,      col_type::numeric,
                          col_type::text,    col_type::timestamptz, col_type::jsonb};
  // Every sequence of three values (with repeats): the fold the writer used to run per
  // record against the summary's closed form, from every starting column type.
  for (size_t i = 0; i < vals.size(); ++i)
    for (size_t j = 0; j < vals.size(); ++j)
      for (size_t k = 0; k < vals.size(); ++k) {
        std::string body = "{\"sequence\":1}\n";
        int id = 0;
        for (size_t v : {i, j, k})
          body += R"({"collection":"c","id":")" + std::to_string(++id) +
                  R"(","version":1,"data":{"f":)" + vals[v] + "}}\n";
        auto b = parse_ok(body);
        size_t dropped = 0;
        auto out = dedupe(b.records, dropped);
        uint8_t seen = out[0].needs.empty() ? 0 : out[0].needs[0].seen;
        for (col_type start : all) {
          col_type cur = start;
          for (const auto& r : b.records) {
            if (r.data.empty())
              continue;
            const auto& v = r.data[0].value;
            if (!fits(v, cur))
              cur = widen(cur, *infer(v));
          }
          INFO(vals[i] << " " << vals[j] << " " << vals[k] << " from " << sql_name(start));
          CHECK(settle(start, seen) == cur);
        }
      }
}
