// Running real programs from tests: one-shot commands with captured output, and
// background servers that are stopped (SIGTERM, then SIGKILL) when they go out of scope.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace sluice::test {

struct run_result {
  int exit_code = -1;  // 124 on timeout, like timeout(1)
  std::string output;  // stdout and stderr together
};

// Runs `cmd` through /bin/sh with a deadline; output captured.
run_result run(const std::string& cmd, std::chrono::seconds timeout = std::chrono::seconds(60));

// Single-quotes a string for /bin/sh.
std::string shell_quote(const std::string& s);

class background_process {
 public:
  background_process() = default;
  // argv[0] is looked up in PATH. Output goes to `log_path` (appended).
  background_process(std::vector<std::string> argv, std::string log_path,
                     std::map<std::string, std::string> env = {});
  ~background_process();
  background_process(background_process&& o) noexcept;
  background_process& operator=(background_process&& o) noexcept;

  pid_t pid() const { return pid_; }
  bool running();
  void signal(int sig);
  // Waits for exit; returns the exit status (or 128+signal), -1 on timeout.
  int wait(std::chrono::milliseconds timeout);
  // SIGTERM, wait up to `grace`, then SIGKILL.
  void stop(std::chrono::milliseconds grace = std::chrono::milliseconds(5000));
  std::string log() const;
  const std::string& log_path() const { return log_path_; }

 private:
  pid_t pid_ = -1;
  int status_ = -1;
  std::string log_path_;
};

// /proc/<pid>/stat (or a task's) as numbered fields, proc(5) numbering: the map holds
// fields 3 (state) onwards, the name (field 2, which may hold spaces and ')') skipped.
// Empty when the process or thread has gone.
std::map<int, std::string> proc_stat_fields(const std::string& stat_path);

// Polls until a TCP connect to host:port succeeds or the deadline passes.
bool wait_for_port(const std::string& host, int port, std::chrono::milliseconds timeout);
// Polls `pred` every 50 ms until true or timeout.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (pred())
      return true;
    run("sleep 0.05");
  }
  return pred();
}

// A TCP port on 127.0.0.1 that is free now and that no other test process (or later
// call here) is handed while this process runs.
int free_port();

// A fresh directory under $TMPDIR (or /tmp), world-traversable so a server running as
// the postgres user can reach files in it; removed by the destructor.
class temp_dir {
 public:
  explicit temp_dir(const std::string& prefix = "sluice-test");
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  // Writes content to name with the given mode; returns the full path.
  std::string write(const std::string& name, const std::string& content,
                    unsigned mode = 0644) const;

 private:
  std::string path_;
};

std::string read_file(const std::string& path);

}  // namespace sluice::test
