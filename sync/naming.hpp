// PostgreSQL identifiers for collections and fields: names are kept as written (and
// always quoted), cut to 63 bytes with a hash suffix when longer, and checked so two
// different names never land on the same identifier. Pure; unit-tested.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::sync {

inline constexpr size_t kMaxIdentBytes = 63;  // NAMEDATALEN - 1

// The writer's own tables (_sync_state, _sync_event, _sync_deleted, _sync_stage_*) and
// columns (_sync_version, ...) start with this; no collection or field may.
inline constexpr std::string_view kReservedPrefix = "_sync_";
// PostgreSQL's limit on a table's columns (MaxHeapAttributeNumber).
inline constexpr size_t kMaxTableColumns = 1600;
// The writer's own columns in a collection's table: id, _sync_version, _sync_updated_at
// and _sync_deleted_at (soft deletes). Its stage tables have _del, id, _sync_version.
inline constexpr size_t kWriterColumns = 4;
// Distinct fields one collection may have in a batch.
inline constexpr size_t kMaxFields = kMaxTableColumns - kWriterColumns;
// A B-tree entry holds at most 2704 bytes; _sync_deleted's key is (collection, id) and
// each table's is id, so the two together stay below this, with room for the headers.
inline constexpr size_t kMaxKeyBytes = 2600;
inline constexpr size_t kMaxCollectionBytes = 1024;
// A row must fit one 8 KiB heap page (MaxHeapTupleSize). Long text and jsonb values
// move out of line, leaving an 18-byte pointer; fixed-width values cannot.
inline constexpr size_t kMaxRowBytes = 8160;

// Name rules, checked on the ingest thread before a batch reaches the database: each
// returns why the name is refused (to be shown after the name), or "" when it is
// usable. Refused: empty names, a NUL byte (PostgreSQL text cannot hold one), the
// reserved prefix, and names of the form to_identifier() gives a long name (60..63
// bytes ending in _h and 8 hex digits), which could meet a longer name's identifier.
// Collection names are also limited to kMaxCollectionBytes.
std::string collection_problem(std::string_view name);
// Also refused for fields: PostgreSQL's system columns (ctid, xmin, ...) and the stage
// tables' own column _del. ("id" is the record id, not a field.)
std::string field_problem(std::string_view name);
// Ids: no NUL, and with the collection's name at most kMaxKeyBytes.
std::string id_problem(std::string_view collection, std::string_view id);

// `name` unchanged when it fits; else its first bytes (cut at a UTF-8 boundary) plus
// "_h" and 8 hex digits of its SHA-1, 63 bytes in all.
std::string to_identifier(const std::string& name);

// Original name -> identifier, refusing collisions.
class name_map {
 public:
  // Returns the identifier, or nullopt with `error` naming both names when `name`
  // would share an identifier with a different name already registered.
  std::optional<std::string> add(const std::string& name, std::string& error);
  // Registers an existing identifier for `name` (loaded from the catalog).
  void remember(const std::string& name, const std::string& ident);
  const std::string* find(const std::string& name) const;

 private:
  std::map<std::string, std::string> by_name_;
  std::map<std::string, std::string> by_ident_;
};

}  // namespace sluice::sync
