#include <libssh2.h>
#include <openssl/opensslv.h>
#include <pg_config.h>

#include <boost/version.hpp>
#include <iostream>

#include "gateway/cli/commands.hpp"

namespace sluice::cmd {

void add_version(CLI::App& app, int& exit_code) {
  auto* sub =
      app.add_subcommand("version", "Print the version and the libraries it was built with");
  sub->callback([&exit_code] {
    std::cout << "sluice " << SLUICE_VERSION << "\n"
              << "  boost " << BOOST_VERSION / 100000 << "." << BOOST_VERSION / 100 % 1000 << "\n"
              << "  " << OPENSSL_VERSION_TEXT << "\n"
              << "  libssh2 " << LIBSSH2_VERSION << "\n"
              << "  libpq (PostgreSQL) " << PG_VERSION << "\n";
    exit_code = 0;
  });
}

}  // namespace sluice::cmd
