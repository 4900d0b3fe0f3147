// Test fixtures for tunnels: a real OpenSSH sshd on 127.0.0.1 with its own host key and
// config, a threaded TCP echo server, and a synchronous wrapper around
// manager::open_channel that runs it from a separate io_context (as a gateway worker would).
#pragma once

#include <utility>  // before Asio

#include <dirent.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>
#include <vector>

#include "gateway/tunnel/manager.hpp"
#include "tests/support/paths.hpp"
#include "tests/support/process.hpp"

namespace sluice::test {

inline std::string current_user() {
  auto r = run("id -un");
  auto u = r.output;
  while (!u.empty() && (u.back() == '\n' || u.back() == '\r'))
    u.pop_back();
  return u;
}

// Child processes of `pid` (sshd forks one process per connection, which calls setsid,
// so they are not in the listener's process group).
inline std::vector<pid_t> descendants(pid_t pid) {
  std::vector<pid_t> out;
  std::vector<pid_t> frontier{pid};
  while (!frontier.empty()) {
    pid_t p = frontier.back();
    frontier.pop_back();
    DIR* d = opendir("/proc");
    if (!d)
      break;
    while (auto* e = readdir(d)) {
      pid_t child = static_cast<pid_t>(std::atoi(e->d_name));
      if (child <= 0)
        continue;
      std::ifstream st("/proc/" + std::string(e->d_name) + "/stat");
      std::string line;
      std::getline(st, line);
      auto rp = line.rfind(')');
      if (rp == std::string::npos)
        continue;
      std::istringstream rest(line.substr(rp + 2));
      char state;
      pid_t ppid = 0;
      rest >> state >> ppid;
      if (ppid == p) {
        out.push_back(child);
        frontier.push_back(child);
      }
    }
    closedir(d);
  }
  return out;
}

struct sshd_options {
  bool allow_tcp_forwarding = true;
  std::string rekey_limit;  // e.g. "256K"
  std::vector<std::string> extra;
};

class sshd_server {
 public:
  explicit sshd_server(sshd_options opts = {}) : opts_(std::move(opts)) {
    run("mkdir -p /run/sshd && chmod 0755 /run/sshd");
    host_key_ = dir_.file("host_ed25519");
    auto r = run("ssh-keygen -q -t ed25519 -N '' -f " + host_key_);
    REQUIRE(r.exit_code == 0);
    auto fp = run("ssh-keygen -lf " + host_key_ + ".pub");
    std::istringstream s(fp.output);
    std::string bits;
    s >> bits >> fingerprint_;
    port_ = free_port();
    dir_.write("authorized_keys", "");
    start();
  }
  ~sshd_server() { stop(); }

  void authorize(const std::string& pub_line) {
    std::ofstream(dir_.file("authorized_keys"), std::ios::app) << pub_line << "\n";
  }
  void start() {
    // sshd keeps the first value of most keywords: extra lines go first to override.
    std::string conf;
    for (const auto& l : opts_.extra)
      conf += l + "\n";
    conf += "Port " + std::to_string(port_) + "\nListenAddress 127.0.0.1\nHostKey " + host_key_ +
            "\nPidFile none\nUsePAM no\nStrictModes no\n"
            "PermitRootLogin prohibit-password\nPubkeyAuthentication yes\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
            "AuthorizedKeysFile " +
            dir_.file("authorized_keys") + "\nAllowTcpForwarding " +
            (opts_.allow_tcp_forwarding ? "yes" : "no") +
            "\nLogLevel VERBOSE\nMaxStartups 200\nMaxSessions 200\n";
    if (!opts_.rekey_limit.empty())
      conf += "RekeyLimit " + opts_.rekey_limit + "\n";
    auto cfg = dir_.write("sshd_config", conf);
    proc_ = background_process({"/usr/sbin/sshd", "-D", "-e", "-f", cfg}, dir_.file("sshd.log"));
    REQUIRE(wait_for_port("127.0.0.1", port_, std::chrono::seconds(10)));
  }
  // Stops the listener and every per-connection process (open sessions die).
  void kill_all() {
    auto kids = descendants(proc_.pid());
    proc_.signal(SIGKILL);
    proc_.wait(std::chrono::seconds(5));
    for (auto k : kids)
      ::kill(k, SIGKILL);
  }
  void stop() {
    if (proc_.pid() > 0)
      kill_all();
  }
  // Freezes or thaws the processes serving existing connections (a silent peer).
  void signal_sessions(int sig) {
    for (auto k : descendants(proc_.pid()))
      ::kill(k, sig);
  }
  int port() const { return port_; }
  const std::string& fingerprint() const { return fingerprint_; }
  std::string log() const { return read_file(dir_.file("sshd.log")); }
  const temp_dir& dir() const { return dir_; }

 private:
  sshd_options opts_;
  temp_dir dir_{"sluice-sshd"};
  std::string host_key_;
  std::string fingerprint_;
  int port_ = 0;
  background_process proc_;
};

// Echoes every byte back; one thread per connection.
class echo_server {
 public:
  echo_server() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    int on = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    socklen_t l = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &l);
    port_ = ntohs(a.sin_port);
    REQUIRE(::listen(fd_, 512) == 0);
    thread_ = std::thread([this] {
      while (true) {
        int c = ::accept(fd_, nullptr, nullptr);
        if (c < 0)
          return;
        std::thread([c] {
          char buf[65536];
          while (true) {
            auto n = ::read(c, buf, sizeof buf);
            if (n <= 0)
              break;
            size_t off = 0;
            while (off < static_cast<size_t>(n)) {
              auto w = ::write(c, buf + off, static_cast<size_t>(n) - off);
              if (w <= 0) {
                ::close(c);
                return;
              }
              off += static_cast<size_t>(w);
            }
          }
          ::close(c);
        }).detach();
      }
    });
  }
  ~echo_server() {
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  uint16_t port() const { return static_cast<uint16_t>(port_); }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
};

// Runs manager::open_channel from this thread's own io_context, like a gateway worker.
inline tunnel::channel_result open_channel(tunnel::manager& m, const std::string& tunnel,
                                           const std::string& host, uint16_t port) {
  boost::asio::io_context ioc;
  tunnel::channel_result out;
  boost::asio::co_spawn(
      ioc,
      [&]() -> boost::asio::awaitable<void> { out = co_await m.open_channel(tunnel, host, port); },
      boost::asio::detached);
  ioc.run();
  return out;
}

inline bool write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    auto w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w <= 0)
      return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

// Reads exactly n bytes unless EOF/error/timeout (SO_RCVTIMEO); returns bytes read.
inline size_t read_n(int fd, char* p, size_t n, int timeout_s = 20) {
  timeval tv{timeout_s, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  size_t got = 0;
  while (got < n) {
    auto r = ::read(fd, p + got, n - got);
    if (r <= 0)
      break;
    got += static_cast<size_t>(r);
  }
  return got;
}

// Sends `bytes` of a pattern through an echo channel and checks they come back intact.
inline bool echo_roundtrip(int fd, size_t bytes, int timeout_s = 30) {
  std::string out(bytes, '\0');
  for (size_t i = 0; i < bytes; ++i)
    out[i] = static_cast<char>((i * 131 + i / 7) & 0xff);
  std::atomic<bool> sent{false};
  std::thread writer([&] { sent = write_all(fd, out.data(), out.size()); });
  std::string in(bytes, '\0');
  auto got = read_n(fd, in.data(), bytes, timeout_s);
  writer.join();
  return sent && got == bytes && in == out;
}

struct tunnel_setup {
  temp_dir dir{"sluice-tunnel"};
  std::string key;  // private key path made by `sluice keygen`
  std::string pub;

  tunnel_setup() {
    key = dir.file("id_sluice");
    auto r = run(std::string(kSluiceBin) + " keygen --out " + key + " --comment sluice-test");
    REQUIRE(r.exit_code == 0);
    pub = read_file(key + ".pub");
    while (!pub.empty() && pub.back() == '\n')
      pub.pop_back();
  }

  config::tunnel make(const sshd_server& s, const std::string& name = "bastion") const {
    config::tunnel t;
    t.name = name;
    t.host = "127.0.0.1";
    t.port = static_cast<uint16_t>(s.port());
    t.user = current_user();
    t.private_key = key;
    t.host_key = s.fingerprint();
    t.keepalive.interval = std::chrono::milliseconds(1000);
    t.keepalive.max_missed = 3;
    t.reconnect.initial = std::chrono::milliseconds(200);
    t.reconnect.max = std::chrono::milliseconds(1000);
    t.connect_timeout = std::chrono::milliseconds(5000);
    t.wait_for_up = std::chrono::milliseconds(5000);
    return t;
  }

  // The same tunnel as a `tunnels:` list entry of a gateway's YAML; `extra` holds more
  // keys, each line indented by four spaces.
  std::string yaml(const sshd_server& s, const std::string& name = "bastion",
                   const std::string& extra = "") const {
    return "  - name: " + name + "\n    host: 127.0.0.1\n    port: " + std::to_string(s.port()) +
           "\n    user: " + current_user() + "\n    private_key: " + key + "\n    host_key: \"" +
           s.fingerprint() + "\"\n" + extra;
  }
};

inline config::settings_ptr settings_with(std::vector<config::tunnel> ts) {
  auto s = std::make_shared<config::settings>();
  s->tunnels = std::move(ts);
  return s;
}

// A bastion sshd that trusts a fresh sluice key, an echo server behind it and a manager
// running the tunnel "bastion" to it: the set-up most tunnel tests start from
// (TEST_CASE_METHOD(echo_tunnel, ...)).
struct echo_tunnel {
  echo_tunnel() {
    sshd.authorize(ts.pub);
    m.apply(settings_with({ts.make(sshd)}));
  }
  sshd_server sshd;
  tunnel_setup ts;
  echo_server echo;
  tunnel::manager m;
};

inline nlohmann::json tunnel_status(const tunnel::manager& m, const std::string& name) {
  for (const auto& t : m.status()) {
    if (t["name"] == name)
      return t;
  }
  return {};
}

}  // namespace sluice::test
