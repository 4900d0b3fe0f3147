// sluice's SCRAM and md5 building blocks against a real PostgreSQL 15 (ssl = on,
// scram-sha-256): the client state machine logs in over raw sockets (password, recovered
// ClientKey, SCRAM-SHA-256-PLUS over TLS), the server state machine accepts the secrets
// PostgreSQL stores, and both refuse the same things with the same words.
#include <catch2/catch.hpp>
#include <cstring>
#include <functional>

#include "gateway/auth/channel_binding.hpp"
#include "gateway/auth/md5_auth.hpp"
#include "gateway/auth/scram_client.hpp"
#include "gateway/auth/scram_server.hpp"
#include "tests/support/auth_error_maker.hpp"
#include "tests/support/pg_cluster.hpp"
#include "tests/support/raw_client.hpp"

using namespace sluice::auth;
using sluice::test::pg_cluster;
using sluice::test::raw_client;
using sluice::test::temp_dir;
using sluice::test::test_pki;

namespace {

struct message {
  char type = 0;
  std::string body;
};

// Frames backend messages out of raw_client's byte stream.
class backend {
 public:
  explicit backend(raw_client& c) : c_(c) {}
  // The next whole message, or type 0 on EOF/timeout.
  message next() {
    for (;;) {
      if (buf_.size() >= 5) {
        uint32_t len = (uint8_t(buf_[1]) << 24) | (uint8_t(buf_[2]) << 16) |
                       (uint8_t(buf_[3]) << 8) | uint8_t(buf_[4]);
        if (buf_.size() >= 1 + len) {
          message m{buf_[0], buf_.substr(5, len - 4)};
          buf_.erase(0, 1 + len);
          return m;
        }
      }
      auto more = c_.recv_some();
      if (more.empty())
        return {};
      buf_ += more;
    }
  }

 private:
  raw_client& c_;
  std::string buf_;
};

void put32(std::vector<uint8_t>& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<uint8_t>(v >> shift));
}
std::vector<uint8_t> frontend(char type, const std::string& body) {
  std::vector<uint8_t> out{static_cast<uint8_t>(type)};
  put32(out, static_cast<uint32_t>(body.size() + 4));
  out.insert(out.end(), body.begin(), body.end());
  return out;
}
std::string be32(uint32_t v) {
  std::vector<uint8_t> b;
  put32(b, v);
  return std::string(b.begin(), b.end());
}
uint32_t auth_code(const message& m) {
  REQUIRE(m.type == 'R');
  REQUIRE(m.body.size() >= 4);
  return (uint8_t(m.body[0]) << 24) | (uint8_t(m.body[1]) << 16) | (uint8_t(m.body[2]) << 8) |
         uint8_t(m.body[3]);
}

// An ErrorResponse's fields, as an auth_error (SQLSTATE, message, detail).
auth_error error_of(const message& m) {
  auth_error e;
  size_t pos = 0;
  while (pos < m.body.size() && m.body[pos] != 0) {
    char tag = m.body[pos++];
    auto end = m.body.find('\0', pos);
    auto v = m.body.substr(pos, end - pos);
    if (tag == 'C')
      e.sqlstate = v;
    else if (tag == 'M')
      e.message = v;
    else if (tag == 'D')
      e.detail = v;
    pos = end + 1;
  }
  return e;
}

std::vector<std::string> mechanisms_of(const message& m) {
  std::vector<std::string> out;
  size_t pos = 4;
  while (pos < m.body.size() && m.body[pos] != 0) {
    auto end = m.body.find('\0', pos);
    out.push_back(m.body.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

// What a login attempt ended with.
struct login_result {
  bool ok = false;               // AuthenticationOk and ReadyForQuery
  bool server_verified = false;  // our client checked the server's signature
  bool bound = false;
  std::string mechanism;
  std::optional<auth_error> server_error;  // PostgreSQL's ErrorResponse
  std::optional<auth_error> client_error;  // our client refused
};

struct login_options {
  bool tls = false;
  bool strip_plus = false;     // act as a relay that hides SCRAM-SHA-256-PLUS
  bool wrong_binding = false;  // bind to another certificate's hash
  std::string first_override;  // send this client-first instead of ours
  // Applied to our client-final before it is sent (to make it malformed).
  std::function<std::string(std::string)> final_transform;
};

login_options over_tls(bool strip_plus = false, bool wrong_binding = false) {
  login_options o;
  o.tls = true;
  o.strip_plus = strip_plus;
  o.wrong_binding = wrong_binding;
  return o;
}
login_options sending_first(const std::string& first) {
  login_options o;
  o.first_override = first;
  return o;
}

login_result scram_login(int port, const std::string& user, scram_client_options co,
                         const login_options& lo = {}) {
  login_result r;
  raw_client c(port);
  if (lo.tls) {
    REQUIRE(c.start_tls());
    auto cb = tls_server_end_point(c.peer_certificate());
    REQUIRE(cb);
    co.channel_binding = cb.value();
    if (lo.wrong_binding)
      co.channel_binding[0] ^= 1;
  }
  c.send(raw_client::startup(user, "postgres"));
  backend be(c);
  auto req = be.next();
  if (req.type == 'E') {
    r.server_error = error_of(req);
    return r;
  }
  REQUIRE(auth_code(req) == 10);  // AuthenticationSASL
  auto offered = mechanisms_of(req);
  if (lo.strip_plus)
    std::erase(offered, std::string(kScramSha256Plus));
  scram_client client(co);
  auto first = client.start(offered);
  if (!first) {
    r.client_error = first.error();
    return r;
  }
  r.mechanism = first->mechanism;
  const std::string first_msg = lo.first_override.empty() ? first->message : lo.first_override;
  c.send(frontend('p', first->mechanism + std::string(1, '\0') +
                           be32(static_cast<uint32_t>(first_msg.size())) + first_msg));
  auto cont = be.next();
  if (cont.type == 'E') {
    r.server_error = error_of(cont);
    return r;
  }
  REQUIRE(auth_code(cont) == 11);  // AuthenticationSASLContinue
  auto final_msg = client.on_server_first(cont.body.substr(4));
  if (!final_msg) {
    r.client_error = final_msg.error();
    return r;
  }
  c.send(frontend('p',
                  lo.final_transform ? lo.final_transform(final_msg.value()) : final_msg.value()));
  auto fin = be.next();
  if (fin.type == 'E') {
    r.server_error = error_of(fin);
    return r;
  }
  REQUIRE(auth_code(fin) == 12);  // AuthenticationSASLFinal
  auto verified = client.on_server_final(fin.body.substr(4));
  if (!verified) {
    r.client_error = verified.error();
    return r;
  }
  r.server_verified = client.verified();
  r.bound = client.channel_bound();
  auto ok = be.next();
  REQUIRE(auth_code(ok) == 0);  // AuthenticationOk, believed only after the signature
  for (auto m = be.next(); m.type != 0; m = be.next()) {
    if (m.type == 'Z') {
      r.ok = true;
      break;
    }
  }
  return r;
}

struct fixture {
  temp_dir dir{"sluice-auth"};
  test_pki pki{dir.path()};
  pg_cluster pg{[this] {
    auto o = sluice::test::ssl_on(pki);
    o.hba = {"host all bob 127.0.0.1/32 md5", "host all all 127.0.0.1/32 scram-sha-256"};
    return o;
  }()};
  std::string alice_secret, bob_secret;

  fixture() {
    pg.sql("create role alice login password 'alice-pw'");
    pg.sql("set password_encryption = 'md5'; create role bob login password 'bob-pw'");
    alice_secret = pg.sql("select rolpassword from pg_authid where rolname = 'alice'");
    bob_secret = pg.sql("select rolpassword from pg_authid where rolname = 'bob'");
  }
};

scram_client_options with_password(const std::string& pw) {
  scram_client_options o;
  o.password = pw;
  return o;
}

// Runs a real client (ours, with the password) through our server holding `secret`, and
// returns the ClientKey the server recovered: what the client leg hands the server leg.
key recover_client_key(const scram_secret& secret, const std::string& password) {
  scram_server_options so;
  so.user = "alice";
  so.secret = secret;
  scram_server server(so);
  scram_client client(with_password(password));
  auto first = client.start(server.mechanisms());
  auto s1 = server.start(first->mechanism, first->message);
  auto s2 = server.finish(client.on_server_first(s1.data).value());
  REQUIRE(s2.result == server_step::kind::success);
  REQUIRE(client.on_server_final(s2.data));
  return *server.client_key();
}

}  // namespace

TEST_CASE("PostgreSQL 15 secrets: classified and accepted by our SCRAM server", "[auth][pg]") {
  fixture f;
  CHECK(classify_secret(f.alice_secret) == secret_kind::scram_sha_256);
  CHECK(classify_secret(f.bob_secret) == secret_kind::md5);
  CHECK(f.bob_secret == md5_secret("bob-pw", "bob"));
  auto secret = parse_scram_secret(f.alice_secret);
  REQUIRE(secret);
  CHECK(format_scram_secret(secret.value()) == f.alice_secret);
  CHECK(make_scram_secret("alice-pw", secret->salt, secret->iterations) == secret.value());
  auto k = recover_client_key(secret.value(), "alice-pw");
  CHECK(sha256(k) == secret->stored_key);
}

TEST_CASE("our SCRAM client logs in to PostgreSQL 15: password, ClientKey, -PLUS over TLS",
          "[auth][pg]") {
  fixture f;
  const auto secret = parse_scram_secret(f.alice_secret).value();
  scram_client_options by_key;
  by_key.client_key = recover_client_key(secret, "alice-pw");
  by_key.secret = secret;

  SECTION("plain TCP, password") {
    auto r = scram_login(f.pg.port(), "alice", with_password("alice-pw"));
    CHECK(r.ok);
    CHECK(r.server_verified);
    CHECK(r.mechanism == "SCRAM-SHA-256");
    CHECK_FALSE(r.bound);
  }
  SECTION("plain TCP, recovered ClientKey (no password)") {
    auto r = scram_login(f.pg.port(), "alice", by_key);
    CHECK(r.ok);
    CHECK(r.server_verified);
  }
  SECTION("TLS, SCRAM-SHA-256-PLUS bound to the server certificate, password and ClientKey") {
    for (const auto& co : {with_password("alice-pw"), by_key}) {
      auto r = scram_login(f.pg.port(), "alice", co, over_tls());
      CHECK(r.ok);
      CHECK(r.server_verified);
      CHECK(r.mechanism == "SCRAM-SHA-256-PLUS");
      CHECK(r.bound);
    }
  }
  SECTION("the ClientKey of a changed password is refused before any proof is sent") {
    f.pg.sql("alter role alice password 'alice-pw-2'");
    auto r = scram_login(f.pg.port(), "alice", by_key);
    REQUIRE(r.client_error);
    CHECK(r.client_error->message == "the server's SCRAM secret differs from the stored one");
  }
}

TEST_CASE("PostgreSQL 15 and our SCRAM server refuse the same things with the same words",
          "[auth][pg]") {
  fixture f;
  const auto secret = parse_scram_secret(f.alice_secret).value();

  SECTION("wrong password") {
    auto r = scram_login(f.pg.port(), "alice", with_password("nope"));
    REQUIRE(r.server_error);
    CHECK(*r.server_error == password_failed("alice"));
  }
  SECTION("unknown user: the same error as a wrong password") {
    auto r = scram_login(f.pg.port(), "mallory", with_password("nope"));
    REQUIRE(r.server_error);
    CHECK(*r.server_error == password_failed("mallory"));
  }
  SECTION("downgrade: on TLS, a client not offered -PLUS sends y and is refused") {
    auto r =
        scram_login(f.pg.port(), "alice", with_password("alice-pw"), over_tls(/*strip_plus=*/true));
    REQUIRE(r.server_error);
    scram_server_options so;
    so.user = "alice";
    so.secret = secret;
    so.channel_binding = bytes(32, 1);
    scram_server ours(so);
    auto s = ours.start("SCRAM-SHA-256", "y,,n=,r=abcdef");
    REQUIRE(s.failed());
    CHECK(*r.server_error == s.error);
  }
  SECTION("channel binding data of another certificate") {
    auto r = scram_login(f.pg.port(), "alice", with_password("alice-pw"),
                         over_tls(false, /*wrong_binding=*/true));
    REQUIRE(r.server_error);
    CHECK(*r.server_error == auth_error{"28000", "SCRAM channel binding check failed", ""});
  }
  SECTION("malformed client-first-messages") {
    const char* rows[] = {
        "x,,n=,r=abc",
        "n",
        "nn,n=,r=abc",
        "n,a=bob,n=,r=abc",
        "n,x,n=,r=abc",
        "n,,m=ext,n=,r=abc",
        "n,,r=abc",
        "n,,n=",
        "n,,n=,r",
        "n,,n=,r=ab c",
        "n,,n=,r=abc,1=x",
        "n,,n=,r=abc,x",
        "p=tls-unique,,n=,r=abc",
    };
    for (const char* first : rows) {
      INFO(first);
      auto r = scram_login(f.pg.port(), "alice", with_password("alice-pw"), sending_first(first));
      REQUIRE(r.server_error);
      scram_server_options so;
      so.user = "alice";
      so.secret = secret;
      scram_server ours(so);
      auto s = ours.start("SCRAM-SHA-256", first);
      REQUIRE(s.failed());
      CHECK(*r.server_error == s.error);
    }
  }
}

TEST_CASE("PostgreSQL 15 and our SCRAM server refuse the same client-final-messages",
          "[auth][pg]") {
  fixture f;
  const auto secret = parse_scram_secret(f.alice_secret).value();
  using transform = std::function<std::string(std::string)>;
  auto replace = [](std::string s, const std::string& from, const std::string& to) {
    auto at = s.find(from);
    REQUIRE(at != std::string::npos);
    return s.replace(at, from.size(), to);
  };
  const std::pair<const char*, transform> rows[] = {
      {"nonce changed (a replay)", [&](std::string m) { return replace(m, ",r=", ",r=X"); }},
      {"nonce cut short", [&](std::string m) { return replace(m, ",p=", "x,p="); }},
      {"binding flag changed", [&](std::string m) { return replace(m, "c=biws", "c=eSws"); }},
      {"binding attribute not base64", [&](std::string m) { return replace(m, "c=biws", "c=!"); }},
      {"proof truncated", [](std::string m) { return m.substr(0, m.size() - 4); }},
      {"proof flipped",
       [](std::string m) {
         m[m.size() - 5] = m[m.size() - 5] == 'A' ? 'B' : 'A';
         return m;
       }},
      {"garbage after the proof", [](std::string m) { return m + ",x=1"; }},
      {"no proof", [&](std::string m) { return m.substr(0, m.find(",p=")); }},
      {"empty", [](std::string) { return std::string(); }},
  };
  for (const auto& [name, change] : rows) {
    INFO(name);
    login_options lo;
    lo.final_transform = change;
    auto theirs = scram_login(f.pg.port(), "alice", with_password("alice-pw"), lo);
    REQUIRE(theirs.server_error);

    scram_server_options so;
    so.user = "alice";
    so.secret = secret;
    scram_server ours(so);
    scram_client client(with_password("alice-pw"));
    auto first = client.start(ours.mechanisms());
    auto s1 = ours.start(first->mechanism, first->message);
    auto s2 = ours.finish(change(client.on_server_first(s1.data).value()));
    REQUIRE(s2.failed());
    CHECK(*theirs.server_error == s2.error);
  }
}

TEST_CASE("md5 against PostgreSQL 15: from the stored secret and from the password", "[auth][pg]") {
  fixture f;
  for (bool from_secret : {true, false}) {
    INFO("from_secret=" << from_secret);
    raw_client c(f.pg.port());
    c.send(raw_client::startup("bob", "postgres"));
    backend be(c);
    auto req = be.next();
    REQUIRE(auth_code(req) == 5);  // AuthenticationMD5Password
    REQUIRE(req.body.size() == 8);
    md5_salt salt{};
    std::memcpy(salt.data(), req.body.data() + 4, 4);
    auto answer = from_secret ? md5_response_from_secret(f.bob_secret, salt)
                              : md5_response_from_password("bob-pw", "bob", salt);
    c.send(frontend('p', answer + std::string(1, '\0')));
    CHECK(auth_code(be.next()) == 0);
  }
  // Our md5 server with the same secret accepts what libpq would send.
  md5_server ours("bob", f.bob_secret);
  CHECK_FALSE(ours.check(md5_response_from_password("bob-pw", "bob", ours.salt())));
}
