// The managed schema: setup (schema, _sync_state, _sync_event, _sync_deleted, grants to
// the read role), the catalog of collection tables the writer owns, and the DDL that
// creates tables, adds columns and widens types. It only ever alters tables it created
// and owns; it never drops anything and never uses CASCADE.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
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

// Values that do not fit their column are kept, as sent, in this jsonb column of the
// collection's table ({"field": value}), the typed column NULL: a widening a user's view
// blocks (until the view is gone) and a value its declared type cannot hold.
inline constexpr const char* kOverflowColumn = "_sync_overflow";

// A widening the database refused because something depends on the column (a view, in
// any schema): the column keeps its type and the values that need `to` wait in
// _sync_overflow until ensure() can finish it.
struct held_widening {
  std::string field;
  col_type to = col_type::text;
  std::vector<std::string> blocked_by;  // the dependent views, schema-qualified
  std::string fix;                      // the SQL for the customer
};

struct table_info {
  std::string ident;
  bool fast_insert = false;               // only new ids so far: try COPY straight into the table
  name_map fields;                        // field -> column identifier
  std::map<std::string, col_type> cols;   // column identifier -> type (data columns only)
  std::vector<std::string> order;         // data column identifiers in table order
  std::vector<std::string> order_fields;  // the field name of each, same order
  bool tombstones = false;
  bool has_deleted_at = false;                // _sync_deleted_at exists (soft deletes)
  bool has_overflow = false;                  // _sync_overflow exists (or the plan adds it)
  std::map<std::string, held_widening> held;  // column identifier -> the widening it waits for
  std::set<std::string> unix_ms;              // timestamptz columns declared timestamptz_ms
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
// A declared column (configured, declared by a record of the batch, or timestamptz)
// never widens, and a held one waits (its target moves up instead): their values that
// do not fit go to _sync_overflow, so the plan sets t.has_overflow.
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
  // Every held widening: [{"table", "column", "field", "type", "wanted", "blocked_by",
  // "fix"}] for the status API and the batch's answer.
  nlohmann::json held_json() const;
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

  // Finishes the held widenings of `t` whose blocking views are gone (moving the kept
  // values back), and refreshes the list of views of the others.
  void finish_held(pg_conn& c, const config::sync& s, table_info& t);
  // The widening `ch` failed because views depend on the column: hold it.
  void hold(pg_conn& c, const config::sync& s, table_info& t, const column_change& ch);
  // _sync_overflow's comment records the held widenings, so they survive a restart.
  void save_held(pg_conn& c, const table_info& t);
};

}  // namespace sluice::sync
