// Every command loads its configuration file the same way and says what is wrong with
// it in one of two voices: lines "PATH: problem" on stderr for a person at a terminal,
// or log lines (`event file=PATH problem=...`) for the running gateway.
#pragma once

#include <string>
#include <string_view>

#include "config/load.hpp"

namespace sluice::cmd {

enum class report_to { terminal, log };

// Loads `path` and reports every issue (warnings included). For report_to::log, `event`
// names the log line (warnings at warning level, errors at error level).
config::load_result load_config(const std::string& path, report_to where,
                                std::string_view event = {}, const config::load_options& opts = {});

}  // namespace sluice::cmd
