#include "sync/service.hpp"

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <charconv>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "config/allowlist.hpp"
#include "config/bearer_token.hpp"
#include "config/log.hpp"
#include "sync/batch.hpp"
#include "sync/bulk_thread.hpp"
#include "sync/checks.hpp"
#include "sync/ingest_reply.hpp"
#include "sync/ingest_server.hpp"
#include "sync/log_throttle.hpp"
#include "sync/writer.hpp"
#include "tls/server_context.hpp"

namespace sluice::sync {

namespace {

std::string read_token(const std::string& path) {
  if (path.empty())
    return "";
  std::string error;
  auto token = config::read_token_file(path, &error);
  if (!token) {
    log::error("sync_token_unreadable").kv("file", path).kv("error", error);
    return "";
  }
  return *token;
}

// "/v1/syncs/NAME/batches?sequence=7" -> path parts and query parameters.
struct target {
  std::vector<std::string> parts;
  std::map<std::string, std::string> query;
};

target split_target(const std::string& t) {
  target out;
  auto q = t.find('?');
  std::string path = t.substr(0, q);
  std::stringstream ps(path);
  for (std::string p; std::getline(ps, p, '/');) {
    if (!p.empty())
      out.parts.push_back(p);
  }
  if (q != std::string::npos) {
    std::stringstream qs(t.substr(q + 1));
    for (std::string kv; std::getline(qs, kv, '&');) {
      auto eq = kv.find('=');
      out.query[kv.substr(0, eq)] = eq == std::string::npos ? "" : kv.substr(eq + 1);
    }
  }
  return out;
}

reply error_reply(int status, const std::string& msg) {
  return {status, {{"error", msg}}, 0};
}

// The same answer for an unknown sync and a wrong token, so that a caller without a
// token cannot tell which sync names exist.
reply unauthorized_reply() {
  return error_reply(401, "missing or wrong bearer token for this sync (or no such sync)");
}

}  // namespace

struct service::impl {
  forward_fn forward;
  mutable std::mutex mu;
  config::settings_ptr settings;
  std::map<std::string, std::shared_ptr<writer>> writers;
  std::map<std::string, std::string> tokens;
  std::unique_ptr<ingest_server> server;

  log_throttle unauthorized_log{std::chrono::seconds(10)};

  void handle(http_request req, std::function<void(reply)> done);
  std::optional<reply> precheck(const http_request& head);
  std::optional<reply> authorize(const std::string& name, const http_request& req);
  void configure(const config::settings_ptr& s);
  void verify_in_background(std::shared_ptr<writer> w, std::string name);
};

void service::impl::verify_in_background(std::shared_ptr<writer> w, std::string name) {
  // Connecting may take the connect timeout; never hold up start-up for it.
  std::thread([w, name] {
    mark_bulk_thread("sluice-verify");
    auto checks = w->verify_now();
    for (const auto& c : checks) {
      if (c.status == check_status::pass)
        continue;
      auto l = c.status == check_status::fail ? log::error("sync_check_failed")
                                              : log::warn("sync_check_warning");
      l.kv("sync", name).kv("check", c.name).kv("detail", c.detail);
      if (!c.fix_sql.empty())
        l.kv("fix", c.fix_sql);
    }
    if (all_pass(checks))
      log::info("sync_checks_passed").kv("sync", name);
  }).detach();
}

void service::impl::configure(const config::settings_ptr& s) {
  std::map<std::string, std::shared_ptr<writer>> old;
  {
    std::lock_guard g(mu);
    old = writers;
  }
  uint32_t depth = (s->ingest ? *s->ingest : config::ingest_settings{}).queue_depth;
  std::map<std::string, std::shared_ptr<writer>> next;
  std::map<std::string, std::string> next_tokens;
  std::vector<std::shared_ptr<writer>> fresh;
  for (const auto& sc : s->syncs) {
    next_tokens[sc.name] = read_token(sc.ingest_token_file);
    if (auto it = old.find(sc.name); it != old.end()) {
      it->second->update(sc, s, depth);
      next[sc.name] = it->second;
    } else {
      next[sc.name] = std::make_shared<writer>(sc, s, forward, depth);
      log::info("sync_started").kv("sync", sc.name).kv("schema", sc.schema);
    }
    verify_in_background(next[sc.name], sc.name);
  }
  std::vector<std::shared_ptr<writer>> removed;
  for (auto& [name, w] : old) {
    if (!next.count(name)) {
      removed.push_back(w);
      log::info("sync_removed").kv("sync", name);
    }
  }
  {
    std::lock_guard g(mu);
    writers = std::move(next);
    tokens = std::move(next_tokens);
    settings = s;
  }
  removed.clear();  // joins their threads outside the lock
}

// Nullopt when the sync exists and the token is its own. Callers can repeat a wrong
// token as fast as the network allows: one log line per 10 s, with the count.
std::optional<reply> service::impl::authorize(const std::string& name, const http_request& req) {
  bool ok = false;
  {
    std::lock_guard g(mu);
    auto it = tokens.find(name);
    ok = writers.count(name) && it != tokens.end() &&
         config::bearer_token_matches(req.authorization, it->second);
  }
  if (ok)
    return std::nullopt;
  if (auto suppressed = unauthorized_log.admit(std::chrono::steady_clock::now())) {
    log::warn("ingest_unauthorized")
        .kv("sync", name)
        .kv("peer", req.peer)
        .kv("suppressed", *suppressed);
  }
  return unauthorized_reply();
}

// From the request head, before any body byte is read: the route and the token.
std::optional<reply> service::impl::precheck(const http_request& head) {
  auto t = split_target(head.target);
  if (t.parts.size() < 3 || t.parts[0] != "v1" || t.parts[1] != "syncs")
    return error_reply(404, "no such endpoint; use /v1/syncs/{name}/batches");
  return authorize(t.parts[2], head);
}

void service::impl::handle(http_request req, std::function<void(reply)> done) {
  auto t = split_target(req.target);
  if (t.parts.size() < 3 || t.parts[0] != "v1" || t.parts[1] != "syncs") {
    return done(error_reply(404, "no such endpoint; use /v1/syncs/{name}/batches"));
  }
  const std::string& name = t.parts[2];
  // Checked again: a reload may have removed the sync or changed its token since.
  if (auto refused = authorize(name, req))
    return done(std::move(*refused));
  std::shared_ptr<writer> w;
  {
    std::lock_guard g(mu);
    if (auto it = writers.find(name); it != writers.end())
      w = it->second;
  }
  if (!w)
    return done(unauthorized_reply());
  if (t.parts.size() == 3 && req.method == "GET")
    return done({200, w->status(), 0});
  if (t.parts.size() == 4 && t.parts[3] == "verify" && req.method == "GET") {
    std::thread([w, done] {
      // Started from an ingest thread, it would otherwise inherit that name.
      mark_bulk_thread("sluice-verify");
      auto checks = w->verify_now();
      done({all_pass(checks) ? 200 : 503,
            {{"ok", all_pass(checks)}, {"checks", to_json(checks)}, {"text", render(checks)}},
            0});
    }).detach();
    return;
  }
  if (t.parts.size() != 4 || t.parts[3] != "batches") {
    return done(error_reply(404, "no such endpoint; use /v1/syncs/{name}/batches"));
  }
  if (req.method != "POST")
    return done(error_reply(405, "use POST for batches"));
  auto parsed = parse_batch(std::move(req.body));
  if (auto* e = std::get_if<parse_error>(&parsed)) {
    // 422: well-formed, but a name the database cannot store (sync/naming.hpp).
    reply r{e->status,
            {{"error", e->status == 422 ? "records refused" : "malformed batch"},
             {"reason", e->reason}},
            0};
    if (e->line)
      r.body["line"] = e->line;
    return done(std::move(r));
  }
  auto& b = std::get<batch>(parsed);
  std::optional<int64_t> seq = b.sequence;
  if (auto q = t.query.find("sequence"); q != t.query.end()) {
    int64_t v = 0;
    auto [p, ec] = std::from_chars(q->second.data(), q->second.data() + q->second.size(), v);
    if (ec != std::errc() || p != q->second.data() + q->second.size() || v < 1) {
      return done(error_reply(400, "?sequence= must be a positive integer"));
    }
    if (seq && *seq != v)
      return done(error_reply(400, "sequence in the URL and the body differ"));
    seq = v;
  }
  if (!seq) {
    return done(error_reply(400, "batch has no sequence: add ?sequence=N or {\"sequence\": N}"));
  }
  job j{0, *seq, std::move(b.records), std::move(b.store), {}, [done](batch_outcome o) {
          done(to_reply(o));
        }};
  // Dedupe and the field summary here, on the ingest thread: the writer, which applies
  // batches one after another, only compares the summary with its catalog. The
  // records' buffer moves with the vector, so the pointers stay valid.
  size_t dropped = 0;
  j.groups = dedupe(j.records, dropped);
  if (!w->submit(std::move(j))) {
    return done({429, {{"error", "queue for sync '" + name + "' is full; retry later"}}, 1});
  }
}

service::service(forward_fn forward) : impl_(std::make_unique<impl>()) {
  impl_->forward = std::move(forward);
}

service::~service() {
  stop();
}

namespace {

std::shared_ptr<boost::asio::ssl::context> ingest_tls(const config::settings& s) {
  if (!s.ingest || !s.ingest->tls)
    return nullptr;
  return tls::make_server_ssl_context(s.ingest->tls->cert, s.ingest->tls->key, false);
}

config::allowlist ingest_allow(const config::settings& s) {
  if (!s.ingest || s.ingest->allow.empty())
    return {};
  return config::allowlist(s.ingest->allow, s.allowlists);
}

}  // namespace

void service::start(config::settings_ptr s) {
  if (!s)
    return;
  // Writers and tokens first: a request the moment the listener opens must find its
  // sync (it got 401 for a few milliseconds when the listener came first).
  impl_->configure(s);
  if (s->ingest) {
#ifdef __GLIBC__
    // Every batch allocates tens of MB (body, fields, records) and frees them a moment
    // later. With glibc's default the freed top of the heap goes back to the kernel each
    // time and the next batch page-faults it in again, zeroed: ~10% of the process's CPU
    // under load, and the first load 72% -> 90% of plain COPY without it
    // (docs/benchmarks.md). With an ingest API, keep up to 256 MiB of freed memory mapped.
    // Setting the trim threshold also freezes glibc's mmap threshold at 128 KiB, which
    // would send every body to its own mmap (and page faults) again: raise it as well.
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
#endif
    auto* self = impl_.get();
    impl_->server = std::make_unique<ingest_server>(
        *s->ingest, ingest_tls(*s), ingest_allow(*s),
        [self](http_request r, std::function<void(reply)> done) {
          self->handle(std::move(r), std::move(done));
        },
        [self](const http_request& head) { return self->precheck(head); });
    impl_->server->start();
  }
}

void service::apply(config::settings_ptr s) {
  if (!s)
    return;
  if (impl_->server && s->ingest) {
    try {
      impl_->server->update(*s->ingest, ingest_tls(*s), ingest_allow(*s));
    } catch (const std::exception& e) {
      log::error("ingest_reload_failed").kv("error", e.what());
    }
    auto old = impl_->settings;
    if (old && old->ingest && !(old->ingest->listen == s->ingest->listen)) {
      log::warn("ingest_listen_changed").kv("note", "a new ingest.listen takes effect on restart");
    }
  } else if (!impl_->server && s->ingest) {
    start(s);
    return;
  }
  impl_->configure(s);
}

void service::stop() {
  std::map<std::string, std::shared_ptr<writer>> ws;
  {
    std::lock_guard g(impl_->mu);
    ws.swap(impl_->writers);
  }
  ws.clear();  // writers first: their last replies are posted to the server's executor
  if (impl_->server) {
    impl_->server->stop();
    impl_->server.reset();
  }
}

nlohmann::json service::status() const {
  auto arr = nlohmann::json::array();
  std::lock_guard g(impl_->mu);
  for (const auto& [name, w] : impl_->writers)
    arr.push_back(w->status());
  return arr;
}

std::optional<std::vector<check>> service::verify(const std::string& name) const {
  std::shared_ptr<writer> w;
  {
    std::lock_guard g(impl_->mu);
    auto it = impl_->writers.find(name);
    if (it == impl_->writers.end())
      return std::nullopt;
    w = it->second;
  }
  return w->verify_now();  // outside the lock: it connects
}

uint16_t service::ingest_port() const {
  return impl_->server ? impl_->server->port() : 0;
}

}  // namespace sluice::sync
