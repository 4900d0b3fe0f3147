// Schema rename: when a sync's schema changes, the writer finds the old schema by its
// _sync_state row, builds the new one, backfills it and moves the cursor, all in one
// transaction (so writes switch atomically), marks the old state as moved and leaves
// the old schema in place with the SQL the user may run to drop it.
#pragma once

#include <optional>
#include <string>

#include "config/settings.hpp"
#include "sync/pg_conn.hpp"

namespace sluice::sync {

// The schema this sync last wrote to, if it is not `schema` and was not moved yet.
// Throws schema_conflict when `schema` is one the sync moved away from: attaching to
// that stale copy would move the cursor backwards.
std::optional<std::string> previous_schema(pg_conn& c, const config::sync& s,
                                           const std::string& schema);

// Why `schema` cannot be this sync's schema (it moved away from it, and its copy is
// stale), with the SQL that clears the way; nullopt when it can.
std::optional<std::string> moved_away_from(pg_conn& c, const config::sync& s,
                                           const std::string& schema);

// Copies every table the writer created in `from` (plus its tombstones, events and
// cursor) into `to`, which setup() has prepared. Returns the SQL to drop the old copy.
std::string move_schema(pg_conn& c, const config::sync& s, const std::string& from,
                        const std::string& to);

}  // namespace sluice::sync
