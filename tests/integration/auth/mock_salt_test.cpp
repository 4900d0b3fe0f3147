// An unknown user's mock SCRAM salt survives a restart of `sluice run` when the state
// directory ($STATE_DIRECTORY, set by the systemd unit) keeps its key, and the gateway says
// so when it cannot (gateway/mock_key_file.hpp). Real `sluice run` processes, raw SCRAM
// exchanges on loopback.
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <map>

#include "tests/support/paths.hpp"
#include "tests/support/process.hpp"
#include "tests/support/raw_client.hpp"

using namespace sluice::test;

namespace {

std::vector<uint8_t> frontend(char type, const std::string& body) {
  std::vector<uint8_t> out{static_cast<uint8_t>(type)};
  const auto len = static_cast<uint32_t>(body.size() + 4);
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<uint8_t>(len >> shift));
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

class gateway {
 public:
  gateway(const temp_dir& dir, const std::string& state_dir) : port_(free_port()) {
    const auto users = dir.write("users.txt", "\"alice\" \"alice-pw\"\n", 0600);
    const auto config = dir.write(
        "sluice.yaml",
        "region: test\nlisteners:\n  - name: pg\n    listen: 127.0.0.1:" + std::to_string(port_) +
            "\nroutes:\n  - name: db\n    upstream: {host: 127.0.0.1, port: " +
            std::to_string(free_port()) +
            ", tls: {sslmode: disable}}\n    auth: {mode: terminate, file: " + users + "}\n");
    std::map<std::string, std::string> env;
    if (!state_dir.empty())
      env["STATE_DIRECTORY"] = state_dir;
    log_ = dir.file("sluice-" + std::to_string(port_) + ".log");
    proc_ = background_process({kSluiceBin, "run", "-c", config}, log_, env);
    REQUIRE(eventually([&] { return has("event=ready") || !proc_.running(); },
                       std::chrono::seconds(20)));
    REQUIRE(proc_.running());
  }
  ~gateway() { proc_.stop(std::chrono::milliseconds(3000)); }

  bool has(const std::string& s) const { return read_file(log_).find(s) != std::string::npos; }
  std::string log() const { return read_file(log_); }

  // The salt of the server-first-message sluice answers `user` with.
  std::string salt_for(const std::string& user) {
    raw_client c(port_);
    c.send(raw_client::startup(user, "db"));
    auto sasl = c.recv_some();
    REQUIRE(sasl.size() > 9);
    REQUIRE(sasl[0] == 'R');
    const std::string first = "n,,n=,r=fyko+d2lbbFgONRv9qkxdawL";
    std::string body = std::string("SCRAM-SHA-256") + '\0';
    const auto n = static_cast<uint32_t>(first.size());
    for (int shift = 24; shift >= 0; shift -= 8)
      body.push_back(static_cast<char>(n >> shift));
    body += first;
    c.send(frontend('p', body));
    auto cont = c.recv_some();
    auto s = cont.find(",s=");
    REQUIRE(s != std::string::npos);
    return cont.substr(s + 3, cont.find(',', s + 3) - s - 3);
  }

 private:
  int port_;
  std::string log_;
  background_process proc_;
};

}  // namespace

TEST_CASE("mock salts: an unknown user's salt is the same after a restart", "[auth][mock_salt]") {
  temp_dir dir{"sluice-mock-salt"};
  const auto state = dir.file("state");
  REQUIRE(run("mkdir -m 0750 " + state).exit_code == 0);
  std::string first;
  {
    gateway g(dir, state);
    first = g.salt_for("nobody");
    CHECK(g.salt_for("nobody") == first);
    CHECK(g.salt_for("someone-else") != first);
    CHECK(g.has("event=mock_salt_key path=" + state + "/scram-mock.key created=true"));
  }
  struct stat st {};
  REQUIRE(::stat((state + "/scram-mock.key").c_str(), &st) == 0);
  CHECK(st.st_size == 32);
  CHECK((st.st_mode & 0777) == 0600);
  {
    gateway g(dir, state);
    CHECK(g.salt_for("nobody") == first);
    CHECK(g.has("created=false"));
  }
  // Another state directory: another key, other salts.
  const auto other = dir.file("other");
  REQUIRE(run("mkdir " + other).exit_code == 0);
  gateway g(dir, other);
  CHECK(g.salt_for("nobody") != first);
}

TEST_CASE("mock salts: without a usable state directory the gateway warns", "[auth][mock_salt]") {
  temp_dir dir{"sluice-mock-salt-warn"};
  {
    gateway g(dir, "");
    INFO(g.log());
    CHECK(g.has("event=mock_salt_key_ephemeral"));
    CHECK(g.has("STATE_DIRECTORY is not set"));
    CHECK_FALSE(g.salt_for("nobody").empty());
  }
  const auto state = dir.file("state");
  REQUIRE(run("mkdir " + state + " && printf short > " + state + "/scram-mock.key").exit_code == 0);
  gateway g(dir, state);
  INFO(g.log());
  CHECK(g.has("event=mock_salt_key_ephemeral"));
  CHECK(g.has("holds 5 bytes, not 32 (remove it to have a new key made)"));
}
