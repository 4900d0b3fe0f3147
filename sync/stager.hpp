// The writer's second connection. While batch k merges on the main connection, the
// stager COPYs batch k+1 into unlogged stage tables in the sync's schema
// (_sync_stage_<slot>_<n>), so the database parses the next batch on one CPU while it
// merges the current one on another. Two slots alternate: the one the merge reads is
// never the one being filled. Purely an optimisation: a batch the stager did not fill,
// or filled with columns that no longer match, is staged by the main connection itself.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "config/settings.hpp"
#include "sync/batch.hpp"
#include "sync/pg_conn.hpp"
#include "sync/schema_manager.hpp"
#include "sync/stage_rows.hpp"

namespace sluice::sync {

class stager {
 public:
  // Connects and takes the sync's stage lock without waiting: nullptr when another
  // session holds it (a writer of another instance that has not let go yet). Throws
  // pg_error when the connection fails.
  static std::unique_ptr<stager> open(const std::map<std::string, std::string>& params,
                                      const config::sync& s);

  // Fills one stage table per collection of the batch whose table exists and is past its
  // first load, with the columns `cat` predicts for it. Never throws: false when the
  // stager is unusable (the caller drops it and opens a new one later). A value the
  // database refuses or a stage locked by someone else fills nothing and returns true.
  bool fill(const catalog& cat, const config::sync& s, uint64_t batch_id,
            const std::vector<collection_batch>& groups);

  // The qualified stage table holding `collection` of batch `batch_id`, created with
  // exactly `signature` (stage_signature()), or "" when there is none.
  std::string lookup(uint64_t batch_id, const std::string& collection,
                     const std::string& signature) const;

  const std::string& last_error() const { return error_; }

 private:
  explicit stager(std::unique_ptr<pg_conn> c) : c_(std::move(c)) {}
  // Truncates, or (re)creates, the stage table `name`; false when a table of that name
  // that sluice did not create is in the way (left alone).
  bool prepare(const config::sync& s, const std::string& schema, const std::string& name,
               const table_info& t, const std::string& signature);

  struct filled {
    uint64_t batch_id = 0;
    std::map<std::string, std::pair<std::string, std::string>> by_collection;  // table, sig
  };
  std::unique_ptr<pg_conn> c_;
  int slot_ = 0;
  filled slots_[2];
  std::map<std::string, std::string> created_;  // qualified name -> signature, this session
  std::set<std::string> in_the_way_;            // logged once each
  std::string error_;
};

}  // namespace sluice::sync
