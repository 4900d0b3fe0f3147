// `sluice keygen` and `sluice tunnel {pubkey,fingerprint,status}`: the operator's tools
// for setting up a bastion (key to install, host key to pin) and watching tunnels.
#include <utility>  // before Asio

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include <unistd.h>

#include "config/load.hpp"
#include "config/read_file.hpp"
#include "config/units.hpp"
#include "gateway/cli/commands.hpp"
#include "gateway/cli/load_config.hpp"
#include "gateway/tunnel/keys.hpp"
#include "gateway/tunnel/link.hpp"
#include "gateway/tunnel/manager.hpp"
#include "gateway/tunnel/reverse/host_key.hpp"
#include "gateway/tunnel/rsa_check.hpp"

namespace sluice::cmd {

namespace {

namespace tn = sluice::tunnel;

config::settings_ptr load_or_report(const std::string& path, bool check_files, int& exit_code) {
  config::load_options opts;
  opts.check_files = check_files;
  auto r = load_config(path, report_to::terminal, {}, opts);
  if (!r.settings)
    exit_code = 1;
  return r.settings;
}

// HOST[:PORT] of a bastion, port 22 by default, in the config's own syntax ([v6]:port).
std::optional<config::host_port> bastion_address(const std::string& target) {
  const bool has_port = target.find(':') != std::string::npos && target.back() != ']';
  auto hp = config::parse_host_port(has_port ? target : target + ":22");
  if (!hp || hp->port == 0)
    return std::nullopt;
  return hp;
}

std::string public_line_of(const std::string& path, std::string& error) {
  auto text = config::read_file(path, &error);
  if (!text)
    return {};
  auto info = tn::public_key_from_private(*text, error);
  if (!error.empty())
    return {};
  return info.line("sluice") + "\n    (" + info.fingerprint() + ")";
}

void add_keygen(CLI::App& app, int& exit_code) {
  auto* sub = app.add_subcommand(
      "keygen",
      "Create an SSH key pair for tunnels (private key 0600 + PATH.pub for authorized_keys)");
  static std::string out, comment = "sluice", type = "ed25519";
  static bool host_key = false, if_missing = false;
  sub->add_option("--out", out, "Private key file to create (refuses to overwrite)")->required();
  sub->add_option("--comment", comment, "Comment at the end of the public key line");
  sub->add_option("--type", type, "ed25519 (default), ecdsa (P-256) or rsa");
  sub->add_flag("--host-key", host_key,
                "Make the ssh_server host key (ed25519, OpenSSH format) that reverse-tunnel "
                "agents pin");
  sub->add_flag("--if-missing", if_missing,
                "Do nothing (exit 0) when --out already exists, e.g. in a unit's ExecStartPre");
  sub->callback([&exit_code] {
    if (if_missing && ::access(out.c_str(), F_OK) == 0) {
      exit_code = 0;
      return;
    }
    if (host_key) {
      if (type != "ed25519") {
        std::cerr << "sluice keygen: --host-key makes ed25519 keys only ("
                  << (type == "rsa" ? "RSA host keys are refused: agents should pin a modern key"
                                    : "ed25519 is what every OpenSSH client verifies fastest")
                  << ")\n";
        exit_code = 2;
        return;
      }
      if (auto e = tn::reverse::generate_host_key(out); !e.empty()) {
        std::cerr << "sluice keygen: " << e << "\n";
        exit_code = 1;
        return;
      }
      std::string error;
      auto info = tn::reverse::load_host_key(out, error);
      if (!info) {
        std::cerr << "sluice keygen: wrote " << out << " but cannot read it back: " << error
                  << "\n";
        exit_code = 1;
        return;
      }
      std::cout << "wrote host key " << out << " (mode 0600) and " << out << ".pub\n"
                << "fingerprint: " << info->fingerprint << "\n"
                << "set ssh_server.host_key: " << out
                << " and give agents the line printed by `sluice tunnel host-key -c CONFIG`\n";
      exit_code = 0;
      return;
    }
    tn::key_type kt;
    if (type == "ed25519") {
      kt = tn::key_type::ed25519;
    } else if (type == "ecdsa") {
      kt = tn::key_type::ecdsa;
    } else if (type == "rsa") {
      std::cerr << "sluice keygen: " << tn::rsa_refusal_message() << "\n";
      exit_code = 2;
      return;
    } else {
      std::cerr << "sluice keygen: unknown --type '" << type << "' (ed25519 or ecdsa)\n";
      exit_code = 2;
      return;
    }
    tn::generated_key k;
    try {
      k = tn::generate_key(kt, comment);
    } catch (const std::exception& e) {
      std::cerr << "sluice keygen: " << e.what() << "\n";
      exit_code = 1;
      return;
    }
    const auto pub_path = out + ".pub";
    if (::access(out.c_str(), F_OK) == 0) {
      std::cerr << "sluice keygen: " << out << " already exists; refusing to overwrite it\n";
      exit_code = 1;
      return;
    }
    if (::access(pub_path.c_str(), F_OK) == 0) {
      std::cerr << "sluice keygen: " << pub_path << " already exists; refusing to overwrite it\n";
      exit_code = 1;
      return;
    }
    if (auto e = tn::write_new_private_file(out, k.private_pem, 0600); !e.empty()) {
      std::cerr << "sluice keygen: " << e << "\n";
      exit_code = 1;
      return;
    }
    if (auto e = tn::write_new_private_file(pub_path, k.public_line + "\n", 0644); !e.empty()) {
      std::cerr << "sluice keygen: " << e << "\n";
      exit_code = 1;
      return;
    }
    std::cout << "wrote private key " << out << " (mode 0600) and public key " << pub_path
              << "\nadd this line to ~USER/.ssh/authorized_keys on the bastion:\n"
              << k.public_line << "\n";
    exit_code = 0;
  });
}

void add_pubkey(CLI::App* tunnel, int& exit_code) {
  auto* sub =
      tunnel->add_subcommand("pubkey", "Print a tunnel's public keys (primary and secondary)");
  static std::string name, path;
  sub->add_option("name", name, "Tunnel name")->required();
  add_config_option(sub, path);
  sub->callback([&exit_code] {
    auto s = load_or_report(path, false, exit_code);
    if (!s)
      return;
    const auto* t = s->find_tunnel(name);
    if (!t) {
      std::cerr << "no tunnel named '" << name << "' in " << path << "\n";
      exit_code = 1;
      return;
    }
    exit_code = 0;
    std::cout << "# tunnel " << t->name << ": add to ~" << t->user << "/.ssh/authorized_keys on "
              << t->host << " (keep both lines while rotating)\n";
    for (auto [label, file] :
         {std::pair{"primary", t->private_key}, std::pair{"secondary", t->secondary_key}}) {
      if (file.empty())
        continue;
      std::string error;
      auto line = public_line_of(file, error);
      if (!error.empty()) {
        std::cerr << label << " key " << file << ": " << error << "\n";
        exit_code = 1;
        continue;
      }
      std::cout << "# " << label << " (" << file << ")\n" << line << "\n";
    }
  });
}

void add_fingerprint(CLI::App* tunnel, int& exit_code) {
  auto* sub = tunnel->add_subcommand(
      "fingerprint", "Connect to a bastion and print its host key fingerprints to pin");
  static std::string target;
  static int timeout_s = 10;
  sub->add_option("target", target, "HOST[:PORT] of the bastion (port 22 by default)")->required();
  sub->add_option("--timeout", timeout_s, "Seconds to wait for the connection");
  sub->callback([&exit_code] {
    const auto bastion = bastion_address(target);
    if (!bastion) {
      std::cerr << "sluice tunnel fingerprint: expected HOST[:PORT], got '" << target << "'\n";
      exit_code = 2;
      return;
    }
    const std::string host = bastion->host;
    const uint16_t port = bastion->port;
    boost::asio::io_context ioc;
    std::vector<tn::offered_key> keys;
    tn::tunnel_error err;
    boost::asio::co_spawn(
        ioc,
        [&]() -> boost::asio::awaitable<void> {
          err = co_await tn::probe_host_keys(host, port, std::chrono::seconds(timeout_s), keys);
        },
        boost::asio::detached);
    ioc.run();
    if (keys.empty()) {
      std::cerr << "sluice tunnel fingerprint: " << tn::to_string(err.stage) << ": " << err.message
                << "\n";
      exit_code = 1;
      return;
    }
    std::cout << "bastion " << host << ":" << port << " host keys:\n";
    const tn::offered_key* usable = nullptr;
    for (const auto& k : keys) {
      const bool rsa = k.type == "ssh-rsa" && !tn::rsa_supported();
      std::cout << "  " << k.type << " " << k.fingerprint
                << (rsa ? "  (cannot be used: see below)" : "") << "\n";
      if (!rsa && !usable)
        usable = &k;
    }
    if (!usable) {
      std::cout << "\nThis bastion offers only an RSA host key: "
                << tn::rsa_host_key_fix(host, port) << "\n";
      exit_code = 1;
      return;
    }
    std::cout << "\nCheck the fingerprint with the bastion's administrator (on the bastion: "
                 "ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), then put this in the "
                 "tunnel's config:\n"
              << "  host_key: \"" << usable->fingerprint << "\"\n";
    exit_code = 0;
  });
}

void add_status(CLI::App* tunnel, int& exit_code) {
  auto* sub =
      tunnel->add_subcommand("status", "Connect the configured tunnels and print their state");
  static std::string path;
  static int wait_s = 0;
  static bool json = false;
  add_config_option(sub, path);
  sub->add_option("--wait", wait_s,
                  "Seconds to wait for tunnels to come up (default: connect_timeout + 2)");
  sub->add_flag("--json", json, "Print the status as JSON");
  sub->callback([&exit_code] {
    auto s = load_or_report(path, true, exit_code);
    if (!s)
      return;
    std::chrono::milliseconds wait{wait_s * 1000};
    if (wait_s <= 0) {
      for (const auto& t : s->tunnels)
        wait = std::max(wait, t.connect_timeout * 2 + std::chrono::seconds(2));
    }
    // Reverse tunnels' agents connect to the running gateway, not to this command: starting
    // an endpoint here would only compete for ssh_server.listen.
    auto forward_only = std::make_shared<config::settings>(*s);
    forward_only->ssh_server.reset();
    std::erase_if(forward_only->tunnels, [](const config::tunnel& t) { return t.reverse; });
    for (const auto& t : s->tunnels) {
      if (t.reverse && !json) {
        std::cout << t.name << "  reverse: agents connect to the running gateway; see its "
                  << "/v1/status or `sluice doctor -c " << path << " tunnel " << t.name << "`\n";
      }
    }
    tn::manager m;
    m.apply(forward_only);
    const auto until = std::chrono::steady_clock::now() + wait;
    while (!m.all_up() && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    auto st = m.status();
    m.stop();
    if (json) {
      std::cout << st.dump(2) << "\n";
    } else {
      for (const auto& t : st) {
        if (t.value("type", "") == "reverse") {
          std::cout << t.value("name", "") << "  " << t.value("state", "")
                    << "  reverse  agents=" << t.value("agents_connected", 0)
                    << "  forwards=" << t["forwards"].dump() << "\n";
          for (const auto& a : t["agents"]) {
            std::cout << "  agent " << a.value("address", "") << " since " << a.value("since", "")
                      << " key " << a.value("key_fingerprint", "") << " forwards "
                      << a["forwards"].dump() << "\n";
          }
          continue;
        }
        std::cout << t["name"].get<std::string>() << "  " << t["state"].get<std::string>()
                  << "  bastion=" << t["bastion"].get<std::string>();
        if (!t["host_key"].get<std::string>().empty()) {
          std::cout << "  host_key=\"" << t["host_key"].get<std::string>() << "\""
                    << "  key=" << t["key"].get<std::string>();
        }
        std::cout << "\n";
        if (t["state"] != "up" && !t["last_error"].get<std::string>().empty()) {
          std::cout << "  " << t["last_error_stage"].get<std::string>() << ": "
                    << t["last_error"].get<std::string>() << "\n";
        }
      }
      if (st.empty() && s->tunnels.empty())
        std::cout << "no tunnels configured in " << path << "\n";
    }
    exit_code = 0;
    for (const auto& t : st) {
      if (t["state"] != "up")
        exit_code = 1;
    }
  });
}

void add_host_key(CLI::App* tunnel, int& exit_code) {
  auto* sub = tunnel->add_subcommand(
      "host-key", "Print the reverse endpoint's host key fingerprint and known_hosts line");
  static std::string path, host;
  add_config_option(sub, path);
  sub->add_option("--host", host,
                  "Name agents use to reach the gateway (default: ssh_server.listen host)");
  sub->callback([&exit_code] {
    auto s = load_or_report(path, false, exit_code);
    if (!s)
      return;
    if (!s->ssh_server) {
      std::cerr << path << " has no ssh_server: section (the endpoint agents dial in to)\n";
      exit_code = 1;
      return;
    }
    std::string error;
    auto info = tn::reverse::load_host_key(s->ssh_server->host_key, error);
    if (!info) {
      std::cerr << "ssh_server.host_key: " << error << "\n";
      exit_code = 1;
      return;
    }
    auto name = host.empty() ? s->ssh_server->listen.host : host;
    if (name.empty() || name == "0.0.0.0" || name == "::")
      name = "GATEWAY";
    std::cout << "fingerprint: " << info->fingerprint << "\n"
              << "# known_hosts line for agents (ssh -o UserKnownHostsFile=FILE ...):\n"
              << info->known_hosts_line(name, s->ssh_server->listen.port) << "\n"
              << "# sluice agent --host-key " << info->fingerprint << "\n";
    exit_code = 0;
  });
}

}  // namespace

void add_agent(CLI::App& app, int& exit_code);  // gateway/cli/cmd_agent.cpp

void add_tunnel(CLI::App& app, int& exit_code) {
  add_keygen(app, exit_code);
  add_agent(app, exit_code);
  auto* sub = app.add_subcommand("tunnel", "SSH tunnels to bastion hosts");
  sub->require_subcommand(1);
  add_pubkey(sub, exit_code);
  add_fingerprint(sub, exit_code);
  add_status(sub, exit_code);
  add_host_key(sub, exit_code);
}

}  // namespace sluice::cmd
