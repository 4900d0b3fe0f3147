#include "tests/support/gateway_process.hpp"

#include <signal.h>

#include <stdexcept>

#include "tests/support/paths.hpp"

namespace sluice::test {

gateway_process::gateway_process(const temp_dir& dir, const std::string& yaml,
                                 const std::vector<std::string>& wrapper,
                                 const std::string& log_level)
    : dir_(dir), config_(dir.write("sluice.yaml", yaml)) {
  // Another gateway may have logged to this file before: only this one's lines count.
  const size_t start = read_file(dir.file("sluice.log")).size();
  std::vector<std::string> argv = wrapper;
  for (const char* a : {kSluiceBin, "run", "-c"})
    argv.emplace_back(a);
  argv.push_back(config_);
  argv.emplace_back("--log-level");
  argv.push_back(log_level);
  proc_ = background_process(argv, dir.file("sluice.log"));
  bool ready = eventually(
      [&] { return log().find("event=ready", start) != std::string::npos || !proc_.running(); },
      std::chrono::seconds(20));
  if (!ready || !proc_.running()) {
    throw std::runtime_error("sluice did not become ready:\n" + log());
  }
}

gateway_process::~gateway_process() {
  proc_.stop(std::chrono::milliseconds(5000));
}

void gateway_process::rewrite(const std::string& yaml) {
  dir_.write("sluice.yaml", yaml);
}

void gateway_process::reload() {
  size_t before = count_of(log(), "event=reload_done") + count_of(log(), "event=reload_failed");
  proc_.signal(SIGHUP);
  eventually(
      [&] {
        return count_of(log(), "event=reload_done") + count_of(log(), "event=reload_failed") >
               before;
      },
      std::chrono::seconds(10));
}

run_result psql(const std::string& conninfo, const std::string& sql, const std::string& password,
                std::chrono::seconds timeout) {
  std::string env = password.empty() ? "" : "PGPASSWORD=" + shell_quote(password) + " ";
  return run(env + "PGCONNECT_TIMEOUT=10 psql -X -At -v ON_ERROR_STOP=1 " + shell_quote(conninfo) +
                 " -c " + shell_quote(sql),
             timeout);
}

size_t count_of(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t pos = hay.find(needle); pos != std::string::npos; pos = hay.find(needle, pos + 1)) {
    ++n;
  }
  return n;
}

}  // namespace sluice::test
