// auth.mode: terminate as pure logic: sluice's client leg (client_login) against the
// SCRAM/md5 clients a driver runs, and its server leg (server_login) against a database
// played by scram_server, end to end in memory; the auth query's row handling.
#include <catch2/catch.hpp>

#include "gateway/auth/md5_auth.hpp"
#include "gateway/auth/scram_client.hpp"
#include "gateway/auth/scram_server.hpp"
#include "gateway/auth_query.hpp"
#include "gateway/secret_store.hpp"
#include "gateway/session/client_login.hpp"
#include "gateway/session/server_login.hpp"

using namespace sluice;
using namespace sluice::gateway;

namespace {

struct frame {
  char type = 0;
  std::string body;
};

std::vector<frame> frames(const pg::bytes& b) {
  std::vector<frame> out;
  size_t off = 0;
  while (off < b.size()) {
    pg::message_view m;
    size_t used = 0;
    REQUIRE(pg::next_message(pg::byte_span(b).subspan(off), m, used) == pg::frame_status::ok);
    out.push_back({m.type, std::string(m.body.begin(), m.body.end())});
    off += used;
  }
  return out;
}

uint32_t code_of(const frame& f) {
  return pg::get_u32(reinterpret_cast<const uint8_t*>(f.body.data()));
}

pg::byte_span span_of(const pg::bytes& b) {
  return pg::byte_span(b).subspan(5);  // a whole frontend message's body
}

const auth::bytes kSalt{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
const std::string kSecret = auth::format_scram_secret(auth::make_scram_secret("pw", kSalt));

// A driver's SCRAM login against client_login; returns the last step.
client_login::step drive_scram(client_login& cl, const std::string& password,
                               auth::bytes binding = {}) {
  auto req = frames(cl.begin());
  REQUIRE(req.size() == 1);
  REQUIRE(code_of(req[0]) == 10);
  auto mechs = pg::parse_sasl_mechanisms(
      pg::byte_span(reinterpret_cast<const uint8_t*>(req[0].body.data()), req[0].body.size()));
  REQUIRE(mechs);
  auth::scram_client_options o;
  o.password = password;
  o.channel_binding = std::move(binding);
  auth::scram_client c(o);
  auto first = c.start(*mechs);
  REQUIRE(first);
  auto st = cl.on_message('p', span_of(encode_sasl_initial(first->mechanism, first->message)));
  if (st.result != client_login::step::kind::more)
    return st;
  auto cont = frames(st.to_client);
  REQUIRE(code_of(cont[0]) == 11);
  auto fin = c.on_server_first(cont[0].body.substr(4));
  REQUIRE(fin);
  return cl.on_message('p', span_of(encode_sasl_response(fin.value())));
}

}  // namespace

TEST_CASE("terminate client leg: SCRAM with the stored secret, ClientKey recovered",
          "[terminate]") {
  client_login cl("alice", user_secret{kSecret}, {});
  auto st = drive_scram(cl, "pw");
  REQUIRE(st.result == client_login::step::kind::done);
  REQUIRE(cl.client_key());  // the server leg test shows it logs in
  auto held = frames(cl.held_final());
  REQUIRE(held.size() == 1);
  CHECK(code_of(held[0]) == 12);  // SASLFinal, held until the server leg is in
  CHECK(frames(encode_auth_ok())[0].body == std::string(4, '\0'));
}

TEST_CASE("terminate client leg: wrong password, unknown user and expired role look alike",
          "[terminate]") {
  const std::string expected = "password authentication failed for user \"alice\"";
  client_login wrong("alice", user_secret{kSecret}, {});
  auto a = drive_scram(wrong, "nope");
  CHECK(a.result == client_login::step::kind::failed);
  CHECK(a.error.sqlstate == "28P01");
  CHECK(a.error.message == expected);

  client_login unknown("alice", std::nullopt, {});
  auto b = drive_scram(unknown, "pw");
  CHECK(b.result == client_login::step::kind::failed);
  CHECK(b.error == a.error);
  CHECK(b.log_detail == "no such user (mock exchange)");

  client_login expired("alice", user_secret{kSecret, true, true}, {});
  auto c = drive_scram(expired, "pw");
  CHECK(c.result == client_login::step::kind::failed);
  CHECK(c.error == a.error);
  CHECK(c.log_detail == "User \"alice\" has an expired password.");

  client_login nologin("alice", user_secret{kSecret, false, false}, {});
  auto d = drive_scram(nologin, "pw");
  CHECK(d.result == client_login::step::kind::failed);
  CHECK(d.error.sqlstate == "28000");
  CHECK(d.error.message == "role \"alice\" is not permitted to log in");
}

TEST_CASE("terminate client leg: SCRAM-SHA-256-PLUS offered and bound on TLS", "[terminate]") {
  const auth::bytes binding(32, 7);
  client_login cl("alice", user_secret{kSecret}, binding);
  auto st = drive_scram(cl, "pw", binding);
  CHECK(st.result == client_login::step::kind::done);
  CHECK(cl.channel_bound());
  // A client bound to another certificate (a man in the middle) is refused.
  client_login other("alice", user_secret{kSecret}, binding);
  auto bad = drive_scram(other, "pw", auth::bytes(32, 8));
  CHECK(bad.result == client_login::step::kind::failed);
}

TEST_CASE("terminate client leg: plaintext secrets become SCRAM, md5 secrets use md5",
          "[terminate]") {
  client_login plain("alice", user_secret{"pw"}, {});
  CHECK(drive_scram(plain, "pw").result == client_login::step::kind::done);

  client_login md5("bob", user_secret{auth::md5_secret("pw", "bob")}, {});
  auto req = frames(md5.begin());
  REQUIRE(code_of(req[0]) == 5);
  auth::md5_salt salt{};
  std::copy(req[0].body.begin() + 4, req[0].body.end(), salt.begin());
  CHECK(md5.used_md5());
  auto ok = md5.on_message(
      'p', span_of(encode_password_message(auth::md5_response_from_password("pw", "bob", salt))));
  CHECK(ok.result == client_login::step::kind::done);

  client_login md5_wrong("bob", user_secret{auth::md5_secret("pw", "bob")}, {});
  req = frames(md5_wrong.begin());
  std::copy(req[0].body.begin() + 4, req[0].body.end(), salt.begin());
  auto bad = md5_wrong.on_message(
      'p', span_of(encode_password_message(auth::md5_response_from_password("x", "bob", salt))));
  CHECK(bad.result == client_login::step::kind::failed);
  CHECK(bad.error.message == "password authentication failed for user \"bob\"");
}

TEST_CASE("terminate client leg: malformed and unexpected messages end in errors, never crash",
          "[terminate]") {
  for (std::string body : {std::string(), std::string("SCRAM-SHA-256"),
                           std::string("SCRAM-SHA-256\0\0\0\0\x09n,,", 22),
                           std::string("SCRAM-SHA-256\0\xff\xff\xff\xff", 18)}) {
    client_login cl("alice", user_secret{kSecret}, {});
    cl.begin();
    auto b = pg::bytes(body.begin(), body.end());
    auto st = cl.on_message('p', b);
    CHECK(st.result == client_login::step::kind::failed);
  }
  client_login cl("alice", user_secret{kSecret}, {});
  CHECK(cl.on_message('p', {}).result == client_login::step::kind::failed);  // before begin()
  cl.begin();
  CHECK(cl.on_message('Q', {}).error.sqlstate == "08P01");
}

namespace {

// The database, played by scram_server holding `secret`; runs server_login to the end.
server_login::step drive_server(server_login& sl, const std::string& secret, auth::bytes binding,
                                bool skip_final = false) {
  auth::scram_server_options so;
  so.user = "alice";
  so.secret = auth::parse_scram_secret(secret).value();
  so.channel_binding = binding;
  auth::scram_server db(so);
  auto sasl = pg::encode_sasl_mechanisms(db.mechanisms());
  auto st = sl.on_message('R', pg::byte_span(sasl).subspan(5));
  REQUIRE(st.result == server_login::step::kind::more);
  auto init = frames(st.to_server)[0].body;
  auto nul = init.find('\0');
  auto first = db.start(init.substr(0, nul), init.substr(nul + 5));
  if (first.failed())
    return st;
  std::string cont = std::string("\0\0\0\x0b", 4) + first.data;
  st = sl.on_message('R', pg::bytes(cont.begin(), cont.end()));
  REQUIRE(st.result == server_login::step::kind::more);
  auto fin = db.finish(frames(st.to_server)[0].body);
  if (fin.failed()) {
    auto e = pg::encode_error({"FATAL", fin.error.sqlstate, fin.error.message, {}, {}});
    return sl.on_message('E', pg::byte_span(e).subspan(5));
  }
  if (!skip_final) {
    std::string f = std::string("\0\0\0\x0c", 4) + fin.data;
    st = sl.on_message('R', pg::bytes(f.begin(), f.end()));
    if (st.result == server_login::step::kind::failed)
      return st;
  }
  const std::string ok(4, '\0');
  return sl.on_message('R', pg::bytes(ok.begin(), ok.end()));
}

}  // namespace

TEST_CASE("terminate server leg: logs in with the recovered ClientKey, bound on TLS",
          "[terminate]") {
  for (bool tls : {false, true}) {
    const auth::bytes client_binding = tls ? auth::bytes(32, 1) : auth::bytes{};
    const auth::bytes db_binding = tls ? auth::bytes(32, 2) : auth::bytes{};
    client_login cl("alice", user_secret{kSecret}, client_binding);
    REQUIRE(drive_scram(cl, "pw", client_binding).result == client_login::step::kind::done);
    server_credentials c;
    c.user = "alice";
    c.client_key = cl.client_key();
    c.secret = auth::parse_scram_secret(kSecret).value();
    c.channel_binding = db_binding;
    server_login sl(c);
    CHECK(drive_server(sl, kSecret, db_binding).result == server_login::step::kind::authenticated);
    CHECK(sl.channel_bound() == tls);
    CHECK(sl.mechanism() == (tls ? "SCRAM-SHA-256-PLUS" : "SCRAM-SHA-256"));
  }
}

TEST_CASE("terminate server leg: a database that cannot prove the secret is refused",
          "[terminate]") {
  server_credentials c;
  c.user = "alice";
  c.password = "pw";
  server_login skips(c);
  auto st = drive_server(skips, kSecret, {}, true);  // AuthenticationOk without SASLFinal
  CHECK(st.result == server_login::step::kind::failed);
  CHECK_FALSE(st.from_backend);
  CHECK(st.error.message.find("before proving") != std::string::npos);

  // Another secret (another password): the database refuses our proof, its words pass on.
  server_login other(c);
  const auto other_secret = auth::format_scram_secret(auth::make_scram_secret("other", kSalt));
  auto refused = drive_server(other, other_secret, {});
  CHECK(refused.result == server_login::step::kind::failed);
  CHECK(refused.from_backend);
  CHECK(refused.error.code == "28P01");
}

TEST_CASE("terminate server leg: md5, cleartext and unsupported requests", "[terminate]") {
  const std::string md5_req = std::string("\0\0\0\x05", 4) + "abcd";
  const pg::bytes md5_body(md5_req.begin(), md5_req.end());
  auth::md5_salt salt{'a', 'b', 'c', 'd'};

  server_credentials from_secret;
  from_secret.user = "bob";
  from_secret.md5_secret = auth::md5_secret("pw", "bob");
  server_login a(from_secret);
  auto st = a.on_message('R', md5_body);
  CHECK(frames(st.to_server)[0].body ==
        auth::md5_response_from_password("pw", "bob", salt) + std::string(1, '\0'));

  server_credentials scram_only;
  scram_only.user = "alice";
  scram_only.client_key = auth::key{};
  scram_only.secret = auth::parse_scram_secret(kSecret).value();
  server_login b(scram_only);
  auto md5_refused = b.on_message('R', md5_body);
  CHECK(md5_refused.result == server_login::step::kind::failed);
  CHECK(md5_refused.error.message.find("its stored secret is SCRAM-SHA-256") != std::string::npos);
  server_login b2(scram_only);
  const std::string clear("\0\0\0\x03", 4);
  CHECK(b2.on_message('R', pg::bytes(clear.begin(), clear.end())).result ==
        server_login::step::kind::failed);
  server_login b3(scram_only);
  const std::string gss("\0\0\0\x07", 4);
  CHECK(b3.on_message('R', pg::bytes(gss.begin(), gss.end())).error.code == "0A000");
  server_login b4(scram_only);
  CHECK(b4.on_message('R', {}).result == server_login::step::kind::failed);
}

TEST_CASE("auth query rows: expiry, can-login, no password", "[terminate]") {
  CHECK(parse_valid_until("1970-01-01 00:00:10+00") == 10);
  CHECK(parse_valid_until("1970-01-01 01:00:10.123456+01") == 10);
  CHECK(parse_valid_until("1970-01-01 00:00:10-00:30") == 1810);
  CHECK(parse_valid_until("infinity") == INT64_MAX);
  CHECK_FALSE(parse_valid_until("tomorrow"));
  CHECK_FALSE(parse_valid_until("1970-01-01T00:00:10"));

  using row = std::vector<std::optional<std::string>>;
  auto s = secret_from_row(row{"alice", kSecret, std::nullopt, "t"}, 100);
  REQUIRE(s);
  CHECK(s->stored == kSecret);
  CHECK_FALSE(s->expired);
  CHECK(s->can_login);
  CHECK(secret_from_row(row{"alice", kSecret, "1970-01-01 00:00:10+00", "t"}, 100)->expired);
  CHECK_FALSE(secret_from_row(row{"alice", kSecret, "2970-01-01 00:00:10+00", "t"}, 100)->expired);
  CHECK(secret_from_row(row{"alice", kSecret, "garbage", "t"}, 100)->expired);
  CHECK_FALSE(secret_from_row(row{"alice", kSecret, std::nullopt, "f"}, 100)->can_login);
  CHECK_FALSE(secret_from_row(row{"alice", std::nullopt, std::nullopt, "t"}, 100));
  CHECK(secret_from_row(row{"alice", kSecret}, 100));  // a two-column custom query
}

TEST_CASE("auth query errors name the fix", "[terminate]") {
  auto f = explain_query_error({"ERROR", "42501", "permission denied for table pg_authid", {}, {}},
                               "sluice_auth", true);
  CHECK(f.message ==
        "auth query as \"sluice_auth\" failed: 42501 permission denied for table "
        "pg_authid");
  CHECK(f.hint.find("SECURITY DEFINER function of docs/security.md") != std::string::npos);
  auto g = explain_query_error({"ERROR",
                                "42883",
                                "function sluice.user_secret(unknown) does not "
                                "exist",
                                {},
                                {}},
                               "sluice_auth", false);
  CHECK(g.hint.find("does not exist in this database") != std::string::npos);
}

TEST_CASE("auth_file entries as terminate secrets", "[terminate]") {
  const std::string text = "\"alice\" \"" + kSecret + "\"\n\"bob\" \"md5" + std::string(32, 'a') +
                           "\"\n\"carol\" \"plain pw\"\n";
  CHECK(secret_from_auth_file(text, "alice")->stored == kSecret);
  CHECK(secret_from_auth_file(text, "carol")->stored == "plain pw");
  CHECK_FALSE(secret_from_auth_file(text, "dave"));
  std::string problem;
  CHECK_FALSE(secret_from_auth_file("\"x\n", "x", &problem));
  CHECK(problem.find("line 1") != std::string::npos);
}
