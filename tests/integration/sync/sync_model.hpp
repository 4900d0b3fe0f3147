// A generated stream of sync records (updates, out-of-order versions, duplicates in a
// batch, deletes, a field added late and a type that widens) and the reference result
// the writer must produce, computed independently of it.
#pragma once

#include <catch2/catch.hpp>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

namespace sluice::test {

struct model_row {
  int64_t version = 0;
  nlohmann::json data;
};

class sync_model {
 public:
  // Batch-level semantics: one record per (collection, id), highest version (later on a
  // tie); then each record against the stored state.
  void apply(const std::vector<nlohmann::json>& batch) {
    std::map<std::pair<std::string, std::string>, nlohmann::json> winners;
    std::vector<std::pair<std::string, std::string>> order;
    for (const auto& r : batch) {
      auto key = std::make_pair(r["collection"].get<std::string>(), r["id"].get<std::string>());
      auto it = winners.find(key);
      if (it == winners.end()) {
        winners[key] = r;
        order.push_back(key);
      } else if (r["version"].get<int64_t>() >= it->second["version"].get<int64_t>()) {
        it->second = r;
      }
    }
    for (const auto& key : order) {
      const auto& r = winners[key];
      int64_t v = r["version"];
      auto& rows = tables[key.first];
      auto& tomb = tombstones[key.first];
      if (r["op"] == "delete") {
        tomb[key.second] = std::max(tomb.count(key.second) ? tomb[key.second] : v, v);
        auto it = rows.find(key.second);
        if (it != rows.end() && it->second.version <= v) {
          rows.erase(it);
          ++events;
        }
        continue;
      }
      if (auto t = tomb.find(key.second); t != tomb.end() && t->second >= v)
        continue;
      auto it = rows.find(key.second);
      if (it == rows.end()) {
        rows[key.second] = {v, r["data"]};
        ++events;
      } else if (it->second.version <= v) {
        if (it->second.data != r["data"])
          ++events;
        it->second = {v, r["data"]};
      }
    }
  }

  std::map<std::string, std::map<std::string, model_row>> tables;
  std::map<std::string, std::map<std::string, int64_t>> tombstones;
  uint64_t events = 0;
};

// `batches` batches of `per_batch` records over `ids` ids per collection.
inline std::vector<std::vector<nlohmann::json>> make_stream(int batches, int per_batch, int ids,
                                                            unsigned seed = 42) {
  std::mt19937_64 rng(seed);
  std::vector<std::vector<nlohmann::json>> out;
  std::map<std::string, int64_t> next_version;
  const char* colls[] = {"customer", "invoice"};
  for (int b = 0; b < batches; ++b) {
    std::vector<nlohmann::json> batch;
    for (int i = 0; i < per_batch; ++i) {
      std::string coll = colls[rng() % 2];
      std::string id = coll.substr(0, 3) + "_" + std::to_string(rng() % ids);
      auto& nv = next_version[coll + id];
      int64_t version = ++nv;
      // Out of order: sometimes an older version arrives after a newer one.
      if (nv > 3 && rng() % 10 == 0)
        version = nv - 1 - static_cast<int64_t>(rng() % 2);
      nlohmann::json r{{"collection", coll}, {"id", id}, {"version", version}};
      if (rng() % 12 == 0) {
        r["op"] = "delete";
      } else {
        r["op"] = "upsert";
        nlohmann::json d{{"name", "n-" + id + "-" + std::to_string(version % 5)},
                         {"active", version % 2 == 0},
                         {"meta", {{"k", version % 3}}}};
        // amount starts as an integer and becomes fractional later: bigint -> numeric.
        if (b < batches / 2) {
          d["amount"] = static_cast<int64_t>(version % 7);
        } else {
          d["amount"] = static_cast<double>(version % 7) + 0.5;
        }
        if (b >= batches / 3)
          d["plan"] = "p" + std::to_string(version % 4);  // a late field
        r["data"] = d;
      }
      batch.push_back(r);
      // A duplicate inside the batch now and then (same record re-sent).
      if (rng() % 20 == 0)
        batch.push_back(r);
    }
    out.push_back(std::move(batch));
  }
  return out;
}

// "id|version|name|active|amount|plan|meta.k" per row, as the test reads them back.
inline std::vector<std::string> model_rows(const sync_model& m, const std::string& coll) {
  std::vector<std::string> out;
  auto it = m.tables.find(coll);
  if (it == m.tables.end())
    return out;
  for (const auto& [id, row] : it->second) {
    const auto& d = row.data;
    char amount[64];
    std::snprintf(amount, sizeof amount, "%.1f", d["amount"].get<double>());
    out.push_back(id + "|" + std::to_string(row.version) + "|" + d["name"].get<std::string>() +
                  "|" + (d["active"].get<bool>() ? "t" : "f") + "|" + amount + "|" +
                  (d.contains("plan") ? d["plan"].get<std::string>() : "") + "|" +
                  std::to_string(d["meta"]["k"].get<int64_t>()));
  }
  return out;
}

inline const char* kRowsSql =
    "select string_agg(id || '|' || _sync_version || '|' || name || '|' || case when active "
    "then 't' else 'f' end || '|' || amount::numeric(20,1)::text || '|' || coalesce(plan, '') "
    "|| '|' || (meta->>'k'), E'\\n' order by id collate \"C\") from ";

// The destination's tables equal the model's, and _sync_event holds exactly one row per
// effective change (none with events off). `env` is a sync_env (its app() runs SQL in the
// destination).
template <class Env>
void check_matches_model(Env& env, const sync_model& model, const std::string& schema,
                         bool events = true) {
  for (const char* coll : {"customer", "invoice"}) {
    INFO("collection " << coll);
    std::string want;
    for (const auto& r : model_rows(model, coll))
      want += (want.empty() ? "" : "\n") + r;
    CHECK(env.app(std::string(kRowsSql) + schema + "." + coll) == want);
  }
  CHECK(env.app("select count(*) from " + schema + "._sync_event") ==
        std::to_string(events ? model.events : 0));
}

}  // namespace sluice::test
