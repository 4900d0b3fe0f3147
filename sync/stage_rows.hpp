// A collection's records as COPY text for a stage table (_del, id, _sync_version, then
// every data column in table order), and the column list such a stage is created with.
// Shared by the main connection's temporary stage and the stager's unlogged ones.
#pragma once

#include <string>

#include "config/settings.hpp"
#include "sync/batch.hpp"
#include "sync/pg_conn.hpp"
#include "sync/schema_manager.hpp"

namespace sluice::sync {

// The stager's tables carry this comment and prefix; the comment (with ownership) is what
// tells them apart from a user's table of the same name.
inline constexpr const char* kStageComment = "sluice stage (transient copy of the next batch)";
inline constexpr const char* kStagePrefix = "_sync_stage_";

// Streams the rows as COPY text to `copy_sql`: [_del,] id, _sync_version, then every
// data column of `t` in table order (then _sync_overflow when `t` has it), in parts of
// ~1 MiB so the server parses while we write. `with_op` adds the leading _del column
// (stages have it, tables do not). A value that does not fit its column (a held
// widening, a declared type) is written NULL and kept in _sync_overflow. Returns how
// many values went there.
size_t copy_rows(pg_conn& c, const std::string& copy_sql, const table_info& t,
                 const collection_batch& cb, bool with_op);
// How many of `cb`'s values copy_rows would keep in _sync_overflow (pure).
size_t count_overflow(const table_info& t, const collection_batch& cb);
// The data columns a COPY into the table lists: id, _sync_version, the data columns in
// table order, then _sync_overflow when `t` has it.
std::string copy_columns(const table_info& t);

// True when apply_batch COPYs `cb` straight into its table instead of merging from a
// stage: a first load (the table only ever received new ids), with no deletes, no
// tombstones and events off. The stager fills no stage for such a collection.
bool copies_straight_in(const table_info& t, const config::sync& s, const collection_batch& cb);

// "_del boolean, id text, _sync_version bigint, "col" type, ...": a stage for `t`.
std::string stage_columns(const table_info& t);

// stage_columns() plus the field each column is read from: two stages with the same
// signature receive the same COPY text for the same records.
std::string stage_signature(const table_info& t);

}  // namespace sluice::sync
