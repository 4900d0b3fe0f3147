// The ingest API's batch parser and its JSON scanner (sync/batch.*, sync/json_scan.*),
// which read every request body. Invariants: a document the scanner accepts is valid
// JSON to nlohmann::json with the same kind and string bytes; records point into the
// batch's own store; dedupe keeps one record per id and counts the rest.
#include <algorithm>
#include <cstdint>
#include <set>
#include <string>

#include "fuzz_check.hpp"
#include "reference_json.hpp"
#include "sync/batch.hpp"

using namespace sluice::sync;

namespace {

bool inside(std::string_view part, const batch_store& st) {
  auto within = [&](std::string_view whole) {
    return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
  };
  if (part.empty() || within(st.body))
    return true;
  return std::any_of(st.unescaped.begin(), st.unescaped.end(),
                     [&](const std::string& s) { return within(s); });
}

void check_scanner(std::string_view in) {
  json_scanner s(in, 0, in.size());
  jvalue v;
  try {
    s.skip_ws();
    v = s.value(0);
    if (!s.at_end())
      return;
  } catch (const scan_error& e) {
    FUZZ_CHECK(e.pos <= in.size() && !e.what.empty());
    return;
  }
  using sluice_fuzz::reference_json;
  const auto j = sluice_fuzz::parse_reference_json(in);
  if (j.what == reference_json::kind::out_of_range)
    return;  // a number beyond double's range: valid JSON that nlohmann refuses (406)
  if (j.what == reference_json::kind::refused) {
    std::fprintf(stderr, "nlohmann refuses what the scanner accepted: %s\n", j.text.c_str());
    FUZZ_CHECK(false);
  }
  switch (v.kind) {
    case jkind::null:
      FUZZ_CHECK(j.what == reference_json::kind::null);
      break;
    case jkind::boolean:
      FUZZ_CHECK(j.what == reference_json::kind::boolean && j.truth == v.is_true());
      break;
    case jkind::integer:
    case jkind::number:
      FUZZ_CHECK(j.what == reference_json::kind::number);
      break;
    case jkind::string: {
      auto bytes = json_unescape(v.text);
      FUZZ_CHECK(j.what == reference_json::kind::string && j.text == bytes);
      FUZZ_CHECK(v.escaped || bytes == v.text);
      std::string copy;
      append_copy_json_string(copy, v.text);
      // NUL characters are dropped on purpose (PostgreSQL's text cannot hold them).
      std::string kept;
      for (char ch : bytes)
        if (ch != '\0')
          kept.push_back(ch);
      if (kept.find_first_of("\\\t\n\r") == std::string::npos)
        FUZZ_CHECK(copy == kept);
      break;
    }
    case jkind::object:
      FUZZ_CHECK(j.what == reference_json::kind::object);
      break;
    case jkind::array:
      FUZZ_CHECK(j.what == reference_json::kind::array);
      break;
  }
}

void check_batch(std::string body) {
  auto r = parse_batch(std::move(body));
  if (auto* e = std::get_if<parse_error>(&r)) {
    FUZZ_CHECK(!e->reason.empty());
    return;
  }
  const auto& b = std::get<batch>(r);
  FUZZ_CHECK(b.store != nullptr);
  for (const auto& rec : b.records) {
    FUZZ_CHECK(inside(rec.collection, *b.store) && inside(rec.id, *b.store));
    if (rec.operation == op::remove)
      FUZZ_CHECK(rec.data.empty());
    for (size_t i = 0; i < rec.data.size(); ++i) {
      FUZZ_CHECK(inside(rec.data[i].name, *b.store));
      FUZZ_CHECK(rec.data[i].name != "id");
      if (i > 0)
        FUZZ_CHECK(rec.data[i - 1].name < rec.data[i].name);
    }
  }
  size_t dropped = 0;
  auto groups = dedupe(b.records, dropped);
  size_t kept = 0;
  std::set<std::string_view> names;
  for (const auto& g : groups) {
    FUZZ_CHECK(names.insert(g.collection).second);
    std::set<std::string_view> ids;
    for (const auto* rec : g.records) {
      FUZZ_CHECK(rec->collection == g.collection);
      FUZZ_CHECK(ids.insert(rec->id).second);
    }
    kept += g.records.size();
  }
  FUZZ_CHECK(kept + dropped == b.records.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  check_scanner(in);
  check_batch(std::string(in));
  return 0;
}
