#include "sync/batch.hpp"

#include <algorithm>
#include <unordered_map>

namespace sluice::sync {

namespace {

using json = nlohmann::json;

size_t line_at(std::string_view body, size_t byte) {
  byte = std::min(byte, body.size());
  return 1 + static_cast<size_t>(std::count(body.begin(), body.begin() + byte, '\n'));
}

// Validates one record object; returns an error reason or empty.
std::string read_record(json& j, record& r) {
  if (!j.is_object())
    return "a record must be a JSON object";
  auto c = j.find("collection");
  if (c == j.end() || !c->is_string() || c->get_ref<const std::string&>().empty()) {
    return "\"collection\" must be a non-empty string";
  }
  r.collection = c->get<std::string>();
  auto id = j.find("id");
  if (id != j.end() && id->is_string() && !id->get_ref<const std::string&>().empty()) {
    r.id = id->get<std::string>();
  } else if (id != j.end() && id->is_number_integer()) {
    r.id = id->dump();
  } else {
    return "\"id\" must be a non-empty string or an integer";
  }
  auto o = j.find("op");
  std::string opname = o == j.end() ? "upsert" : (o->is_string() ? o->get<std::string>() : "");
  if (opname == "upsert") {
    r.operation = op::upsert;
  } else if (opname == "delete") {
    r.operation = op::remove;
  } else {
    return "\"op\" must be \"upsert\" or \"delete\"";
  }
  auto v = j.find("version");
  if (v == j.end() || !v->is_number_integer())
    return "\"version\" must be an integer";
  r.version = v->get<int64_t>();
  auto d = j.find("data");
  if (r.operation == op::upsert) {
    if (d == j.end() || !d->is_object())
      return "\"data\" must be an object for an upsert";
    r.data = std::move(*d);
    for (auto it = r.data.begin(); it != r.data.end(); ++it) {
      if (it.key().rfind("_sync_", 0) == 0) {
        return "field \"" + it.key() + "\" is reserved (names starting with _sync_)";
      }
      if (it.key().empty())
        return "field names must not be empty";
    }
    r.data.erase("id");  // the record id is the primary key
  }
  if (auto t = j.find("types"); t != j.end()) {
    if (!t->is_object())
      return "\"types\" must map field names to type names";
    for (auto it = t->begin(); it != t->end(); ++it) {
      auto ct = it->is_string() ? from_declared(it->get<std::string>()) : std::nullopt;
      if (!ct)
        return "type for \"" + it.key() +
               "\" must be one of boolean, bigint, numeric, text, timestamptz, jsonb";
      r.declared[it.key()] = *ct;
    }
  }
  return "";
}

std::optional<int64_t> read_sequence(const json& j, std::string& err) {
  auto s = j.find("sequence");
  if (s == j.end())
    return std::nullopt;
  if (!s->is_number_integer() || s->get<int64_t>() < 1) {
    err = "\"sequence\" must be a positive integer";
    return std::nullopt;
  }
  return s->get<int64_t>();
}

}  // namespace

std::variant<batch, parse_error> parse_batch(std::string_view body) {
  batch b;
  size_t start = body.find_first_not_of(" \t\r\n");
  if (start == std::string_view::npos)
    return parse_error{1, "empty body"};
  if (body[start] == '[' || body[start] == '{') {
    // One JSON document (array or {"sequence", "records"})? For NDJSON this stops at
    // the second line, so the probe is cheap.
    json whole = json::parse(body, nullptr, false);
    if (!whole.is_discarded() && (whole.is_array() || whole.contains("records"))) {
      std::string err;
      if (whole.is_object()) {
        b.sequence = read_sequence(whole, err);
        if (!err.empty())
          return parse_error{1, err};
      }
      json& arr = whole.is_array() ? whole : whole["records"];
      if (!arr.is_array())
        return parse_error{1, "\"records\" must be an array"};
      b.records.reserve(arr.size());
      for (size_t i = 0; i < arr.size(); ++i) {
        record r;
        auto reason = read_record(arr[i], r);
        if (!reason.empty())
          return parse_error{0, "record " + std::to_string(i) + ": " + reason};
        b.records.push_back(std::move(r));
      }
      return b;
    }
    if (body[start] == '[') {
      try {
        auto probe = json::parse(body);
        (void)probe;
      } catch (const json::parse_error& e) {
        return parse_error{line_at(body, e.byte > 0 ? e.byte - 1 : 0), e.what()};
      }
    }
  }
  // NDJSON: one record per line; blank lines ignored; an optional header line.
  size_t line_no = 0;
  size_t pos = 0;
  while (pos < body.size()) {
    size_t nl = body.find('\n', pos);
    if (nl == std::string_view::npos)
      nl = body.size();
    std::string_view line = body.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos)
      continue;
    json j;
    try {
      j = json::parse(line);
    } catch (const json::parse_error& e) {
      std::string what = e.what();
      return parse_error{line_no, what};
    }
    if (j.is_object() && !j.contains("collection") && j.contains("sequence") && b.records.empty()) {
      std::string err;
      b.sequence = read_sequence(j, err);
      if (!err.empty())
        return parse_error{line_no, err};
      continue;
    }
    record r;
    auto reason = read_record(j, r);
    if (!reason.empty())
      return parse_error{line_no, reason};
    b.records.push_back(std::move(r));
  }
  return b;
}

std::vector<collection_batch> dedupe(const std::vector<record>& records, size_t& dropped) {
  std::vector<collection_batch> out;
  std::unordered_map<std::string, size_t> coll_index;
  std::vector<std::unordered_map<std::string_view, size_t>> id_index;
  dropped = 0;
  for (const auto& r : records) {
    auto [cit, cnew] = coll_index.try_emplace(r.collection, out.size());
    if (cnew) {
      out.push_back({r.collection, {}});
      id_index.emplace_back();
    }
    auto& cb = out[cit->second];
    auto& ids = id_index[cit->second];
    auto [it, fresh] = ids.try_emplace(r.id, cb.records.size());
    if (fresh) {
      cb.records.push_back(&r);
      continue;
    }
    ++dropped;
    auto& kept = cb.records[it->second];
    if (r.version >= kept->version)
      kept = &r;
  }
  return out;
}

}  // namespace sluice::sync
