// The TLS stream on the client and upstream legs: bulk data both ways byte for byte,
// TLS records cut into 1-byte TCP segments, a client that stops reading (partial
// writes), peers that close mid-record or mid-handshake, and handshake timeouts.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <thread>

#include "tests/integration/gateway/fixture.hpp"
#include "tests/support/raw_client.hpp"
#include "tests/support/scram_login.hpp"

using namespace sluice::test;

namespace {

// A TLS client whose records reach the socket through memory BIOs, so the test decides
// how the ciphertext is cut into TCP segments (`segment` bytes, `gap` between them) and
// can send only part of a record.
class trickle_client {
 public:
  trickle_client(int port, size_t segment, std::chrono::microseconds gap)
      : segment_(segment), gap_(gap) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in dst{};
    dst.sin_family = AF_INET;
    dst.sin_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&dst), sizeof dst) != 0)
      throw std::runtime_error("connect failed");
    ctx_ = SSL_CTX_new(TLS_client_method());
    ssl_ = SSL_new(ctx_);
    SSL_set_bio(ssl_, BIO_new(BIO_s_mem()), BIO_new(BIO_s_mem()));
    SSL_set_connect_state(ssl_);
  }
  ~trickle_client() {
    SSL_free(ssl_);
    SSL_CTX_free(ctx_);
    if (fd_ >= 0)
      close(fd_);
  }

  // SSLRequest, 'S', then the handshake with every flight trickled.
  bool handshake() {
    const uint8_t req[] = {0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f};
    ::send(fd_, req, sizeof req, MSG_NOSIGNAL);
    char answer = 0;
    if (!wait_readable(5000) || ::recv(fd_, &answer, 1, 0) != 1 || answer != 'S')
      return false;
    for (;;) {
      int r = SSL_do_handshake(ssl_);
      flush();
      if (r == 1)
        return true;
      if (SSL_get_error(ssl_, r) != SSL_ERROR_WANT_READ || !feed(5000))
        return false;
    }
  }
  // Encrypts `bytes` and sends all of the ciphertext, or only its first `keep` bytes.
  void send(const std::vector<uint8_t>& bytes, size_t keep = SIZE_MAX) {
    SSL_write(ssl_, bytes.data(), static_cast<int>(bytes.size()));
    flush(keep);
  }
  // Plaintext until `want` bytes arrived, EOF or timeout.
  std::string recv(size_t want, int timeout_ms = 10000) {
    std::string out;
    char buf[16384];
    while (out.size() < want) {
      int n = SSL_read(ssl_, buf, sizeof buf);
      if (n > 0) {
        out.append(buf, static_cast<size_t>(n));
        continue;
      }
      if (SSL_get_error(ssl_, n) != SSL_ERROR_WANT_READ || !feed(timeout_ms))
        break;
    }
    return out;
  }
  // Reads plaintext until a ReadyForQuery ('Z') message has arrived.
  std::string until_ready(int timeout_ms = 10000) {
    std::string all;
    for (;;) {
      size_t pos = 0;
      while (pos + 5 <= all.size()) {
        uint32_t len = (uint32_t(uint8_t(all[pos + 1])) << 24) |
                       (uint32_t(uint8_t(all[pos + 2])) << 16) |
                       (uint32_t(uint8_t(all[pos + 3])) << 8) | uint8_t(all[pos + 4]);
        if (all[pos] == 'Z' && pos + 1 + len <= all.size())
          return all;
        pos += 1 + len;
      }
      auto more = recv(all.size() + 1, timeout_ms);
      if (more.empty())
        return all;
      all += more;
    }
  }
  // The handshake, then a SCRAM login as postgres; true once ReadyForQuery arrived.
  bool log_in() {
    if (!handshake())
      return false;
    return !scram_log_in([this](const std::vector<uint8_t>& bytes) { send(bytes); },
                         [this] { return recv(1); }, pg_cluster::kSuperuser, "postgres",
                         pg_cluster::password())
                .empty();
  }
  void close_now() {
    close(fd_);
    fd_ = -1;
  }
  bool closed_by_peer(int timeout_ms) {
    if (!wait_readable(timeout_ms))
      return false;
    char c;
    return ::recv(fd_, &c, 1, MSG_PEEK) == 0;
  }

 private:
  bool wait_readable(int timeout_ms) {
    pollfd p{fd_, POLLIN, 0};
    return poll(&p, 1, timeout_ms) > 0;
  }
  // Socket -> read BIO; false on EOF or timeout.
  bool feed(int timeout_ms) {
    if (!wait_readable(timeout_ms))
      return false;
    char buf[65536];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0)
      return false;
    BIO_write(SSL_get_rbio(ssl_), buf, static_cast<int>(n));
    return true;
  }
  // Write BIO -> socket in `segment_`-byte sends.
  void flush(size_t keep = SIZE_MAX) {
    BIO* w = SSL_get_wbio(ssl_);
    std::vector<uint8_t> out(static_cast<size_t>(BIO_ctrl_pending(w)));
    if (out.empty())
      return;
    BIO_read(w, out.data(), static_cast<int>(out.size()));
    out.resize(std::min(out.size(), keep));
    for (size_t off = 0; off < out.size(); off += segment_) {
      ::send(fd_, out.data() + off, std::min(segment_, out.size() - off), MSG_NOSIGNAL);
      if (gap_.count() > 0)
        std::this_thread::sleep_for(gap_);
    }
  }

  int fd_ = -1;
  size_t segment_;
  std::chrono::microseconds gap_;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
};

// A gateway with the test PKI in front of a plaintext PostgreSQL.
struct tls_gateway {
  temp_dir dir;
  test_pki pki{dir.path()};
  pg_cluster pg;
  int port = free_port();
  gateway_process gw{dir, gateway_yaml(pki, port, pg.port())};
};

// A loopback listener for fake upstreams; returns its port.
int listen_loopback(int& fd) {
  fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  listen(fd, 16);
  timeval tv{10, 0};  // accept gives up, so a test that never connects cannot hang
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

}  // namespace

TEST_CASE("bulk COPY both ways over TLS on both legs arrives byte for byte",
          "[gateway][tls][relay]") {
  temp_dir dir;
  test_pki pki(dir.path());
  pg_cluster pg(ssl_on(pki));
  pg.sql("create table blob(i int, t text)");
  // About 40 MB each way: many full 16 KiB records, and more than socket buffers hold.
  const std::string rows = "select g, repeat(md5(g::text), 8) from generate_series(1, 150000) g";
  const std::string psql_direct = "psql -X " + shell_quote(pg.superuser_conninfo());
  auto direct =
      run(psql_direct + " -c " + shell_quote("copy (" + rows + ") to stdout") + " | md5sum");
  REQUIRE(direct.exit_code == 0);
  for (const char* upstream : {"disable", "require"}) {
    temp_dir gdir;
    int port = free_port();
    gateway_process gw(gdir,
                       gateway_yaml(pki, port, pg.port(), "127.0.0.1/32", "optional", upstream));
    INFO("upstream sslmode=" << upstream << "\n" << gw.log());
    // channel_binding=disable: SCRAM passes through, and a TLS upstream offers -PLUS, which
    // cannot bind across the gateway's two TLS legs (docs/security.md).
    const std::string login = "sslmode=require channel_binding=disable";
    const std::string conn =
        shell_quote(through(port, login + " password=" + pg_cluster::password()));
    auto out = run("psql -X " + conn + " -c " + shell_quote("copy (" + rows + ") to stdout") +
                   " | md5sum");
    CHECK(out.output == direct.output);
    // The same bytes back in through the client's TLS, then out again.
    pg.sql("truncate blob");
    auto in = run(psql_direct + " -c " + shell_quote("copy (" + rows + ") to stdout") +
                  " | psql -X " + conn + " -c 'copy blob from stdin'");
    CHECK(in.exit_code == 0);
    auto back = run("psql -X " + conn + " -c " +
                    shell_quote("copy (select * from blob order by i) to stdout") + " | md5sum");
    CHECK(back.output == direct.output);
    auto ssl =
        psql(through(port, login), "select ssl from pg_stat_ssl where pid = pg_backend_pid()",
             pg_cluster::password());
    CHECK(ssl.output == (std::string(upstream) == "require" ? "t\n" : "f\n"));
  }
}

TEST_CASE("TLS records in 1-byte TCP segments, and a client that stops reading",
          "[gateway][tls][relay]") {
  tls_gateway g;
  const int port = g.port;
  INFO(g.gw.log());

  SECTION("handshake, startup and queries one byte per segment") {
    trickle_client c(port, 1, std::chrono::microseconds(50));
    REQUIRE(c.log_in());
    std::string ab;
    for (int k = 0; k < 20000; ++k)
      ab += "ab";
    for (int i = 0; i < 3; ++i) {
      c.send(raw_client::query("select repeat('ab', 20000) || " + std::to_string(i)));
      auto reply = c.until_ready();
      CHECK(reply.find(ab + std::to_string(i)) != std::string::npos);
    }
  }
  SECTION("a 24 MB result to a client that reads nothing for a second") {
    trickle_client c(port, 16384, std::chrono::microseconds(0));
    REQUIRE(c.log_in());
    c.send(raw_client::query("select repeat('z', 24000000) || 'end'"));
    std::this_thread::sleep_for(std::chrono::seconds(1));  // the gateway's writes block
    auto reply = c.until_ready(20000);
    auto at = reply.find("zzzzend");
    CHECK(at != std::string::npos);
    CHECK(std::count(reply.begin(), reply.end(), 'z') == 24000000);
  }
  // The worker that relayed all this still serves new clients.
  CHECK(psql(through(port, "sslmode=require"), "select 7", pg_cluster::password()).output == "7\n");
}

TEST_CASE("peers that close mid-record or mid-handshake end only their session", "[gateway][tls]") {
  tls_gateway g;
  const int port = g.port;
  auto& gw = g.gw;
  INFO(gw.log());

  SECTION("a logged-in client sends half a record and closes") {
    trickle_client c(port, 65536, std::chrono::microseconds(0));
    REQUIRE(c.log_in());
    c.send(raw_client::query("select pg_sleep(0)"), 10);  // 10 bytes of a ~50-byte record
    c.close_now();
    CHECK(log_has(gw, "user=postgres database=postgres client_tls=true"));
    CHECK(log_has(gw, "reason=client_closed"));
  }
  SECTION("a client sends half a ClientHello and closes") {
    {
      raw_client c(port);
      c.send({0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f});
      REQUIRE(c.recv_some(1) == "S");
      // A handshake record header promising 512 bytes, and 20 of them.
      std::vector<uint8_t> partial = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03};
      partial.resize(25, 0x42);
      c.send(partial);
      CHECK(!c.closed_by_peer(300));  // the gateway waits for the rest
    }
    CHECK(log_has(gw, "reason=tls_handshake_failed"));
    CHECK(log_has(gw, "stream truncated"));
  }
  // The worker these sessions ran on still serves new clients.
  CHECK(psql(through(port, "sslmode=require"), "select 8", pg_cluster::password()).output == "8\n");
}

TEST_CASE("TLS handshakes that stall time out on both legs", "[gateway][tls][timeout]") {
  temp_dir dir;
  test_pki pki(dir.path());

  SECTION("client leg: half a ClientHello, then nothing") {
    pg_cluster pg;
    int port = free_port();
    gateway_process gw(dir, gateway_yaml(pki, port, pg.port(), "127.0.0.1/32", "optional",
                                         "disable", "    startup_timeout: 1s\n"));
    raw_client c(port);
    c.send({0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f});
    REQUIRE(c.recv_some(1) == "S");
    c.send({0x16, 0x03, 0x01, 0x02, 0x00, 0x01});
    auto started = std::chrono::steady_clock::now();
    CHECK(c.closed_by_peer(5000));
    CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(3));
    INFO(gw.log());
    CHECK(log_has(gw, "reason=startup_timeout"));
    CHECK(log_has(gw, "no complete startup packet within 1s"));
  }
  SECTION("upstream leg: a server that says 'S' and never answers the ClientHello") {
    int lfd = -1;
    int fake_port = listen_loopback(lfd);
    std::thread fake([lfd] {
      int c = accept(lfd, nullptr, nullptr);
      if (c < 0)
        return;
      char buf[4096];
      if (recv(c, buf, 8, MSG_WAITALL) == 8)
        ::send(c, "S", 1, MSG_NOSIGNAL);
      while (recv(c, buf, sizeof buf, 0) > 0) {
      }
      close(c);
    });
    int port = free_port();
    gateway_process gw(dir,
                       gateway_yaml(pki, port, fake_port, "127.0.0.1/32", "optional", "require"));
    auto started = std::chrono::steady_clock::now();
    auto r = psql(through(port), "select 1", pg_cluster::password());
    CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(6));
    fake.join();
    close(lfd);
    INFO(r.output << gw.log());
    CHECK(r.exit_code != 0);
    CHECK(r.output.find("did not complete the PostgreSQL/TLS handshake within 2s") !=
          std::string::npos);
    CHECK(log_has(gw, "reason=upstream_timeout"));
  }
}
