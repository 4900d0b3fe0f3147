#include "tests/support/process.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace sluice::test {

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

run_result run(const std::string& cmd, std::chrono::seconds timeout) {
  // timeout(1) kills the whole command if it hangs; -k reaps stubborn ones.
  std::string full = "timeout -k 5 " + std::to_string(timeout.count()) + " /bin/sh -c " +
                     shell_quote(cmd) + " 2>&1 </dev/null";
  run_result r;
  FILE* p = popen(full.c_str(), "r");
  if (!p)
    throw std::runtime_error("popen failed: " + cmd);
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0)
    r.output.append(buf, n);
  int st = pclose(p);
  r.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return r;
}

background_process::background_process(std::vector<std::string> argv, std::string log_path,
                                       std::map<std::string, std::string> env)
    : log_path_(std::move(log_path)) {
  pid_ = fork();
  if (pid_ < 0)
    throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    setpgid(0, 0);
    int fd = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0)
      dup2(devnull, 0);
    for (const auto& [k, v] : env)
      setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> args;
    for (auto& a : argv)
      args.push_back(a.data());
    args.push_back(nullptr);
    execvp(args[0], args.data());
    std::fprintf(stderr, "exec %s failed: %s\n", args[0], std::strerror(errno));
    _exit(127);
  }
}

background_process::~background_process() {
  if (pid_ > 0)
    stop(std::chrono::milliseconds(3000));
}

background_process::background_process(background_process&& o) noexcept
    : pid_(o.pid_), status_(o.status_), log_path_(std::move(o.log_path_)) {
  o.pid_ = -1;
}

background_process& background_process::operator=(background_process&& o) noexcept {
  if (this != &o) {
    if (pid_ > 0)
      stop();
    pid_ = o.pid_;
    status_ = o.status_;
    log_path_ = std::move(o.log_path_);
    o.pid_ = -1;
  }
  return *this;
}

bool background_process::running() {
  if (pid_ <= 0)
    return false;
  int st;
  pid_t r = waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    pid_ = -1;
    return false;
  }
  return true;
}

void background_process::signal(int sig) {
  if (pid_ > 0)
    ::kill(pid_, sig);
}

int background_process::wait(std::chrono::milliseconds timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (running()) {
    if (std::chrono::steady_clock::now() >= until)
      return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return status_;
}

void background_process::stop(std::chrono::milliseconds grace) {
  if (!running())
    return;
  ::kill(pid_, SIGTERM);
  if (wait(grace) == -1 && pid_ > 0) {
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
    wait(std::chrono::milliseconds(5000));
  }
}

std::string background_process::log() const {
  return read_file(log_path_);
}

std::map<int, std::string> proc_stat_fields(const std::string& stat_path) {
  std::map<int, std::string> out;
  std::ifstream in(stat_path);
  std::string line;
  if (!std::getline(in, line))
    return out;
  auto paren = line.rfind(')');
  if (paren == std::string::npos || paren + 2 > line.size())
    return out;
  std::istringstream fields(line.substr(paren + 2));
  std::string f;
  for (int n = 3; fields >> f; ++n)
    out[n] = f;
  return out;
}

bool wait_for_port(const std::string& host, int port, std::chrono::milliseconds timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    int fd = socket(host.find(':') != std::string::npos ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
    bool ok = false;
    if (host.find(':') != std::string::npos) {
      sockaddr_in6 a{};
      a.sin6_family = AF_INET6;
      a.sin6_port = htons(static_cast<uint16_t>(port));
      inet_pton(AF_INET6, host.c_str(), &a.sin6_addr);
      ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    } else {
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(static_cast<uint16_t>(port));
      inet_pton(AF_INET, host.c_str(), &a.sin_addr);
      ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    }
    close(fd);
    if (ok)
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

namespace {

bool bindable_on_loopback(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return false;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);  // TIME_WAIT is no owner
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  close(fd);
  return ok;
}

// [lo, hi): below the kernel's ephemeral range, so no outgoing connection's source port
// takes a handed-out port before the server that was given it binds it.
std::pair<int, int> reservable_range() {
  int eph_lo = 32768, eph_hi = 60999;
  std::ifstream("/proc/sys/net/ipv4/ip_local_port_range") >> eph_lo >> eph_hi;
  if (eph_lo >= 12000)
    return {std::max(10000, eph_lo - 12000), eph_lo};
  if (eph_hi <= 55535)
    return {eph_hi + 1, 65536};  // [lo, hi): 65535 is a port too
  return {20000, 30000};         // the kernel may use any port: the bind check below still holds
}

}  // namespace

// Each port is reserved for this process's lifetime by an flock on a file named after it
// (the descriptor stays open on purpose; the lock goes with the process), so tests that
// CTest runs at once never get the same port. A port that was merely free at bind(0) time
// was not enough: two tests were handed one port, both servers bound it with SO_REUSEPORT,
// and each got some of the other's connections.
int free_port() {
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  static const std::string dir = "/tmp/sluice-test-ports-" + std::to_string(getuid());
  mkdir(dir.c_str(), 0700);
  static std::mt19937 rng(std::random_device{}() ^ static_cast<unsigned>(getpid()));
  auto [lo, hi] = reservable_range();
  for (int attempt = 0; attempt < 4000; ++attempt) {
    int port = lo + static_cast<int>(rng() % static_cast<unsigned>(hi - lo));
    std::string path = dir + "/" + std::to_string(port);
    int fd = open(path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0)
      continue;
    if (flock(fd, LOCK_EX | LOCK_NB) == 0 && bindable_on_loopback(port))
      return port;  // fd kept: it holds the reservation
    close(fd);
  }
  throw std::runtime_error("free_port: no reservable port in " + std::to_string(lo) + "-" +
                           std::to_string(hi) + " (lock files in " + dir + ")");
}

temp_dir::temp_dir(const std::string& prefix) {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/" + prefix + "-XXXXXX";
  if (!mkdtemp(tmpl.data()))
    throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
  chmod(path_.c_str(), 0755);
}

temp_dir::~temp_dir() {
  if (std::getenv("SLUICE_KEEP_TEST_DIRS"))
    return;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string temp_dir::write(const std::string& name, const std::string& content,
                            unsigned mode) const {
  auto p = file(name);
  std::filesystem::create_directories(std::filesystem::path(p).parent_path());
  {
    std::ofstream out(p, std::ios::trunc);
    out << content;
  }
  chmod(p.c_str(), mode);
  return p;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace sluice::test
