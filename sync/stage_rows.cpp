#include "sync/stage_rows.hpp"

#include <algorithm>
#include <charconv>

namespace sluice::sync {

void copy_rows(pg_conn& c, const std::string& copy_sql, const table_info& t,
               const collection_batch& cb, bool with_op) {
  static const jvalue null_value;
  // Field name -> column position, sorted by name like each record's fields, so a
  // record maps onto the columns in one merge walk.
  std::vector<std::pair<std::string_view, size_t>> by_name;
  for (size_t i = 0; i < t.order_fields.size(); ++i)
    by_name.emplace_back(t.order_fields[i], i);
  std::sort(by_name.begin(), by_name.end());
  std::vector<col_type> types;
  for (const auto& ident : t.order)
    types.push_back(t.cols.at(ident));
  std::vector<const jvalue*> values(t.order.size());
  constexpr size_t kPart = 1 << 20;
  size_t next = 0;
  c.copy_in(copy_sql, [&](std::string& out) {
    out.reserve(kPart + 64 * 1024);
    while (next < cb.records.size() && out.size() < kPart) {
      const record* r = cb.records[next++];
      if (with_op)
        out += r->operation == op::remove ? "t\t" : "f\t";
      append_copy_text(out, r->id);
      out += '\t';
      char num[24];
      auto [end, ec] = std::to_chars(num, num + sizeof num, r->version);
      out.append(num, end);
      std::fill(values.begin(), values.end(), &null_value);
      size_t j = 0;
      for (const auto& f : r->data) {
        while (j < by_name.size() && by_name[j].first < f.name)
          ++j;
        if (j == by_name.size())
          break;
        if (by_name[j].first == f.name)
          values[by_name[j].second] = &f.value;
      }
      for (size_t i = 0; i < values.size(); ++i) {
        out += '\t';
        append_copy_value(out, *values[i], types[i]);
      }
      out += '\n';
    }
    return next < cb.records.size();
  });
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
  return cols;
}

std::string stage_signature(const table_info& t) {
  std::string sig = stage_columns(t);
  for (const auto& f : t.order_fields)
    sig += "|" + std::to_string(f.size()) + ":" + f;  // length-prefixed: unambiguous
  return sig;
}

}  // namespace sluice::sync
