// routes[].pool, the pure parts: which warm backend may serve which startup parameters
// (and the SQL that makes the difference), what the relay learns from both byte streams
// (split at every byte), when a backend may be kept, and the reply to sluice's own query.
#include <catch2/catch.hpp>

#include "gateway/pool/params.hpp"
#include "gateway/pool/query_reply.hpp"
#include "gateway/pool/reuse_plan.hpp"
#include "gateway/pool/session_watch.hpp"

using namespace sluice::gateway::pool;
using sluice::pg::bytes;

namespace {

bytes msg(char type, const std::string& body) {
  bytes out{static_cast<uint8_t>(type)};
  sluice::pg::put_u32(out, static_cast<uint32_t>(4 + body.size()));
  out.insert(out.end(), body.begin(), body.end());
  return out;
}
bytes cat(std::initializer_list<bytes> parts) {
  bytes out;
  for (const auto& p : parts)
    out.insert(out.end(), p.begin(), p.end());
  return out;
}
bytes param(const std::string& n, const std::string& v) {
  return msg('S', n + std::string(1, '\0') + v + std::string(1, '\0'));
}
bytes ready(char s) {
  return msg('Z', std::string(1, s));
}
const bytes kTerminate = msg('X', "");

// Feeds `stream` in chunks of `size` bytes.
template <class Feed>
void in_chunks(const bytes& stream, size_t size, Feed feed) {
  for (size_t off = 0; off < stream.size(); off += size)
    feed(sluice::pg::byte_span(stream).subspan(off, std::min(size, stream.size() - off)));
}

}  // namespace

TEST_CASE("pool: plan_reuse sets tracked parameters and refuses the rest", "[pool]") {
  struct row {
    param_list origin, wanted;
    bool reusable;
    std::string sql_or_why;
  };
  const param_list base = {{"user", "alice"}, {"database", "app"}, {"application_name", "psql"}};
  const std::vector<row> rows = {
      {base, base, true, ""},
      // user and database are the pool's key, not compared here.
      {base, {{"user", "bob"}, {"database", "x"}, {"application_name", "psql"}}, true, ""},
      {base,
       {{"user", "alice"}, {"application_name", "pgbench"}},
       true,
       "SELECT pg_catalog.set_config('application_name', 'pgbench', false)"},
      // Names compare like PostgreSQL's (case-insensitively); values are quoted.
      {base,
       {{"APPLICATION_NAME", "psql"}, {"datestyle", "ISO, DMY"}, {"search_path", "\"$user\", o'k"}},
       true,
       "SELECT pg_catalog.set_config('datestyle', 'ISO, DMY', false), "
       "pg_catalog.set_config('search_path', '\"$user\", o''k', false)"},
      // After the reset a backend falls back to its own startup value, not the default.
      {base,
       {{"user", "alice"}},
       false,
       "startup parameter application_name is not given by the client"},
      {{{"options", "-c work_mem=64MB"}},
       {},
       false,
       "startup parameter options is not given by the client"},
      {{}, {{"options", "-c work_mem=64MB"}}, false, "startup parameter options differs"},
      {{{"replication", "database"}},
       {{"replication", "true"}},
       false,
       "startup parameter replication differs"},
      {{{"options", "-c a=1"}}, {{"options", "-c a=1"}}, true, ""},
  };
  for (const auto& r : rows) {
    auto p = plan_reuse(r.origin, r.wanted);
    INFO(r.sql_or_why);
    CHECK(p.reusable == r.reusable);
    CHECK((r.reusable ? p.sql : p.why) == r.sql_or_why);
  }
  CHECK(quote_literal("a'b\\c") == "'a''b\\c'");
  CHECK(is_tracked("TimeZone"));
  CHECK(is_tracked("client_encoding"));
  CHECK_FALSE(is_tracked("options"));
}

TEST_CASE("pool: params encode and parse ParameterStatus", "[pool]") {
  param_list l;
  set_param(l, "TimeZone", "UTC");
  set_param(l, "timezone", "Europe/Paris");  // replaces, keeps the first spelling
  set_param(l, "DateStyle", "ISO, MDY");
  REQUIRE(l.size() == 2);
  CHECK(l[0] == std::pair<std::string, std::string>{"TimeZone", "Europe/Paris"});
  CHECK(encode_parameter_status(l) ==
        cat({param("TimeZone", "Europe/Paris"), param("DateStyle", "ISO, MDY")}));
  std::string n, v;
  CHECK(parse_parameter_status(sluice::pg::byte_span(param("a", "")).subspan(5), n, v));
  CHECK(n == "a");
  CHECK(v.empty());
  for (const std::string& body : {std::string("a"), std::string("\0b\0", 3), std::string("a\0b", 3),
                                 std::string("a\0b\0c\0", 6)}) {
    bytes b(body.begin(), body.end());
    CHECK_FALSE(parse_parameter_status(b, n, v));
  }
  CHECK(encode_query("select 1") == msg('Q', std::string("select 1\0", 9)));
  CHECK(encode_ready_for_query('I') == ready('I'));
}

TEST_CASE("pool: backend_watch follows readies, COPY and ParameterStatus at every split",
          "[pool]") {
  // Login tail, a query's answer, a SET that reports, a COPY OUT, a transaction begun.
  const bytes stream =
      cat({param("application_name", "psql"), msg('K', std::string(8, 'k')), ready('I'),
           msg('T', std::string(20, 't')), msg('D', "row"), msg('C', std::string("SELECT 1\0", 9)),
           ready('I'), param("application_name", "other"), msg('C', std::string("SET\0", 4)),
           ready('I'), msg('H', std::string(3, '\0')), msg('d', "1\n"), msg('c', ""),
           msg('C', std::string("COPY 1\0", 7)), ready('I'), msg('C', std::string("BEGIN\0", 6)),
           ready('T')});
  for (size_t size = 1; size <= stream.size(); ++size) {
    backend_watch w;
    in_chunks(stream, size, [&](sluice::pg::byte_span c) { w.feed(c); });
    INFO("chunk " << size);
    CHECK(w.at_boundary());
    CHECK_FALSE(w.broken());
    CHECK(w.ready_count() == 5);
    CHECK(w.ready_status() == 'T');
    CHECK_FALSE(w.in_copy());
    REQUIRE(w.params().size() == 1);
    CHECK(w.params()[0].second == "other");
  }
  backend_watch copying;
  copying.feed(cat({msg('G', std::string(3, '\0'))}));
  CHECK(copying.in_copy());
  backend_watch half;
  half.feed(bytes(stream.begin(), stream.begin() + 7));
  CHECK_FALSE(half.at_boundary());
  backend_watch bad;
  bad.feed(bytes{'Z', 0, 0, 0, 3});
  CHECK(bad.broken());
  backend_watch bad_ready;
  bad_ready.feed(msg('Z', "II"));
  CHECK(bad_ready.broken());
}

TEST_CASE("pool: client_watch counts sync points and stops at a Terminate at every split",
          "[pool]") {
  // Simple query, extended protocol (Parse/Bind/Execute/Sync), a Flush, a FunctionCall,
  // then a Terminate; a Query whose text holds an 'X' must not look like one.
  const bytes before =
      cat({msg('Q', std::string("select 'X'\0", 11)), msg('P', std::string(6, 'X')),
           msg('B', std::string(4, '\0')), msg('E', std::string(5, '\0')), msg('S', ""),
           msg('H', ""), msg('F', std::string(8, '\0'))});
  const bytes stream = cat({before, kTerminate});
  for (size_t size = 1; size <= stream.size(); ++size) {
    client_watch w;
    size_t passed = 0;
    in_chunks(stream, size, [&](sluice::pg::byte_span c) { passed += w.feed(c); });
    INFO("chunk " << size);
    CHECK(passed == before.size());
    CHECK(w.terminated());
    CHECK(w.at_boundary());
    CHECK(w.sync_points() == 3);
  }
  client_watch mid;
  CHECK(mid.feed(bytes(before.begin(), before.begin() + 3)) == 3);
  CHECK_FALSE(mid.at_boundary());
}

TEST_CASE("pool: why_not_keep decides from the session's end state", "[pool]") {
  const bytes query = msg('Q', std::string("select 1\0", 9));
  struct row {
    const char* name;
    bytes from_client, from_backend;
    bool clean;
    uint64_t login_readies;
    std::optional<backend_close> expected;
  };
  const std::vector<row> rows = {
      {"idle after its answers", query, ready('I'), true, 0, std::nullopt},
      {"a new backend's login ReadyForQuery", query, cat({ready('I'), ready('I')}), true, 1,
       std::nullopt},
      {"nothing asked of a reused backend", {}, {}, true, 0, std::nullopt},
      {"in a transaction", query, ready('T'), true, 0, backend_close::in_transaction},
      {"failed transaction", query, ready('E'), true, 0, backend_close::in_transaction},
      {"answer outstanding", cat({query, query}), ready('I'), true, 0, backend_close::busy},
      {"COPY IN begun", query, msg('G', std::string(3, '\0')), true, 0, backend_close::copy},
      {"mid-message from the backend", query, bytes{'D', 0, 0, 0, 9, 1}, true, 0,
       backend_close::protocol},
      {"client mid-message", bytes{'Q', 0, 0}, {}, true, 0, backend_close::unclean_end},
      {"client reset the connection", query, ready('I'), false, 0, backend_close::unclean_end},
  };
  for (const auto& r : rows) {
    INFO(r.name);
    backend_watch b;
    client_watch c;
    b.seed({});  // as for a reused backend; a new one's login ReadyForQuery says the same
    c.feed(r.from_client);
    b.feed(r.from_backend);
    CHECK(why_not_keep({r.clean, &b, &c, r.login_readies}) == r.expected);
  }
  CHECK(to_string(backend_close::server_closed) == "server_closed");
}

TEST_CASE("pool: query_reply accepts an idle end and refuses everything else", "[pool]") {
  struct row {
    const char* name;
    bytes reply;
    query_reply::status expected;
    std::string error;
  };
  const bytes ok_discard =
      cat({param("application_name", ""), msg('C', std::string("DISCARD ALL\0", 12)), ready('I')});
  const std::vector<row> rows = {
      {"DISCARD ALL", ok_discard, query_reply::status::ok, ""},
      {"a NOTICE and rows",
       cat({msg('N', std::string("SNOTICE\0\0", 9)), msg('T', "x"), msg('D', "y"), ready('I')}),
       query_reply::status::ok, ""},
      {"an error",
       cat({msg('E', std::string("SERROR\0C42601\0Msyntax error\0\0", 29)), ready('I')}),
       query_reply::status::failed, "42601 syntax error"},
      {"left a transaction open", cat({msg('C', std::string("BEGIN\0", 6)), ready('T')}),
       query_reply::status::failed, "the backend is not idle after the query (status T)"},
      {"more after ready", cat({ready('I'), msg('A', "x")}), query_reply::status::failed,
       "the backend sent more after ReadyForQuery"},
      {"COPY", msg('G', std::string(3, '\0')), query_reply::status::failed,
       "the query started COPY"},
      {"bad frame", bytes{'C', 0, 0, 0, 1}, query_reply::status::failed,
       "invalid message from the backend"},
      {"not yet", msg('C', std::string("SET\0", 4)), query_reply::status::need_more, ""},
  };
  for (const auto& r : rows) {
    for (size_t size = 1; size <= r.reply.size(); ++size) {
      INFO(r.name << " chunk " << size);
      query_reply q;
      auto st = query_reply::status::need_more;
      in_chunks(r.reply, size, [&](sluice::pg::byte_span c) { st = q.feed(c); });
      CHECK(st == r.expected);
      CHECK(q.error() == r.error);
    }
  }
  query_reply q;
  REQUIRE(q.feed(ok_discard) == query_reply::status::ok);
  REQUIRE(q.params().size() == 1);
  CHECK(q.params()[0].first == "application_name");
}
