#include "gateway/cli/load_config.hpp"

#include <iostream>

#include "config/log.hpp"

namespace sluice::cmd {

config::load_result load_config(const std::string& path, report_to where, std::string_view event,
                                const config::load_options& opts) {
  auto r = config::load_file(path, opts);
  for (const auto& i : r.issues.all()) {
    if (where == report_to::terminal) {
      std::cerr << path << ": " << i.str() << "\n";
    } else {
      log::line(i.warning ? log::level::warning : log::level::error, event)
          .kv("file", path)
          .kv("problem", i.str());
    }
  }
  return r;
}

}  // namespace sluice::cmd
