// Checks across fields and against the file system, after every section parsed.
#pragma once

#include "config/issues.hpp"
#include "config/settings.hpp"

namespace sluice::config {

void validate(const settings& s, issue_list& issues, bool check_files);

// Why a file cannot serve as a private key/secret ("" when fine): missing,
// unreadable, or readable by group/others.
std::string private_file_problem(const std::string& path);

// check-config's warning for a terminating listener with client_tls: optional whose route
// reaches a TLS upstream with auth.mode: passthrough (libpq's prefer falls back to plaintext).
std::string downgrade_warning(const std::string& listener, const std::string& route);

// Changes between two snapshots that a reload cannot apply (listener addresses,
// worker count): returned as human-readable lines; the reload still applies the rest.
std::vector<std::string> restart_required(const settings& before, const settings& after);

}  // namespace sluice::config
