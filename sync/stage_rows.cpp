#include "sync/stage_rows.hpp"

#include <algorithm>
#include <charconv>

namespace sluice::sync {

namespace {

// One collection's rows as COPY text, set up once per table and batch.
class row_encoder {
 public:
  explicit row_encoder(const table_info& t) : overflow_(t.has_overflow) {
    // Field name -> column position, sorted by name like each record's fields, so a
    // record maps onto the columns in one merge walk.
    for (size_t i = 0; i < t.order_fields.size(); ++i)
      by_name_.emplace_back(t.order_fields[i], i);
    std::sort(by_name_.begin(), by_name_.end());
    for (size_t i = 0; i < t.order.size(); ++i) {
      cols_.push_back({t.cols.at(t.order[i]), t.unix_ms.count(t.order[i]) > 0, t.order_fields[i]});
    }
    values_.resize(cols_.size());
  }

  // Appends one row; returns how many of its values went to _sync_overflow.
  size_t encode(std::string& out, const record& r, bool with_op) {
    static const jvalue null_value;
    if (with_op)
      out += r.operation == op::remove ? "t\t" : "f\t";
    append_copy_text(out, r.id);
    out += '\t';
    char num[24];
    auto [end, ec] = std::to_chars(num, num + sizeof num, r.version);
    out.append(num, end);
    std::fill(values_.begin(), values_.end(), &null_value);
    size_t j = 0;
    for (const auto& f : r.data) {
      while (j < by_name_.size() && by_name_[j].first < f.name)
        ++j;
      if (j == by_name_.size())
        break;
      if (by_name_[j].first == f.name)
        values_[by_name_[j].second] = &f.value;
    }
    size_t kept = 0;
    over_.clear();
    for (size_t i = 0; i < values_.size(); ++i) {
      const jvalue& v = *values_[i];
      const column& col = cols_[i];
      out += '\t';
      if (overflow_ && col.type != col_type::text && v.kind != jkind::null && !fits(v, col.type)) {
        // Kept as sent: {"field": value}; the typed column NULL.
        over_ += over_.empty() ? '{' : ',';
        append_json_string(over_, col.field);
        over_ += ':';
        if (v.kind == jkind::string) {
          over_ += '"';
          over_.append(v.text);
          over_ += '"';
        } else {
          over_.append(v.text);
        }
        out += "\\N";
        ++kept;
        continue;
      }
      if (col.type == col_type::timestamptz && v.kind == jkind::integer &&
          (col.unix_ms || (!r.unix_ms.empty() && r.unix_ms.count(col.field)))) {
        append_unix_ms(out, v.text);
        continue;
      }
      append_copy_value(out, v, col.type);
    }
    if (overflow_) {
      out += '\t';
      if (over_.empty()) {
        out += "\\N";
      } else {
        over_ += '}';
        append_copy_jsonb(out, over_);
      }
    }
    out += '\n';
    return kept;
  }

 private:
  struct column {
    col_type type;
    bool unix_ms;
    std::string_view field;
  };
  bool overflow_;
  std::vector<std::pair<std::string_view, size_t>> by_name_;
  std::vector<column> cols_;
  std::vector<const jvalue*> values_;
  std::string over_;  // this row's _sync_overflow object, reused
};

}  // namespace

size_t copy_rows(pg_conn& c, const std::string& copy_sql, const table_info& t,
                 const collection_batch& cb, bool with_op) {
  row_encoder enc(t);
  constexpr size_t kPart = 1 << 20;
  size_t next = 0, kept = 0;
  c.copy_in(copy_sql, [&](std::string& out) {
    out.reserve(kPart + 64 * 1024);
    while (next < cb.records.size() && out.size() < kPart)
      kept += enc.encode(out, *cb.records[next++], with_op);
    return next < cb.records.size();
  });
  return kept;
}

size_t count_overflow(const table_info& t, const collection_batch& cb) {
  if (!t.has_overflow)
    return 0;
  row_encoder enc(t);
  std::string scratch;
  size_t kept = 0;
  for (const auto* r : cb.records) {
    if (r->operation == op::upsert)
      kept += enc.encode(scratch, *r, false);
    scratch.clear();
  }
  return kept;
}

std::string copy_columns(const table_info& t) {
  std::string cols = "id, _sync_version";
  for (const auto& ident : t.order)
    cols += ", " + quote_ident(ident);
  if (t.has_overflow)
    cols += std::string(", ") + kOverflowColumn;
  return cols;
}

bool copies_straight_in(const table_info& t, const config::sync& s, const collection_batch& cb) {
  if (!t.fast_insert || t.tombstones || s.events)
    return false;
  return std::none_of(cb.records.begin(), cb.records.end(),
                      [](const record* r) { return r->operation == op::remove; });
}

std::string stage_columns(const table_info& t) {
  std::string cols = "_del boolean, id text, _sync_version bigint";
  for (const auto& ident : t.order)
    cols += ", " + quote_ident(ident) + " " + std::string(sql_name(t.cols.at(ident)));
  if (t.has_overflow)
    cols += std::string(", ") + kOverflowColumn + " jsonb";
  return cols;
}

std::string stage_signature(const table_info& t) {
  std::string sig = stage_columns(t);
  for (const auto& f : t.order_fields)
    sig += "|" + std::to_string(f.size()) + ":" + f;  // length-prefixed: unambiguous
  for (const auto& ms : t.unix_ms)                    // the same integers become other timestamps
    sig += "|ms:" + std::to_string(ms.size()) + ":" + ms;
  return sig;
}

}  // namespace sluice::sync
