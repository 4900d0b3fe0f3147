// The managed schema: setup (schema, _sync_state, _sync_event, _sync_deleted, grants to
// the read role), the catalog of collection tables the writer owns, and the DDL that
// creates tables, adds columns and widens types. It only ever alters tables it created
// and owns; it never drops anything and never uses CASCADE.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "config/settings.hpp"
#include "sync/batch.hpp"
#include "sync/naming.hpp"
#include "sync/pg_conn.hpp"
#include "sync/types.hpp"

namespace sluice::sync {

// Raised for conflicts a retry cannot fix (a user's table in the way, a collision).
class schema_conflict : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

inline constexpr const char* kTableComment = "sluice collection: ";

// A read-role grant setup could not make: readers are a convenience, so it is reported
// (logged as sync_read_role_problem) and never stops the data.
struct grant_problem {
  std::string what;
  std::string fix;  // the SQL that fixes it, run as the owner or a superuser
};

// Idempotent: CREATE ... IF NOT EXISTS and GRANTs. Runs in its own transaction. The
// read role's grants are best effort: each failure is returned (and logged), and the
// schema and the writer's tables are set up regardless.
std::vector<grant_problem> setup(pg_conn& c, const config::sync& s, const std::string& schema);
// [{"problem", "fix"}] for the status API.
nlohmann::json to_json(const std::vector<grant_problem>& problems);
// Grants the read role SELECT on one table the writer created.
std::string grant_select_sql(const config::sync& s, const std::string& qualified_table);

struct column {
  std::string ident;
  col_type type;
};

struct table_info {
  std::string ident;
  bool fast_insert = false;               // only new ids so far: try COPY straight into the table
  name_map fields;                        // field -> column identifier
  std::map<std::string, col_type> cols;   // column identifier -> type (data columns only)
  std::vector<std::string> order;         // data column identifiers in table order
  std::vector<std::string> order_fields;  // the field name of each, same order
  bool tombstones = false;
  bool has_deleted_at = false;  // _sync_deleted_at exists (soft deletes)               //
                                // _sync_deleted has rows for this collection
};

// One column change a batch needs: widen `ident` from `from` to `to`, or add it.
struct column_change {
  bool widen = false;
  std::string ident, field;
  col_type from{}, to{};
};

// Pure: updates `t`'s columns in memory so every value in `cb` fits and returns the
// DDL that implies, in order. Throws schema_conflict (a name collision, a reserved name).
// `declared` (optional): the sync's configured types for this collection (field -> type
// name, `syncs[].types`), which a new column starts from ahead of the records' own.
std::vector<column_change> plan_columns(
    table_info& t, const collection_batch& cb,
    const std::map<std::string, std::string>* declared = nullptr);

class catalog {
 public:
  explicit catalog(std::string schema) : schema_(std::move(schema)) {}
  const std::string& schema() const { return schema_; }
  void load(pg_conn& c);
  void invalidate() { loaded_ = false; }
  bool loaded() const { return loaded_; }

  // Inside the caller's transaction: creates the collection's table or adds and widens
  // columns so every value in `cb` fits. Throws schema_conflict or pg_error.
  table_info& ensure(pg_conn& c, const config::sync& s, const collection_batch& cb);
  // What ensure() would make of an existing table for `cb`, without touching the
  // database; nullopt for a collection without a table yet or one ensure() would refuse.
  std::optional<table_info> predict(const collection_batch& cb) const;
  // True when ensure() would alter the collection's existing table for `cb` (add or
  // widen a column); false for a table it would create.
  bool would_alter(const config::sync& s, const collection_batch& cb) const;
  // The collection's table as loaded, or nullptr.
  const table_info* find(const std::string& collection) const {
    auto it = info_.find(collection);
    return it == info_.end() ? nullptr : &it->second;
  }

 private:
  std::string schema_;
  bool loaded_ = false;
  name_map tables_;                             // collection -> table identifier
  std::map<std::string, table_info> info_;      // by collection
  std::map<std::string, std::string> foreign_;  // identifiers of tables/views not ours -> owner
  // The sync's configured types (syncs[].types), as of the last ensure().
  std::map<std::string, std::map<std::string, std::string>> types_;
};

}  // namespace sluice::sync
