// `sluice sync verify|setup|push|status|serve`: the sync writer from the command line.
// verify and setup connect to the destination as the sync user, bringing up the sync's
// tunnel in this process when the destination is reached `via` one. A reverse tunnel
// cannot be brought up here (its agents dial in to the running gateway): verify asks
// that gateway, over its admin API, to run the checks through its forwarder; push and status go
// through the ingest HTTP API of a running gateway; serve runs only the sync service
// (ingest API, writers and the tunnels they use) in the foreground, without listeners.
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <thread>

#include "config/load.hpp"
#include "config/log.hpp"
#include "config/read_file.hpp"
#include "config/units.hpp"
#include "gateway/cli/admin_client.hpp"
#include "gateway/cli/commands.hpp"
#include "gateway/cli/load_config.hpp"
#include "gateway/tunnel/manager.hpp"
#include "sync/checks.hpp"
#include "sync/destination.hpp"
#include "sync/http_client.hpp"
#include "sync/pg_conn.hpp"
#include "sync/schema_manager.hpp"
#include "sync/service.hpp"

namespace sluice::cmd {

namespace {

struct sync_opts {
  std::string config;
  std::string name;
  std::string file;
  int64_t sequence = 0;
  std::string url;  // host:port override for push/status
  std::string ca;
  int retries = 30;
};

config::settings_ptr load(const std::string& path) {
  auto r = load_config(path, report_to::terminal);
  if (!r.settings)
    throw std::runtime_error("configuration is invalid");
  return r.settings;
}

const config::sync& find(const config::settings& s, const std::string& name) {
  const auto* sc = s.find_sync(name);
  if (!sc) {
    std::string known;
    for (const auto& x : s.syncs)
      known += (known.empty() ? "" : ", ") + x.name;
    throw std::runtime_error("no sync named '" + name + "' in syncs: (" +
                             (known.empty() ? "none" : known) + ")");
  }
  return *sc;
}

// verify and setup reach a tunnelled destination the way the gateway does: this process
// brings that one tunnel up for the duration of the command and connects through a
// loopback forward. Destinations without a tunnel get an empty forward.
class command_tunnels {
 public:
  command_tunnels(const config::settings& s, const config::sync& sc) {
    const auto* t = s.find_tunnel(sync::destination_tunnel(s, sc));
    if (!t)
      return;  // no tunnel, or an unknown one (check-config reports that)
    tunnel_ = *t;
    auto only = std::make_shared<config::settings>();
    only->tunnels = {*t};
    mgr_ = std::make_unique<tunnel::manager>();
    mgr_->apply(only);
  }
  ~command_tunnels() {
    if (mgr_)
      mgr_->stop();
  }
  command_tunnels(const command_tunnels&) = delete;
  command_tunnels& operator=(const command_tunnels&) = delete;

  // A checklist line for the tunnel once it is up or wait_for_up has passed; nullopt
  // when the destination has no tunnel. A down tunnel fails with the SSH stage's reason
  // rather than letting libpq report a closed connection.
  std::optional<sync::check> wait_up() const {
    if (!mgr_)
      return std::nullopt;
    const std::string name = "SSH tunnel " + tunnel_.name + " to " + tunnel_.host + ":" +
                             std::to_string(tunnel_.port) + " is up";
    auto deadline = std::chrono::steady_clock::now() + tunnel_.wait_for_up;
    while (true) {
      for (const auto& t : mgr_->status()) {
        if (t["name"] != tunnel_.name)
          continue;
        if (t["state"] == "up")
          return sync::check{name, sync::check_status::pass, "", ""};
        if (std::chrono::steady_clock::now() >= deadline) {
          std::string why = t["last_error"].get<std::string>();
          return sync::check{
              name, sync::check_status::fail,
              (why.empty() ? "not up after " + config::format_duration(tunnel_.wait_for_up) : why) +
                  "; `sluice doctor tunnel " + tunnel_.name + " -c CONFIG` walks each stage",
              ""};
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }

  sync::forward_fn forward() const { return mgr_ ? mgr_->forwarder() : nullptr; }

 private:
  config::tunnel tunnel_;
  std::unique_ptr<tunnel::manager> mgr_;
};

// Runs the checklist; prints it; returns true when everything passed.
// The last line of a verify, local or by the running gateway: what to do next.
void print_verify_verdict(bool ok, bool unreachable, const config::sync& sc,
                          const std::string& config_path) {
  if (ok)
    std::cout << "all checks passed\n";
  else if (unreachable)
    std::cout << "the database could not be reached: `sluice doctor sync " << sc.name << " -c "
              << config_path << "` walks each stage (network, TLS, authentication)\n";
  else
    std::cout << "some checks failed: run each fix as a superuser or the database owner, then "
                 "verify again\n";
}

bool run_verify(const config::settings& s, const config::sync& sc, const command_tunnels& tunnels,
                const std::string& config_path) {
  std::vector<sync::check> checks;
  auto dst = sync::resolve_destination(s, sc, tunnels.forward());
  std::cout << "sync " << sc.name << ": " << dst.describe << ", schema " << sc.schema << "\n";
  auto up = tunnels.wait_up();
  if (up)
    checks.push_back(*up);
  if (!up || up->status == sync::check_status::pass) {
    try {
      sync::pg_conn c(dst.params);
      auto more = sync::verify(c, sc);
      checks.insert(checks.end(), more.begin(), more.end());
    } catch (const sync::pg_error& e) {
      checks.push_back(sync::connection_check(e, sc));
    }
  }
  std::cout << sync::render(checks);
  bool ok = sync::all_pass(checks);
  bool unreachable = std::any_of(checks.begin(), checks.end(), sync::is_connection_failure);
  print_verify_verdict(ok, unreachable, sc, config_path);
  return ok;
}

// The reverse tunnel a sync's destination is reached through, or null.
const config::tunnel* reverse_tunnel_of(const config::settings& s, const config::sync& sc) {
  const auto* t = s.find_tunnel(sync::destination_tunnel(s, sc));
  return t && t->reverse ? t : nullptr;
}

// verify for a destination via reverse tunnel `t`: POST /v1/syncs/NAME/verify on the
// running gateway (admin.listen and admin.token_file from the config), which checks for
// an agent first and then runs the checklist through its own forwarder.
bool verify_through_gateway(const config::sync& sc, const config::tunnel& t,
                            const std::string& config_path) {
  const std::string why_gateway =
      "only the running gateway reaches a destination via reverse "
      "tunnel " +
      t.name + " (its agents connect to it)";
  std::string why;
  auto target = find_admin(config_path, why);
  if (!target) {
    std::cerr << "sluice sync: " << why << "; " << why_gateway
              << ", and this command asks it over the admin API: add admin: {listen: "
                 "127.0.0.1:9187, token_file: FILE}\n";
    return false;
  }
  if (target->token_file.empty()) {
    std::cerr << "sluice sync: " << config_path << " sets no admin.token_file; " << why_gateway
              << ", which runs a verify over its admin API only with the bearer token\n";
    return false;
  }
  const std::string where = target->host + ":" + std::to_string(target->port);
  auto r = admin_request(*target, "POST", "/v1/syncs/" + sc.name + "/verify");
  if (r.status == 0) {
    std::cerr << "sluice sync: the gateway is not running (" << r.error << "); " << why_gateway
              << ": start it (systemctl start sluice) and verify again\n";
    return false;
  }
  auto doc = nlohmann::json::parse(r.body, nullptr, false);
  if (r.status != 200 || !doc.is_object()) {
    std::cerr << "sluice sync: the gateway at " << where << " answered HTTP " << r.status << ": "
              << (doc.is_object() ? doc.value("error", r.body) : r.body);
    if (r.status == 404)
      std::cerr << " (it runs an older configuration: reload it, systemctl reload sluice)";
    std::cerr << "\n";
    return false;
  }
  std::cout << "sync " << sc.name << ": " << doc.value("destination", "?") << ", schema "
            << doc.value("schema", sc.schema) << " (checked by the running gateway at " << where
            << ")\n"
            << doc.value("text", "");
  const bool ok = doc.value("ok", false);
  if (!ok && doc.value("agent_missing", false))
    std::cout << "the database cannot be reached: reverse tunnel " << t.name
              << " has no agent forwarding its port at this gateway; start one as shown above, "
                 "then verify again\n";
  else
    print_verify_verdict(ok, doc.value("unreachable", false), sc, config_path);
  return ok;
}

std::string read_all(const std::string& path) {
  std::string error;
  auto text = config::read_file(path, &error);
  if (!text)
    throw std::runtime_error(error);
  return *text;
}

sync::http_target ingest_target(const config::settings& s, const sync_opts& o) {
  sync::http_target t;
  std::string hp = o.url;
  if (hp.empty()) {
    if (!s.ingest)
      throw std::runtime_error("no ingest: section in the configuration (or --url)");
    t.host = s.ingest->listen.host;
    t.port = s.ingest->listen.port;
    t.tls = s.ingest->tls.has_value();
    if (t.host == "0.0.0.0" || t.host.empty())
      t.host = "127.0.0.1";
    if (t.host == "::")
      t.host = "::1";
  } else {
    auto colon = hp.rfind(':');
    if (colon == std::string::npos)
      throw std::runtime_error("--url must be HOST:PORT");
    t.host = hp.substr(0, colon);
    t.port = static_cast<uint16_t>(std::stoi(hp.substr(colon + 1)));
    t.tls = s.ingest && s.ingest->tls.has_value();
  }
  t.ca = o.ca;
  return t;
}

std::string token_of(const config::sync& sc) {
  if (sc.ingest_token_file.empty()) {
    throw std::runtime_error("sync '" + sc.name + "' has no ingest.token_file");
  }
  auto t = read_all(sc.ingest_token_file);
  while (!t.empty() && std::isspace(static_cast<unsigned char>(t.back())))
    t.pop_back();
  return t;
}

int run_push(const sync_opts& o) {
  auto s = load(o.config);
  const auto& sc = find(*s, o.name);
  auto body = read_all(o.file);
  auto target = ingest_target(*s, o);
  std::string path = "/v1/syncs/" + sc.name + "/batches";
  if (o.sequence > 0)
    path += "?sequence=" + std::to_string(o.sequence);
  auto token = token_of(sc);
  for (int attempt = 0;; ++attempt) {
    auto r = sync::http_request(target, "POST", path, token, body);
    if ((r.status == 429 || r.status == 503) && attempt < o.retries) {
      int wait = r.retry_after.empty() ? 1 : std::max(1, std::atoi(r.retry_after.c_str()));
      std::cerr << "HTTP " << r.status << ", retrying in " << wait << "s\n";
      std::this_thread::sleep_for(std::chrono::seconds(wait));
      continue;
    }
    std::cout << r.body;
    if (r.status == 413) {
      std::cerr << "HTTP 413: " << o.file << " is " << body.size()
                << " bytes, larger than the gateway's ingest.max_batch_bytes"
                << (s->ingest ? " (" + std::to_string(s->ingest->max_batch_bytes) + " bytes in " +
                                    o.config + ")"
                              : std::string())
                << "; split the batch or raise the limit\n";
    } else if (r.status != 200) {
      std::cerr << "HTTP " << r.status << "\n";
    }
    return r.status == 200 ? 0 : 1;
  }
}

int run_status(const sync_opts& o) {
  auto s = load(o.config);
  const auto& sc = find(*s, o.name);
  auto r =
      sync::http_request(ingest_target(*s, o), "GET", "/v1/syncs/" + sc.name, token_of(sc), "");
  std::cout << r.body;
  return r.status == 200 ? 0 : 1;
}

int run_serve(const sync_opts& o) {
  // Block the stop signals before any thread starts, then wait for one here.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  auto s = load(o.config);
  tunnel::manager tunnels;
  tunnels.apply(s);
  sync::service svc(tunnels.forwarder());
  svc.start(s);
  log::info("sync_serve_ready").kv("ingest_port", static_cast<unsigned>(svc.ingest_port()));
  while (true) {
    int sig = 0;
    sigwait(&set, &sig);
    if (sig != SIGHUP)
      break;
    try {
      auto next = load(o.config);
      tunnels.apply(next);
      svc.apply(next);
      log::info("sync_reloaded");
    } catch (const std::exception& e) {
      log::error("sync_reload_failed").kv("error", e.what());
    }
  }
  svc.stop();
  tunnels.stop();
  return 0;
}

template <class F>
void guarded(int& exit_code, F f) {
  try {
    exit_code = f();
  } catch (const std::exception& e) {
    std::cerr << "sluice sync: " << e.what() << "\n";
    exit_code = 1;
  }
}

}  // namespace

void add_sync(CLI::App& app, int& exit_code) {
  static sync_opts o;
  auto* sub =
      app.add_subcommand("sync", "Sync writer: verify and set up destinations, push batches");
  sub->require_subcommand(1);

  auto* verify = sub->add_subcommand(
      "verify",
      "Check the destination; print a checklist with the SQL that fixes each failure "
      "(exit 0 only when all pass)");
  verify->add_option("name", o.name, "Sync name")->required();
  add_config_option(verify, o.config);
  verify->callback([&exit_code] {
    guarded(exit_code, [] {
      auto s = load(o.config);
      const auto& sc = find(*s, o.name);
      if (const auto* t = reverse_tunnel_of(*s, sc))
        return verify_through_gateway(sc, *t, o.config) ? 0 : 1;
      command_tunnels tunnels(*s, sc);
      return run_verify(*s, sc, tunnels, o.config) ? 0 : 1;
    });
  });

  auto* setup =
      sub->add_subcommand("setup",
                          "Create the schema, _sync_state, _sync_event and the read role's grants "
                          "(idempotent)");
  setup->add_option("name", o.name, "Sync name")->required();
  add_config_option(setup, o.config);
  setup->callback([&exit_code] {
    guarded(exit_code, [] {
      auto s = load(o.config);
      const auto& sc = find(*s, o.name);
      if (const auto* t = reverse_tunnel_of(*s, sc)) {
        std::cerr << "sluice sync: sync " << sc.name << " reaches its destination via reverse "
                  << "tunnel " << t->name << ", which only the running gateway can use; its "
                  << "writer sets the schema up when it connects. `sluice sync verify " << sc.name
                  << " -c " << o.config << "` asks it for the checklist\n";
        return 1;
      }
      command_tunnels tunnels(*s, sc);
      if (!run_verify(*s, sc, tunnels, o.config))
        return 1;
      auto dst = sync::resolve_destination(*s, sc, tunnels.forward());
      sync::pg_conn c(dst.params);
      auto problems = sync::setup(c, sc, sc.schema);
      std::cout << "schema " << sc.schema << " is set up";
      if (!sc.read_role.name.empty()) {
        // Said only when it is true: in a schema someone else owns, USAGE is theirs to grant.
        auto u = c.exec(
            "select coalesce((select has_schema_privilege(rolname, $2, 'USAGE') from pg_roles "
            "where rolname = $1), false)",
            {sc.read_role.name, sc.schema});
        if (u.get(0, 0) == "t" && problems.empty())
          std::cout << "; read role " << sc.read_role.name << " can read it";
        else if (u.get(0, 0) != "t")
          problems.push_back(
              {"read role " + sc.read_role.name + " has no USAGE on schema " + sc.schema,
               "grant usage on schema " + sync::quote_ident(sc.schema) + " to " +
                   sync::quote_ident(sc.read_role.name) + ";"});
      }
      std::cout << "\n";
      for (const auto& p : problems)
        std::cout << "[warn] " << p.what << "\n       fix: " << p.fix << "\n";
      if (!problems.empty())
        std::cout << "the data is set up; readers lack the access above until each fix is run "
                     "as the owner or a superuser\n";
      return 0;
    });
  });

  auto* push = sub->add_subcommand(
      "push",
      "Send a batch file (NDJSON, JSON array or {sequence, records}) through the "
      "ingest API with the sync's token");
  push->add_option("name", o.name, "Sync name")->required();
  push->add_option("file", o.file, "Batch file")->required()->check(CLI::ExistingFile);
  add_config_option(push, o.config);
  push->add_option("-s,--sequence", o.sequence,
                   "Batch sequence number (else the file's {\"sequence\": N})");
  push->add_option("--url", o.url, "Ingest HOST:PORT (default: ingest.listen)");
  push->add_option("--ca", o.ca, "CA to verify the ingest certificate");
  push->add_option("--retries", o.retries, "Retries on 429/503 (default 30)");
  push->callback([&exit_code] { guarded(exit_code, [] { return run_push(o); }); });

  auto* status = sub->add_subcommand("status", "Show a sync's cursor and counters (ingest API)");
  status->add_option("name", o.name, "Sync name")->required();
  add_config_option(status, o.config);
  status->add_option("--url", o.url, "Ingest HOST:PORT (default: ingest.listen)");
  status->add_option("--ca", o.ca, "CA to verify the ingest certificate");
  status->callback([&exit_code] { guarded(exit_code, [] { return run_status(o); }); });

  auto* serve =
      sub->add_subcommand("serve",
                          "Run only the sync service (ingest API, writers and their tunnels) in "
                          "the foreground; no listeners");
  add_config_option(serve, o.config);
  serve->callback([&exit_code] { guarded(exit_code, [] { return run_serve(o); }); });
}

}  // namespace sluice::cmd
