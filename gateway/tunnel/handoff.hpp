// A plaintext client connection handed to the tunnel thread once its login is done:
// the tunnel then moves bytes between the client's own socket and the SSH channel, so a
// message crosses one thread instead of two (worker -> socketpair -> tunnel). The
// gateway session keeps the connection's bookkeeping and reads what it needs here.
//
// Shared by the session's worker thread and the tunnel thread: the counters are atomics,
// the end callback is guarded by a mutex so the session can detach it when it dies.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace sluice::tunnel {

struct handoff_end {
  bool client_ended = false;  // the client closed (or sent Terminate) first
  std::string message;        // why, when the tunnel ended it (tunnel lost, closed by request)
};

class handoff {
 public:
  using end_fn = std::function<void(handoff_end)>;
  handoff(int client_fd, int session_fd, end_fn on_end)
      : client_fd(client_fd), session_fd(session_fd), on_end_(std::move(on_end)) {}

  // Owned by the tunnel from manager::hand_off() on (closed by it in every outcome).
  const int client_fd;
  const int session_fd;  // the worker's end of the channel's socketpair, drained then closed

  std::atomic<uint64_t> from_client{0}, to_client{0};
  std::atomic<int64_t> last_activity_ns{now_ns()};
  std::atomic<bool> close_requested{false};
  // Set by the session before the hand-off, called on the tunnel thread: sees every
  // client byte the tunnel reads, and says at the end whether the client's last message
  // was a Terminate (the client ended the session even if the server's EOF came first).
  std::function<void(const uint8_t*, size_t)> observe_client;
  std::function<bool()> client_terminated;
  // Client bytes the session read but the socketpair had no room for: they follow what
  // the socketpair holds.
  std::vector<uint8_t> to_server_first;

  void touch() { last_activity_ns.store(now_ns(), std::memory_order_relaxed); }
  std::chrono::steady_clock::time_point last_activity() const {
    return std::chrono::steady_clock::time_point(
        std::chrono::nanoseconds(last_activity_ns.load(std::memory_order_relaxed)));
  }

  // Tunnel thread: the channel is gone; tells the session once.
  void finish(handoff_end e) {
    std::lock_guard lk(mu_);
    if (on_end_)
      std::exchange(on_end_, nullptr)(std::move(e));
  }
  // Session's thread (reload, idle timeout, shutdown): end the connection.
  void request_close() {
    close_requested.store(true);
    std::function<void()> k;
    {
      std::lock_guard lk(mu_);
      k = kick_;
    }
    if (k)
      k();
  }
  // Tunnel thread, when it adopts the connection: how request_close() wakes it.
  void set_kick(std::function<void()> k) {
    std::lock_guard lk(mu_);
    kick_ = std::move(k);
  }
  // Session's thread, from its destructor: nobody to tell any more.
  void detach() {
    std::lock_guard lk(mu_);
    on_end_ = nullptr;
  }

 private:
  static int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  std::mutex mu_;
  end_fn on_end_;
  std::function<void()> kick_;
};

}  // namespace sluice::tunnel
