#include <catch2/catch.hpp>

#include "gateway/session/auth_phase.hpp"

using namespace sluice;
using gateway::auth_phase;
using gateway::auth_status;

namespace {
pg::bytes msg(char type, const std::string& body) {
  pg::bytes m{static_cast<uint8_t>(type)};
  pg::put_u32(m, static_cast<uint32_t>(body.size() + 4));
  m.insert(m.end(), body.begin(), body.end());
  return m;
}
pg::bytes cat(std::initializer_list<pg::bytes> parts) {
  pg::bytes out;
  for (const auto& p : parts)
    out.insert(out.end(), p.begin(), p.end());
  return out;
}
const pg::bytes auth_ok = msg('R', std::string(4, '\0'));
const pg::bytes param = msg('S', std::string("server_version\0"
                                             "15.5\0",
                                             20));
const pg::bytes ready = msg('Z', "I");
const pg::bytes backend_key = pg::encode_backend_key_data({4242, {1, 2, 3, 4}});
const pg::backend_key_data minted_key{0x01000007, {9, 8, 7, 6}};
const pg::bytes minted = pg::encode_backend_key_data(minted_key);

pg::bytes error(const std::string& code, const std::string& message, const std::string& hint = {}) {
  return pg::encode_error({"FATAL", code, message, {}, hint});
}
const std::string no_encryption =
    "no pg_hba.conf entry for host \"127.0.0.1\", user \"app\", database \"app\", no encryption";
const std::string binding = "channel binding negotiation error";

struct result {
  auth_status status = auth_status::need_more;
  pg::bytes to_client;
  size_t after_ready = 0;
  std::optional<pg::backend_key_data> minted;
};

// Feeds `in` in chunks of `step` bytes (0: all at once) and gathers what the client gets.
result run(const pg::bytes& in, size_t step, bool upstream_tls = false, bool mint = true) {
  auth_phase::mint_fn fn;
  if (mint)
    fn = [](const pg::backend_key_data&) { return minted_key; };
  auth_phase a(upstream_tls, "acme", fn);
  result r;
  size_t off = 0;
  do {
    size_t n = step == 0 ? in.size() - off : std::min(step, in.size() - off);
    auto out = a.feed(pg::byte_span(in.data() + off, n));
    off += n;
    r.to_client.insert(r.to_client.end(), out.to_client.begin(), out.to_client.end());
    r.status = out.status;
    if (out.status == auth_status::ready)
      r.after_ready = out.after_ready;
  } while (off < in.size() && r.status == auth_status::need_more);
  if (r.status == auth_status::ready) {
    // What the socket had beyond that goes through the relay, as is.
    r.to_client.insert(r.to_client.end(), in.begin() + static_cast<std::ptrdiff_t>(off), in.end());
    r.after_ready += in.size() - off;
  }
  r.minted = a.minted();
  return r;
}
}  // namespace

TEST_CASE("auth phase: backend messages, fed whole, byte by byte and split anywhere",
          "[session][auth]") {
  struct row {
    const char* what;
    pg::bytes in;
    bool upstream_tls;
    pg::bytes out;  // what the client must get
    auth_status status;
    size_t after_ready;
  };
  const auto sasl_plus = pg::encode_sasl_mechanisms({"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"});
  const auto sasl = pg::encode_sasl_mechanisms({"SCRAM-SHA-256"});
  const auto query_result = msg('T', std::string(6, '\0'));
  const row rows[] = {
      {"trust login: passed as is, the key is minted", cat({auth_ok, param, backend_key, ready}),
       false, cat({auth_ok, param, minted, ready}), auth_status::ready, 0},
      {"SCRAM-SHA-256-PLUS is taken off the list", sasl_plus, true, sasl, auth_status::need_more,
       0},
      {"a list without -PLUS stays", sasl, true, sasl, auth_status::need_more, 0},
      {"bytes after ReadyForQuery are the relay's, passed as is",
       cat({auth_ok, ready, query_result, {'D', 0, 0}}), false,
       cat({auth_ok, ready, query_result, {'D', 0, 0}}), auth_status::ready,
       query_result.size() + 3},
      {"plaintext refused by the backend gets the sslmode hint", error("28000", no_encryption),
       false, error("28000", no_encryption, gateway::hint_upstream_refuses_plaintext("acme")),
       auth_status::need_more, 0},
      {"the same refusal over TLS is not about sslmode", error("28000", no_encryption), true,
       error("28000", no_encryption), auth_status::need_more, 0},
      {"channel binding refused gets its hint", error("08P01", binding), true,
       error("08P01", binding, gateway::hint_channel_binding_impossible()), auth_status::need_more,
       0},
      {"other errors pass as they are", error("28P01", "password authentication failed"), false,
       error("28P01", "password authentication failed"), auth_status::need_more, 0},
      {"only the first BackendKeyData is replaced", cat({backend_key, backend_key, ready}), false,
       cat({minted, backend_key, ready}), auth_status::ready, 0},
      {"a length below 4 is invalid",
       cat({auth_ok, {'R', 0, 0, 0, 3}}),
       false,
       {},
       auth_status::invalid,
       0},
      {"a message over 1 MiB is invalid",
       cat({{'N', 0, 0x20, 0, 0}}),
       false,
       {},
       auth_status::invalid,
       0},
  };
  for (const auto& r : rows) {
    INFO(r.what);
    for (size_t step : {size_t{0}, size_t{1}, size_t{2}, size_t{7}}) {
      INFO("chunks of " << step);
      auto got = run(r.in, step, r.upstream_tls);
      CHECK(got.status == r.status);
      if (r.status == auth_status::invalid)
        continue;  // what went out before the bad message depends on the chunking
      CHECK(got.to_client == r.out);
      CHECK(got.after_ready == r.after_ready);
    }
    // Split in two at every position.
    for (size_t cut = 1; cut < r.in.size(); ++cut) {
      auth_phase a(r.upstream_tls, "acme", [](const pg::backend_key_data&) { return minted_key; });
      auto first = a.feed(pg::byte_span(r.in.data(), cut));
      pg::bytes out = first.to_client;
      auto status = first.status;
      if (status == auth_status::need_more) {
        auto second = a.feed(pg::byte_span(r.in.data() + cut, r.in.size() - cut));
        out.insert(out.end(), second.to_client.begin(), second.to_client.end());
        status = second.status;
      } else if (status == auth_status::ready) {
        out.insert(out.end(), r.in.begin() + static_cast<std::ptrdiff_t>(cut), r.in.end());
      }
      INFO("cut at " << cut);
      CHECK(status == r.status);
      if (r.status != auth_status::invalid)
        CHECK(out == r.out);
    }
  }
}

TEST_CASE("auth phase: the minted key is kept for the cancel registry", "[session][auth]") {
  auto got = run(cat({auth_ok, backend_key, ready}), 1);
  REQUIRE(got.minted);
  CHECK(got.minted->pid == minted_key.pid);
  CHECK(got.minted->key == minted_key.key);
  // Without a registry the backend's key passes unchanged.
  auto plain = run(cat({auth_ok, backend_key, ready}), 1, false, false);
  CHECK_FALSE(plain.minted);
  CHECK(plain.to_client == cat({auth_ok, backend_key, ready}));
}

TEST_CASE("auth phase: after ready or invalid, nothing more comes out", "[session][auth]") {
  auth_phase a(false, "acme");
  CHECK(a.feed(ready).status == auth_status::ready);
  auto again = a.feed(auth_ok);
  CHECK(again.status == auth_status::ready);
  CHECK(again.to_client.empty());
}

TEST_CASE("auth phase: names the backend's login messages for the debug log, not ParameterStatus",
          "[session][auth][log]") {
  auth_phase a(true, "db");
  auto out = a.feed(cat({auth_ok, param, param, backend_key, ready}));
  CHECK(out.status == auth_status::ready);
  CHECK(out.steps ==
        std::vector<std::string>{"AuthenticationOk", "BackendKeyData", "ReadyForQuery"});
  // Split messages are named once, when complete.
  auth_phase b(true, "db");
  const auto all = cat({auth_ok, ready});
  std::vector<std::string> steps;
  for (size_t i = 0; i < all.size(); ++i) {
    auto o = b.feed(pg::byte_span(all).subspan(i, 1));
    steps.insert(steps.end(), o.steps.begin(), o.steps.end());
  }
  CHECK(steps == std::vector<std::string>{"AuthenticationOk", "ReadyForQuery"});
}
