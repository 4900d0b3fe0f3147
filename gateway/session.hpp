// One client connection from accept to close: startup negotiation (GSSENC/SSL/direct
// TLS), allowlists, routing, upstream connect, the inspected authentication phase and
// the blind relay. Lives on one worker thread; no exception escapes it; exactly one
// log line records how it ended.
#pragma once

#include <utility>

#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "config/cidr.hpp"
#include "gateway/frame_tracker.hpp"
#include "gateway/pg_stream.hpp"
#include "gateway/pg_wire.hpp"
#include "gateway/runtime.hpp"
#include "gateway/tunnel/handoff.hpp"
#include "gateway/tunnel/waker.hpp"
#include "gateway/worker.hpp"

namespace sluice::tunnel {
class manager;
}

namespace sluice::gateway {

class cancel_registry;

struct session_env {
  worker* home = nullptr;
  cancel_registry* cancels = nullptr;
  tunnel::manager* tunnels = nullptr;
  std::atomic<uint32_t>* listener_active = nullptr;  // max_connections accounting
};

class session : public std::enable_shared_from_this<session> {
 public:
  session(tcp::socket client, runtime_ptr rt, std::string listener, session_env env, uint64_t id);
  ~session();

  void start();
  // On the session's thread after a reload: close it if its address is no longer allowed
  // (listeners with enforce_on_reload).
  void on_reload(const runtime_ptr& next);
  // Ends the session, telling the client why when the stream is at a message boundary.
  void terminate(const std::string& reason, const std::string& sqlstate,
                 const std::string& message);

 private:
  net::awaitable<void> run();
  net::awaitable<bool> negotiate(pg::startup_message& startup);
  // TLS handshake as the server on the client leg; false (reason set) on failure.
  net::awaitable<bool> accept_tls(const listener_runtime& l);
  net::awaitable<void> reject(const std::string& reason, const std::string& sqlstate,
                              const std::string& message, const std::string& hint = {});
  net::awaitable<bool> auth_phase(pg::bytes pending);
  net::awaitable<void> handle_cancel(const pg::cancel_request& c);
  // PROXY v1/v2 from a trusted load balancer: replaces the peer address. False = close.
  net::awaitable<bool> read_proxy_header(const listener_runtime& l);
  // Passthrough: routes on the ClientHello's SNI and relays the TLS bytes untouched.
  net::awaitable<void> passthrough(pg::bytes hello_prefix);
  net::awaitable<void> pump(bool client_to_server);
  // A plaintext client on a tunnel route, once logged in: the tunnel's thread relays
  // its socket from then on (tunnel/handoff.hpp); this waits for the end.
  bool can_hand_off() const;
  net::awaitable<void> hand_off();
  std::chrono::steady_clock::time_point last_activity() const;
  // relay: splice — plaintext both ways through a kernel pipe.
  net::awaitable<void> splice_pump(pg_stream& from, pg_stream& to, uint64_t& counter,
                                   bool client_to_server);
  // A backend ErrorResponse with a hint saying what to change, or empty to pass it as is.
  pg::bytes explain_backend_error(pg::byte_span body) const;
  void arm_idle_timer();
  void close_all();

  pg_stream client_;
  std::unique_ptr<pg_stream> server_;
  runtime_ptr rt_;
  std::string listener_;
  session_env env_;
  uint64_t id_;
  config::ip_address peer_addr_;
  std::string peer_;
  std::string route_, user_, database_, sni_;
  std::string reason_ = "client_closed";
  bool relaying_ = false;
  bool passthrough_ = false;
  bool splice_blind_ = false;  // server->client bytes bypass the frame tracker  // relayed bytes
                               // are TLS records: never inject messages
  std::string balancer_;       // the load balancer's address when PROXY protocol was used
  bool upstream_tls_ = false;
  bool closed_ = false;
  bool terminating_ = false;        // an ErrorResponse is being written before closing
  bool client_write_busy_ = false;  // the server->client pump is mid-write
  std::string detail_;              // human-readable close message for the log
  pg::bytes client_early_;
  std::optional<pg::backend_key_data>
      minted_key_;  // registered in env_.cancels          // bytes the client sent right after its
                    // startup packet
  int pumps_ = 0;
  frame_tracker to_client_frames_;
  // The client's messages: once it sent Terminate, the server closing first is still
  // the client ending the session (the two EOFs race).
  frame_tracker from_client_frames_;
  uint64_t bytes_in_ = 0, bytes_out_ = 0;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_activity_ = started_;
  config::duration idle_timeout_{0};
  net::steady_timer timer_;
  // Tunnel hand-off: the channel, the shared state once handed, and the steps.
  std::string tunnel_;
  uint64_t tunnel_channel_ = 0;
  std::shared_ptr<tunnel::handoff> handoff_;
  bool handing_off_ = false;  // the client->server pump is asked to stop
  bool c2s_parked_ = false;   // ... and has; c2s_rest_ is what it read but could not write
  pg::bytes c2s_rest_;
  std::optional<tunnel::handoff_end> handoff_end_;
  tunnel::waker gate_;  // wakes hand_off() at each of those steps
};

}  // namespace sluice::gateway
