// One agent's SSH connection to the reverse endpoint (libssh server session, non-blocking,
// driven from the endpoint thread's io_context): key exchange, public-key login as the
// tunnel's name, the remote forwards it announces, keepalives, and the forwarded-tcpip
// channels routes open through it. Everything else an SSH client may ask for (shell,
// exec, subsystems, pty, env, agent/X11 forwarding, direct-tcpip) is refused and logged.
//
// libssh reads and writes the socket itself; we wait for readiness on a dup of its fd and
// then let libssh poll with a zero timeout, so the thread never blocks.
#pragma once

#include <utility>  // before Asio

#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <libssh/server.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <list>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "config/settings.hpp"
#include "gateway/tunnel/reverse/policy.hpp"
#include "gateway/tunnel/waker.hpp"

namespace sluice::tunnel::reverse {

// Per reverse tunnel, shared by its agents; read by status() from the endpoint thread.
struct tunnel_counters {
  std::atomic<uint64_t> bytes_in{0};   // agent -> gateway (database replies)
  std::atomic<uint64_t> bytes_out{0};  // gateway -> agent
  std::atomic<uint32_t> open_channels{0};
  std::atomic<uint64_t> channels_opened{0};
  std::atomic<uint64_t> channels_refused{0};
};

// A route's request for a forwarded-tcpip channel, answered by the agent.
struct channel_request {
  std::string host;  // upstream.host (for messages; the agent decides where the port goes)
  uint16_t port = 0;
  int local_fd = -1;  // owned by the agent once queued
  bool done = false;
  bool abandoned = false;
  std::string stage, error;
  std::shared_ptr<waker> w;
};

class agent;

// What an agent needs from the endpoint that owns it (all on the endpoint thread).
class agent_host {
 public:
  virtual ~agent_host() = default;
  virtual auth_verdict authorize(const std::string& user, const std::string& key_b64) = 0;
  // The tunnel's current settings and counters (nullptr when it was removed).
  virtual const config::tunnel* tunnel_config(const std::string& name) = 0;
  virtual std::shared_ptr<tunnel_counters> counters(const std::string& name) = 0;
  virtual void on_authenticated(agent& a) = 0;
  virtual void on_forwards_changed(agent& a) = 0;
  virtual void on_closed(agent& a) = 0;
};

class agent : public std::enable_shared_from_this<agent> {
 public:
  using clock = std::chrono::steady_clock;
  // Takes ownership of `session` (already accepted on `fd` by ssh_bind_accept_fd).
  agent(boost::asio::io_context& ioc, agent_host& host, ssh_session session, int fd,
        std::string address, config::duration login_timeout);
  ~agent();
  agent(const agent&) = delete;
  agent& operator=(const agent&) = delete;

  void start();
  // Ends the connection (logged with `reason`); channels fail, the host is told.
  void close(const std::string& reason);
  // Queues a forwarded-tcpip open for req->port (the agent must have announced it).
  void open_forward(std::shared_ptr<channel_request> req);

  bool alive() const { return !dead_; }
  bool authenticated() const { return authenticated_; }
  const std::string& tunnel() const { return tunnel_; }
  const std::string& key_b64() const { return key_b64_; }
  const std::string& key_fingerprint() const { return key_fp_; }
  const std::string& address() const { return address_; }
  const std::vector<announced_forward>& forwards() const { return forwards_; }
  size_t channel_count() const { return chans_.size(); }
  nlohmann::json status() const;

 private:
  struct chan;

  // libssh callbacks (userdata = this).
  static int on_auth_pubkey(ssh_session, const char* user, ssh_key key, char state, void* ud);
  static int on_auth_password(ssh_session, const char* user, const char* pw, void* ud);
  static int on_auth_none(ssh_session, const char* user, void* ud);
  static int on_message(ssh_session, ssh_message msg, void* ud);
  static int on_chan_data(ssh_session, ssh_channel, void* data, uint32_t len, int is_stderr,
                          void* ud);
  static void on_chan_eof(ssh_session, ssh_channel, void* ud);
  static void on_chan_close(ssh_session, ssh_channel, void* ud);
  static int on_chan_wontblock(ssh_session, ssh_channel, uint32_t bytes, void* ud);

  int handle_message(ssh_message msg);
  void refuse(const std::string& what, const std::string& reason);
  void drive();
  void arm();
  void service(chan& c);
  void pump_to_agent(chan& c);
  void drain_to_local(chan& c);
  void finish_open(chan& c);
  void end_chan(chan& c, const std::string& why);
  void sweep();
  void on_tick();
  void teardown(const std::string& reason, bool graceful);

  boost::asio::io_context& ioc_;
  agent_host& host_;
  ssh_session session_;
  ssh_event event_ = nullptr;
  boost::asio::posix::stream_descriptor sock_;  // a dup of libssh's fd, for readiness only
  boost::asio::steady_timer login_timer_;
  boost::asio::steady_timer tick_;
  ssh_server_callbacks_struct server_cb_{};
  std::list<std::shared_ptr<chan>> chans_;
  std::vector<ssh_channel> session_chans_;  // accepted "session" channels, refused requests

  const std::string address_;
  const std::chrono::system_clock::time_point since_ = std::chrono::system_clock::now();
  std::string user_;  // as sent (may not be a tunnel)
  std::string tunnel_;
  std::string key_b64_, key_fp_;
  std::vector<std::string> tried_;  // auth methods/keys seen, for the refusal log
  std::string last_refusal_;
  std::vector<announced_forward> forwards_;
  std::shared_ptr<tunnel_counters> counters_;
  config::keepalive_settings keepalive_;
  clock::time_point last_inbound_ = clock::now();
  std::chrono::system_clock::time_point last_inbound_wall_ = std::chrono::system_clock::now();
  uint64_t bytes_in_ = 0, bytes_out_ = 0, channels_opened_ = 0;

  bool authenticated_ = false;
  bool dead_ = false;
  bool driving_ = false, again_ = false;
  bool rd_armed_ = false, wr_armed_ = false;
  std::string close_reason_;  // set from inside callbacks; acted on after the poll
};

std::string fingerprint_of_b64(const std::string& key_b64);

}  // namespace sluice::tunnel::reverse
