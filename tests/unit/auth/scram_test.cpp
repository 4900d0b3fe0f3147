// The SCRAM-SHA-256 server and client state machines: RFC 7677's vector byte for byte,
// PostgreSQL-made secrets, our client against our server in every channel-binding
// combination, and every malformed, truncated and replayed message.
#include <catch2/catch.hpp>
#include <random>

#include "gateway/auth/scram_client.hpp"
#include "gateway/auth/scram_messages.hpp"
#include "gateway/auth/scram_server.hpp"
#include "tests/support/auth_error_maker.hpp"

using namespace sluice::auth;

namespace {

// RFC 7677 section 3 (user "user", password "pencil").
constexpr const char* kClientFirst = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
constexpr const char* kServerFirst =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
constexpr const char* kClientFinal =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
constexpr const char* kServerFinal = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";
constexpr const char* kServerNonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";

// Made once by PostgreSQL 15 (see auth_secret_test.cpp).
constexpr const char* kPgAliceSecret =
    "SCRAM-SHA-256$4096:PY36Dqeq4n82Vxu0BCrlWw==$Z67TAOkFwh1dIqtpTBct8IN55/MPwMFpKbyJ3BRtoU0=:"
    "Dk4RFx2DWKH14Iy+GkiJTFLMOylbcVQ91dp5p6PZ9IY=";
constexpr const char* kPgAlicePassword = "correct horse battery staple";

scram_secret rfc_secret() {
  static const scram_secret s =
      make_scram_secret("pencil", *base64_decode("W22ZaJ0SNY7soEsUEjb6gQ=="), 4096);
  return s;
}

scram_server rfc_server() {
  scram_server_options o;
  o.user = "user";
  o.secret = rfc_secret();
  o.server_nonce = kServerNonce;
  return scram_server(o);
}

bytes fake_cert_hash(uint8_t fill) {
  return bytes(32, fill);
}

// One whole exchange, our client against our server; the first failure wins.
struct exchange_result {
  std::optional<auth_error> server_error;  // server refused
  std::optional<auth_error> client_error;  // client refused
  bool server_ok = false, client_ok = false;
  bool bound = false;
  std::optional<key> client_key;
  std::string mechanism, client_first;
};

exchange_result run_exchange(const scram_server_options& so, const scram_client_options& co) {
  exchange_result r;
  scram_server server(so);
  scram_client client(co);
  auto first = client.start(server.mechanisms());
  if (!first) {
    r.client_error = first.error();
    return r;
  }
  r.mechanism = first->mechanism;
  r.client_first = first->message;
  auto s1 = server.start(first->mechanism, first->message);
  if (s1.failed()) {
    r.server_error = s1.error;
    return r;
  }
  auto final_msg = client.on_server_first(s1.data);
  if (!final_msg) {
    r.client_error = final_msg.error();
    return r;
  }
  auto s2 = server.finish(final_msg.value());
  if (s2.failed()) {
    r.server_error = s2.error;
    return r;
  }
  r.server_ok = server.succeeded();
  r.client_key = server.client_key();
  r.bound = server.channel_bound();
  auto done = client.on_server_final(s2.data);
  if (!done)
    r.client_error = done.error();
  r.client_ok = client.verified();
  CHECK(client.channel_bound() == server.channel_bound());
  return r;
}

}  // namespace

TEST_CASE("scram server: RFC 7677's exchange byte for byte", "[scram]") {
  auto server = rfc_server();
  CHECK(server.mechanisms() == std::vector<std::string>{"SCRAM-SHA-256"});
  auto s1 = server.start("SCRAM-SHA-256", kClientFirst);
  REQUIRE(s1.result == server_step::kind::challenge);
  CHECK(s1.data == kServerFirst);
  auto s2 = server.finish(kClientFinal);
  REQUIRE(s2.result == server_step::kind::success);
  CHECK(s2.data == kServerFinal);
  CHECK(server.succeeded());
  CHECK_FALSE(server.channel_bound());
  // The recovered ClientKey is the one the password gives.
  auto salt = base64_decode("W22ZaJ0SNY7soEsUEjb6gQ==");
  REQUIRE(server.client_key());
  CHECK(*server.client_key() == client_key_from(salted_password("pencil", *salt, 4096)));
  // Nothing more is accepted.
  CHECK(server.finish(kClientFinal).failed());
}

TEST_CASE("scram client: RFC 7677's exchange byte for byte, with password and ClientKey",
          "[scram]") {
  auto salt = base64_decode("W22ZaJ0SNY7soEsUEjb6gQ==");
  scram_client_options by_password;
  by_password.user = "user";
  by_password.password = "pencil";
  by_password.client_nonce = "rOprNGfwEbeRWgbNEkqO";
  scram_client_options by_key = by_password;
  by_key.password.clear();
  by_key.client_key = client_key_from(salted_password("pencil", *salt, 4096));
  by_key.secret = rfc_secret();
  for (const auto& opts : {by_password, by_key}) {
    scram_client c(opts);
    auto first = c.start({"SCRAM-SHA-256"});
    REQUIRE(first);
    CHECK(first->mechanism == "SCRAM-SHA-256");
    CHECK(first->message == kClientFirst);
    auto final_msg = c.on_server_first(kServerFirst);
    REQUIRE(final_msg);
    CHECK(final_msg.value() == kClientFinal);
    CHECK_FALSE(c.verified());
    auto done = c.on_server_final(kServerFinal);
    REQUIRE(done);
    CHECK(c.verified());
  }
}

TEST_CASE("scram: a PostgreSQL-made secret, by password and by recovered ClientKey", "[scram]") {
  auto secret = parse_scram_secret(kPgAliceSecret);
  REQUIRE(secret);
  scram_server_options so;
  so.user = "alice";
  so.secret = secret.value();
  scram_client_options co;
  co.password = kPgAlicePassword;
  auto r = run_exchange(so, co);
  REQUIRE(r.server_ok);
  REQUIRE(r.client_ok);
  REQUIRE(r.client_key);
  CHECK(sha256(*r.client_key) == secret->stored_key);

  // The recovered key logs in again (as the server leg would) without the password.
  scram_client_options by_key;
  by_key.client_key = r.client_key;
  by_key.secret = secret.value();
  auto again = run_exchange(so, by_key);
  CHECK(again.server_ok);
  CHECK(again.client_ok);

  co.password = "correct horse battery stapler";
  auto wrong = run_exchange(so, co);
  REQUIRE(wrong.server_error);
  CHECK(wrong.server_error->sqlstate == "28P01");
  CHECK(wrong.server_error->message == "password authentication failed for user \"alice\"");
}

TEST_CASE("scram: our client against our server, every channel-binding combination", "[scram]") {
  const auto cert = fake_cert_hash(0xab);
  struct row {
    const char* name;
    bool server_tls;                          // server offers -PLUS (has binding data)
    bool client_tls;                          // client has binding data of the server certificate
    bool require;                             // client requires binding
    std::vector<std::string> offer_override;  // a relay that strips -PLUS
    const char* mechanism;                    // expected choice ("" if none)
    char flag;
    const char* server_sqlstate;  // "" = success
    const char* client_message;   // "" = no client error
  };
  const row rows[] = {
      {"plaintext both", false, false, false, {}, "SCRAM-SHA-256", 'n', "", ""},
      {"TLS both, PLUS", true, true, false, {}, "SCRAM-SHA-256-PLUS", 'p', "", ""},
      {"TLS both, PLUS required", true, true, true, {}, "SCRAM-SHA-256-PLUS", 'p', "", ""},
      {"client TLS, server offers no PLUS", false, true, false, {}, "SCRAM-SHA-256", 'y', "", ""},
      {"client plaintext, server offers PLUS",
       true,
       false,
       false,
       {},
       "SCRAM-SHA-256",
       'n',
       "",
       ""},
      {"downgrade: PLUS stripped by a relay",
       true,
       true,
       false,
       {"SCRAM-SHA-256"},
       "SCRAM-SHA-256",
       'y',
       "28000",
       ""},
      {"binding required, none offered",
       false,
       true,
       true,
       {},
       "",
       0,
       "",
       "channel binding is required, but the server did not offer SCRAM-SHA-256-PLUS"},
      {"binding required, plaintext",
       true,
       false,
       true,
       {},
       "",
       0,
       "",
       "channel binding is required, but the server did not offer SCRAM-SHA-256-PLUS"},
  };
  for (const auto& r : rows) {
    INFO(r.name);
    scram_server_options so;
    so.user = "alice";
    so.secret = make_scram_secret("pw", as_bytes("0123456789abcdef"));
    if (r.server_tls)
      so.channel_binding = cert;
    scram_client_options co;
    co.password = "pw";
    co.require_channel_binding = r.require;
    if (r.client_tls)
      co.channel_binding = cert;

    scram_server server(so);
    scram_client client(co);
    auto offered = r.offer_override.empty() ? server.mechanisms() : r.offer_override;
    auto first = client.start(offered);
    if (*r.client_message) {
      REQUIRE_FALSE(first);
      CHECK(first.error().message == r.client_message);
      continue;
    }
    REQUIRE(first);
    CHECK(first->mechanism == r.mechanism);
    CHECK(first->message[0] == r.flag);
    auto s1 = server.start(first->mechanism, first->message);
    if (std::string(r.server_sqlstate) == "28000") {
      REQUIRE(s1.failed());
      CHECK(s1.error.sqlstate == "28000");
      CHECK(s1.error.message == "SCRAM channel binding negotiation error");
      CHECK(s1.error.detail ==
            "The client supports SCRAM channel binding but thinks the server does not.  "
            "However, this server does support channel binding.");
      continue;
    }
    REQUIRE_FALSE(s1.failed());
    auto f = client.on_server_first(s1.data);
    REQUIRE(f);
    auto s2 = server.finish(f.value());
    REQUIRE(s2.result == server_step::kind::success);
    CHECK(server.channel_bound() == (r.flag == 'p'));
    REQUIRE(client.on_server_final(s2.data));
    CHECK(client.verified());
  }
}

TEST_CASE("scram: channel-binding data mismatch is refused", "[scram]") {
  scram_server_options so;
  so.user = "alice";
  so.secret = make_scram_secret("pw", as_bytes("0123456789abcdef"));
  so.channel_binding = fake_cert_hash(0xab);
  scram_client_options co;
  co.password = "pw";
  co.channel_binding = fake_cert_hash(0xac);  // a man in the middle's certificate
  auto r = run_exchange(so, co);
  REQUIRE(r.server_error);
  CHECK(r.server_error->sqlstate == "28000");
  CHECK(r.server_error->message == "SCRAM channel binding check failed");
  CHECK_FALSE(r.server_ok);
}

TEST_CASE("scram server: gs2 flags against the chosen mechanism, PostgreSQL's errors", "[scram]") {
  const auto cert = fake_cert_hash(1);
  struct row {
    bool tls;
    const char* mechanism;
    const char* first;
    const char* sqlstate;
    const char* message;
    const char* detail;
  };
  const row rows[] = {
      {false, "SCRAM-SHA-256-PLUS", "p=tls-server-end-point,,n=,r=abc", "08P01",
       "client selected an invalid SASL authentication mechanism", ""},
      {true, "SCRAM-SHA-1", "n,,n=,r=abc", "08P01",
       "client selected an invalid SASL authentication mechanism", ""},
      {true, "SCRAM-SHA-256-PLUS", "n,,n=,r=abc", "08P01", "malformed SCRAM message",
       "The client selected SCRAM-SHA-256-PLUS, but the SCRAM message does not include "
       "channel binding data."},
      {true, "SCRAM-SHA-256-PLUS", "y,,n=,r=abc", "08P01", "malformed SCRAM message",
       "The client selected SCRAM-SHA-256-PLUS, but the SCRAM message does not include "
       "channel binding data."},
      {true, "SCRAM-SHA-256", "p=tls-server-end-point,,n=,r=abc", "08P01",
       "malformed SCRAM message",
       "The client selected SCRAM-SHA-256 without channel binding, but the SCRAM message "
       "includes channel binding data."},
      {false, "SCRAM-SHA-256", "p=tls-server-end-point,,n=,r=abc", "08P01",
       "malformed SCRAM message",
       "The client selected SCRAM-SHA-256 without channel binding, but the SCRAM message "
       "includes channel binding data."},
      {true, "SCRAM-SHA-256-PLUS", "p=tls-unique,,n=,r=abc", "08P01",
       "unsupported SCRAM channel-binding type \"tls-unique\"", ""},
      {true, "SCRAM-SHA-256", "y,,n=,r=abc", "28000", "SCRAM channel binding negotiation error",
       "The client supports SCRAM channel binding but thinks the server does not.  However, "
       "this server does support channel binding."},
  };
  for (const auto& r : rows) {
    INFO(r.mechanism << " " << r.first << " tls=" << r.tls);
    scram_server_options so;
    so.user = "u";
    so.secret = rfc_secret();
    if (r.tls)
      so.channel_binding = cert;
    scram_server server(so);
    auto s = server.start(r.mechanism, r.first);
    REQUIRE(s.failed());
    CHECK(s.error.sqlstate == r.sqlstate);
    CHECK(s.error.message == r.message);
    CHECK(s.error.detail == r.detail);
    CHECK(server.finish(kClientFinal).failed());  // a failed exchange stays failed
  }
  // Without TLS, `y` is fine: the client is right that we cannot bind.
  scram_server_options so;
  so.user = "u";
  so.secret = rfc_secret();
  scram_server server(so);
  CHECK_FALSE(server.start("SCRAM-SHA-256", "y,,n=,r=abc").failed());
}

TEST_CASE("scram parser: malformed client-first-message, PostgreSQL's wording", "[scram]") {
  struct row {
    std::string in;
    const char* sqlstate;
    const char* message;
    const char* detail;
  };
  const row rows[] = {
      {"", "08P01", "malformed SCRAM message", "The message is empty."},
      {std::string("n,,n=,r=a\0b", 11), "08P01", "malformed SCRAM message",
       "Message length does not match input length."},
      {"x,,n=,r=abc", "08P01", "malformed SCRAM message",
       "Unexpected channel-binding flag \"'x'\"."},
      {"\x01,,n=,r=abc", "08P01", "malformed SCRAM message",
       "Unexpected channel-binding flag \"0x01\"."},
      {"n", "08P01", "malformed SCRAM message", "Comma expected, but found character \"0x00\"."},
      {"nn,n=,r=abc", "08P01", "malformed SCRAM message",
       "Comma expected, but found character \"'n'\"."},
      {"p", "08P01", "malformed SCRAM message", "Expected character \"=\" for attribute \"p\"."},
      {"n,a=bob,n=,r=abc", "0A000", "client uses authorization identity, but it is not supported",
       ""},
      {"n,x,n=,r=abc", "08P01", "malformed SCRAM message",
       "Unexpected attribute \"'x'\" in client-first-message."},
      {"n,,m=ext,n=,r=abc", "0A000", "client requires an unsupported SCRAM extension", ""},
      {"n,,r=abc", "08P01", "malformed SCRAM message",
       "Expected attribute \"n\" but found \"'r'\"."},
      {"n,,n=", "08P01", "malformed SCRAM message", "Expected attribute \"r\" but found \"0x00\"."},
      {"n,,n=,r", "08P01", "malformed SCRAM message",
       "Expected character \"=\" for attribute \"r\"."},
      {"n,,n=,r=", "08P01", "non-printable characters in SCRAM nonce", ""},
      {"n,,n=,r=ab\x7f", "08P01", "non-printable characters in SCRAM nonce", ""},
      {"n,,n=,r=ab c", "08P01", "non-printable characters in SCRAM nonce", ""},
      {"n,,n=,r=abc,1=x", "08P01", "malformed SCRAM message",
       "Attribute expected, but found invalid character \"'1'\"."},
      {"n,,n=,r=abc,x", "08P01", "malformed SCRAM message",
       "Expected character \"=\" for attribute \"x\"."},
  };
  for (const auto& r : rows) {
    INFO(r.in);
    auto m = parse_client_first(r.in);
    REQUIRE_FALSE(m);
    CHECK(m.error().sqlstate == r.sqlstate);
    CHECK(m.error().message == r.message);
    CHECK(m.error().detail == r.detail);
  }
  // Extensions after the nonce are ignored; the bare message keeps them (AuthMessage).
  auto ok = parse_client_first("n,,n=bob,r=abc,x=1,y=2");
  REQUIRE(ok);
  CHECK(ok->user == "bob");
  CHECK(ok->nonce == "abc");
  CHECK(ok->gs2_header == "n,,");
  CHECK(ok->bare == "n=bob,r=abc,x=1,y=2");
  auto plus = parse_client_first("p=tls-server-end-point,,n=,r=abc");
  REQUIRE(plus);
  CHECK(plus->cbind_flag == 'p');
  CHECK(plus->gs2_header == "p=tls-server-end-point,,");
}

TEST_CASE("scram parser: malformed client-final-message", "[scram]") {
  const std::string proof = "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
  struct row {
    std::string in;
    const char* detail;
  };
  const row rows[] = {
      {"", "The message is empty."},
      {"r=abc," + proof, "Expected attribute \"c\" but found \"'r'\"."},
      {"c=biws," + proof, "Expected attribute \"r\" but found \"'p'\"."},
      {"c=biws,r=abc", "Attribute expected, but found end of string."},
      {"c=biws,r=abc,x=1", "Attribute expected, but found end of string."},
      {"c=biws,r=abc,p=", "Malformed proof in client-final-message."},
      {"c=biws,r=abc,p=AAAA", "Malformed proof in client-final-message."},
      {"c=biws,r=abc,p=!!!!", "Malformed proof in client-final-message."},
      {"c=biws,r=abc," + proof + ",x=1", "Garbage found at the end of client-final-message."},
      {"c=biws,r=abc," + proof + ",", "Garbage found at the end of client-final-message."},
      {"c=biws,r=abc,=x," + proof, "Attribute expected, but found invalid character \"'='\"."},
  };
  for (const auto& r : rows) {
    INFO(r.in);
    auto m = parse_client_final(r.in);
    REQUIRE_FALSE(m);
    CHECK(m.error().sqlstate == "08P01");
    CHECK(m.error().message == "malformed SCRAM message");
    CHECK(m.error().detail == r.detail);
  }
  auto ok = parse_client_final("c=biws,r=abc,x=1," + proof);
  REQUIRE(ok);
  CHECK(ok->without_proof == "c=biws,r=abc,x=1");
  CHECK(ok->proof.size() == 32);
}

TEST_CASE("scram server: every truncation of each client message is rejected cleanly", "[scram]") {
  // Messages are whole (PostgreSQL frames them), so partial input is not fed piecewise;
  // instead each prefix is a complete, shorter message, which must never log anyone in.
  const std::string first = kClientFirst, fin = kClientFinal;
  for (size_t n = 0; n < first.size(); ++n) {
    INFO("client-first prefix " << n);
    auto server = rfc_server();
    auto s1 = server.start("SCRAM-SHA-256", first.substr(0, n));
    if (s1.failed()) {
      CHECK(s1.error.sqlstate == "08P01");
      continue;
    }
    // A shorter nonce parses; the real client-final then no longer matches it.
    auto s2 = server.finish(fin);
    REQUIRE(s2.failed());
    CHECK(s2.error.message == "invalid SCRAM response");
    CHECK(s2.error.detail == "Nonce does not match.");
  }
  for (size_t n = 0; n < fin.size(); ++n) {
    INFO("client-final prefix " << n);
    auto server = rfc_server();
    REQUIRE_FALSE(server.start("SCRAM-SHA-256", first).failed());
    auto s2 = server.finish(fin.substr(0, n));
    REQUIRE(s2.failed());
    CHECK(s2.error.sqlstate == "08P01");
    CHECK_FALSE(server.succeeded());
    CHECK_FALSE(server.client_key());
  }
  // And every single-byte corruption of the proof part fails too.
  const auto proof_at = fin.find(",p=") + 3;
  for (size_t i = proof_at; i < fin.size(); ++i) {
    auto bad = fin;
    bad[i] = bad[i] == 'A' ? 'B' : 'A';
    auto server = rfc_server();
    server.start("SCRAM-SHA-256", first);
    CHECK(server.finish(bad).failed());
  }
}

TEST_CASE("scram client: every truncation of each server message is rejected cleanly", "[scram]") {
  const std::string sfirst = kServerFirst, sfinal = kServerFinal;
  auto make_client = [] {
    scram_client_options o;
    o.user = "user";
    o.password = "pencil";
    o.client_nonce = "rOprNGfwEbeRWgbNEkqO";
    scram_client c(o);
    c.start({"SCRAM-SHA-256"});
    return c;
  };
  for (size_t n = 0; n < sfirst.size(); ++n) {
    INFO("server-first prefix " << n);
    auto c = make_client();
    auto f = c.on_server_first(sfirst.substr(0, n));
    if (!f)
      continue;
    // A shorter nonce, salt or iteration count parses; the proof it yields is then not the
    // one the real server accepts.
    auto server = rfc_server();
    server.start("SCRAM-SHA-256", kClientFirst);
    CHECK(server.finish(f.value()).failed());
  }
  for (size_t n = 0; n < sfinal.size(); ++n) {
    INFO("server-final prefix " << n);
    auto c = make_client();
    REQUIRE(c.on_server_first(sfirst));
    CHECK_FALSE(c.on_server_final(sfinal.substr(0, n)));
    CHECK_FALSE(c.verified());
  }
}

TEST_CASE("scram client: a server that cannot prove the secret is refused", "[scram]") {
  auto make_client = [](scram_client_options o) {
    o.user = "user";
    o.client_nonce = "rOprNGfwEbeRWgbNEkqO";
    scram_client c(o);
    c.start({"SCRAM-SHA-256"});
    return c;
  };
  scram_client_options o;
  o.password = "pencil";
  {
    auto c = make_client(o);
    REQUIRE(c.on_server_first(kServerFirst));
    auto bad = c.on_server_final("v=" + base64_encode(bytes(32, 7)));
    REQUIRE_FALSE(bad);
    CHECK(bad.error().message == "incorrect server signature");
    CHECK_FALSE(c.verified());
    CHECK_FALSE(c.on_server_final(kServerFinal));  // no second try
  }
  {
    auto c = make_client(o);
    REQUIRE(c.on_server_first(kServerFirst));
    auto e = c.on_server_final("e=invalid-proof");
    REQUIRE_FALSE(e);
    CHECK(e.error().message == "the server refused the SCRAM exchange");
    CHECK_THAT(e.error().detail, Catch::Contains("invalid-proof"));
  }
  {
    // A server nonce that does not extend ours (a replayed server-first).
    auto c = make_client(o);
    auto f = c.on_server_first("r=someoneElsesNonce123,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
    REQUIRE_FALSE(f);
    CHECK(f.error().detail == "Nonce does not match.");
    auto c2 = make_client(o);
    CHECK_FALSE(c2.on_server_first("r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"));
  }
  {
    // With a recovered ClientKey, a server with another salt has another secret.
    scram_client_options k;
    k.client_key = key{};
    k.secret = rfc_secret();
    auto c = make_client(k);
    auto f = c.on_server_first(
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=AAAAAAAAAAAAAAAAAAAAAA==,i=4096");
    REQUIRE_FALSE(f);
    CHECK(f.error().message == "the server's SCRAM secret differs from the stored one");
  }
  {
    // A server asking for more PBKDF2 rounds than sluice computes is refused before any
    // are run (the cap is the exchange's only CPU cost a server controls).
    auto c = make_client(o);
    auto f = c.on_server_first("r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=2147483647");
    REQUIRE_FALSE(f);
    CHECK(f.error().message == "the server asked for 2147483647 SCRAM iterations");
    CHECK_THAT(f.error().detail, Catch::Contains("at most 1000000"));
    auto just_over = make_client(o);
    CHECK_FALSE(
        just_over.on_server_first("r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=1000001"));
  }
  for (const char* bad : {"r=rOprNGfwEbeRWgbNEkqOx,s=!!!!,i=4096",
                          "r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0",
                          "r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=-1",
                          "r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=99999999999",
                          "r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==",
                          "m=x,r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=1"}) {
    INFO(bad);
    auto c = make_client(o);
    CHECK_FALSE(c.on_server_first(bad));
  }
}

TEST_CASE("scram server: a replayed client-final-message is refused (nonce mismatch)", "[scram]") {
  scram_server_options so;
  so.user = "alice";
  so.secret = make_scram_secret("pw", as_bytes("0123456789abcdef"));
  scram_client_options co;
  co.password = "pw";
  co.client_nonce = "fixedClientNonce";
  // A recorded successful exchange...
  scram_server first_server(so);
  scram_client client(co);
  auto cf = client.start(first_server.mechanisms());
  auto s1 = first_server.start(cf->mechanism, cf->message);
  auto recorded_final = client.on_server_first(s1.data).value();
  REQUIRE(first_server.finish(recorded_final).result == server_step::kind::success);
  // ...replayed against a new exchange: same client-first, a fresh server nonce.
  scram_server replay(so);
  REQUIRE_FALSE(replay.start(cf->mechanism, cf->message).failed());
  auto s2 = replay.finish(recorded_final);
  REQUIRE(s2.failed());
  CHECK(s2.error.sqlstate == "08P01");
  CHECK(s2.error.message == "invalid SCRAM response");
  CHECK(s2.error.detail == "Nonce does not match.");
  // Steps out of order are refused too.
  scram_server early(so);
  CHECK(early.finish(recorded_final).failed());
}

TEST_CASE("scram server: an unknown user gets a mock exchange, failing like a wrong password",
          "[scram]") {
  const bytes mock_key(32, 0x5a);
  scram_server_options known;
  known.user = "alice";
  known.secret = make_scram_secret("pw", random_bytes(16));
  known.mock_key = mock_key;
  scram_server_options unknown = known;
  unknown.secret.reset();

  scram_client_options wrong_pw;
  wrong_pw.password = "not-pw";
  scram_client_options right_pw;
  right_pw.password = "pw";

  auto a = run_exchange(known, wrong_pw);
  auto b = run_exchange(unknown, wrong_pw);
  auto c = run_exchange(unknown, right_pw);
  REQUIRE(a.server_error);
  REQUIRE(b.server_error);
  REQUIRE(c.server_error);
  CHECK(*a.server_error == *b.server_error);
  CHECK(*b.server_error == *c.server_error);
  CHECK(a.server_error->sqlstate == "28P01");
  CHECK(a.server_error->message == "password authentication failed for user \"alice\"");
  CHECK(a.server_error->detail.empty());

  // The mock salt is stable per user name (a prober sees no change between attempts),
  // differs between names, and has the real salts' length and iteration count.
  auto server_first_of = [](const scram_server_options& so) {
    scram_server s(so);
    return parse_server_first(s.start("SCRAM-SHA-256", "n,,n=,r=abc").data).value();
  };
  auto m1 = server_first_of(unknown);
  auto m2 = server_first_of(unknown);
  auto real = server_first_of(known);
  CHECK(m1.salt == m2.salt);
  CHECK(m1.salt == mock_salt(mock_key, "alice"));
  CHECK(m1.salt.size() == real.salt.size());
  CHECK(m1.iterations == real.iterations);
  unknown.user = "bob";
  CHECK(server_first_of(unknown).salt != m1.salt);
  CHECK(mock_salt(bytes(32, 0x5b), "alice") != mock_salt(mock_key, "alice"));
}

TEST_CASE("scram: plaintext stored password becomes a SCRAM secret", "[scram]") {
  scram_server_options so;
  so.user = "carol";
  so.secret = make_scram_secret(prepare_password("s3cret").value());
  CHECK(so.secret->iterations == 4096);
  CHECK(so.secret->salt.size() == 16);
  CHECK(make_scram_secret("s3cret").salt != so.secret->salt);  // fresh salt each time
  scram_client_options co;
  co.password = "s3cret";
  auto r = run_exchange(so, co);
  CHECK(r.server_ok);
  CHECK(r.client_ok);
}

TEST_CASE("scram parsers and state machines: random mutations never crash or log in", "[scram]") {
  // A deterministic stand-in for the fuzz target: byte flips, insertions and deletions of
  // valid messages, fed to every parser and to both state machines.
  std::mt19937 rng(18);
  const std::string seeds[] = {kClientFirst, kServerFirst, kClientFinal, kServerFinal,
                               "p=tls-server-end-point,,n=,r=abc"};
  const char alphabet[] = "=,nrpcsivemya0+/\x00\xff";
  const auto original_proof = parse_client_final(kClientFinal)->proof;
  const auto rfc_client_key = client_key_from(salted_password("pencil", rfc_secret().salt, 4096));
  for (int i = 0; i < 20000; ++i) {
    std::string m = seeds[i % 5];
    for (int edits = 1 + static_cast<int>(rng() % 3); edits > 0; --edits) {
      const size_t at = m.empty() ? 0 : rng() % m.size();
      const char c = alphabet[rng() % (sizeof alphabet - 1)];
      switch (rng() % 3) {
        case 0:
          if (!m.empty())
            m[at] = c;
          break;
        case 1:
          m.insert(m.begin() + static_cast<long>(at), c);
          break;
        default:
          if (!m.empty())
            m.erase(at, 1);
      }
    }
    INFO(m);
    (void)parse_client_first(m);
    (void)parse_server_first(m);
    (void)parse_server_final(m);
    auto f = parse_client_final(m);
    (void)parse_scram_secret(m);

    auto server = rfc_server();
    if (i % 5 == 2) {
      REQUIRE_FALSE(server.start("SCRAM-SHA-256", kClientFirst).failed());
      auto s = server.finish(m);
      if (!s.failed()) {  // only a spelling of the same proof (base64 padding bits) passes
        REQUIRE(f);
        CHECK(f->proof == original_proof);
      }
    } else {
      (void)server.start(i % 2 ? "SCRAM-SHA-256" : "SCRAM-SHA-256-PLUS", m);
    }
    scram_client_options o;  // by ClientKey: no PBKDF2 per round
    o.client_key = rfc_client_key;
    o.secret = rfc_secret();
    o.client_nonce = "rOprNGfwEbeRWgbNEkqO";
    scram_client client(o);
    (void)client.start({"SCRAM-SHA-256"});
    if (client.on_server_first(i % 5 == 1 ? m : std::string(kServerFirst)) &&
        client.on_server_final(m)) {  // only the true signature, however spelled, passes
      CHECK(parse_server_final(m)->signature == parse_server_final(kServerFinal)->signature);
    }
  }
}
