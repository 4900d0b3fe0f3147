// A batch as the ingest API receives it: a sequence number and records
// {collection, id, op, version, data}, as NDJSON (optionally led by a {"sequence": N}
// line), a JSON array, or {"sequence": N, "records": [...]}. Parsing and the in-batch
// dedupe are pure and unit-tested.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "sync/types.hpp"

namespace sluice::sync {

enum class op { upsert, remove };

struct record {
  std::string collection;
  std::string id;
  op operation = op::upsert;
  int64_t version = 0;
  nlohmann::json data;                       // object for upserts, null for deletes
  std::map<std::string, col_type> declared;  // optional "types": {"field": "timestamptz"}
};

struct batch {
  std::optional<int64_t> sequence;  // from the body; the query string may also carry it
  std::vector<record> records;
};

struct parse_error {
  size_t line = 0;  // 1-based; 0 when unknown
  std::string reason;
};

std::variant<batch, parse_error> parse_batch(std::string_view body);

// Records of one collection after dedupe: one per id, the highest version (the later
// one on a tie), in first-seen order.
struct collection_batch {
  std::string collection;
  std::vector<const record*> records;  // into the batch's records, which must outlive it
};

// Groups by collection and dedupes; `dropped` counts records superseded in the batch.
std::vector<collection_batch> dedupe(const std::vector<record>& records, size_t& dropped);

}  // namespace sluice::sync
