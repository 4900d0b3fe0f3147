// A batch as the ingest API receives it: a sequence number and records
// {collection, id, op, version, data}, as NDJSON (optionally led by a {"sequence": N}
// line), a JSON array, or {"sequence": N, "records": [...]}. Parsing and the in-batch
// dedupe are pure and unit-tested. Records point into the request body (kept alive by
// the batch's store): no JSON tree is built.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "sync/json_scan.hpp"
#include "sync/types.hpp"

namespace sluice::sync {

enum class op { upsert, remove };

struct field {
  std::string_view name;  // unescaped
  jvalue value;
};

struct record {
  std::string_view collection;  // unescaped
  std::string_view id;          // unescaped; an integer id as its decimal text
  op operation = op::upsert;
  int64_t version = 0;
  // Upserts: the data fields sorted by name, one per name (the last one given wins),
  // without "id" (the record id is the key). Empty for deletes.
  std::span<const field> data;
  std::map<std::string, col_type, std::less<>> declared;  // "types": {"field": "timestamptz"}
  std::set<std::string, std::less<>> unix_ms;             // fields declared "timestamptz_ms"
  // The record as sent (its JSON text in the body), for _sync_rejected.
  std::string_view raw;
};

// What the records point into: the body, the fields of all records, and the unescaped
// copies of names and ids that had escapes.
struct batch_store {
  std::string body;
  std::vector<field> fields;
  std::deque<std::string> unescaped;  // a deque: growing it never moves its strings
};

struct batch {
  std::optional<int64_t> sequence;  // from the body; the query string may also carry it
  std::vector<record> records;
  std::shared_ptr<const batch_store> store;
};

struct parse_error {
  size_t line = 0;  // 1-based; 0 when unknown
  std::string reason;
  // 400: malformed. 422: well-formed, but a record breaks a name rule (sync/naming.hpp)
  // and would otherwise fail in the database and stop the sync.
  int status = 400;
};

// Parses the body, then checks every collection, field and id against the name rules
// (each distinct name once per collection) and that no collection has more than
// kMaxFields distinct fields; the first record that breaks one is refused with 422,
// naming its index, id and field.
std::variant<batch, parse_error> parse_batch(std::string body);

// What one field of a collection's upserts asks of its column, from the batch alone,
// so the writer compares it with its catalog instead of walking every record.
struct field_need {
  std::string_view name;
  // The type a new column would start from: declared, else the first non-null value's,
  // taken at the first upsert that gives either.
  col_type start = col_type::text;
  uint8_t seen = 0;  // bit (1 << col_type) for every non-null value's inferred type
  // A record of the batch declares the field's type: a value that does not fit it is
  // kept in _sync_overflow, never a reason to widen the column.
  bool declared = false;
};

// Records of one collection after dedupe: one per id, the highest version (the later
// one on a tie), in first-seen order.
struct collection_batch {
  std::string collection;
  std::vector<const record*> records;  // into the batch's records, which must outlive it
  std::vector<field_need> needs;       // fields with a type to offer, in first-seen order
};

// Groups by collection, dedupes and summarizes each collection's fields (`needs`);
// `dropped` counts records superseded in the batch. Pure: runs on the ingest thread.
std::vector<collection_batch> dedupe(const std::vector<record>& records, size_t& dropped);

// The type a column of type `have` must become to hold values of the `seen` types
// (field_need::seen): `have` when they all fit, else widened.
col_type settle(col_type have, uint8_t seen);

}  // namespace sluice::sync
