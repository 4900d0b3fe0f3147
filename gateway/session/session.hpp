// One client connection from accept to close, as a pipeline of phases (docs/architecture.md,
// "One client connection"), one file each:
//   proxy_header_phase.cpp  PROXY header from a trusted load balancer
//   negotiate.cpp           GSSENC/SSL/direct TLS, then the StartupMessage (or a cancel)
//   admit.cpp               listener and route allowlists, client_tls (pure)
//   ../upstream.cpp         the route's backend, TLS per sslmode, the startup packet
//   terminate_auth.cpp      auth.mode terminate: sluice runs SCRAM/md5 with the client
//                           (client_login, pure), then logs in upstream (server_login)
//   auth_phase.cpp          backend messages until ReadyForQuery (pure)
//   relay.cpp               both directions, blind
//   pool_phase.cpp          routes[].pool: a warm backend instead of a new login, and
//                           handing it back when the client leaves
//   handoff.cpp             a tunnel route's plaintext client moves to the tunnel thread
//   kernel_relay.cpp        relay: kernel, the BPF sockmap forwards; the session controls
//   passthrough.cpp         a passthrough listener: SNI route, TLS bytes untouched
//   cancel_phase.cpp        a CancelRequest connection
// Lives on one worker thread; no exception escapes it; record.hpp keeps the first cause
// and writes the one log line.
#pragma once

#include <utility>

#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "config/cidr.hpp"
#include "gateway/drains.hpp"
#include "gateway/pg_stream.hpp"
#include "gateway/pg_wire.hpp"
#include "gateway/pool/backend_pool.hpp"
#include "gateway/pool/query_reply.hpp"
#include "gateway/pool/session_watch.hpp"
#include "gateway/relay/kernel_relay.hpp"
#include "gateway/route_budget.hpp"
#include "gateway/runtime.hpp"
#include "gateway/session/admit.hpp"
#include "gateway/session/login_deadline.hpp"
#include "gateway/session/record.hpp"
#include "gateway/session/relay.hpp"
#include "gateway/session/server_login.hpp"
#include "gateway/session/shared_services.hpp"
#include "gateway/session/wait_slot.hpp"
#include "gateway/tunnel/handoff.hpp"
#include "gateway/tunnel/waker.hpp"
#include "gateway/worker.hpp"

namespace sluice::tunnel {
class manager;
}

namespace sluice::gateway {

class cancel_registry;

// terminate_auth.cpp: what the client leg hands the server leg.
struct terminated_client {
  server_credentials creds;
  pg::bytes held;  // SASLFinal (if any) and AuthenticationOk, sent once the server leg is in
  std::string mechanism;
  std::string source;  // of the secret: file, query, cache
};

struct session_env {
  worker* home = nullptr;
  std::atomic<uint32_t>* listener_active = nullptr;  // max_connections accounting
  const shared_services* services = nullptr;
  cancel_registry* cancels() const { return services->cancels; }
  tunnel::manager* tunnels() const { return services->tunnels; }
  pool::pool_registry* pools() const { return services->pools; }
  route_budget* budget() const { return services->budget; }
  const drains* drained() const { return services->drained; }
};

// One open session as the admin API lists it (GET /v1/sessions).
struct session_info {
  uint64_t id = 0;
  std::string peer, listener, route, user, database, state;
  std::chrono::system_clock::time_point since;
  uint64_t bytes_in = 0, bytes_out = 0;  // client->server, server->client so far
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
  void terminate(close_reason reason, const std::string& sqlstate, const std::string& message);
  // On the session's thread: what it is doing now.
  session_info info() const;
  uint64_t id() const { return record_.conn; }
  // Route and bytes so far, read on the session's thread (live route traffic).
  const close_record& record() const { return record_; }

 private:
  // Forward only: terminating and closed are last, so a later step never undoes them.
  enum class phase {
    startup,         // PROXY header, negotiation, TLS, startup packet (startup_timeout)
    connecting,      // admitted; reaching the backend
    authenticating,  // client bytes flow blind, backend messages are inspected
    relaying,        // both directions blind
    handing_off,     // the client->server direction is asked to stop
    handed_off,      // the tunnel thread relays; the session waits for the end
    in_kernel,       // the BPF sockmap relays; the session keeps the control
    terminating,     // an ErrorResponse is being written before closing
    closed,
  };
  void advance(phase p) {
    if (phase_ < p)
      phase_ = p;
  }
  bool relay_started() const { return phase_ >= phase::authenticating; }
  bool ending() const { return phase_ >= phase::terminating; }

  // What negotiation ended with; anything but startup has done its work already.
  struct negotiated {
    // done: close the session; relaying: the relay owns it (passthrough).
    enum class outcome { startup, done, relaying } what = outcome::done;
    pg::startup_message startup;
    std::string sni;  // from the client's TLS, when it ended here
    pg::bytes early;  // bytes the client sent right after its startup packet
  };

  net::awaitable<void> run();
  net::awaitable<void> run_startup(pg::startup_message startup, std::string sni, pg::bytes early);
  // proxy_header_phase.cpp. False = close (cause recorded).
  net::awaitable<bool> read_proxy_header(const listener_runtime& l);
  // negotiate.cpp
  net::awaitable<negotiated> negotiate();
  net::awaitable<bool> accept_tls(const listener_runtime& l);  // false: cause recorded
  // Records the cause, tells the client why with an ErrorResponse, closes.
  net::awaitable<void> reject(refusal r);
  // cancel_phase.cpp
  net::awaitable<void> handle_cancel(const pg::cancel_request& c);
  // passthrough.cpp: routes on the ClientHello's SNI and relays the TLS bytes untouched.
  // True once the relay runs (it closes the session); false: closed, cause recorded.
  net::awaitable<bool> passthrough(pg::bytes hello_prefix);
  // auth (session.cpp, pure part in auth_phase.cpp): true once ReadyForQuery went out.
  net::awaitable<bool> authenticate(pg::bytes pending);
  // terminate_auth.cpp (auth.mode: terminate). nullopt/false: closed, cause recorded.
  net::awaitable<std::optional<terminated_client>> authenticate_client(const route_runtime& rr,
                                                                       pg::bytes& early);
  net::awaitable<bool> login_upstream(terminated_client& c, pg::bytes& pending);
  // upstream.login_timeout passed (login_limit_ fired): tells the client, closes.
  net::awaitable<void> reject_login_timeout();
  // pool_phase.cpp (routes[].pool). connect: a slot is leased, open a new backend;
  // relay: a warm backend is in place and the client greeted; closed: cause recorded.
  enum class pool_start { connect, relay, closed };
  net::awaitable<pool_start> acquire_backend(const route_runtime& rr,
                                             const pg::startup_message& startup,
                                             terminated_client& c, pg::bytes& early);
  // After the relay: reset the backend and give it back, or close it.
  net::awaitable<void> release_backend();
  // pool.min_idle: this new backend's login worked, so the pool may open more in
  // advance with the same credential and startup packet (session/pool_prefill.hpp).
  void start_prefill(const route_runtime& rr, server_credentials creds, pg::bytes startup);
  // A simple Query of sluice's own on the backend, bounded by the route's connect_timeout.
  net::awaitable<bool> pool_query(const std::string& sql, pool::query_reply& reply);
  // Operator drains and the route's connection budget, once the route is known; a
  // refusal to tell the client (passthrough: logged only), or nothing when admitted.
  std::optional<refusal> admit_budget(const config::route& r, const std::string& user);
  // The `auth_failed` log line: the backend's own words for a refused login.
  void log_backend_refusal(const pg::error_fields& e);
  // relay.cpp: each direction runs from readiness callbacks (an idle one holds a pending
  // wait and nothing else); a coroutine only while a partial write is flushed.
  void spawn_client_to_server();
  // The server->client direction (or the kernel relay's control), once logged in.
  void spawn_server_to_client(bool in_kernel);
  void start_relay(bool client_to_server);
  void relay_arm(bool client_to_server);
  // From a callback or the flush: `readable` = just woken for readability; `ec` = the wait's.
  void relay_run(bool client_to_server, bool readable, error_code ec = {});
  void relay_burst(bool client_to_server, bool readable);
  net::awaitable<void> relay_flush(bool client_to_server, pg::bytes rest);
  // The direction is done: the close reason, the hand-off's park, a pooled release.
  void relay_finish(bool client_to_server, error_code ec);
  void release_after_relay();
  // splice: plaintext both ways through a kernel pipe.
  net::awaitable<void> splice_pump(pg_stream& from, pg_stream& to, uint64_t& counter,
                                   bool client_to_server);
  // handoff.cpp: a plaintext client on a tunnel route, once logged in: the tunnel's
  // thread relays its socket from then on (tunnel/handoff.hpp); this waits for the end.
  bool can_hand_off() const;
  net::awaitable<void> hand_off();
  // kernel_relay.cpp: relay: kernel on plaintext legs once logged in.
  bool can_relay_in_kernel() const;
  net::awaitable<void> relay_in_kernel();
  // Disarms the pair, forwards what the program passed up, arms it again.
  net::awaitable<void> kernel_resync();
  net::awaitable<bool> kernel_drain(bool client_to_server);
  // Waits until what the program redirected towards one leg has left in TCP.
  net::awaitable<bool> kernel_wait_delivered(bool to_client, std::chrono::milliseconds limit);
  net::awaitable<void> kernel_finish(bool client_side);
  net::awaitable<void> kernel_terminate(std::string sqlstate, std::string message);
  void kernel_leave();
  // Steady state of an armed pair: its sockets leave Asio's epoll (leg_watch.hpp says
  // why) until either ends or the session needs them. False: park not possible.
  bool kernel_park();
  void kernel_unpark();  // no-op unless parked
  std::chrono::steady_clock::time_point last_activity() const;
  void arm_idle_timer();
  void close_all();

  pg_stream client_;
  // routes[].pool only, allocated then (an unpooled session does not carry it): the slot
  // this session's backend holds (freed after server_ closes), what the pool keeps with
  // the backend (its key, parameters, age), and the two watches that tell whether the
  // backend can be kept when the client leaves.
  struct pool_state {
    std::unique_ptr<pool::pool_lease> lease;
    pool::idle_backend meta;
    uint64_t readies_before_relay = 0;  // the login's ReadyForQuery, for a new backend
    pool::backend_watch backend;
    pool::client_watch client;
  };
  std::unique_ptr<pool_state> pool_;
  std::unique_ptr<pg_stream> server_;
  // Terminate mode: bounds sluice's own login to the database (upstream.login_timeout).
  std::unique_ptr<login_deadline> login_limit_;
  runtime_ptr rt_;
  session_env env_;
  config::ip_address peer_addr_;  // the client's (from the PROXY header, if any)
  close_record record_;
  phase phase_ = phase::startup;
  relay_state relay_;
  config::duration idle_timeout_{0};
  // startup_timeout, then idle_timeout. On the worker's io_context's own executor: every
  // session holds one, and the polymorphic executor of net::steady_timer is 32 bytes more.
  net::basic_waitable_timer<std::chrono::steady_clock, net::wait_traits<std::chrono::steady_clock>,
                            net::io_context::executor_type>
      timer_;
  // The cancel key given to this client, registered in env_.cancels() until the end.
  std::optional<pg::backend_key_data> cancel_key_;
  // A route via an SSH tunnel: its name (in rt_'s route, which lives as long as the
  // session) and the channel, for the hand-off.
  const std::string* tunnel_ = nullptr;
  uint64_t tunnel_channel_ = 0;
  std::shared_ptr<tunnel::handoff> handoff_;  // once handed off
  std::unique_ptr<tunnel::handoff_end> handoff_end_;
  // Wakes hand_off() and the kernel relay at each of their steps; made by them (gate()).
  std::unique_ptr<tunnel::waker> gate_;
  tunnel::waker& gate();
  void notify_gate() {
    if (gate_)
      gate_->notify();
  }
  // relay: kernel: the pair in the sockmap and what sluice itself wrote to each leg since
  // (so that what the program redirected can be told apart in TCP's counts).
  struct kernel_legs {
    kernel_relay* relay = nullptr;
    kernel_relay::pair pair;
    uint64_t base_to_client = 0, base_to_server = 0;  // bytes written before entering
    uint64_t user_to_client = 0, user_to_server = 0;  // written by sluice since
    bool waiting[2] = {false, false};                 // an async_wait is out (client, server)
    // While parked (armed, both sockets out of Asio's reactor and in the leg watch):
    // the watch's token and the released descriptors, client then server.
    uint64_t watch = 0;
    int parked_fd[2] = {-1, -1};
    bool parked_v6[2] = {false, false};
    kernel_legs() = default;
    kernel_legs(const kernel_legs&) = delete;
    kernel_legs& operator=(const kernel_legs&) = delete;
    ~kernel_legs();  // a session gone while parked: out of the watch, descriptors closed
  };
  std::unique_ptr<kernel_legs> kernel_;
  std::unique_ptr<route_budget::slot> budget_slot_;  // held while the session lives
  // The copy relay's pending waits, client->server and server->client (wait_slot.hpp).
  wait_slot wait_slots_[2];
  std::chrono::system_clock::time_point since_ = std::chrono::system_clock::now();
};

}  // namespace sluice::gateway
