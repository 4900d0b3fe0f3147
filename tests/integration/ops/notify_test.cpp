// The systemd notify protocol against a datagram socket the test listens on, as
// systemd would: READY=1 after listeners bind, RELOADING=1 then READY=1 around a
// SIGHUP reload, STOPPING=1 on SIGTERM; WATCHDOG=1 when WATCHDOG_USEC is set.
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "tests/integration/ops/ops_fixture.hpp"
#include "tests/support/paths.hpp"

using namespace sluice::test;

namespace {

class notify_socket {
 public:
  explicit notify_socket(const std::string& path) : path_(path) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    path.copy(a.sun_path, sizeof a.sun_path - 1);
    REQUIRE(bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    timeval tv{0, 200'000};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~notify_socket() { close(fd_); }

  // Waits for a datagram containing `needle`; every datagram seen is kept in order.
  bool wait_for(const std::string& needle, std::chrono::seconds timeout) {
    auto until = std::chrono::steady_clock::now() + timeout;
    for (size_t i = seen_; i < messages.size(); ++i)
      if (messages[i].find(needle) != std::string::npos) {
        seen_ = i + 1;
        return true;
      }
    while (std::chrono::steady_clock::now() < until) {
      char buf[4096];
      ssize_t n = recv(fd_, buf, sizeof buf, 0);
      if (n <= 0)
        continue;
      messages.emplace_back(buf, static_cast<size_t>(n));
      if (messages.back().find(needle) != std::string::npos) {
        seen_ = messages.size();
        return true;
      }
    }
    return false;
  }
  std::string all() const {
    std::string out;
    for (const auto& m : messages)
      out += "[" + m + "] ";
    return out;
  }
  std::vector<std::string> messages;

 private:
  std::string path_;
  int fd_ = -1;
  size_t seen_ = 0;
};

}  // namespace

TEST_CASE("sd_notify READY RELOADING READY STOPPING and WATCHDOG against a listening socket") {
  temp_dir dir;
  auto c = make_ops_config(dir, false);
  auto config = dir.write("sluice.yaml", c.yaml);
  notify_socket sock(dir.file("notify.sock"));
  background_process gw({kSluiceBin, "run", "-c", config}, dir.file("sluice.log"),
                        {{"NOTIFY_SOCKET", dir.file("notify.sock")}, {"WATCHDOG_USEC", "400000"}});
  INFO(gw.log());
  REQUIRE(sock.wait_for("READY=1", std::chrono::seconds(15)));
  INFO(sock.all());
  // Ready means listening: the data-plane port accepts by the time READY=1 arrives.
  CHECK(wait_for_port("127.0.0.1", c.listen_port, std::chrono::milliseconds(100)));
  // The watchdog pings every half interval once all workers answered.
  CHECK(sock.wait_for("WATCHDOG=1", std::chrono::seconds(5)));

  gw.signal(SIGHUP);
  CHECK(sock.wait_for("RELOADING=1", std::chrono::seconds(10)));
  CHECK(sock.wait_for("READY=1", std::chrono::seconds(10)));
  CHECK(eventually([&] { return gw.log().find("event=reload_done") != std::string::npos; },
                   std::chrono::seconds(5)));

  gw.signal(SIGTERM);
  CHECK(sock.wait_for("STOPPING=1", std::chrono::seconds(10)));
  CHECK(gw.wait(std::chrono::seconds(40)) == 0);
}
