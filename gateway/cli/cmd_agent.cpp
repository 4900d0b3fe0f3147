// `sluice agent`: run the customer-side connector of a reverse tunnel (see
// reverse/agent_client.hpp). Stops cleanly on SIGTERM/SIGINT.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <iostream>
#include <thread>

#include "gateway/tunnel/reverse/agent_client.hpp"

namespace sluice::cmd {

void add_agent(CLI::App& app, int& exit_code) {
  auto* sub = app.add_subcommand(
      "agent", "Customer side of a reverse tunnel: dial out to gateways and serve forwards");
  static tunnel::reverse::agent_options o;
  static std::vector<std::string> forwards;
  static double keepalive_s =
      std::chrono::duration<double>(tunnel::reverse::agent_options{}.keepalive_interval).count();
  sub->add_option("--gateway", o.gateways,
                  "HOST:PORT of a gateway's ssh_server (repeat for every instance)")
      ->required();
  sub->add_option("--tunnel", o.tunnel, "Reverse tunnel name (the SSH user name)")->required();
  sub->add_option("--key", o.key_path, "Private key whose public key the tunnel authorizes")
      ->required();
  sub->add_option("--host-key", o.host_key,
                  "Pinned SHA256:... fingerprint of the gateway (`sluice tunnel host-key`)")
      ->required();
  sub->add_option("--forward", forwards, "PORT:HOST:PORT, e.g. 5432:db.internal:5432 (repeat)")
      ->required();
  sub->add_option("--keepalive", keepalive_s, "Keepalive interval in seconds")
      ->capture_default_str();
  sub->add_option("--keepalive-max-missed", o.keepalive_max_missed,
                  "Unanswered keepalive intervals before reconnecting")
      ->capture_default_str();
  sub->callback([&exit_code] {
    for (const auto& f : forwards) {
      std::string error;
      auto spec = tunnel::reverse::parse_forward_spec(f, error);
      if (!spec) {
        std::cerr << "sluice agent: " << error << "\n";
        exit_code = 2;
        return;
      }
      o.forwards.push_back(*spec);
    }
    if (o.host_key.rfind("SHA256:", 0) != 0) {
      std::cerr << "sluice agent: --host-key must be the gateway's SHA256:... fingerprint "
                   "(printed by `sluice tunnel host-key -c CONFIG` on the gateway)\n";
      exit_code = 2;
      return;
    }
    o.keepalive_interval = std::chrono::milliseconds(static_cast<int64_t>(keepalive_s * 1000));
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    std::atomic<bool> stop{false};
    int rc = 0;
    std::thread worker([&] {
      rc = tunnel::reverse::run_agent(o, stop);
      if (!stop)
        ::kill(::getpid(), SIGTERM);  // a startup error: wake the signal wait
    });
    int sig = 0;
    sigwait(&set, &sig);
    stop = true;
    worker.join();
    exit_code = rc;
  });
}

}  // namespace sluice::cmd
