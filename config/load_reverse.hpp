// Reading and checking the reverse-tunnel parts of sluice.yaml: the top-level
// ssh_server: section and tunnels[] entries with reverse:. Kept apart from load.cpp and
// validate.cpp, which call these.
#pragma once

#include <string>

#include "config/authorized_keys.hpp"
#include "config/issues.hpp"
#include "config/settings.hpp"
#include "config/yaml_reader.hpp"

namespace sluice::config {

ssh_server_settings read_ssh_server(const YAML::Node& n, issue_list& issues,
                                    const std::string& base_dir);

// `r` is a tunnels[i] mapping with a reverse: key; t.name and t.line are already set.
void read_reverse_tunnel(map_reader& r, tunnel& t, const std::string& base_dir);

void validate_reverse(const settings& s, issue_list& issues, bool check_files);

// The keys of a reverse tunnel, inline and from its file ("" error when all parsed).
// Used at load and by the SSH endpoint on every (re)load.
std::vector<authorized_key> reverse_tunnel_keys(const tunnel& t, std::vector<std::string>& errors);

}  // namespace sluice::config
