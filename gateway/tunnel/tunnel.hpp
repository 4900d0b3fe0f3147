// One configured tunnel: a pool of `sessions` SSH sessions to one bastion, each kept up
// by its own connect -> run -> backoff loop, plus the channel-open entry point that
// waits (bounded) for the tunnel to be up. Lives on the manager's executor.
#pragma once

#include <utility>  // before Asio

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "config/settings.hpp"
#include "gateway/tunnel/backoff.hpp"
#include "gateway/tunnel/manager.hpp"
#include "gateway/tunnel/session.hpp"

namespace sluice::tunnel {

enum class tunnel_state { connecting, up, backoff, failed, stopped };
const char* to_string(tunnel_state s);

class tunnel_runner : public std::enable_shared_from_this<tunnel_runner> {
 public:
  tunnel_runner(boost::asio::io_context& ioc, config::tunnel cfg);

  // Thread-safe (they post to the executor).
  void start();
  void stop();
  void update(config::tunnel cfg);  // keys, trust, timeouts, keepalive: used from now on

  // On the tunnel's executor. `local_fd` >= 0: pump that fd (ownership passes to the
  // tunnel even on failure); otherwise a socketpair end is returned in the result.
  boost::asio::awaitable<channel_result> open(std::string host, uint16_t port, int local_fd = -1);

  // On the tunnel's executor: one of this tunnel's sessions takes over the client of
  // channel `id` (see handoff.hpp). False when no session has that channel any more.
  bool adopt(uint64_t id, const std::shared_ptr<handoff>& h);

  boost::asio::io_context::executor_type executor() { return ioc_.get_executor(); }
  nlohmann::json status() const;
  bool up() const { return sessions_up_.load() > 0; }
  bool finished() const { return loops_.load() == 0; }

 private:
  struct slot {
    std::shared_ptr<ssh_session> session;
    std::shared_ptr<waker> sleep;
    tunnel_state state = tunnel_state::connecting;
  };
  boost::asio::awaitable<void> slot_loop(size_t i);
  void set_state(size_t i, tunnel_state s);
  void set_error(const tunnel_error& e);
  void wake_waiters();

  boost::asio::io_context& ioc_;
  config::tunnel cfg_;                // tunnel thread only
  const std::string name_, bastion_;  // fixed for the runner's life (status() reads them)
  std::vector<slot> slots_;
  std::shared_ptr<tunnel_stats> stats_;
  std::vector<std::shared_ptr<waker>> up_waiters_;
  std::string learned_type_;
  bool stopped_ = false;
  std::atomic<int> loops_{0};
  std::atomic<int> sessions_up_{0};

  mutable std::mutex mu_;  // guards the fields below, read by status() from any thread
  tunnel_state state_ = tunnel_state::connecting;
  std::chrono::system_clock::time_point since_ = std::chrono::system_clock::now();
  tunnel_error last_error_;
  std::chrono::system_clock::time_point last_error_at_{};
  uint64_t reconnects_ = 0;
  std::string host_key_;
  std::string key_used_;
};

}  // namespace sluice::tunnel
