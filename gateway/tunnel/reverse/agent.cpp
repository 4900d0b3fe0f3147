#include "gateway/tunnel/reverse/agent.hpp"

#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "config/log.hpp"
#include "gateway/tunnel/ssh_format.hpp"
#include "gateway/tunnel/status_text.hpp"

namespace sluice::tunnel::reverse {

namespace asio = boost::asio;

namespace {

constexpr size_t kChunk = 64 * 1024;

std::string key_base64(ssh_key key) {
  char* b64 = nullptr;
  if (ssh_pki_export_pubkey_base64(key, &b64) != SSH_OK || !b64)
    return {};
  std::string out(b64);
  ssh_string_free_char(b64);
  return out;
}

const char* channel_request_name(int subtype) {
  switch (subtype) {
    case SSH_CHANNEL_REQUEST_PTY:
      return "pty";
    case SSH_CHANNEL_REQUEST_EXEC:
      return "exec";
    case SSH_CHANNEL_REQUEST_SHELL:
      return "shell";
    case SSH_CHANNEL_REQUEST_ENV:
      return "env";
    case SSH_CHANNEL_REQUEST_SUBSYSTEM:
      return "subsystem";
    case SSH_CHANNEL_REQUEST_WINDOW_CHANGE:
      return "window-change";
    case SSH_CHANNEL_REQUEST_X11:
      return "x11-forwarding";
    default:
      return "agent-forwarding or other channel request";
  }
}

const char* channel_open_name(int subtype) {
  switch (subtype) {
    case SSH_CHANNEL_DIRECT_TCPIP:
      return "direct-tcpip";
    case SSH_CHANNEL_FORWARDED_TCPIP:
      return "forwarded-tcpip";
    case SSH_CHANNEL_X11:
      return "x11";
    case SSH_CHANNEL_AUTH_AGENT:
      return "auth-agent";
    default:
      return "unknown channel type";
  }
}

}  // namespace

std::string fingerprint_of_b64(const std::string& key_b64) {
  auto blob = tunnel::base64_decode(key_b64);
  return blob ? tunnel::fingerprint_of_blob(*blob) : std::string();
}

struct agent::chan {
  agent* owner = nullptr;
  ssh_channel ch = nullptr;
  int fd = -1;
  std::unique_ptr<asio::posix::stream_descriptor> local;
  std::shared_ptr<channel_request> req;  // while opening
  announced_forward fwd;
  enum class st { opening, open, done } state = st::opening;
  agent::clock::time_point open_deadline;
  bool local_readable = true, rd_armed = false, wr_armed = false;
  bool local_eof = false, eof_sent = false, ssh_eof = false, ssh_closed = false;
  bool local_shut = false, blocked = false, counted = false;
  bool pending_in = false;  // the data callback left bytes in libssh's channel buffer
  std::string to_local, to_agent;
  ssh_channel_callbacks_struct cb{};
};

agent::agent(asio::io_context& ioc, agent_host& host, ssh_session session, int fd,
             std::string address, config::duration login_timeout)
    : ioc_(ioc),
      host_(host),
      session_(session),
      sock_(ioc),
      login_timer_(ioc),
      tick_(ioc),
      address_(std::move(address)) {
  boost::system::error_code ec;
  const int d = ::dup(fd);
  if (d >= 0)
    sock_.assign(d, ec);
  login_timer_.expires_after(login_timeout);
}

agent::~agent() {
  teardown("agent object destroyed", false);
}

void agent::start() {
  ssh_callbacks_init(&server_cb_);
  server_cb_.userdata = this;
  server_cb_.auth_pubkey_function = &agent::on_auth_pubkey;
  server_cb_.auth_password_function = &agent::on_auth_password;
  server_cb_.auth_none_function = &agent::on_auth_none;
  ssh_set_server_callbacks(session_, &server_cb_);
  ssh_set_message_callback(session_, &agent::on_message, this);
  ssh_set_auth_methods(session_, SSH_AUTH_METHOD_PUBLICKEY);
  ssh_set_blocking(session_, 0);
  // The first call sends the banner and creates libssh's poll context for the socket,
  // which ssh_event_add_session then moves into our event.
  if (ssh_handle_key_exchange(session_) == SSH_ERROR) {
    close(std::string("SSH handshake failed: ") + ssh_get_error(session_));
    return;
  }
  event_ = ssh_event_new();
  if (!event_ || ssh_event_add_session(event_, session_) != SSH_OK) {
    close("cannot set up the SSH session (libssh event)");
    return;
  }
  auto self = shared_from_this();
  login_timer_.async_wait([self](const boost::system::error_code& ec) {
    if (ec || self->dead_ || self->authenticated_)
      return;
    self->close("no successful login within ssh_server.login_timeout");
  });
  tick_.expires_after(std::chrono::seconds(1));
  tick_.async_wait([self](const boost::system::error_code& ec) {
    if (!ec)
      self->on_tick();
  });
  drive();
}

// ---- authentication -------------------------------------------------------------------

int agent::on_auth_pubkey(ssh_session, const char* user, ssh_key key, char state, void* ud) {
  auto* self = static_cast<agent*>(ud);
  self->user_ = user ? user : "";
  const auto b64 = key_base64(key);
  const auto fp = fingerprint_of_b64(b64);
  const char* type = ssh_key_type_to_char(ssh_key_type(key));
  self->tried_.push_back(std::string("publickey ") + (type ? type : "?") + " " + fp);
  if (state == SSH_PUBLICKEY_STATE_WRONG || state == SSH_PUBLICKEY_STATE_ERROR) {
    self->last_refusal_ = "the signature for key " + fp + " does not verify";
    log::warn("reverse_auth_refused")
        .kv("address", self->address_)
        .kv("user", self->user_)
        .kv("key", fp)
        .kv("reason", self->last_refusal_);
    return SSH_AUTH_DENIED;
  }
  auto verdict = self->host_.authorize(self->user_, b64);
  if (!verdict.allowed) {
    self->last_refusal_ = verdict.reason;
    log::warn("reverse_auth_refused")
        .kv("address", self->address_)
        .kv("user", self->user_)
        .kv("key", fp)
        .kv("reason", verdict.reason);
    return SSH_AUTH_DENIED;
  }
  if (state == SSH_PUBLICKEY_STATE_NONE)
    return SSH_AUTH_SUCCESS;  // "this key would do": the client signs next
  self->authenticated_ = true;
  self->tunnel_ = self->user_;
  self->key_b64_ = b64;
  self->key_fp_ = fp;
  if (const auto* t = self->host_.tunnel_config(self->tunnel_))
    self->keepalive_ = t->keepalive;
  self->counters_ = self->host_.counters(self->tunnel_);
  self->login_timer_.cancel();
  log::info("reverse_agent_up")
      .kv("tunnel", self->tunnel_)
      .kv("address", self->address_)
      .kv("key", fp)
      .kv("key_type", type ? type : "?");
  self->host_.on_authenticated(*self);
  return SSH_AUTH_SUCCESS;
}

int agent::on_auth_password(ssh_session, const char* user, const char*, void* ud) {
  auto* self = static_cast<agent*>(ud);
  self->user_ = user ? user : "";
  self->tried_.push_back("password");
  self->last_refusal_ = "password authentication is not accepted: agents log in with a key";
  log::warn("reverse_auth_refused")
      .kv("address", self->address_)
      .kv("user", self->user_)
      .kv("method", "password")
      .kv("reason", self->last_refusal_);
  return SSH_AUTH_DENIED;
}

int agent::on_auth_none(ssh_session, const char* user, void* ud) {
  auto* self = static_cast<agent*>(ud);
  self->user_ = user ? user : "";
  return SSH_AUTH_DENIED;  // every client asks first; the methods list says "publickey"
}

void agent::refuse(const std::string& what, const std::string& reason) {
  log::warn("reverse_request_refused")
      .kv("tunnel", tunnel_.empty() ? user_ : tunnel_)
      .kv("address", address_)
      .kv("request", what)
      .kv("reason", reason);
}

int agent::on_message(ssh_session, ssh_message msg, void* ud) {
  return static_cast<agent*>(ud)->handle_message(msg);
}

// 0: handled (replied here); 1: libssh sends its default refusal.
int agent::handle_message(ssh_message msg) {
  const int type = ssh_message_type(msg);
  const int sub = ssh_message_subtype(msg);
  if (type == SSH_REQUEST_AUTH) {
    if (sub == SSH_AUTH_METHOD_INTERACTIVE) {
      tried_.push_back("keyboard-interactive");
      last_refusal_ =
          "keyboard-interactive authentication is not accepted: agents log in with a key";
      log::warn("reverse_auth_refused")
          .kv("address", address_)
          .kv("user", user_)
          .kv("method", "keyboard-interactive")
          .kv("reason", last_refusal_);
    }
    ssh_message_auth_set_methods(msg, SSH_AUTH_METHOD_PUBLICKEY);
    return 1;
  }
  if (type == SSH_REQUEST_SERVICE)
    return 1;  // the default accepts ssh-userauth / ssh-connection
  if (!authenticated_)
    return 1;
  if (type == SSH_REQUEST_GLOBAL) {
    if (sub == SSH_GLOBAL_REQUEST_TCPIP_FORWARD) {
      announced_forward f;
      const char* a = ssh_message_global_request_address(msg);
      f.bind_address = a ? a : "";
      f.port = static_cast<uint16_t>(ssh_message_global_request_port(msg));
      if (auto why = forward_refusal(f); !why.empty()) {
        refuse("tcpip-forward " + f.bind_address + ":" + std::to_string(f.port), why);
        return 1;
      }
      bool known = false;
      for (const auto& x : forwards_)
        known = known || x.port == f.port;
      if (!known)
        forwards_.push_back(f);
      ssh_message_global_request_reply_success(msg, f.port);
      log::info("reverse_forward_added")
          .kv("tunnel", tunnel_)
          .kv("address", address_)
          .kv("port", static_cast<unsigned>(f.port))
          .kv("bind_address", f.bind_address);
      host_.on_forwards_changed(*this);
      return 0;
    }
    if (sub == SSH_GLOBAL_REQUEST_CANCEL_TCPIP_FORWARD) {
      const auto port = static_cast<uint16_t>(ssh_message_global_request_port(msg));
      std::erase_if(forwards_, [&](const announced_forward& f) { return f.port == port; });
      ssh_message_global_request_reply_success(msg, 0);
      log::info("reverse_forward_removed")
          .kv("tunnel", tunnel_)
          .kv("address", address_)
          .kv("port", static_cast<unsigned>(port));
      host_.on_forwards_changed(*this);
      return 0;
    }
    return 1;
  }
  if (type == SSH_REQUEST_CHANNEL_OPEN) {
    if (sub == SSH_CHANNEL_SESSION) {
      // Accepted only so the request that follows (shell, exec, subsystem) can be named in
      // the refusal; nothing is ever run.
      if (auto ch = ssh_message_channel_request_open_reply_accept(msg)) {
        session_chans_.push_back(ch);
        return 0;
      }
      return 1;
    }
    if (sub == SSH_CHANNEL_DIRECT_TCPIP) {
      const char* d = ssh_message_channel_request_open_destination(msg);
      refuse("direct-tcpip to " + std::string(d ? d : "?") + ":" +
                 std::to_string(ssh_message_channel_request_open_destination_port(msg)),
             "this endpoint is not a jump host (ssh -L / -W / ProxyJump are refused); agents "
             "only announce remote forwards (ssh -R)");
      return 1;
    }
    refuse(std::string("channel open ") + channel_open_name(sub),
           "this endpoint serves reverse tunnels only");
    return 1;
  }
  if (type == SSH_REQUEST_CHANNEL) {
    std::string what = channel_request_name(sub);
    if (sub == SSH_CHANNEL_REQUEST_EXEC) {
      const char* c = ssh_message_channel_request_command(msg);
      what += " '" + std::string(c ? c : "").substr(0, 80) + "'";
    } else if (sub == SSH_CHANNEL_REQUEST_SUBSYSTEM) {
      const char* c = ssh_message_channel_request_subsystem(msg);
      what += " '" + std::string(c ? c : "") + "'";
    }
    refuse(what, "this endpoint serves reverse tunnels only: run the agent with ssh -N -R ...");
    ssh_channel ch = ssh_message_channel_request_channel(msg);
    ssh_message_reply_default(msg);
    if (ch && (sub == SSH_CHANNEL_REQUEST_SHELL || sub == SSH_CHANNEL_REQUEST_EXEC ||
               sub == SSH_CHANNEL_REQUEST_SUBSYSTEM)) {
      ssh_channel_close(ch);
    }
    return 0;
  }
  return 1;
}

// ---- channels ------------------------------------------------------------------------

void agent::open_forward(std::shared_ptr<channel_request> req) {
  auto c = std::make_shared<chan>();
  c->owner = this;
  c->fd = req->local_fd;
  req->local_fd = -1;
  boost::system::error_code ec;
  c->local = std::make_unique<asio::posix::stream_descriptor>(ioc_);
  c->local->assign(c->fd, ec);
  c->req = req;
  for (const auto& f : forwards_) {
    if (f.port == req->port)
      c->fwd = f;
  }
  const auto* t = host_.tunnel_config(tunnel_);
  c->open_deadline = clock::now() + (t ? t->connect_timeout : std::chrono::seconds(10));
  c->ch = ssh_channel_new(session_);
  if (!c->ch) {
    req->stage = "channel-open";
    req->error = "libssh could not create a channel";
    req->done = true;
    req->w->notify();
    return;
  }
  ssh_callbacks_init(&c->cb);
  c->cb.userdata = c.get();
  c->cb.channel_data_function = &agent::on_chan_data;
  c->cb.channel_eof_function = &agent::on_chan_eof;
  c->cb.channel_close_function = &agent::on_chan_close;
  c->cb.channel_write_wontblock_function = &agent::on_chan_wontblock;
  ssh_set_channel_callbacks(c->ch, &c->cb);
  chans_.push_back(c);
  ++channels_opened_;
  drive();
}

int agent::on_chan_data(ssh_session, ssh_channel, void* data, uint32_t len, int is_stderr,
                        void* ud) {
  auto* c = static_cast<chan*>(ud);
  if (is_stderr)
    return static_cast<int>(len);
  if (c->fd < 0 || c->local_shut)
    return static_cast<int>(len);  // nobody to give it to
  if (c->blocked || !c->to_local.empty()) {
    c->pending_in = true;
    return 0;  // stays in libssh's buffer (and out of the window) until the client reads
  }
  ssize_t n = ::send(c->fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      c->blocked = true;
      c->pending_in = true;
      return 0;
    }
    c->local_eof = true;  // the client is gone: the channel ends
    c->local_shut = true;
    return static_cast<int>(len);
  }
  if (static_cast<uint32_t>(n) < len) {
    c->blocked = true;
    c->pending_in = true;
  }
  c->owner->bytes_in_ += static_cast<uint64_t>(n);
  if (c->owner->counters_)
    c->owner->counters_->bytes_in += static_cast<uint64_t>(n);
  return static_cast<int>(n);
}

void agent::on_chan_eof(ssh_session, ssh_channel, void* ud) {
  static_cast<chan*>(ud)->ssh_eof = true;
}

void agent::on_chan_close(ssh_session, ssh_channel, void* ud) {
  auto* c = static_cast<chan*>(ud);
  c->ssh_eof = true;
  c->ssh_closed = true;
}

int agent::on_chan_wontblock(ssh_session, ssh_channel, uint32_t, void*) {
  return 0;  // the next pass sees the grown window
}

void agent::finish_open(chan& c) {
  const int rc = ssh_channel_open_reverse_forward(c.ch, c.fwd.bind_address.c_str(), c.fwd.port,
                                                  "127.0.0.1", 0);
  if (rc == SSH_AGAIN) {
    if (clock::now() < c.open_deadline)
      return;
    c.req->stage = "channel-open";
    c.req->error = "the agent at " + address_ + " did not answer the channel open for port " +
                   std::to_string(c.fwd.port) + " in time";
  } else if (ssh_channel_is_open(c.ch)) {
    c.state = chan::st::open;
    c.counted = true;
    if (counters_) {
      ++counters_->open_channels;
      ++counters_->channels_opened;
    }
    c.req->done = true;
    c.req->w->notify();
    c.req.reset();
    return;
  } else {
    c.req->stage = "channel-open";
    c.req->error = "the agent at " + address_ + " refused the channel for port " +
                   std::to_string(c.fwd.port) + " (" + ssh_get_error(session_) +
                   "): its forward target is probably unreachable from the agent (check the "
                   "host:port after -R " +
                   std::to_string(c.fwd.port) + ": on the agent's side)";
    if (counters_)
      ++counters_->channels_refused;
    log::warn("reverse_channel_refused")
        .kv("tunnel", tunnel_)
        .kv("address", address_)
        .kv("port", static_cast<unsigned>(c.fwd.port))
        .kv("error", ssh_get_error(session_));
  }
  c.req->done = true;
  c.req->w->notify();
  c.req.reset();
  c.state = chan::st::done;
}

void agent::pump_to_agent(chan& c) {
  char buf[kChunk];
  while (!c.local_eof && c.local_readable) {
    if (!c.to_agent.empty()) {
      int w = ssh_channel_write(c.ch, c.to_agent.data(), static_cast<uint32_t>(c.to_agent.size()));
      if (w < 0) {
        end_chan(c, "write to agent failed");
        return;
      }
      c.to_agent.erase(0, static_cast<size_t>(w));
      if (!c.to_agent.empty())
        return;  // window full: on_chan_wontblock / the next pass resumes
    }
    const uint32_t window = ssh_channel_window_size(c.ch);
    if (window == 0)
      return;
    const size_t want = std::min<size_t>(kChunk, window);
    ssize_t n = ::recv(c.fd, buf, want, MSG_DONTWAIT);
    if (n == 0) {
      c.local_eof = true;
      break;
    }
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        c.local_readable = false;
        return;
      }
      c.local_eof = true;
      break;
    }
    bytes_out_ += static_cast<uint64_t>(n);
    if (counters_)
      counters_->bytes_out += static_cast<uint64_t>(n);
    int w = ssh_channel_write(c.ch, buf, static_cast<uint32_t>(n));
    if (w < 0) {
      end_chan(c, "write to agent failed");
      return;
    }
    if (w < n)
      c.to_agent.assign(buf + w, static_cast<size_t>(n - w));
  }
  if (c.local_eof && !c.eof_sent && c.to_agent.empty() && !c.ssh_closed) {
    ssh_channel_send_eof(c.ch);
    c.eof_sent = true;
  }
}

void agent::drain_to_local(chan& c) {
  if (c.fd < 0 || c.local_shut)
    return;
  char buf[kChunk];
  while (!c.blocked) {
    if (!c.to_local.empty()) {
      ssize_t n = ::send(c.fd, c.to_local.data(), c.to_local.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          c.blocked = true;
          return;
        }
        c.local_shut = true;
        c.local_eof = true;
        return;
      }
      bytes_in_ += static_cast<uint64_t>(n);
      if (counters_)
        counters_->bytes_in += static_cast<uint64_t>(n);
      c.to_local.erase(0, static_cast<size_t>(n));
      if (!c.to_local.empty()) {
        c.blocked = true;
        return;
      }
    }
    // What the data callback left in libssh's buffer.
    if (!c.pending_in)
      break;
    const int avail = ssh_channel_poll(c.ch, 0);
    if (avail <= 0) {
      c.pending_in = false;
      break;
    }
    int n = ssh_channel_read_nonblocking(c.ch, buf, static_cast<uint32_t>(sizeof buf), 0);
    if (n <= 0)
      break;
    c.to_local.assign(buf, static_cast<size_t>(n));
  }
  if (c.ssh_eof && !c.blocked && c.to_local.empty() && !c.pending_in && !c.local_shut) {
    ::shutdown(c.fd, SHUT_WR);  // the database side finished: pass the EOF on
    c.local_shut = true;
  }
}

void agent::service(chan& c) {
  if (c.state == chan::st::done)
    return;
  if (c.state == chan::st::opening) {
    if (c.req && c.req->abandoned) {
      c.state = chan::st::done;
      return;
    }
    finish_open(c);
    if (c.state != chan::st::open)
      return;
  }
  drain_to_local(c);
  pump_to_agent(c);
  const bool out_done = c.local_eof && (c.eof_sent || c.ssh_closed);
  const bool in_done = c.local_shut;
  if (c.ssh_closed || (out_done && in_done))
    end_chan(c, "");
}

void agent::end_chan(chan& c, const std::string&) {
  if (c.state == chan::st::done)
    return;
  c.state = chan::st::done;
}

void agent::sweep() {
  for (auto it = chans_.begin(); it != chans_.end();) {
    auto& c = **it;
    if (c.state != chan::st::done) {
      ++it;
      continue;
    }
    if (c.req) {
      if (c.req->stage.empty()) {
        c.req->stage = "channel-open";
        c.req->error = "the channel request was abandoned";
      }
      c.req->done = true;
      c.req->w->notify();
      c.req.reset();
    }
    if (c.ch) {
      ssh_remove_channel_callbacks(c.ch, &c.cb);
      if (ssh_channel_is_open(c.ch))
        ssh_channel_close(c.ch);
      ssh_channel_free(c.ch);
      c.ch = nullptr;
    }
    if (c.counted && counters_)
      --counters_->open_channels;
    boost::system::error_code ec;
    if (c.local)
      c.local->close(ec);  // closes the fd (the gateway session sees EOF)
    c.fd = -1;
    it = chans_.erase(it);
  }
}

// ---- the loop ------------------------------------------------------------------------

void agent::drive() {
  if (dead_)
    return;
  if (driving_) {
    again_ = true;
    return;
  }
  driving_ = true;
  auto self = shared_from_this();
  int passes = 0;
  do {
    again_ = false;
    // libssh reads at most a few KB per poll; keep polling while the kernel holds more, so
    // no data is left behind an edge-triggered wait.
    for (int i = 0; i < 64; ++i) {
      if (ssh_event_dopoll(event_, 0) == SSH_ERROR || !ssh_is_connected(session_)) {
        const char* e = ssh_get_error(session_);
        close_reason_ = close_reason_.empty() ? std::string("connection lost") +
                                                    (e && *e ? std::string(": ") + e : "")
                                              : close_reason_;
        break;
      }
      int pending = 0;
      if (::ioctl(sock_.native_handle(), FIONREAD, &pending) != 0 || pending <= 0)
        break;
      last_inbound_ = clock::now();
      if (i == 63)
        again_ = true;
    }
    if (!close_reason_.empty())
      break;
    for (auto& c : chans_)
      service(*c);
    sweep();
    for (auto it = session_chans_.begin(); it != session_chans_.end();) {
      if (ssh_channel_is_closed(*it)) {
        ssh_channel_free(*it);
        it = session_chans_.erase(it);
      } else {
        ++it;
      }
    }
  } while (again_ && ++passes < 16 && !dead_);
  driving_ = false;
  if (!close_reason_.empty()) {
    auto why = close_reason_;
    close(why);
    return;
  }
  if (again_) {
    asio::post(ioc_, [self] { self->drive(); });
    return;
  }
  arm();
}

void agent::arm() {
  if (dead_)
    return;
  auto self = shared_from_this();
  if (!rd_armed_) {
    rd_armed_ = true;
    sock_.async_wait(asio::posix::descriptor_base::wait_read,
                     [self](const boost::system::error_code& ec) {
                       self->rd_armed_ = false;
                       if (ec || self->dead_)
                         return;
                       self->last_inbound_ = clock::now();
                       self->last_inbound_wall_ = std::chrono::system_clock::now();
                       self->drive();
                     });
  }
  if (!wr_armed_ && (ssh_get_status(session_) & SSH_WRITE_PENDING)) {
    wr_armed_ = true;
    sock_.async_wait(asio::posix::descriptor_base::wait_write,
                     [self](const boost::system::error_code& ec) {
                       self->wr_armed_ = false;
                       if (!ec && !self->dead_)
                         self->drive();
                     });
  }
  for (auto& cp : chans_) {
    auto& c = *cp;
    if (c.state != chan::st::open || !c.local)
      continue;
    std::weak_ptr<chan> wc = cp;
    if (!c.local_eof && !c.local_readable && !c.rd_armed) {
      c.rd_armed = true;
      c.local->async_wait(asio::posix::descriptor_base::wait_read,
                          [self, wc](const boost::system::error_code& ec) {
                            auto c = wc.lock();
                            if (!c)
                              return;
                            c->rd_armed = false;
                            if (ec)
                              return;
                            c->local_readable = true;
                            self->drive();
                          });
    }
    if (c.blocked && !c.wr_armed) {
      c.wr_armed = true;
      c.local->async_wait(asio::posix::descriptor_base::wait_write,
                          [self, wc](const boost::system::error_code& ec) {
                            auto c = wc.lock();
                            if (!c)
                              return;
                            c->wr_armed = false;
                            if (ec)
                              return;
                            c->blocked = false;
                            self->drive();
                          });
    }
  }
}

void agent::on_tick() {
  if (dead_)
    return;
  auto self = shared_from_this();
  if (authenticated_) {
    const auto silent = clock::now() - last_inbound_;
    const auto limit = keepalive_.interval * static_cast<int64_t>(keepalive_.max_missed);
    if (keepalive_.interval.count() > 0 && silent > limit) {
      close("no answer to " + std::to_string(keepalive_.max_missed) + " keepalives (" +
            std::to_string(std::chrono::duration_cast<std::chrono::seconds>(silent).count()) +
            "s silent)");
      return;
    }
    if (keepalive_.interval.count() > 0 && silent >= keepalive_.interval)
      ssh_send_keepalive(session_);
  }
  // Opens waiting for an answer time out here even when nothing else happens.
  drive();
  if (dead_)
    return;
  auto period =
      keepalive_.interval.count() > 0
          ? std::min<std::chrono::milliseconds>(keepalive_.interval / 2, std::chrono::seconds(1))
          : std::chrono::milliseconds(1000);
  if (period.count() < 50)
    period = std::chrono::milliseconds(50);
  tick_.expires_after(period);
  tick_.async_wait([self](const boost::system::error_code& ec) {
    if (!ec)
      self->on_tick();
  });
}

void agent::close(const std::string& reason) {
  if (dead_)
    return;
  auto self = shared_from_this();
  if (authenticated_) {
    log::info("reverse_agent_down")
        .kv("tunnel", tunnel_)
        .kv("address", address_)
        .kv("key", key_fp_)
        .kv("reason", reason);
  } else {
    std::string tried;
    for (const auto& t : tried_)
      tried += (tried.empty() ? "" : ", ") + t;
    log::warn("reverse_login_failed")
        .kv("address", address_)
        .kv("user", user_)
        .kv("tried", tried.empty() ? std::string("no public key") : tried)
        .kv("reason", !last_refusal_.empty() ? last_refusal_
                      : tried_.empty()
                          ? reason + (user_.empty() ? ""
                                                    : "; the client offered no public key "
                                                      "(only publickey logins are accepted)")
                          : reason);
  }
  teardown(reason, true);
  host_.on_closed(*this);
}

void agent::teardown(const std::string& reason, bool graceful) {
  if (dead_ && !session_)
    return;
  dead_ = true;
  boost::system::error_code ec;
  login_timer_.cancel();
  tick_.cancel();
  for (auto& c : chans_) {
    if (c->req) {
      c->req->stage = "tunnel-down";
      c->req->error = "the agent connection ended: " + reason;
      c->req->done = true;
      c->req->w->notify();
      c->req.reset();
    }
    if (c->counted && counters_)
      --counters_->open_channels;
    if (c->ch)
      ssh_remove_channel_callbacks(c->ch, &c->cb);
    if (c->local)
      c->local->close(ec);
  }
  chans_.clear();  // the channels themselves are freed with the session
  session_chans_.clear();
  if (session_) {
    if (graceful && ssh_is_connected(session_))
      ssh_disconnect(session_);
    if (event_)
      ssh_event_remove_session(event_, session_);
    ssh_free(session_);  // closes libssh's fd
    session_ = nullptr;
  }
  if (event_) {
    ssh_event_free(event_);
    event_ = nullptr;
  }
  sock_.close(ec);
}

nlohmann::json agent::status() const {
  auto fw = nlohmann::json::array();
  for (const auto& f : forwards_)
    fw.push_back(f.port);
  return {{"address", address_},
          {"since", iso8601(since_)},
          {"key_fingerprint", key_fp_},
          {"forwards", fw},
          {"channels", chans_.size()},
          {"channels_opened", channels_opened_},
          {"bytes_in", bytes_in_},
          {"bytes_out", bytes_out_},
          {"last_inbound", iso8601(last_inbound_wall_)}};
}

}  // namespace sluice::tunnel::reverse
