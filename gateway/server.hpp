// The data plane: N worker threads, each with its own io_context and an acceptor per
// listener (SO_REUSEPORT, so the kernel spreads connections), the current runtime
// snapshot, reloads and graceful drain.
#pragma once

#include <utility>

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gateway/cancel.hpp"
#include "gateway/drains.hpp"
#include "gateway/pool/backend_pool.hpp"
#include "gateway/route_budget.hpp"
#include "gateway/runtime.hpp"
#include "gateway/session/shared_services.hpp"
#include "gateway/worker.hpp"

namespace sluice::tunnel {
class manager;
}

namespace sluice::gateway {

struct session_info;

class server {
 public:
  server(runtime_ptr initial, tunnel::manager* tunnels);
  ~server();

  // Binds every listener on every worker and starts the threads. Throws on bind errors.
  void start();
  // Swaps in a new snapshot; sessions on listeners with enforce_on_reload are checked.
  void apply(runtime_ptr next);
  // Stops accepting, waits up to `grace` for sessions to end, then terminates the rest.
  void drain(std::chrono::milliseconds grace);
  void stop();

  runtime_ptr current() const { return std::atomic_load(&current_); }
  uint64_t active_sessions() const;
  // Sum of every worker's metrics, each copied on its own thread. Not for the data plane.
  metrics collect_metrics();
  // Actual bound port of a listener (useful when configured with port 0).
  uint16_t bound_port(const std::string& listener) const;
  const std::vector<std::unique_ptr<worker>>& workers() const { return workers_; }
  cancel_registry& cancels() { return cancels_; }
  // routes[].pool: every pool's numbers, for status and metrics.
  std::vector<pool::pool_snapshot> pools() { return pools_.snapshot(); }

  // Live control (admin API). Each gathers from or posts to every worker's own thread.
  std::vector<session_info> sessions();
  // Ends session `id` as an operator's kill (SQLSTATE 57P01); false when none has that id.
  bool kill(uint64_t id);
  // Drains (refuses new connections) or resumes a route or listener of the current
  // configuration; false when it has no such name.
  bool set_drained(drains::kind k, const std::string& name, bool drained);
  const drains& drained() const { return drains_; }
  uint32_t sessions_on_route(const std::string& route) const { return budget_.on_route(route); }

 private:
  struct bound_listener {
    std::string name;
    std::unique_ptr<std::atomic<uint32_t>> active = std::make_unique<std::atomic<uint32_t>>(0);
    uint16_t port = 0;
    std::vector<std::unique_ptr<boost::asio::ip::tcp::acceptor>> acceptors;  // one per worker
  };
  void accept_loop(worker& w, bound_listener& bl, boost::asio::ip::tcp::acceptor& acceptor);
  // Once a second on the first worker: idle pooled backends that died or aged out.
  void reap_pools();
  // On w's thread: the listener's max_connections, then a session for the socket.
  void admit_accepted(worker& w, bound_listener& bl, boost::asio::ip::tcp::socket sock);

  runtime_ptr current_;
  tunnel::manager* tunnels_;
  cancel_registry cancels_;
  route_budget budget_;
  drains drains_;
  // What sessions point at. Before workers_: sessions still held by pending operations
  // die when a worker's io_context is destroyed, and read it then.
  shared_services services_;
  std::vector<std::unique_ptr<worker>> workers_;
  // After workers_, so destroyed first: idle backends' sockets and the reaper's timer
  // belong to the workers' io_contexts.
  pool::pool_registry pools_;
  std::unique_ptr<boost::asio::steady_timer> reaper_;
  std::vector<std::unique_ptr<bound_listener>> listeners_;
  std::vector<std::thread> threads_;
  std::atomic<uint64_t> next_id_{1};
  std::atomic<bool> accepting_{true};
};

}  // namespace sluice::gateway
