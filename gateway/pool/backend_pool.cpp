#include "gateway/pool/backend_pool.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "config/log.hpp"
#include "gateway/pool/idle_check.hpp"

namespace sluice::gateway::pool {

namespace {

double seconds_between(clock::time_point a, clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

bool older_than(clock::time_point since, config::duration limit, clock::time_point now) {
  return limit.count() > 0 && now - since >= limit;
}

}  // namespace

pool_lease::~pool_lease() {
  if (held_)
    pool_->release_slot(reason_.value_or(backend_close::unclean_end), prefill_);
}

void pool_lease::give_back(idle_backend b) {
  held_ = false;
  b.generation = generation_;
  pool_->give_back(std::move(b), prefill_);
}

backend_pool::backend_pool(std::string route, std::string user, std::string database, pool_limits l)
    : route_(std::move(route)),
      user_(std::move(user)),
      database_(std::move(database)),
      limits_(l) {}

void backend_pool::close_locked(idle_backend b, backend_close why) {
  --open_;
  ++closed_[std::string(to_string(why))];
  log::info("pool_backend_closed")
      .kv("route", route_)
      .kv("user", user_)
      .kv("database", database_)
      .kv("reason", to_string(why))
      .kv("uses", b.uses);
  if (!b.stream)
    return;
  // Closed on the thread its socket belongs to.
  std::shared_ptr<pg_stream> s(std::move(b.stream));
  auto ex = s->socket().get_executor();
  net::post(ex, [s] { s->close(); });
}

acquired backend_pool::fresh_locked() {
  acquired a;
  a.what = acquired::kind::fresh;
  a.lease = std::make_unique<pool_lease>(shared_from_this(), generation_);
  ++created_;
  return a;
}

std::optional<acquired> backend_pool::take_locked(const param_list& wanted) {
  const auto now = clock::now();
  for (size_t i = idle_.size(); i-- > 0;) {
    auto& b = idle_[i];
    std::optional<backend_close> why;
    if (b.generation != generation_)
      why = backend_close::reload;
    else if (older_than(b.created, limits_.max_lifetime, now))
      why = backend_close::max_lifetime;
    else if (!open_and_quiet(*b.stream))
      why = backend_close::server_closed;
    if (why) {
      auto dead = std::move(b);
      idle_.erase(idle_.begin() + static_cast<std::ptrdiff_t>(i));
      close_locked(std::move(dead), *why);
      continue;
    }
    auto plan = plan_reuse(b.origin, wanted);
    if (!plan.reusable)
      continue;
    acquired a;
    a.what = acquired::kind::warm;
    a.plan = std::move(plan);
    a.backend = std::move(b);
    idle_.erase(idle_.begin() + static_cast<std::ptrdiff_t>(i));
    a.lease = std::make_unique<pool_lease>(shared_from_this(), generation_);
    ++reused_;
    return a;
  }
  if (open_ < limits_.size) {
    ++open_;
    return fresh_locked();
  }
  if (!idle_.empty()) {
    // Full, but an idle backend was started for other parameters: it makes room.
    auto b = std::move(idle_.front());
    idle_.pop_front();
    close_locked(std::move(b), backend_close::mismatch);
    ++open_;
    return fresh_locked();
  }
  return std::nullopt;
}

void backend_pool::grant_locked(const std::shared_ptr<waiter>& w, acquired a) {
  w->grant = std::move(a);
  // The waiter's timer belongs to its thread: cancel it there.
  net::post(w->timer.get_executor(), [w] { w->timer.cancel(); });
}

void backend_pool::serve_waiters_locked() {
  while (!waiters_.empty() && !retired_) {
    auto got = take_locked(waiters_.front()->wanted);
    if (!got)
      return;
    auto w = waiters_.front();
    waiters_.pop_front();
    grant_locked(w, std::move(*got));
  }
}

net::awaitable<acquired> backend_pool::acquire(param_list wanted, net::any_io_executor ex) {
  const auto started = clock::now();
  std::shared_ptr<waiter> w;
  std::optional<acquired> now;
  {
    std::lock_guard lock(mu_);
    if (retired_)
      co_return acquired{};
    if (waiters_.empty())
      now = take_locked(wanted);
    if (now) {
      wait_seconds_.observe(0);
    } else {
      w = std::make_shared<waiter>(ex);
      w->wanted = std::move(wanted);
      w->timer.expires_after(limits_.wait_timeout);
      waiters_.push_back(w);
    }
  }
  if (now) {
    top_up();  // an idle one was taken: min_idle opens the next in the background
    co_return std::move(*now);
  }
  error_code ec;
  co_await w->timer.async_wait(net::redirect_error(net::use_awaitable, ec));
  std::lock_guard lock(mu_);
  const double waited = seconds_between(started, clock::now());
  wait_seconds_.observe(waited);
  if (w->grant) {
    auto a = std::move(*w->grant);
    a.waited_seconds = waited;
    co_return a;
  }
  std::erase(waiters_, w);
  acquired a;
  a.what = retired_ ? acquired::kind::closed : acquired::kind::timed_out;
  if (!retired_)
    ++wait_timeouts_;
  a.waited_seconds = waited;
  co_return a;
}

void backend_pool::give_back(idle_backend b, bool prefilled) {
  {
    std::lock_guard lock(mu_);
    put_back_locked(std::move(b), prefilled);
  }
  top_up();
}

void backend_pool::put_back_locked(idle_backend b, bool prefilled) {
  const auto now = clock::now();
  if (prefilled)
    --opening_;
  else
    ++b.uses;
  std::optional<backend_close> why;
  if (retired_)
    why = retired_why_;
  else if (b.generation != generation_ || open_ > limits_.size)
    why = backend_close::reload;
  else if (older_than(b.created, limits_.max_lifetime, now))
    why = backend_close::max_lifetime;
  if (why) {
    close_locked(std::move(b), *why);
    serve_waiters_locked();
    return;
  }
  b.idle_since = now;
  idle_.push_back(std::move(b));
  serve_waiters_locked();
}

void backend_pool::release_slot(backend_close why, bool prefilled) {
  {
    std::lock_guard lock(mu_);
    if (prefilled)
      --opening_;
    close_locked(idle_backend{}, why);
    serve_waiters_locked();
  }
  top_up();
}

void backend_pool::set_opener(opener o) {
  {
    std::lock_guard lock(mu_);
    if (retired_)
      return;
    if (!opener_)
      log::info("pool_prefill_enabled")
          .kv("route", route_)
          .kv("user", user_)
          .kv("database", database_)
          .kv("min_idle", limits_.min_idle);
    opener_ = std::move(o);
    failures_ = 0;
    retry_after_ = {};
  }
  top_up();
}

void backend_pool::prefill_done(bool ok, bool refused) {
  std::lock_guard lock(mu_);
  if (ok) {
    failures_ = 0;
    retry_after_ = {};
    return;
  }
  // A database that is down is not hammered: 1s, 2s, 4s ... 60s between attempts.
  ++failures_;
  const auto wait = std::chrono::seconds(1u << std::min<uint32_t>(failures_ - 1, 6));
  retry_after_ = clock::now() + std::min<clock::duration>(wait, std::chrono::seconds(60));
  if (refused && opener_) {
    opener_ = nullptr;
    log::warn("pool_prefill_disabled")
        .kv("route", route_)
        .kv("user", user_)
        .kv("database", database_)
        .kv("message",
            "the database refused the stored credential; opening in advance resumes after the "
            "next client's login");
  }
}

void backend_pool::top_up() {
  std::vector<std::unique_ptr<pool_lease>> leases;
  opener open;
  {
    std::lock_guard lock(mu_);
    if (!opener_ || retired_ || limits_.min_idle == 0 || clock::now() < retry_after_)
      return;
    while (idle_.size() + opening_ < limits_.min_idle && open_ < limits_.size && waiters_.empty()) {
      ++open_;
      ++opening_;
      ++created_;
      ++prefilled_;
      leases.push_back(std::make_unique<pool_lease>(shared_from_this(), generation_, true));
    }
    open = opener_;
  }
  for (auto& l : leases)
    open(std::move(l));
}

void backend_pool::apply(const pool_limits& l, bool flush) {
  {
    std::lock_guard lock(mu_);
    apply_locked(l, flush);
  }
  top_up();
}

void backend_pool::apply_locked(const pool_limits& l, bool flush) {
  limits_ = l;
  if (flush) {
    ++generation_;
    opener_ = nullptr;  // the credential was proved against what the route was
  }
  for (size_t i = 0; i < idle_.size();) {
    if (idle_[i].generation != generation_ || open_ > limits_.size) {
      auto b = std::move(idle_[i]);
      idle_.erase(idle_.begin() + static_cast<std::ptrdiff_t>(i));
      close_locked(std::move(b), backend_close::reload);
      continue;
    }
    ++i;
  }
  serve_waiters_locked();
}

void backend_pool::retire(backend_close why) {
  std::lock_guard lock(mu_);
  retired_ = true;
  retired_why_ = why;
  opener_ = nullptr;
  while (!idle_.empty()) {
    auto b = std::move(idle_.front());
    idle_.pop_front();
    close_locked(std::move(b), why);
  }
  for (auto& w : waiters_) {
    w->grant = acquired{};
    net::post(w->timer.get_executor(), [w] { w->timer.cancel(); });
  }
  waiters_.clear();
}

void backend_pool::reap(clock::time_point now) {
  {
    std::lock_guard lock(mu_);
    reap_locked(now);
  }
  top_up();  // what was reaped (or killed while idle) is opened again
}

void backend_pool::reap_locked(clock::time_point now) {
  for (size_t i = 0; i < idle_.size();) {
    auto& b = idle_[i];
    std::optional<backend_close> why;
    if (!open_and_quiet(*b.stream))
      why = backend_close::server_closed;
    else if (older_than(b.created, limits_.max_lifetime, now))
      why = backend_close::max_lifetime;
    else if (older_than(b.idle_since, limits_.idle_timeout, now) && idle_.size() > limits_.min_idle)
      why = backend_close::idle_timeout;
    if (why) {
      auto dead = std::move(b);
      idle_.erase(idle_.begin() + static_cast<std::ptrdiff_t>(i));
      close_locked(std::move(dead), *why);
      continue;
    }
    ++i;
  }
  serve_waiters_locked();
}

pool_snapshot backend_pool::snapshot() {
  std::lock_guard lock(mu_);
  pool_snapshot s;
  s.route = route_;
  s.user = user_;
  s.database = database_;
  s.size = limits_.size;
  s.open = open_;
  s.idle = static_cast<uint32_t>(idle_.size());
  s.opening = opening_;
  s.in_use = open_ - s.idle - opening_;
  s.waiting = static_cast<uint32_t>(waiters_.size());
  s.created = created_;
  s.reused = reused_;
  s.wait_timeouts = wait_timeouts_;
  s.prefilled = prefilled_;
  s.wait_seconds = wait_seconds_;
  s.closed = closed_;
  return s;
}

namespace {

// What a reload may change without retiring the backends made before.
bool same_backends(const config::route& a, const config::route& b) {
  return a.upstream == b.upstream && a.auth == b.auth && a.rewrite_database == b.rewrite_database &&
         a.rewrite_user == b.rewrite_user && a.pool.reset == b.pool.reset;
}

}  // namespace

std::shared_ptr<backend_pool> pool_registry::pool_for(const config::route& r,
                                                      const std::string& user,
                                                      const std::string& database) {
  std::lock_guard lock(mu_);
  auto& p = pools_[{r.name, user, database}];
  if (!p) {
    p = std::make_shared<backend_pool>(r.name, user, database, pool_limits::of(r.pool));
    if (draining_)
      p->retire(backend_close::shutdown);
  }
  return p;
}

void pool_registry::apply(const config::settings& s) {
  std::lock_guard lock(mu_);
  std::map<std::string, config::route> next;
  for (const auto& r : s.routes) {
    if (r.pool.mode == config::pool_mode::session && r.auth.mode == config::auth_mode::terminate)
      next.emplace(r.name, r);
  }
  for (auto it = pools_.begin(); it != pools_.end();) {
    const auto& name = std::get<0>(it->first);
    auto now = next.find(name);
    if (now == next.end()) {
      it->second->retire(backend_close::reload);
      it = pools_.erase(it);
      continue;
    }
    auto before = routes_.find(name);
    const bool flush = before == routes_.end() || !same_backends(before->second, now->second);
    it->second->apply(pool_limits::of(now->second.pool), flush);
    ++it;
  }
  routes_ = std::move(next);
}

pool_registry::~pool_registry() {
  for (auto& [_, p] : pools_)
    p->retire(backend_close::shutdown);
}

void pool_registry::drain() {
  std::lock_guard lock(mu_);
  draining_ = true;
  for (auto& [_, p] : pools_)
    p->retire(backend_close::shutdown);
}

void pool_registry::reap() {
  std::vector<std::shared_ptr<backend_pool>> all;
  {
    std::lock_guard lock(mu_);
    for (auto& [_, p] : pools_)
      all.push_back(p);
  }
  const auto now = clock::now();
  for (auto& p : all)
    p->reap(now);
}

std::vector<pool_snapshot> pool_registry::snapshot() {
  std::vector<std::shared_ptr<backend_pool>> all;
  {
    std::lock_guard lock(mu_);
    for (auto& [_, p] : pools_)
      all.push_back(p);
  }
  std::vector<pool_snapshot> out;
  for (auto& p : all)
    out.push_back(p->snapshot());
  return out;
}

}  // namespace sluice::gateway::pool
