// The pool's stream watchers (gateway/pool/session_watch.*, gateway/pool/query_reply.*),
// which follow a pooled session's backend and client bytes and the backend's answer to
// sluice's own reset query, in whatever chunks the sockets return. The first byte seeds
// the chunk sizes, the rest is the stream, fed to all three. Invariant: after every
// chunk, each watcher's state equals a plain walk of all the bytes fed so far.
#include <algorithm>
#include <cctype>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "fuzz_check.hpp"
#include "gateway/pool/query_reply.hpp"
#include "gateway/pool/session_watch.hpp"

using namespace sluice::gateway::pool;

namespace {

// The references are not instrumented for coverage: their branches would only add
// features that say nothing about the code under test, and cost time on every exec.
#define REFERENCE __attribute__((no_sanitize("coverage")))

REFERENCE uint32_t length_at(const uint8_t* s, size_t pos) {
  return (uint32_t{s[pos + 1]} << 24) | (uint32_t{s[pos + 2]} << 16) | (uint32_t{s[pos + 3]} << 8) |
         uint32_t{s[pos + 4]};
}

REFERENCE bool same_name_ref(const std::string& a, const std::string& b) {
  if (a.size() != b.size())
    return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  }
  return true;
}

// A ParameterStatus body is "name NUL value NUL" with a non-empty name: exactly two NULs,
// the last byte one of them.
REFERENCE bool apply_status(param_list& params, const uint8_t* b, size_t n) {
  size_t nuls = static_cast<size_t>(std::count(b, b + n, uint8_t{0}));
  if (nuls != 2 || b[n - 1] != 0 || b[0] == 0)
    return false;
  const char* c = reinterpret_cast<const char*>(b);
  std::string name(c), value(c + name.size() + 1);
  for (auto& [k, v] : params) {
    if (same_name_ref(k, name)) {
      v = value;
      return true;
    }
  }
  params.emplace_back(name, value);
  return true;
}

struct backend_ref {
  bool broken = false, at_boundary = true, copy = false, copy_both = false;
  char ready = 0;
  uint64_t readies = 0;
  param_list params;
};

REFERENCE backend_ref walk_backend(const uint8_t* s, size_t n) {
  backend_ref r;
  size_t pos = 0;
  while (pos < n) {
    if (n - pos < 5) {
      r.at_boundary = false;
      return r;
    }
    const uint32_t len = length_at(s, pos);
    const uint8_t type = s[pos];
    if (len < 4) {
      r.broken = true;
      return r;
    }
    const uint64_t body_len = len - 4;
    const bool kept = type == 'S' || type == 'Z';
    if (kept && body_len > backend_watch::kMaxKept) {
      r.broken = true;
      return r;
    }
    if (type == 'G' || type == 'H')
      r.copy = true;
    if (type == 'W')
      r.copy_both = true;
    if (n - pos - 5 < body_len) {
      r.at_boundary = false;
      return r;
    }
    const uint8_t* body = s + pos + 5;
    if (type == 'Z') {
      if (body_len != 1) {
        r.broken = true;
        return r;
      }
      r.ready = static_cast<char>(body[0]);
      ++r.readies;
      r.copy = false;
    } else if (type == 'S' && !apply_status(r.params, body, body_len)) {
      r.broken = true;
      return r;
    }
    pos += 5 + body_len;
  }
  return r;
}

struct client_ref {
  bool terminated = false, at_boundary = true;
  size_t before_terminate = 0;  // bytes before the Terminate, or all bytes
  uint64_t syncs = 0;
};

REFERENCE client_ref walk_client(const uint8_t* s, size_t n) {
  client_ref r;
  uint64_t pos = 0;
  while (pos < n) {
    if (s[pos] == 'X') {
      r.terminated = true;
      r.before_terminate = pos;
      return r;
    }
    if (n - pos < 5) {
      r.at_boundary = false;
      break;
    }
    const uint32_t len = length_at(s, pos);
    if (s[pos] == 'Q' || s[pos] == 'S' || s[pos] == 'F')
      ++r.syncs;
    pos += 5 + uint64_t{len >= 4 ? len - 4 : 0};
    if (pos > n)
      r.at_boundary = false;
  }
  r.before_terminate = n;
  return r;
}

struct reply_ref {
  query_reply::status status = query_reply::status::need_more;
  param_list params;
};

REFERENCE reply_ref walk_reply(const uint8_t* s, size_t n) {
  reply_ref r;
  bool error = false;
  size_t pos = 0;
  auto failed = [&] {
    r.status = query_reply::status::failed;
    return r;
  };
  while (n - pos >= 5) {
    const uint32_t len = length_at(s, pos);
    if (len < 4 || len > query_reply::kMaxMessage)
      return failed();
    if (n - pos - 1 < len)
      break;
    const uint8_t type = s[pos];
    const uint8_t* body = s + pos + 5;
    const size_t body_len = len - 4;
    pos += 1 + size_t{len};
    if (type == 'S' && !apply_status(r.params, body, body_len))
      return failed();
    if (type == 'E')
      error = true;
    if (type == 'G' || type == 'H' || type == 'W')
      return failed();
    if (type == 'Z') {
      if (pos != n || error || body_len != 1 || body[0] != 'I')
        return failed();
      r.status = query_reply::status::ok;
      return r;
    }
  }
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1)
    return 0;
  uint32_t rng = data[0] * 2654435761u + 1;
  const uint8_t* s = data + 1;
  const size_t n = size - 1;
  backend_watch backend;
  client_watch client;
  query_reply reply;
  size_t client_kept = 0;  // bytes client_watch let through
  size_t fed = 0;
  while (fed < n) {
    rng = rng * 1103515245u + 12345u;
    size_t chunk = 1 + (rng >> 16) % 24;
    if (chunk > n - fed)
      chunk = n - fed;
    const sluice::pg::byte_span part(s + fed, chunk);
    backend.feed(part);
    const size_t kept = client.feed(part);
    FUZZ_CHECK(kept <= chunk);
    client_kept += kept;
    const auto st = reply.feed(part);
    fed += chunk;

    const auto b = walk_backend(s, fed);
    FUZZ_CHECK(backend.broken() == b.broken);
    if (!b.broken)
      FUZZ_CHECK(backend.at_boundary() == b.at_boundary);
    FUZZ_CHECK(backend.ready_status() == b.ready && backend.ready_count() == b.readies);
    FUZZ_CHECK(backend.in_copy() == b.copy && backend.copy_both() == b.copy_both);
    FUZZ_CHECK(backend.params() == b.params);

    const auto c = walk_client(s, fed);
    FUZZ_CHECK(client.terminated() == c.terminated);
    FUZZ_CHECK(client_kept == c.before_terminate);
    FUZZ_CHECK(client.sync_points() == c.syncs);
    if (!c.terminated)
      FUZZ_CHECK(client.at_boundary() == c.at_boundary);

    const auto q = walk_reply(s, fed);
    FUZZ_CHECK(st == q.status);
    if (st == query_reply::status::failed)
      FUZZ_CHECK(!reply.error().empty());
    if (st == query_reply::status::ok)
      FUZZ_CHECK(reply.error().empty());
    if (st != query_reply::status::failed)
      FUZZ_CHECK(reply.params() == q.params);
  }
  // The release decision: a backend is kept only when both streams ended cleanly where
  // the facts say (why_not_keep never keeps a broken or mid-message backend).
  release_facts f;
  f.client_left_cleanly = true;
  f.backend = &backend;
  f.client = &client;
  f.readies_before_relay = 1;
  if (!why_not_keep(f)) {
    FUZZ_CHECK(!backend.broken() && backend.at_boundary() && client.at_boundary());
    FUZZ_CHECK(!backend.in_copy() && !backend.copy_both() && backend.ready_status() == 'I');
    FUZZ_CHECK(backend.ready_count() == client.sync_points() + 1);
  }
  return 0;
}
