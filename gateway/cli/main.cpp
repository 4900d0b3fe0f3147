// sluice: regional PostgreSQL gateway. Subcommands live in gateway/cmd_*.cpp.
#include <openssl/ssl.h>

#include "gateway/cli/commands.hpp"

int main(int argc, char** argv) {
  OPENSSL_init_ssl(0, nullptr);
  CLI::App app{
      "sluice: a regional PostgreSQL gateway (TLS, allowlists, routing, SSH tunnels, sync)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string(SLUICE_VERSION));
  int exit_code = 0;
  sluice::cmd::add_run(app, exit_code);
  sluice::cmd::add_check_config(app, exit_code);
  sluice::cmd::add_version(app, exit_code);
  sluice::cmd::add_tunnel(app, exit_code);
  sluice::cmd::add_sync(app, exit_code);
  sluice::cmd::add_doctor(app, exit_code);
  sluice::cmd::add_reload(app, exit_code);
  sluice::cmd::add_ctl(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; every usage error exits 2 (sluice(1), "EXIT STATUS"),
    // not CLI11's own codes (105, 106, ...), which nothing documents.
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  return exit_code;
}
