// Sync writer benchmark. Applies N records of ~400 bytes through the real ingest API
// (HTTP, parse, COPY into a stage, merge, cursor, COMMIT) as a first load and then as
// updates of every row, and compares with a plain COPY of the same rows into an empty
// table in the same database and run. Prints a markdown table.
//
//   sync_bench [--rows N] [--batch N] [--copy-batch N] [--events]
//
// It starts its own PostgreSQL 15 cluster with fsync, synchronous_commit and
// full_page_writes ON (the test clusters turn them off), connecting over TCP. Each path
// also reports the CPU time its PostgreSQL backends spent (from /proc): set beside the
// seconds, it shows whether a slower path did more work or waited for a CPU.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>

#include "config/load.hpp"
#include "sync/http_client.hpp"
#include "sync/pg_conn.hpp"
#include "sync/service.hpp"
#include "sync/types.hpp"
#include "tests/support/pg_cluster.hpp"
#include "tests/support/process.hpp"

using namespace sluice;
using json = nlohmann::json;
using seconds = std::chrono::duration<double>;

namespace {

struct opts {
  int rows = 1'000'000;
  int batch = 10'000;
  int copy_batch = 50'000;
  bool events = false;
  int senders = 2;
};

// ~400 bytes per record once in a row: 14 scalar fields and 2 small objects.
json make_data(int i, int version) {
  std::string s = std::to_string(i);
  return {
      {"name", "Customer number " + s + " v" + std::to_string(version)},
      {"email", "customer" + s + "@example.com"},
      {"phone", "+1-555-" + std::to_string(1000000 + i)},
      {"currency", "usd"},
      {"description", "A fairly ordinary description of customer " + s +
                          ", long enough to bring the record to about four hundred bytes"},
      {"shipping_name", "Shipping contact for customer " + s},
      {"balance", (i * 37 + version) % 100000},
      {"delinquent", (i + version) % 7 == 0},
      {"created", 1700000000 + i},
      {"invoice_prefix", "INV" + std::to_string(i % 10000)},
      {"tax_exempt", "none"},
      {"livemode", false},
      {"discount", ((i + version) % 100) / 4.0},
      {"preferred_locale", "en-US"},
      {"next_invoice_sequence", version},
      {"address", {{"city", "Springfield"}, {"line1", s + " Main St"}, {"postal_code", "12345"}}},
      {"metadata", {{"plan", std::string(1, 'p').append(std::to_string(i % 5))}, {"v", version}}}};
}

std::string batch_body(int from, int to, int version) {
  std::string out;
  for (int i = from; i < to; ++i) {
    json r{{"collection", "customer"},
           {"id", "cus_" + std::to_string(i)},
           {"op", "upsert"},
           {"version", version},
           {"data", make_data(i, version)}};
    out += r.dump();
    out += '\n';
  }
  return out;
}

// utime + stime of a process, in seconds; 0 once it has gone.
double process_cpu_s(int pid) {
  auto f = test::proc_stat_fields("/proc/" + std::to_string(pid) + "/stat");
  if (!f.count(14) || !f.count(15))
    return 0;
  return (std::stod(f[14]) + std::stod(f[15])) /  // utime, stime
         static_cast<double>(sysconf(_SC_CLK_TCK));
}

// CPU of the sync user's backends other than `self` (the writer's and its stager's),
// keyed by pid. A backend that appears between two readings counts from zero.
std::map<int, double> writer_backends_cpu(sync::pg_conn& c) {
  std::map<int, double> out;
  auto r = c.exec(
      "select pid from pg_stat_activity where usename = 'sync_user' and pid <> "
      "pg_backend_pid()");
  for (int i = 0; i < r.rows(); ++i) {
    int pid = static_cast<int>(r.get_int(i, 0));
    out[pid] = process_cpu_s(pid);
  }
  return out;
}

double cpu_between(const std::map<int, double>& before, const std::map<int, double>& after) {
  double s = 0;
  for (const auto& [pid, cpu] : after) {
    auto it = before.find(pid);
    s += cpu - (it == before.end() ? 0 : it->second);
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  opts o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&] { return i + 1 < argc ? std::stoi(argv[++i]) : 0; };
    if (a == "--rows")
      o.rows = next();
    else if (a == "--batch")
      o.batch = next();
    else if (a == "--copy-batch")
      o.copy_batch = next();
    else if (a == "--events")
      o.events = true;
    else if (a == "--senders")
      o.senders = std::max(1, next());
    else {
      std::cerr
          << "usage: sync_bench [--rows N] [--batch N] [--copy-batch N] [--events] [--senders N]\n";
      return 2;
    }
  }
  test::pg_options po;
  po.conf = {"fsync = on",
             "synchronous_commit = on",
             "full_page_writes = on",
             "shared_buffers = 256MB",
             "max_wal_size = 4GB",
             "log_min_messages = warning"};
  test::pg_cluster pg(po);
  pg.sql("create database bench");
  pg.sql("create user sync_user with encrypted password 'bench-pw'");
  pg.sql("grant connect, create on database bench to sync_user");
  test::temp_dir dir("sluice-bench");
  int port = test::free_port();
  std::string yaml =
      "ingest:\n  listen: 127.0.0.1:" + std::to_string(port) +
      "\n  max_batch_bytes: 256MiB\n  queue_depth: 16\nsyncs:\n  - name: bench\n    destination:\n"
      "      host: 127.0.0.1\n      port: " +
      std::to_string(pg.port()) +
      "\n      database: bench\n      user: sync_user\n      password_file: " +
      dir.write("pw", "bench-pw", 0600) +
      "\n      sslmode: disable\n    schema: stripe\n    events: " + (o.events ? "true" : "false") +
      "\n    ingest:\n      token_file: " + dir.write("token", "bench-token", 0600) + "\n";
  auto loaded = config::load_file(dir.write("sluice.yaml", yaml, 0600));
  if (!loaded.settings) {
    std::cerr << loaded.issues.str();
    return 1;
  }

  // 1. Plain COPY into an empty table with the same typed columns and primary key.
  sync::pg_conn c({{"host", "127.0.0.1"},
                   {"port", std::to_string(pg.port())},
                   {"dbname", "bench"},
                   {"user", "sync_user"},
                   {"password", "bench-pw"}});
  c.exec("create schema plain");
  c.exec(
      "create table plain.plain (id text primary key, _sync_version bigint not null, "
      "_sync_updated_at timestamptz not null default now(), name text, email text, phone "
      "text, currency text, description text, shipping_name text, balance bigint, delinquent "
      "boolean, created "
      "bigint, invoice_prefix text, tax_exempt text, livemode boolean, discount numeric, "
      "preferred_locale text, next_invoice_sequence bigint, address jsonb, metadata jsonb)");
  const char* fields[] = {
      "name",          "email",    "phone",      "currency",         "description",
      "shipping_name", "balance",  "delinquent", "created",          "invoice_prefix",
      "tax_exempt",    "livemode", "discount",   "preferred_locale", "next_invoice_sequence",
      "address",       "metadata"};
  double copy_s = 0, copy_cpu_s = 0;
  size_t bytes = 0;
  const int plain_pid = static_cast<int>(c.exec("select pg_backend_pid()").get_int(0, 0));
  for (int from = 0; from < o.rows; from += o.copy_batch) {
    int to = std::min(o.rows, from + o.copy_batch);
    std::string text;
    for (int i = from; i < to; ++i) {
      json d = make_data(i, 1);
      text += "cus_" + std::to_string(i) + "\t1";
      for (const char* f : fields) {
        text += '\t';
        std::string raw = d[f].dump();
        sync::json_scanner scan(raw, 0, raw.size());
        auto v = scan.value(0);
        auto t = sync::infer(v).value_or(sync::col_type::text);
        sync::append_copy_value(text, v, t);
      }
      text += '\n';
    }
    bytes += text.size();
    double cpu0 = process_cpu_s(plain_pid);
    auto t0 = std::chrono::steady_clock::now();
    c.exec("begin");
    c.copy_in(
        "copy plain.plain (id, _sync_version, name, email, phone, currency, description, "
        "shipping_name, "
        "balance, delinquent, created, invoice_prefix, tax_exempt, livemode, discount, "
        "preferred_locale, next_invoice_sequence, address, metadata) from stdin",
        text);
    c.exec("commit");
    copy_s += seconds(std::chrono::steady_clock::now() - t0).count();
    copy_cpu_s += process_cpu_s(plain_pid) - cpu0;
  }

  // 2. and 3. The sync writer through its HTTP API: first load, then every row updated.
  sync::service svc(nullptr);
  svc.start(loaded.settings);
  sync::http_target target;
  target.port = static_cast<uint16_t>(port);
  int64_t seq = 0;
  // The writer connects in the background: wait for its backend, so the first pass's
  // CPU reading has a starting point.
  for (int i = 0; i < 200 && writer_backends_cpu(c).empty(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  // Bodies are built before the clock starts; `senders` connections post them in
  // turn (batch k on connection k % senders), so parsing overlaps applying, as a
  // sync worker with several requests in flight would.
  auto run_pass = [&](int version, double& db_cpu_s) {
    std::vector<std::string> bodies;
    for (int from = 0; from < o.rows; from += o.batch) {
      bodies.push_back(batch_body(from, std::min(o.rows, from + o.batch), version));
    }
    int64_t base = seq;
    seq += static_cast<int64_t>(bodies.size());
    std::atomic<bool> failed{false};
    std::string error;
    std::mutex error_mu;
    auto cpu0 = writer_backends_cpu(c);
    auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> senders;
    for (int k = 0; k < o.senders; ++k) {
      senders.emplace_back([&, k] {
        for (size_t b = static_cast<size_t>(k); b < bodies.size() && !failed;
             b += static_cast<size_t>(o.senders)) {
          auto r = sync::http_request(target, "POST",
                                      "/v1/syncs/bench/batches?sequence=" +
                                          std::to_string(base + 1 + static_cast<int64_t>(b)),
                                      "bench-token", bodies[b]);
          if (r.status != 200) {
            std::lock_guard g(error_mu);
            error = "HTTP " + std::to_string(r.status) + ": " + r.body;
            failed = true;
          }
        }
      });
    }
    for (auto& t : senders)
      t.join();
    if (failed)
      throw std::runtime_error(error);
    double wall = seconds(std::chrono::steady_clock::now() - t0).count();
    db_cpu_s = cpu_between(cpu0, writer_backends_cpu(c));
    return wall;
  };
  double first_cpu = 0, update_cpu = 0, same_cpu = 0;
  double first_s = run_pass(1, first_cpu);
  double update_s = run_pass(2, update_cpu);
  double same_s = run_pass(2, same_cpu);  // same versions and data again: every row unchanged
  auto count =
      c.exec("select count(*), count(*) filter (where _sync_version = 2) from stripe.customer");
  if (count.get_int(0, 0) != o.rows || count.get_int(0, 1) != o.rows) {
    std::cerr << "row check failed: " << count.get(0, 0) << " rows, " << count.get(0, 1)
              << " at version 2\n";
    return 1;
  }
  // How many batches merged from a stage the second connection had filled meanwhile.
  auto writer_status = svc.status()[0];
  svc.stop();

  auto line = [&](const char* what, double s, double cpu) {
    double rate = o.rows / s;
    std::printf("| %s | %d | %.2f | %.0f | %.0f%% | %.2f |\n", what, o.rows, s, rate,
                100.0 * rate / (o.rows / copy_s), cpu);
  };
  std::printf(
      "\nrows ~%zu bytes each in COPY text; sync batches of %d (%d connections), COPY "
      "batches of %d, events %s\n\n",
      bytes / static_cast<size_t>(o.rows), o.batch, o.senders, o.copy_batch,
      o.events ? "on" : "off");
  std::printf(
      "| path | rows | seconds | rows/s | vs plain COPY | database CPU s |\n"
      "|---|---|---|---|---|---|\n");
  line("plain COPY into an empty table (PK, one tx per COPY batch)", copy_s, copy_cpu_s);
  line("sync writer, first load (HTTP + stage + merge)", first_s, first_cpu);
  line("sync writer, every row updated", update_s, update_cpu);
  line("sync writer, every row re-sent unchanged", same_s, same_cpu);
  std::printf(
      "\ndatabase CPU s: user+system time of the PostgreSQL backends doing the work (the "
      "plain COPY's; the writer's and its stager's)\n");
  std::printf("\nbatches merged from a stage filled on the second connection: %s of %s\n",
              writer_status["prestaged_batches"].dump().c_str(),
              writer_status["batches"].dump().c_str());
  return 0;
}
