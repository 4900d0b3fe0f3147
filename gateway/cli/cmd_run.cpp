// `sluice run`: load the configuration (fatal if invalid), start tunnels, the sync
// writer and the data plane, then serve signals: SIGHUP reloads (a bad file keeps the
// old snapshot), SIGTERM/SIGINT drain for shutdown_grace and exit.
#include <signal.h>
#include <systemd/sd-daemon.h>

#include <algorithm>
#include <iostream>
#include <mutex>

#include "config/load.hpp"
#include "config/log.hpp"
#include "config/validate.hpp"
#include "gateway/admin/http_server.hpp"
#include "gateway/admin/reload_history.hpp"
#include "gateway/admin/sampler.hpp"
#include "gateway/admin/watchdog.hpp"
#include "gateway/auth/scram_server.hpp"
#include "gateway/cli/admin_wiring.hpp"
#include "gateway/cli/commands.hpp"
#include "gateway/cli/load_config.hpp"
#include "gateway/mock_key_file.hpp"
#include "gateway/server.hpp"
#include "gateway/tunnel/manager.hpp"
#include "sync/service.hpp"

namespace sluice::cmd {

namespace {

config::settings_ptr load_or_report(const std::string& path, const char* event) {
  return load_config(path, report_to::log, event).settings;
}

// Unknown users' mock SCRAM salts come from a key kept in the state directory, so a restart
// does not tell them apart from real users (gateway/mock_key_file.hpp).
void keep_mock_salts_stable(const config::settings& s) {
  const bool terminates = std::any_of(s.routes.begin(), s.routes.end(), [](const auto& r) {
    return r.auth.mode == config::auth_mode::terminate;
  });
  const auto dir = gateway::state_directory_from_env();
  if (dir.empty()) {
    (terminates ? log::warn("mock_salt_key_ephemeral") : log::debug("mock_salt_key_ephemeral"))
        .kv("error", "STATE_DIRECTORY is not set (the systemd unit sets it)")
        .kv("effect", "unknown users' mock SCRAM salts change when sluice restarts");
    return;
  }
  auto k = gateway::load_or_create_mock_key(dir);
  if (k.key.empty()) {
    (terminates ? log::warn("mock_salt_key_ephemeral") : log::debug("mock_salt_key_ephemeral"))
        .kv("error", k.problem)
        .kv("effect", "unknown users' mock SCRAM salts change when sluice restarts");
    return;
  }
  auth::set_process_mock_key(std::move(k.key));
  log::info("mock_salt_key").kv("path", k.path).kv("created", k.created ? "true" : "false");
}

int run_gateway(const std::string& path) {
  // Signals are taken synchronously by this thread; block them before any thread starts.
  sigset_t sigs;
  sigemptyset(&sigs);
  for (int s : {SIGHUP, SIGTERM, SIGINT})
    sigaddset(&sigs, s);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto settings = load_or_report(path, "config_invalid");
  if (!settings) {
    std::cerr << "sluice: " << path << " is invalid; not starting (see the problems above, or run "
              << "`sluice check-config -c " << path << "`)\n";
    return 1;
  }
  keep_mock_salts_stable(*settings);
  uint64_t generation = 1;
  gateway::runtime_ptr rt;
  try {
    rt = gateway::runtime::build(settings, generation);
  } catch (const std::exception& e) {
    log::error("startup_failed").kv("error", e.what());
    return 1;
  }

  tunnel::manager tunnels;
  tunnels.apply(settings);
  sync::service writer(tunnels.forwarder());
  gateway::server srv(rt, &tunnels);

  // One reload path for SIGHUP and POST /v1/reload; the mutex serialises them. It never
  // throws: SIGHUP calls it from the signal loop, where an escaping exception would end
  // the process, while the admin API's handler caught what it threw, so the same file
  // killed the gateway on SIGHUP and was only refused over the API.
  std::mutex reload_mu;
  admin::reload_history reloads(generation);  // the last outcome: metrics, /v1/status, page
  auto try_reload = [&](admin::reload_result& res) {
    auto r = load_config(path, report_to::log, "reload_config_invalid");
    for (const auto& i : r.issues.all())
      res.problems.push_back(path + ": " + i.str());
    if (!r.settings) {
      log::error("reload_failed").kv("config", path).kv("kept_generation", generation);
      return;
    }
    auto next_rt = gateway::runtime::build(r.settings, generation + 1);
    for (const auto& why : config::restart_required(*settings, *r.settings)) {
      log::warn("reload_needs_restart").kv("change", why);
      res.problems.push_back("needs a restart to take effect: " + why);
    }
    srv.apply(next_rt);
    tunnels.apply(r.settings);
    writer.apply(r.settings);
    settings = r.settings;
    ++generation;
    res.ok = true;
    log::notice("reload_done").kv("generation", generation);
  };
  auto reload = [&]() -> admin::reload_result {
    std::lock_guard lk(reload_mu);
    admin::reload_result res;
    sd_notify(0, "RELOADING=1");
    log::notice("reload_started").kv("config", path);
    try {
      try_reload(res);
    } catch (const std::exception& e) {
      res.ok = false;
      res.problems.push_back(e.what());
      log::error("reload_failed").kv("error", e.what()).kv("kept_generation", generation);
    } catch (...) {
      res.ok = false;
      res.problems.push_back("unexpected error while reloading");
      log::error("reload_failed")
          .kv("error", "unexpected error while reloading")
          .kv("kept_generation", generation);
    }
    res.generation = generation;
    reloads.record(res.ok, res.generation, res.problems);
    sd_notify(0, "READY=1\nSTATUS=serving");
    return res;
  };

  std::unique_ptr<admin::sampler> charts;
  std::unique_ptr<admin::http_server> admin_api;
  try {
    writer.start(settings);
    srv.start();
    if (settings->admin) {
      charts = std::make_unique<admin::sampler>(settings->admin->sample_interval, [&srv, &tunnels] {
        return admin::take_sample(srv, tunnels);
      });
      admin_api = std::make_unique<admin::http_server>(
          *settings->admin,
          admin::make_handlers(srv, tunnels, writer, reload, reloads, charts.get()));
      admin_api->start();
    }
  } catch (const std::exception& e) {
    log::error("startup_failed").kv("error", e.what());
    writer.stop();
    tunnels.stop();
    return 1;
  }
  admin::watchdog dog(srv.workers());
  {
    auto ready = log::notice("ready");  // written when this scope ends
    ready.kv("region", settings->region)
        .kv("config", path)
        .kv("workers", static_cast<uint64_t>(srv.workers().size()));
    if (admin_api)
      ready.kv("admin", config::host_port{settings->admin->listen.host, admin_api->port()}.str());
  }
  sd_notify(0, "READY=1\nSTATUS=serving");

  for (;;) {
    int sig = 0;
    sigwait(&sigs, &sig);
    if (sig == SIGHUP) {
      reload();
      continue;
    }
    sd_notify(0, "STOPPING=1");
    log::notice("shutdown_started").kv("signal", sig == SIGTERM ? "TERM" : "INT");
    if (admin_api)
      admin_api->stop();
    charts.reset();                  // it reads the workers, which stop below
    std::unique_lock lk(reload_mu);  // no reload may run while we drain
    srv.drain(settings->shutdown_grace);
    writer.stop();
    tunnels.stop();
    srv.stop();
    log::notice("shutdown_done");
    return 0;
  }
}

}  // namespace

void add_run(CLI::App& app, int& exit_code) {
  auto* sub =
      app.add_subcommand("run", "Run the gateway (SIGHUP reloads, SIGTERM drains and stops)");
  static std::string path;
  static std::string level = "info";
  add_config_option(sub, path);
  sub->add_option("--log-level", level, "error, warning, notice, info or debug")
      ->check(CLI::IsMember({"error", "warning", "notice", "info", "debug"}));
  sub->callback([&exit_code] {
    const std::map<std::string, log::level> levels{{"error", log::level::error},
                                                   {"warning", log::level::warning},
                                                   {"notice", log::level::notice},
                                                   {"info", log::level::info},
                                                   {"debug", log::level::debug}};
    log::set_min_level(levels.at(level));
    exit_code = run_gateway(path);
  });
}

}  // namespace sluice::cmd
