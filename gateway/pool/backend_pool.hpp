// Warm, logged-in server connections of one (route, user, database), for routes with
// pool.mode: session (docs/operations.md, "Session pooling"). Shared by every worker
// thread: acquire, give-back and the reaper take a mutex (they run once per client
// connection, never per message). A backend sits idle on the thread that last used it;
// the session that takes it moves its socket to its own thread (pg_stream::rehome), and
// the pool closes idle ones by posting to their thread.
//
// The pool never has more than `size` connections open (idle + leased, including those
// being opened in advance): a client that finds none free waits in FIFO order for at most
// wait_timeout.
//
// min_idle: once the session layer gave the pool an opener (a client's credential logged
// in to the database), the pool keeps at least min_idle idle backends, opening the
// missing ones in the background on leases of their own; after a failed one it waits
// (1s doubling to 60s), and a login the database refused drops the opener.
#pragma once

#include <utility>  // before Asio (GCC 12 + Boost 1.74)

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "config/settings.hpp"
#include "gateway/metrics.hpp"
#include "gateway/pg_stream.hpp"
#include "gateway/pool/backend_close.hpp"
#include "gateway/pool/params.hpp"
#include "gateway/pool/pool_snapshot.hpp"
#include "gateway/pool/reuse_plan.hpp"

namespace sluice::gateway::pool {

using clock = std::chrono::steady_clock;

struct idle_backend {
  std::unique_ptr<pg_stream> stream;
  bool tls = false;
  pg::backend_key_data key;  // the backend's own (cancels go there)
  param_list params;         // the ParameterStatus set its next client is shown
  param_list origin;         // the startup parameters it was started with
  clock::time_point created = clock::now();
  clock::time_point idle_since = clock::now();
  uint64_t generation = 0;  // of its pool when it was made (a reload may retire it)
  uint64_t uses = 0;        // clients it has served
};

class backend_pool;

// One open-connection slot of a pool, held by a session from acquire until its backend
// goes back to the pool or is closed; the destructor frees the slot with the reason set
// (once) by whoever saw why.
class pool_lease {
 public:
  pool_lease(std::shared_ptr<backend_pool> p, uint64_t generation, bool prefill = false)
      : pool_(std::move(p)), generation_(generation), prefill_(prefill) {}
  ~pool_lease();
  pool_lease(const pool_lease&) = delete;
  pool_lease& operator=(const pool_lease&) = delete;

  void set_reason(backend_close r) {
    if (!reason_)
      reason_ = r;
  }
  uint64_t generation() const { return generation_; }
  backend_pool& pool() { return *pool_; }
  // Hands the (reset) backend back; the slot goes with it.
  void give_back(idle_backend b);

 private:
  std::shared_ptr<backend_pool> pool_;
  uint64_t generation_;
  bool prefill_;  // a slot for a backend opened in advance (min_idle), no client yet
  bool held_ = true;
  std::optional<backend_close> reason_;
};

struct acquired {
  enum class kind { warm, fresh, timed_out, closed } what = kind::closed;
  std::optional<idle_backend> backend;  // warm
  reuse_plan plan;                      // warm: the SET for this client
  std::unique_ptr<pool_lease> lease;    // warm and fresh
  double waited_seconds = 0;
};

struct pool_limits {
  uint32_t size = 20;
  uint32_t min_idle = 0;
  config::duration idle_timeout{0};
  config::duration max_lifetime{0};
  config::duration wait_timeout{5'000};
  static pool_limits of(const config::route_pool& p) {
    return {p.size, p.min_idle, p.idle_timeout, p.max_lifetime, p.wait_timeout};
  }
};

class backend_pool : public std::enable_shared_from_this<backend_pool> {
 public:
  backend_pool(std::string route, std::string user, std::string database, pool_limits l);

  // A warm backend whose startup parameters can be made `wanted`'s, or the right to open
  // a new one, waiting up to wait_timeout; `ex` is the caller's thread.
  net::awaitable<acquired> acquire(param_list wanted, net::any_io_executor ex);

  // min_idle: opens one backend in advance on the lease's slot, in the background, and
  // hands it back with pool_lease::give_back (or drops the lease when it fails).
  using opener = std::function<void(std::unique_ptr<pool_lease>)>;
  // A client's login worked: from now on the pool keeps min_idle idle backends.
  void set_opener(opener o);
  // A backend opened in advance logged in (ok) or not; `refused`: the database refused
  // the credential, which is dropped until a client's login works again.
  void prefill_done(bool ok, bool refused);
  const std::string& route() const { return route_; }
  const std::string& user() const { return user_; }
  const std::string& database() const { return database_; }

  // Reload: new limits; `flush` retires every backend made before (the route changed).
  void apply(const pool_limits& l, bool flush);
  // Closes idle backends; later give-backs are closed and waiters told (drain, removal).
  void retire(backend_close why);
  // Closes idle backends that are dead, too old, or idle too long (down to min_idle).
  void reap(clock::time_point now);
  pool_snapshot snapshot();

 private:
  friend class pool_lease;
  struct waiter {
    explicit waiter(net::any_io_executor ex) : timer(std::move(ex)) {}
    net::steady_timer timer;
    param_list wanted;
    std::optional<acquired> grant;
  };

  void give_back(idle_backend b, bool prefilled);
  void release_slot(backend_close why, bool prefilled);
  // min_idle: opens what is missing (takes mu_; the opener runs outside it).
  void top_up();
  // Under mu_.
  void put_back_locked(idle_backend b, bool prefilled);
  void apply_locked(const pool_limits& l, bool flush);
  void reap_locked(clock::time_point now);
  std::optional<acquired> take_locked(const param_list& wanted);
  acquired fresh_locked();
  void close_locked(idle_backend b, backend_close why);
  void grant_locked(const std::shared_ptr<waiter>& w, acquired a);
  void serve_waiters_locked();

  const std::string route_, user_, database_;
  std::mutex mu_;
  pool_limits limits_;
  uint64_t generation_ = 1;
  bool retired_ = false;
  backend_close retired_why_ = backend_close::shutdown;
  std::deque<idle_backend> idle_;  // most recently used at the back
  std::deque<std::shared_ptr<waiter>> waiters_;
  uint32_t open_ = 0;     // idle + leased (opening included)
  uint32_t opening_ = 0;  // leased to a login opened in advance
  opener opener_;         // empty: no credential yet (or it was refused)
  clock::time_point retry_after_{};
  uint32_t failures_ = 0;  // of logins opened in advance, in a row
  uint64_t created_ = 0, reused_ = 0, wait_timeouts_ = 0, prefilled_ = 0;
  histogram wait_seconds_;
  std::map<std::string, uint64_t> closed_;
};

// Every pool of every route; the server's. Reloads and drain reach all of them.
class pool_registry {
 public:
  pool_registry() = default;
  // Retires every pool: a login opened in advance that ends later opens nothing more.
  ~pool_registry();
  pool_registry(const pool_registry&) = delete;
  pool_registry& operator=(const pool_registry&) = delete;
  std::shared_ptr<backend_pool> pool_for(const config::route& r, const std::string& user,
                                         const std::string& database);
  void apply(const config::settings& s);
  void drain();
  void reap();
  std::vector<pool_snapshot> snapshot();

 private:
  std::mutex mu_;
  std::map<std::tuple<std::string, std::string, std::string>, std::shared_ptr<backend_pool>> pools_;
  std::map<std::string, config::route> routes_;  // as last applied, to see what a reload changed
  bool draining_ = false;
};

}  // namespace sluice::gateway::pool
