#include "sync/batch.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <iterator>
#include <unordered_map>

#include "sync/naming.hpp"

namespace sluice::sync {

namespace {

size_t line_at(std::string_view body, size_t byte) {
  byte = std::min(byte, body.size());
  return 1 + static_cast<size_t>(std::count(body.begin(), body.begin() + byte, '\n'));
}

parse_error syntax_error(std::string_view body, const scan_error& e) {
  size_t at = std::min(e.pos, body.size());
  size_t line_start = at == 0 ? 0 : body.rfind('\n', at - 1);
  line_start = line_start == std::string_view::npos ? 0 : line_start + 1;
  size_t line = line_at(body, at);
  return {line, "parse error at line " + std::to_string(line) + ", column " +
                    std::to_string(at - line_start + 1) + ": " + e.what};
}

// One record's top-level members as scanned, before they are checked.
struct raw_record {
  bool is_object = false;
  bool has_collection = false, has_id = false, has_op = false, has_version = false;
  bool has_data = false, data_object = false, has_types = false, types_object = false;
  bool has_sequence = false;
  jvalue collection, id, opname, version, sequence;
  size_t data_begin = 0;  // this record's fields in the store: [data_begin, end)
  std::vector<std::pair<std::string_view, jvalue>> types;
};

bool positive_int(const jvalue& v, int64_t& out) {
  if (v.kind != jkind::integer || !v.int64)
    return false;
  std::from_chars(v.text.data(), v.text.data() + v.text.size(), out);
  return true;
}

class parser {
 public:
  explicit parser(batch_store& st) : st_(st) {}

  // A key or string value's bytes: the span itself unless it had escapes.
  std::string_view str(std::string_view raw, bool escaped) {
    if (!escaped)
      return raw;
    st_.unescaped.push_back(json_unescape(raw));
    return st_.unescaped.back();
  }
  std::string_view str(const jvalue& v) { return str(v.text, v.escaped); }

  // Scans the value at `s` as a record (or a header line). Throws scan_error.
  void scan(json_scanner& s, int depth, raw_record& rr) {
    rr = raw_record{};
    rr.data_begin = st_.fields.size();
    if (s.peek() != '{') {
      s.value(depth);
      return;
    }
    rr.is_object = true;
    s.object(depth, [&](std::string_view raw, bool esc) {
      std::string_view k = str(raw, esc);
      if (k == "collection") {
        rr.collection = s.value(depth + 1);
        rr.has_collection = true;
      } else if (k == "id") {
        rr.id = s.value(depth + 1);
        rr.has_id = true;
      } else if (k == "op") {
        rr.opname = s.value(depth + 1);
        rr.has_op = true;
      } else if (k == "version") {
        rr.version = s.value(depth + 1);
        rr.has_version = true;
      } else if (k == "sequence") {
        rr.sequence = s.value(depth + 1);
        rr.has_sequence = true;
      } else if (k == "data") {
        rr.has_data = true;
        st_.fields.resize(rr.data_begin);  // a repeated "data": the last one counts
        rr.data_object = s.peek() == '{';
        if (!rr.data_object) {
          s.value(depth + 1);
          return;
        }
        s.object(depth + 1, [&](std::string_view name, bool nesc) {
          std::string_view n = str(name, nesc);
          st_.fields.push_back({n, s.value(depth + 2)});
        });
      } else if (k == "types") {
        rr.has_types = true;
        rr.types.clear();
        rr.types_object = s.peek() == '{';
        if (!rr.types_object) {
          s.value(depth + 1);
          return;
        }
        s.object(depth + 1, [&](std::string_view name, bool nesc) {
          std::string_view n = str(name, nesc);
          rr.types.emplace_back(n, s.value(depth + 2));
        });
      } else {
        s.value(depth + 1);
      }
    });
  }

  // Checks a scanned record and fills `r`; returns the reason it is refused, or "".
  // The record's fields stay at the end of the store; `count` is how many.
  std::string check(raw_record& rr, record& r, size_t& count) {
    count = 0;
    auto& fields = st_.fields;
    if (!rr.is_object)
      return "a record must be a JSON object";
    if (!rr.has_collection || rr.collection.kind != jkind::string || rr.collection.text.empty())
      return "\"collection\" must be a non-empty string";
    r.collection = str(rr.collection);
    if (rr.has_id && rr.id.kind == jkind::string && !rr.id.text.empty()) {
      r.id = str(rr.id);
    } else if (rr.has_id && rr.id.kind == jkind::integer && integer_id(rr.id.text)) {
      r.id = rr.id.text == "-0" ? std::string_view("0") : rr.id.text;
    } else {
      return "\"id\" must be a non-empty string or an integer";
    }
    std::string_view opname = "upsert";
    if (rr.has_op)
      opname = rr.opname.kind == jkind::string ? str(rr.opname) : std::string_view();
    if (opname == "upsert") {
      r.operation = op::upsert;
    } else if (opname == "delete") {
      r.operation = op::remove;
    } else {
      return "\"op\" must be \"upsert\" or \"delete\"";
    }
    if (!rr.has_version || rr.version.kind != jkind::integer || !rr.version.int64)
      return "\"version\" must be an integer";
    std::from_chars(rr.version.text.data(), rr.version.text.data() + rr.version.text.size(),
                    r.version);
    if (r.operation == op::upsert) {
      if (!rr.has_data || !rr.data_object)
        return "\"data\" must be an object for an upsert";
      if (auto err = normalize(rr.data_begin); !err.empty())
        return err;
      count = fields.size() - rr.data_begin;
    } else {
      fields.resize(rr.data_begin);
    }
    if (rr.has_types) {
      if (!rr.types_object)
        return "\"types\" must map field names to type names";
      for (const auto& [name, v] : rr.types) {
        auto ct = v.kind == jkind::string ? from_declared(str(v)) : std::nullopt;
        if (!ct)
          return "type for \"" + std::string(name) +
                 "\" must be one of boolean, bigint, numeric, text, timestamptz, timestamptz_ms, "
                 "jsonb";
        r.declared.insert_or_assign(std::string(name), *ct);
        if (str(v) == kUnixMsType)
          r.unix_ms.insert(std::string(name));
        else
          r.unix_ms.erase(std::string(name));
      }
    }
    return "";
  }

 private:
  // An integer id as the old DOM kept it: anything within int64 or uint64.
  static bool integer_id(std::string_view t) {
    int64_t i;
    uint64_t u;
    auto e = t.data() + t.size();
    auto a = std::from_chars(t.data(), e, i);
    if (a.ec == std::errc() && a.ptr == e)
      return true;
    auto b = std::from_chars(t.data(), e, u);
    return b.ec == std::errc() && b.ptr == e;
  }

  // Sorts the record's fields by name, keeps the last of duplicate names (as a JSON
  // object read into a map would) and drops "id". The names are checked once the
  // whole batch is parsed (check_names).
  std::string normalize(size_t begin) {
    auto& f = st_.fields;
    auto b = f.begin() + static_cast<ptrdiff_t>(begin);
    auto by_name = [](const field& x, const field& y) { return x.name < y.name; };
    bool sorted_unique = std::adjacent_find(b, f.end(), [](const field& x, const field& y) {
                           return !(x.name < y.name);
                         }) == f.end();
    if (!sorted_unique) {
      std::stable_sort(b, f.end(), by_name);
      auto out = b;
      for (auto it = b; it != f.end(); ++it) {
        if (it + 1 != f.end() && it->name == (it + 1)->name)
          continue;
        *out++ = *it;
      }
      f.erase(out, f.end());
      b = f.begin() + static_cast<ptrdiff_t>(begin);
    }
    auto id = f.end();
    for (auto it = b; it != f.end(); ++it) {
      if (it->name == "id")
        id = it;
    }
    if (id != f.end())
      f.erase(id);  // the record id is the primary key
    return "";
  }

  batch_store& st_;
};

// A name or id as a message quotes it: control bytes as \u00XX, long ones cut.
std::string shown(std::string_view name) {
  constexpr size_t kShown = 120;
  std::string out;
  for (size_t i = 0; i < name.size() && i < kShown; ++i) {
    auto c = static_cast<unsigned char>(name[i]);
    if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  if (name.size() > kShown)
    out += "... (" + std::to_string(name.size()) + " bytes)";
  return out;
}

// About the least a row of `r` takes in its table, with the column types its values
// infer (or it declares): the tuple header and null bitmap, the writer's id,
// _sync_version and _sync_updated_at, 1 byte per boolean, 8 per bigint or timestamptz;
// numeric, text and jsonb values shorter than 32 bytes (too short to compress) take
// their inline size up to the 18-byte pointer of a value moved out of line, longer ones
// at least the 12 bytes of a well-compressed datum. Alignment padding is left out.
// When even this exceeds kMaxRowBytes, PostgreSQL would refuse the row ("row is too
// big") and the sync would stop.
size_t row_bytes(const record& r) {
  auto varlena = [](size_t len) { return len < 32 ? std::min<size_t>(1 + len, 18) : 12; };
  size_t bytes = 24 + (r.data.size() + kWriterColumns + 7) / 8 + varlena(r.id.size()) + 16;
  for (const auto& f : r.data) {
    auto t = infer(f.value);
    if (!t)
      continue;  // null: a bit in the bitmap
    if (!r.declared.empty()) {
      if (auto d = r.declared.find(f.name); d != r.declared.end())
        t = d->second;
    }
    switch (*t) {
      case col_type::boolean:
        bytes += 1;
        break;
      case col_type::bigint:
      case col_type::timestamptz:
        bytes += 8;
        break;
      default:
        bytes += varlena(f.value.text.size());
    }
  }
  return bytes;
}

// The name rules (sync/naming.hpp) for a parsed batch, so a record the database could
// not store is refused with 422 instead of failing the batch's transaction and stopping
// the sync. Each distinct name is checked once per collection: a record's fields are
// sorted and distinct, as is each collection's list of names so far, so one merge walk
// per record finds the new ones.
std::optional<parse_error> check_names(const batch& b, std::string_view body,
                                       const std::vector<size_t>& starts) {
  struct coll_names {
    std::vector<std::string_view> fields;                           // sorted, distinct
    std::unordered_map<std::string, std::string_view> long_idents;  // identifier -> field
  };
  std::unordered_map<std::string_view, coll_names> colls;
  std::unordered_map<std::string, std::string_view> long_colls;  // identifier -> collection
  std::vector<std::string_view> fresh, merged;
  coll_names* cur = nullptr;  // records of a batch tend to share a collection
  std::string_view cur_name;
  for (size_t i = 0; i < b.records.size(); ++i) {
    const record& r = b.records[i];
    auto refuse = [&](const std::string& what, const std::string& why) {
      return parse_error{
          line_at(body, starts[i]),
          "record " + std::to_string(i) + " (id \"" + shown(r.id) + "\"): " + what + " " + why,
          422};
    };
    auto coll_shown = [&] { return "collection \"" + shown(r.collection) + "\""; };
    if (!cur || r.collection != cur_name) {
      auto [it, first_seen] = colls.try_emplace(r.collection);
      if (first_seen) {
        if (auto p = collection_problem(r.collection); !p.empty())
          return refuse(coll_shown(), p);
        if (r.collection.size() > kMaxIdentBytes) {
          auto ident = to_identifier(std::string(r.collection));
          auto [other, added] = long_colls.try_emplace(ident, r.collection);
          if (!added) {
            return refuse(coll_shown(), "and collection \"" + shown(other->second) +
                                            "\" both shorten to table \"" + ident +
                                            "\"; rename one");
          }
        }
      }
      cur = &it->second;
      cur_name = r.collection;
    }
    if (auto p = id_problem(r.collection, r.id); !p.empty())
      return refuse("id", p);
    if (r.data.size() * 18 + 300 > kMaxRowBytes) {  // below that, no row can be too big
      if (size_t bytes = row_bytes(r); bytes > kMaxRowBytes) {
        return refuse("row", "needs at least " + std::to_string(bytes) + " bytes for its " +
                                 std::to_string(r.data.size()) +
                                 " fields; PostgreSQL stores at most " +
                                 std::to_string(kMaxRowBytes) +
                                 " in one row (numbers, booleans and timestamps cannot move "
                                 "out of line); put some of them in one object field (jsonb)");
      }
    }
    fresh.clear();
    size_t j = 0;
    for (const auto& f : r.data) {
      while (j < cur->fields.size() && cur->fields[j] < f.name)
        ++j;
      if (j < cur->fields.size() && cur->fields[j] == f.name)
        ++j;
      else
        fresh.push_back(f.name);
    }
    if (fresh.empty())
      continue;
    for (auto name : fresh) {
      const std::string field_shown = "field \"" + shown(name) + "\"";
      if (auto p = field_problem(name); !p.empty())
        return refuse(field_shown, p);
      if (name.size() > kMaxIdentBytes) {
        auto ident = to_identifier(std::string(name));
        auto [other, added] = cur->long_idents.try_emplace(ident, name);
        if (!added) {
          return refuse(field_shown, "and field \"" + shown(other->second) +
                                         "\" both shorten to column \"" + ident + "\"; rename one");
        }
      }
    }
    const size_t total = cur->fields.size() + fresh.size();
    if (total > kMaxFields) {
      return refuse(coll_shown(), "has " + std::to_string(total) +
                                      " distinct fields in this batch; a table holds at most " +
                                      std::to_string(kMaxFields) + " besides the writer's " +
                                      std::to_string(kWriterColumns) +
                                      " own columns (PostgreSQL's limit is " +
                                      std::to_string(kMaxTableColumns) +
                                      "); put the rest in one object field (a jsonb column)");
    }
    merged.clear();
    merged.reserve(total);
    std::merge(cur->fields.begin(), cur->fields.end(), fresh.begin(), fresh.end(),
               std::back_inserter(merged));
    cur->fields.swap(merged);
  }
  return std::nullopt;
}

// Fixes the records' field spans once the store stops growing.
void attach(batch& b, const std::vector<std::pair<size_t, size_t>>& ranges) {
  const auto& fields = b.store->fields;
  for (size_t i = 0; i < b.records.size(); ++i) {
    b.records[i].data = std::span<const field>(fields.data() + ranges[i].first, ranges[i].second);
  }
}

}  // namespace

std::variant<batch, parse_error> parse_batch(std::string body_in) {
  auto st = std::make_shared<batch_store>();
  st->body = std::move(body_in);
  const std::string_view body = st->body;
  batch b;
  parser p(*st);
  raw_record rr;
  std::vector<std::pair<size_t, size_t>> ranges;
  std::vector<size_t> starts;  // each record's first byte in the body, for its line
  auto finish = [&]() -> std::variant<batch, parse_error> {
    b.store = st;
    attach(b, ranges);
    if (auto refused = check_names(b, body, starts))
      return *std::move(refused);
    return std::move(b);
  };
  // Adds the scanned record that spans bytes [at, end); returns the reason it is
  // refused, or "".
  auto add = [&](size_t at, size_t end) -> std::string {
    record r;
    r.raw = body.substr(at, end - at);
    size_t count = 0;
    auto reason = p.check(rr, r, count);
    if (!reason.empty()) {
      st->fields.resize(rr.data_begin);
      return reason;
    }
    ranges.emplace_back(rr.data_begin, count);
    starts.push_back(at);
    b.records.push_back(std::move(r));
    return "";
  };

  size_t start = body.find_first_not_of(" \t\r\n");
  if (start == std::string_view::npos)
    return parse_error{1, "empty body"};
  if (body[start] == '[' || body[start] == '{') {
    // One JSON document: an array of records, or {"sequence", "records"}. An object
    // without "records", or followed by more, is the first line of NDJSON.
    json_scanner s(body, start, body.size());
    bool has_records = false, records_array = false;
    jvalue seq;
    bool has_seq = false;
    // The first refused record, reported only if this turns out to be the whole body.
    std::optional<parse_error> refused;
    auto records = [&](int depth) {
      size_t i = 0;
      s.array(depth, [&] {
        size_t at = s.pos();
        p.scan(s, depth + 1, rr);
        if (!refused) {
          auto reason = add(at, s.pos());
          if (!reason.empty())
            refused = parse_error{line_at(body, at), "record " + std::to_string(i) + ": " + reason};
        }
        ++i;
      });
    };
    try {
      if (body[start] == '[') {
        records(0);
        if (!s.at_end())
          s.fail(body.data() + s.pos(), "unexpected content after the array" + s.got());
        if (refused)
          return *refused;
        return finish();
      }
      s.object(0, [&](std::string_view raw, bool esc) {
        std::string_view k = p.str(raw, esc);
        if (k == "records") {
          has_records = true;
          b.records.clear();  // a repeated "records": the last one counts
          ranges.clear();
          starts.clear();
          st->fields.clear();
          refused.reset();
          records_array = s.peek() == '[';
          if (records_array)
            records(1);
          else
            s.value(1);
        } else if (k == "sequence") {
          has_seq = true;
          seq = s.value(1);
        } else {
          s.value(1);
        }
      });
    } catch (const scan_error& e) {
      return syntax_error(body, e);
    }
    if (has_records && s.at_end()) {
      if (has_seq) {
        int64_t v = 0;
        if (!positive_int(seq, v) || v < 1)
          return parse_error{1, "\"sequence\" must be a positive integer"};
        b.sequence = v;
      }
      if (!records_array)
        return parse_error{1, "\"records\" must be an array"};
      if (refused)
        return *refused;
      return finish();
    }
    b.records.clear();
    ranges.clear();
    starts.clear();
    st->fields.clear();
  }
  // NDJSON: one record per line; blank lines ignored; an optional header line.
  const size_t lines = static_cast<size_t>(std::count(body.begin(), body.end(), '\n')) + 1;
  b.records.reserve(lines);
  ranges.reserve(lines);
  starts.reserve(lines);
  size_t line_no = 0;
  size_t pos = 0;
  while (pos < body.size()) {
    size_t nl = body.find('\n', pos);
    if (nl == std::string_view::npos)
      nl = body.size();
    size_t line_start = pos;
    pos = nl + 1;
    ++line_no;
    json_scanner s(body, line_start, nl);
    if (s.at_end())
      continue;
    try {
      p.scan(s, 0, rr);
      if (!s.at_end())
        s.fail(body.data() + s.pos(), "expected the end of the line after the record" + s.got());
    } catch (const scan_error& e) {
      auto err = syntax_error(body, e);
      err.line = line_no;
      return err;
    }
    if (rr.is_object && !rr.has_collection && rr.has_sequence && b.records.empty()) {
      int64_t v = 0;
      if (!positive_int(rr.sequence, v) || v < 1)
        return parse_error{line_no, "\"sequence\" must be a positive integer"};
      b.sequence = v;
      st->fields.resize(rr.data_begin);
      continue;
    }
    if (auto reason = add(line_start, s.pos()); !reason.empty())
      return parse_error{line_no, reason};
    if (b.records.size() == 1)  // records of a batch tend to look alike
      st->fields.reserve((ranges[0].second + 1) * lines);
  }
  return finish();
}

namespace {

// One merge walk per record: its fields are sorted by name, and so is `index`.
void summarize(collection_batch& cb) {
  std::vector<std::pair<std::string_view, uint32_t>> index;  // name -> position in needs
  for (const auto* rp : cb.records) {
    const auto& r = *rp;
    if (r.operation != op::upsert)
      continue;
    size_t j = 0;
    for (const auto& f : r.data) {
      while (j < index.size() && index[j].first < f.name)
        ++j;
      auto got = infer(f.value);
      if (j == index.size() || index[j].first != f.name) {
        std::optional<col_type> start = got;
        if (auto decl = r.declared.find(f.name); decl != r.declared.end())
          start = decl->second;
        if (!start)
          continue;  // only nulls so far: no column needed yet
        index.insert(index.begin() + static_cast<ptrdiff_t>(j),
                     {f.name, static_cast<uint32_t>(cb.needs.size())});
        cb.needs.push_back({f.name, *start, 0});
      }
      if (!r.declared.empty() && r.declared.count(f.name))
        cb.needs[index[j].second].declared = true;
      if (got)
        cb.needs[index[j].second].seen |= static_cast<uint8_t>(1u << static_cast<int>(*got));
      ++j;
    }
  }
}

}  // namespace

std::vector<collection_batch> dedupe(const std::vector<record>& records, size_t& dropped) {
  std::vector<collection_batch> out;
  std::unordered_map<std::string_view, uint32_t> coll_index;
  // (collection, id) -> position in its collection_batch: open addressing over one
  // array, no allocation per record.
  struct slot {
    uint32_t coll = UINT32_MAX;
    uint32_t pos = 0;
    size_t hash = 0;
  };
  size_t cap = 16;
  while (cap < records.size() * 2)
    cap <<= 1;
  std::vector<slot> table(cap);
  dropped = 0;
  uint32_t ci = 0;
  for (const auto& r : records) {
    if (out.empty() || out[ci].collection != r.collection) {
      auto [cit, cnew] = coll_index.try_emplace(r.collection, static_cast<uint32_t>(out.size()));
      if (cnew)
        out.push_back({std::string(r.collection), {}, {}});
      ci = cit->second;
    }
    auto& cb = out[ci];
    size_t h = std::hash<std::string_view>{}(r.id) + ci * 0x9E3779B97F4A7C15ull;
    for (size_t i = h & (cap - 1);; i = (i + 1) & (cap - 1)) {
      slot& sl = table[i];
      if (sl.coll == UINT32_MAX) {
        sl = {ci, static_cast<uint32_t>(cb.records.size()), h};
        cb.records.push_back(&r);
        break;
      }
      if (sl.hash == h && sl.coll == ci && cb.records[sl.pos]->id == r.id) {
        ++dropped;
        auto& kept = cb.records[sl.pos];
        if (r.version >= kept->version)
          kept = &r;
        break;
      }
    }
  }
  for (auto& cb : out)
    summarize(cb);
  return out;
}

col_type settle(col_type have, uint8_t seen) {
  // Widening only moves up (bigint -> numeric -> text, anything -> text) and whether a
  // value fits depends on its inferred type alone, so the order of the values is moot.
  for (int t = 0; t < 8; ++t) {
    if ((seen & (1u << t)) && !fits(static_cast<col_type>(t), have))
      have = widen(have, static_cast<col_type>(t));
  }
  return have;
}

}  // namespace sluice::sync
