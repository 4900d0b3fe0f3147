// The real `sluice run` as a child process with a config the test writes, plus psql
// helpers that connect through it. Waits for the "ready" log line before returning.
#pragma once

#include <string>
#include <vector>

#include "tests/support/process.hpp"

namespace sluice::test {

class gateway_process {
 public:
  // Writes `yaml` to dir/sluice.yaml and starts the gateway; throws if it does not
  // become ready within 10 s (the log is in the exception).
  // `wrapper` runs in front of the binary (e.g. capsh dropping capabilities).
  gateway_process(const temp_dir& dir, const std::string& yaml,
                  const std::vector<std::string>& wrapper = {},
                  const std::string& log_level = "debug");
  ~gateway_process();

  void reload();  // SIGHUP, then waits for reload_done/reload_failed in the log
  void rewrite(const std::string& yaml);  // new config file content (no reload)
  background_process& proc() { return proc_; }
  std::string log() const { return proc_.log(); }
  const std::string& config_path() const { return config_; }

 private:
  const temp_dir& dir_;
  std::string config_;
  background_process proc_;
};

// psql -XAt with the given conninfo; password from PGPASSWORD if given.
run_result psql(const std::string& conninfo, const std::string& sql,
                const std::string& password = "",
                std::chrono::seconds timeout = std::chrono::seconds(30));

// Counts occurrences of `needle` in `hay`.
size_t count_of(const std::string& hay, const std::string& needle);

}  // namespace sluice::test
