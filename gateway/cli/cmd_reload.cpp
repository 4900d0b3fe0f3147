// `sluice reload`: asks the running gateway to reload over its admin API and waits for
// the answer, so `systemctl reload sluice` (the unit's ExecReload) fails when the new
// file is refused and prints why. Exit 0 reloaded, 1 refused or not reachable, 2 usage.
#include <signal.h>

#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>

#include "gateway/cli/admin_client.hpp"
#include "gateway/cli/commands.hpp"
#include "gateway/cli/load_config.hpp"

namespace sluice::cmd {

namespace {

// Without a usable admin API: check the file here, then signal the gateway. An invalid
// file is signalled too, so the gateway records the refused reload (its log,
// sluice_config_reload_success 0) while it keeps its configuration; the exit is 1.
int reload_by_signal(const std::string& path, int pid, const std::string& why) {
  std::cerr << "sluice reload: " << why << "\n";
  const bool valid = load_config(path, report_to::terminal).settings != nullptr;
  if (::kill(pid, SIGHUP) != 0) {
    std::cerr << "sluice reload: cannot signal process " << pid << ": " << std::strerror(errno)
              << "\n";
    return 1;
  }
  if (!valid) {
    std::cerr << "sluice reload: " << path << " is invalid; the gateway (" << pid
              << ") refuses it and keeps its configuration\n";
    return 1;
  }
  std::cout << "sluice reload: " << path << " is valid; sent SIGHUP to " << pid
            << " (see reload_done or reload_failed in its log)\n";
  return 0;
}

int reload(const std::string& path, int pid) {
  std::string why;
  auto target = find_admin(path, why);
  if (target && target->token_file.empty())
    why = path + " sets no admin.token_file, so the admin API refuses reloads";
  if (!target || target->token_file.empty()) {
    if (pid > 0)
      return reload_by_signal(path, pid, why);
    // Still say what is wrong with the file, when it is the file.
    load_config(path, report_to::terminal);
    std::cerr << "sluice reload: " << why << " (give --pid to check the file and send SIGHUP)\n";
    return 1;
  }
  auto reply = admin_request(*target, "POST", "/v1/reload");
  if (reply.status == 0) {
    if (pid > 0)
      return reload_by_signal(path, pid, reply.error);
    std::cerr << "sluice reload: " << reply.error << "\n";
    return 1;
  }
  auto doc = nlohmann::json::parse(reply.body, nullptr, false);
  if (reply.status != 200 && reply.status != 422) {
    std::cerr << "sluice reload: the gateway answered HTTP " << reply.status << ": "
              << (doc.is_object() ? doc.value("error", reply.body) : reply.body) << "\n";
    return 1;
  }
  if (!doc.is_object()) {
    std::cerr << "sluice reload: unreadable answer from the gateway: " << reply.body << "\n";
    return 1;
  }
  for (const auto& p : doc.value("problems", nlohmann::json::array()))
    std::cerr << (p.is_string() ? p.get<std::string>() : p.dump()) << "\n";
  const auto generation = doc.value("generation", uint64_t{0});
  if (!doc.value("ok", false)) {
    std::cerr << "sluice reload: the running gateway refused the configuration; it keeps "
                 "generation "
              << generation << "\n";
    return 1;
  }
  std::cout << "sluice reload: reloaded, now serving generation " << generation << "\n";
  return 0;
}

}  // namespace

void add_reload(CLI::App& app, int& exit_code) {
  auto* sub = app.add_subcommand(
      "reload",
      "Reload the running gateway through its admin API and wait for the result (exit 0 "
      "reloaded, 1 refused: the problems are printed)");
  static std::string path;
  static int pid = 0;
  add_config_option(sub, path);
  sub->add_option("--pid", pid,
                  "Without a usable admin API (no admin.token_file, not reachable): check the "
                  "file and send SIGHUP to this process");
  sub->callback([&exit_code] { exit_code = reload(path, pid); });
}

}  // namespace sluice::cmd
