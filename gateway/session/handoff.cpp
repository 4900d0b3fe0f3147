// A plaintext client on a tunnel route, once logged in, moves to the tunnel's thread
// (gateway/tunnel/handoff.hpp): a message then crosses one thread instead of two. The
// session keeps the bookkeeping (idle timer, terminate, the log line) and waits here.
#include <utility>  // before Asio: GCC 12 + Boost 1.74 awaitable.hpp needs std::exchange

#include <unistd.h>

#include <boost/asio/post.hpp>

#include "gateway/session/session.hpp"
#include "gateway/tunnel/manager.hpp"

namespace sluice::gateway {

bool session::can_hand_off() const {
  // TLS on either leg needs this thread's SSL objects, and splice keeps its own relay.
  return tunnel_channel_ != 0 && env_.tunnels() && !client_.is_tls() && !record_.upstream_tls &&
         rt_->settings->relay != config::settings::relay_mode::splice && !ending();
}

net::awaitable<void> session::hand_off() {
  auto self = shared_from_this();
  error_code ec;
  // 1. Stop the client->server pump between chunks; what it could not write yet (the
  //    tunnel is slow to take it) travels with the hand-off, so this never waits on it.
  advance(phase::handing_off);
  gate();  // before the pump can park and ring it
  client_.socket().cancel(ec);
  server_->socket().cancel(ec);
  while (!relay_.c2s_parked && phase_ != phase::closed)
    co_await gate().wait_until(std::chrono::steady_clock::time_point::max());
  if (phase_ == phase::closed)
    co_return;  // the client left, or the session was ended, meanwhile
  // 2. Both descriptors go to the tunnel's thread, which drains the socketpair in order.
  const int client_fd = client_.socket().release(ec);
  if (ec) {
    record_.end(close_reason::internal_error, "hand-off: " + ec.message());
    close_all();
    co_return;
  }
  const int session_fd = server_->socket().release(ec);
  if (ec) {
    ::close(client_fd);
    record_.end(close_reason::internal_error, "hand-off: " + ec.message());
    close_all();
    co_return;
  }
  auto ex = client_.socket().get_executor();
  handoff_ = std::make_shared<tunnel::handoff>(
      client_fd, session_fd, [weak = weak_from_this(), ex](tunnel::handoff_end e) {
        net::post(ex, [weak, e = std::move(e)]() mutable {
          if (auto s = weak.lock()) {
            s->handoff_end_ = std::make_unique<tunnel::handoff_end>(std::move(e));
            s->notify_gate();
          }
        });
      });
  advance(phase::handed_off);
  // The tunnel thread continues the client's message tracking from here.
  auto frames = std::make_shared<frame_tracker>(relay_.from_client);
  handoff_->observe_client = [frames](const uint8_t* p, size_t n) { frames->feed({p, n}); };
  handoff_->client_terminated = [frames] { return frames->last_type() == 'X'; };
  handoff_->to_server_first = std::move(relay_.c2s_rest);
  env_.tunnels()->hand_off(*tunnel_, tunnel_channel_, handoff_);
  // 3. Wait for the end; the idle timer and terminate() keep working through handoff_.
  while (!handoff_end_)
    co_await gate().wait_until(std::chrono::steady_clock::time_point::max());
  record_.bytes_in += handoff_->from_client.load();
  record_.bytes_out += handoff_->to_client.load();
  // Ended by terminate(): that cause was recorded first.
  record_.end(
      handoff_end_->client_ended ? close_reason::client_closed : close_reason::server_closed,
      handoff_end_->message);
  close_all();
}

std::chrono::steady_clock::time_point session::last_activity() const {
  auto t = relay_.last_activity;
  if (handoff_)
    t = std::max(t, handoff_->last_activity());
  if (kernel_) {
    // The program stamps CLOCK_MONOTONIC, the clock steady_clock reads on Linux.
    for (uint32_t slot : {kernel_->pair.client, kernel_->pair.server}) {
      auto ns = shared_load(kernel_->relay->end(slot).last_ns);
      t = std::max(t, std::chrono::steady_clock::time_point(std::chrono::nanoseconds(ns)));
    }
  }
  return t;
}

}  // namespace sluice::gateway
