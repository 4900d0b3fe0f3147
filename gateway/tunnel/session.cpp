// Over 400 lines on purpose: this is one state machine over one libssh2 session (the
// single owner of the session's one outstanding libssh2 call, the channel-open queue, the
// per-channel ops and the handed-off client relay all read and write the same `chan`
// states), and splitting it across files would spread those invariants apart. The pure
// pieces it relies on live beside it (packet_cache, ssh_format, handoff.hpp).
#include "gateway/tunnel/session.hpp"

#include <fcntl.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>

#include "config/log.hpp"

namespace sluice::tunnel {

namespace asio = boost::asio;

namespace {
constexpr size_t kBufferSize = 64 * 1024;
// Passes drive() makes before yielding the thread to other sessions.
constexpr int kPassesPerTurn = 16;

// Errors that end one channel; anything else means the whole session is unusable.
bool channel_level(int rc) {
  switch (rc) {
    case LIBSSH2_ERROR_CHANNEL_CLOSED:
    case LIBSSH2_ERROR_CHANNEL_EOF_SENT:
    case LIBSSH2_ERROR_CHANNEL_UNKNOWN:
    case LIBSSH2_ERROR_CHANNEL_FAILURE:
    case LIBSSH2_ERROR_CHANNEL_WINDOW_EXCEEDED:
    case LIBSSH2_ERROR_CHANNEL_PACKET_EXCEEDED:
      return true;
    default:
      return false;
  }
}

std::string where_of(const std::string& host, uint16_t port) {
  return host + ":" + std::to_string(port);
}
}  // namespace

struct ssh_session::chan {
  chan(const asio::any_io_executor& ex, int fd) : local(ex, fd), tl(kBufferSize), tr(kBufferSize) {}
  LIBSSH2_CHANNEL* ch = nullptr;
  asio::posix::stream_descriptor local;
  std::vector<char> tl, tr;  // to local, to remote
  size_t tl_b = 0, tl_e = 0, tr_b = 0, tr_e = 0;
  bool remote_eof = false, local_eof = false, eof_sent = false, local_shut = false;
  bool done = false;
  // False once a recv/send on the local fd came back short or EAGAIN: skip the syscall
  // until its armed wait fires.
  bool rd_ready = true, wr_ready = true;
  bool rd_armed = false, wr_armed = false;
  unsigned gen = 0;  // bumped when `local` changes fd: waits armed on the old one are stale
  uint64_t id = 0;
  // Set once the gateway handed the client's socket over: `local` is that socket.
  std::shared_ptr<handoff> handed;
  // Which side ended a handed-off connection first (the first one seen is kept).
  enum class end_side { none, client, server, close_requested } ended_by = end_side::none;
};

ssh_session::ssh_session(std::unique_ptr<ssh_link> link, const config::tunnel& cfg,
                         std::shared_ptr<tunnel_stats> stats)
    : link_(std::move(link)),
      cfg_(cfg),
      stats_(std::move(stats)),
      slow_(link_->socket().get_executor()) {
  waker_ = std::make_shared<waker>(link_->socket().get_executor());
  // Our own reply tracking decides liveness; libssh2 just formats the probe.
  libssh2_keepalive_config(link_->session(), 1, 1);
}

ssh_session::~ssh_session() {
  teardown();
}

void ssh_session::stop() {
  stopping_ = true;
  waker_->notify();
}

void ssh_session::enqueue(std::shared_ptr<open_request> r) {
  if (!alive()) {
    fail_open(std::move(r), {tunnel_stage::tunnel_down, "SSH session is closing"});
    return;
  }
  queue_.push_back(std::move(r));
  kick();
}

bool ssh_session::blocked_out() const {
  return libssh2_session_block_directions(link_->session()) & LIBSSH2_SESSION_BLOCK_OUTBOUND;
}

void ssh_session::set_owner(op o, chan* c, LIBSSH2_CHANNEL* ch) {
  owner_ = o;
  owner_chan_ = c;
  owner_free_ = ch;
}

void ssh_session::die(const std::string& message) {
  if (dead_)
    return;
  dead_ = true;
  death_ = {tunnel_stage::tunnel_down, message};
  waker_->notify();
}

void ssh_session::fail(chan& c, int rc, const char* what) {
  if (channel_level(rc)) {
    c.done = true;
    if (c.ended_by == chan::end_side::none)
      c.ended_by = chan::end_side::server;
    return;
  }
  die(std::string("SSH session to bastion ") + where_of(cfg_.host, cfg_.port) + " lost (" + what +
      "): " + link_->last_error());
}

bool ssh_session::op_read(chan& c) {
  if (c.remote_eof)
    return false;
  if (c.tl_b == c.tl_e)
    c.tl_b = c.tl_e = 0;
  if (c.tl_e == c.tl.size())
    return false;
  ssize_t n = libssh2_channel_read(c.ch, c.tl.data() + c.tl_e, c.tl.size() - c.tl_e);
  if (n > 0) {
    c.tl_e += static_cast<size_t>(n);
    stats_->bytes_in += static_cast<uint64_t>(n);
    last_progress_ = clock::now();
    return true;
  }
  if (n == 0 || n == LIBSSH2_ERROR_EAGAIN) {
    if (libssh2_channel_eof(c.ch)) {
      c.remote_eof = true;
      if (c.ended_by == chan::end_side::none)
        c.ended_by = chan::end_side::server;
      return true;
    }
    if (n == LIBSSH2_ERROR_EAGAIN && blocked_out())
      set_owner(op::read, &c, nullptr);
    return false;
  }
  fail(c, static_cast<int>(n), "channel read");
  return true;
}

bool ssh_session::op_write(chan& c) {
  if (c.tr_b == c.tr_e)
    return false;
  ssize_t n = libssh2_channel_write(c.ch, c.tr.data() + c.tr_b, c.tr_e - c.tr_b);
  if (n > 0) {
    c.tr_b += static_cast<size_t>(n);
    stats_->bytes_out += static_cast<uint64_t>(n);
    last_progress_ = clock::now();
    return true;
  }
  if (n == LIBSSH2_ERROR_EAGAIN) {
    if (blocked_out())
      set_owner(op::write, &c, nullptr);
    return false;
  }
  fail(c, static_cast<int>(n), "channel write");
  return true;
}

bool ssh_session::op_eof(chan& c) {
  if (!c.local_eof || c.eof_sent || c.tr_b != c.tr_e)
    return false;
  int rc = libssh2_channel_send_eof(c.ch);
  if (rc == 0) {
    c.eof_sent = true;
    return true;
  }
  if (rc == LIBSSH2_ERROR_EAGAIN) {
    if (blocked_out())
      set_owner(op::eof, &c, nullptr);
    return false;
  }
  fail(c, rc, "channel eof");
  return true;
}

bool ssh_session::op_local_send(chan& c) {
  if (c.tl_b == c.tl_e) {
    if (c.remote_eof && !c.local_shut) {
      ::shutdown(c.local.native_handle(), SHUT_WR);
      c.local_shut = true;
      return true;
    }
    return false;
  }
  if (!c.wr_ready)
    return false;
  const size_t len = c.tl_e - c.tl_b;
  ssize_t n =
      ::send(c.local.native_handle(), c.tl.data() + c.tl_b, len, MSG_NOSIGNAL | MSG_DONTWAIT);
  if (n > 0) {
    c.tl_b += static_cast<size_t>(n);
    if (c.handed) {
      c.handed->to_client.fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
      c.handed->touch();
    }
    if (static_cast<size_t>(n) < len)
      c.wr_ready = false;  // the socket buffer is full
    return true;
  }
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
    c.wr_ready = false;
    return false;
  }
  if (n < 0 && errno == EINTR)
    return true;
  c.done = true;  // the local side went away
  if (c.ended_by == chan::end_side::none)
    c.ended_by = chan::end_side::client;
  return true;
}

bool ssh_session::op_local_recv(chan& c) {
  if (c.local_eof)
    return false;
  if (c.tr_b == c.tr_e)
    c.tr_b = c.tr_e = 0;
  if (c.tr_e == c.tr.size()) {
    if (c.tr_b == 0)
      return false;
    std::copy(c.tr.begin() + static_cast<long>(c.tr_b), c.tr.begin() + static_cast<long>(c.tr_e),
              c.tr.begin());
    c.tr_e -= c.tr_b;
    c.tr_b = 0;
  }
  if (!c.rd_ready)
    return false;
  const size_t space = c.tr.size() - c.tr_e;
  ssize_t n = ::recv(c.local.native_handle(), c.tr.data() + c.tr_e, space, MSG_DONTWAIT);
  if (n > 0) {
    if (c.handed) {
      if (c.handed->observe_client)
        c.handed->observe_client(reinterpret_cast<const uint8_t*>(c.tr.data() + c.tr_e),
                                 static_cast<size_t>(n));
      c.handed->from_client.fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
      c.handed->touch();
    }
    c.tr_e += static_cast<size_t>(n);
    if (static_cast<size_t>(n) < space)
      c.rd_ready = false;  // most likely drained; the armed wait says otherwise
    return true;
  }
  if (n == 0) {
    c.local_eof = true;
    if (c.ended_by == chan::end_side::none)
      c.ended_by = chan::end_side::client;
    return true;
  }
  if (errno == EAGAIN || errno == EWOULDBLOCK) {
    c.rd_ready = false;
    return false;
  }
  if (errno == EINTR)
    return true;
  c.done = true;
  if (c.ended_by == chan::end_side::none)
    c.ended_by = chan::end_side::client;
  return true;
}

bool ssh_session::step(const std::shared_ptr<chan>& cp) {
  chan& c = *cp;
  bool progress = false;
  progress |= op_read(c);
  if (owner_ != op::none || dead_)
    return progress;
  if (!c.done)
    progress |= op_local_send(c);
  if (!c.done)
    progress |= op_local_recv(c);
  if (!c.done)
    progress |= op_write(c);
  if (owner_ != op::none || dead_)
    return progress;
  if (!c.done)
    progress |= op_eof(c);
  if (c.remote_eof && c.local_shut && c.eof_sent)
    c.done = true;
  if (c.handed && !c.done) {
    // Either side ending ends the connection, as the gateway's own relay does.
    if ((c.local_eof && c.eof_sent) || (c.remote_eof && c.local_shut))
      c.done = true;
    if (c.handed->close_requested.load(std::memory_order_relaxed)) {
      c.done = true;
      if (c.ended_by == chan::end_side::none)
        c.ended_by = chan::end_side::close_requested;
    }
  }
  return progress;
}

namespace {
// Appends everything queued on `fd` (a socketpair end whose writer has stopped) to
// buf[e, …), growing buf as needed. False on a read error.
bool drain_queued(int fd, std::vector<char>& buf, size_t& e) {
  for (;;) {
    int queued = 0;
    if (::ioctl(fd, FIONREAD, &queued) != 0)
      return false;
    const size_t want = std::max<size_t>(static_cast<size_t>(queued), 4096);
    if (buf.size() - e < want)
      buf.resize(e + want);
    ssize_t n = ::recv(fd, buf.data() + e, buf.size() - e, MSG_DONTWAIT);
    if (n > 0) {
      e += static_cast<size_t>(n);
      continue;
    }
    if (n == 0 || errno == EAGAIN || errno == EWOULDBLOCK)
      return true;
    if (errno != EINTR)
      return false;
  }
}
}  // namespace

bool ssh_session::adopt(uint64_t id, const std::shared_ptr<handoff>& h) {
  auto it = std::find_if(chans_.begin(), chans_.end(),
                         [id](const auto& c) { return c->id == id && !c->done && !c->handed; });
  if (it == chans_.end() || !alive())
    return false;
  chan& c = **it;
  // The worker stopped both of its pumps before handing over, so the socketpair holds
  // all that is in flight. Client -> server: what it wrote that we have not read yet
  // goes out before anything read from the client's socket.
  if (c.tr_b == c.tr_e)
    c.tr_b = c.tr_e = 0;
  if (!drain_queued(c.local.native_handle(), c.tr, c.tr_e))
    return false;
  if (!h->to_server_first.empty()) {
    const auto& rest = h->to_server_first;
    if (c.tr.size() - c.tr_e < rest.size())
      c.tr.resize(c.tr_e + rest.size());
    std::copy(rest.begin(), rest.end(), c.tr.begin() + static_cast<long>(c.tr_e));
    c.tr_e += rest.size();
  }
  // Server -> client: what we wrote that the worker did not read reaches the client
  // before what we still hold.
  std::vector<char> early;
  size_t early_e = 0;
  if (!drain_queued(h->session_fd, early, early_e))
    return false;
  if (early_e > 0) {
    early.resize(early_e);
    early.insert(early.end(), c.tl.begin() + static_cast<long>(c.tl_b),
                 c.tl.begin() + static_cast<long>(c.tl_e));
    c.tl_e = early.size();
    c.tl_b = 0;
    // Room to read into stays: a channel read that owns a half-sent libssh2 packet
    // (owner_ == op::read) must be able to run again, or every later send fails.
    early.resize(early.size() + kBufferSize);
    c.tl.swap(early);
  }
  boost::system::error_code ec;
  c.local.close(ec);  // our socketpair end; waits armed on it are now stale (gen)
  ::close(h->session_fd);
  ::fcntl(h->client_fd, F_SETFL, ::fcntl(h->client_fd, F_GETFL) | O_NONBLOCK);
  c.local.assign(h->client_fd, ec);
  if (ec) {
    c.local.close(ec);
    ::close(h->client_fd);
    c.done = true;
    c.ended_by = chan::end_side::server;
    c.handed = h;
    end_handed(c, "the client socket could not be adopted: " + ec.message());
    return true;
  }
  ++c.gen;
  c.rd_ready = c.wr_ready = true;
  c.rd_armed = c.wr_armed = false;
  c.local_shut = false;  // a shutdown sent to the socketpair is owed to the client now
  c.handed = h;
  stats_->channels_handed_off += 1;
  std::weak_ptr<ssh_session> weak = weak_from_this();
  h->set_kick([weak, ex = link_->socket().get_executor()] {
    asio::post(ex, [weak] {
      if (auto s = weak.lock())
        s->drive();
    });
  });
  if (h->close_requested.load())
    c.done = true, c.ended_by = chan::end_side::close_requested;
  kick();
  return true;
}

void ssh_session::end_handed(chan& c, std::string message) {
  auto h = std::exchange(c.handed, nullptr);
  h->set_kick(nullptr);
  handoff_end e;
  e.client_ended =
      c.ended_by == chan::end_side::client || (h->client_terminated && h->client_terminated());
  e.message = std::move(message);
  h->finish(std::move(e));
}

void ssh_session::fail_open(std::shared_ptr<open_request> r, tunnel_error e) {
  if (r->local_fd >= 0) {
    ::close(r->local_fd);
    r->local_fd = -1;
  }
  r->error = std::move(e);
  r->done = true;
  if (r->w)
    r->w->notify();
}

void ssh_session::finish_open(LIBSSH2_CHANNEL* ch) {
  auto r = std::move(inflight_);
  inflight_.reset();
  last_progress_ = clock::now();
  if (r->drain || r->abandoned) {
    closing_.push_back(ch);
    if (r->local_fd >= 0)
      ::close(r->local_fd);
    r->local_fd = -1;
    r->done = true;
    return;
  }
  ::fcntl(r->local_fd, F_SETFL, ::fcntl(r->local_fd, F_GETFL) | O_NONBLOCK);
  auto c = std::make_shared<chan>(link_->socket().get_executor(), r->local_fd);
  r->local_fd = -1;
  c->ch = ch;
  c->id = r->id;
  chans_.push_back(std::move(c));
  stats_->open_channels += 1;
  stats_->channels_opened += 1;
  r->done = true;
  if (r->w)
    r->w->notify();
}

bool ssh_session::service_open() {
  while (!inflight_ && !queue_.empty()) {
    inflight_ = std::move(queue_.front());
    queue_.pop_front();
    if (inflight_->abandoned) {
      fail_open(std::move(inflight_), {tunnel_stage::channel_open, "abandoned"});
      inflight_.reset();
    }
  }
  if (!inflight_)
    return false;
  auto* s = link_->session();
  LIBSSH2_CHANNEL* ch = inflight_->drain
                            ? libssh2_channel_open_session(s)
                            : libssh2_channel_direct_tcpip_ex(s, inflight_->host.c_str(),
                                                              inflight_->port, "127.0.0.1", 22);
  if (ch) {
    finish_open(ch);
    return true;
  }
  const int rc = libssh2_session_last_errno(s);
  if (rc == LIBSSH2_ERROR_EAGAIN) {
    if (blocked_out())
      set_owner(op::open, nullptr, nullptr);
    return false;
  }
  auto r = std::move(inflight_);
  inflight_.reset();
  last_progress_ = clock::now();
  if (r->drain) {
    r->done = true;  // refused (MaxSessions 0) is fine: the open still read what was pending
    return true;
  }
  const auto msg = link_->last_error();
  if (rc != LIBSSH2_ERROR_CHANNEL_FAILURE) {
    fail_open(r, {tunnel_stage::tunnel_down, "SSH session failed while opening a channel: " + msg});
    die("SSH session to bastion " + where_of(cfg_.host, cfg_.port) +
        " lost (channel open): " + msg);
    return true;
  }
  const auto target = where_of(r->host, r->port);
  const auto bastion = where_of(cfg_.host, cfg_.port);
  std::string text;
  if (msg.find("administratively prohibited") != std::string::npos) {
    text = "bastion " + bastion + " refused to forward to " + target +
           " (administratively prohibited): set 'AllowTcpForwarding yes' in the bastion's "
           "sshd_config, allow " +
           target +
           " in PermitOpen if PermitOpen is set, and remove "
           "'restrict'/'no-port-forwarding' from the key's line in authorized_keys";
  } else if (msg.find("connect failed") != std::string::npos) {
    text = "bastion " + bastion + " could not connect to " + target +
           " (connect failed): wrong database host/port, the database refused the connection, "
           "the bastion cannot resolve the name, or a firewall between bastion and database "
           "blocks it; test on the bastion with: nc -vz " +
           r->host + " " + std::to_string(r->port);
  } else {
    text = "bastion " + bastion + " refused a channel to " + target + ": " + msg;
  }
  fail_open(r, {tunnel_stage::channel_open, text});
  return true;
}

bool ssh_session::service_closing() {
  bool progress = false;
  for (auto it = closing_.begin(); it != closing_.end();) {
    int rc = libssh2_channel_free(*it);
    if (rc == LIBSSH2_ERROR_EAGAIN) {
      if (blocked_out()) {
        set_owner(op::free_, nullptr, *it);
        return progress;
      }
      ++it;
      continue;
    }
    it = closing_.erase(it);
    progress = true;
  }
  return progress;
}

void ssh_session::retire_done() {
  for (auto it = chans_.begin(); it != chans_.end();) {
    auto& c = **it;
    if (!c.done || (owner_chan_ == &c)) {
      ++it;
      continue;
    }
    if (c.handed)
      end_handed(c, {});
    boost::system::error_code ec;
    c.local.close(ec);
    closing_.push_back(c.ch);
    c.ch = nullptr;
    stats_->open_channels -= 1;
    it = chans_.erase(it);
  }
}

bool ssh_session::pass() {
  const uint64_t in0 = link_->counters().recv;
  bool progress = false;
  if (owner_ != op::none) {
    // Only the call that left a partial packet may run until that packet is out.
    const op o = owner_;
    chan* c = owner_chan_;
    LIBSSH2_CHANNEL* f = owner_free_;
    set_owner(op::none, nullptr, nullptr);
    switch (o) {
      case op::read:
        progress |= op_read(*c);
        break;
      case op::write:
        progress |= op_write(*c);
        break;
      case op::eof:
        progress |= op_eof(*c);
        break;
      case op::open:
        progress |= service_open();
        break;
      case op::free_: {
        int rc = libssh2_channel_free(f);
        if (rc == LIBSSH2_ERROR_EAGAIN && blocked_out()) {
          set_owner(op::free_, nullptr, f);
        } else if (rc != LIBSSH2_ERROR_EAGAIN) {
          closing_.erase(std::remove(closing_.begin(), closing_.end(), f), closing_.end());
          progress = true;
        }
        break;
      }
      case op::none:
        break;
    }
    if (owner_ != op::none || dead_)
      return progress;
  }
  progress |= service_open();
  if (owner_ != op::none || dead_)
    return progress;
  for (auto& c : chans_) {
    if (c->done)
      continue;
    progress |= step(c);
    if (owner_ != op::none || dead_)
      return progress;
  }
  retire_done();
  progress |= service_closing();
  // Another channel's read may have queued packets for channels already visited.
  if (link_->counters().recv != in0) {
    last_progress_ = clock::now();
    progress = true;
  }
  return progress;
}

bool ssh_session::want_read() const {
  if (inflight_ || !queue_.empty() || !closing_.empty() || owner_ != op::none)
    return true;
  for (const auto& c : chans_) {
    if (c->done)
      continue;
    if (!c->remote_eof && c->tl_e < c->tl.size())
      return true;
    if (c->tr_b != c->tr_e || (c->local_eof && !c->eof_sent))
      return true;
  }
  return false;
}

void ssh_session::arm() {
  auto self = shared_from_this();
  auto& sock = link_->socket();
  const int dirs = libssh2_session_block_directions(link_->session());
  if ((dirs & LIBSSH2_SESSION_BLOCK_OUTBOUND) && !ssh_wr_armed_) {
    ssh_wr_armed_ = true;
    sock.async_wait(asio::socket_base::wait_write, [self](const boost::system::error_code&) {
      self->ssh_wr_armed_ = false;
      self->drive();
    });
  }
  if (want_read()) {
    // While the gate is open libssh2 reads for real; a wait would only fire at once.
    if (!ssh_rd_armed_ && !link_->readable()) {
      ssh_rd_armed_ = true;
      sock.async_wait(asio::socket_base::wait_read, [self](const boost::system::error_code&) {
        self->ssh_rd_armed_ = false;
        self->link_->mark_readable();
        self->drive();
      });
    }
  } else if (!idle_armed_ && !ssh_rd_armed_) {
    // Nobody will read: only watch for the peer closing (or data to drain later).
    int queued = 0;
    ::ioctl(sock.native_handle(), FIONREAD, &queued);
    if (queued == 0) {
      idle_armed_ = true;
      sock.async_wait(asio::socket_base::wait_read, [self](const boost::system::error_code& ec) {
        self->idle_armed_ = false;
        if (!ec)
          self->idle_readable_ = true;
        self->link_->mark_readable();
        self->drive();
      });
    } else {
      link_->mark_readable();  // for whoever reads next (the tick's drain)
    }
  }
  if (owner_ != op::none)
    return;
  for (auto& c : chans_) {
    if (c->done)
      continue;
    if (!c->rd_ready && !c->rd_armed && !c->local_eof && c->tr_e < c->tr.size()) {
      c->rd_armed = true;
      c->local.async_wait(asio::posix::descriptor_base::wait_read,
                          [self, c, g = c->gen](const boost::system::error_code&) {
                            if (c->gen == g) {
                              c->rd_armed = false;
                              c->rd_ready = true;
                            }
                            self->drive();
                          });
    }
    if (!c->wr_ready && !c->wr_armed && c->tl_b != c->tl_e) {
      c->wr_armed = true;
      c->local.async_wait(asio::posix::descriptor_base::wait_write,
                          [self, c, g = c->gen](const boost::system::error_code&) {
                            if (c->gen == g) {
                              c->wr_armed = false;
                              c->wr_ready = true;
                            }
                            self->drive();
                          });
    }
  }
}

void ssh_session::tick(clock::time_point now) {
  auto interval = std::max(cfg_.keepalive.interval, std::chrono::milliseconds(200));
  const auto where = where_of(cfg_.host, cfg_.port);
  if (idle_readable_) {
    idle_readable_ = false;
    char b;
    ssize_t n = ::recv(link_->socket().native_handle(), &b, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
      die("bastion " + where + " closed the SSH connection");
      return;
    }
  }
  // Watchdog: work waiting on the bastion and nothing at all moving (e.g. libssh2 1.10
  // stuck in a rekey during a partial send) for keepalive.interval x max_missed.
  const auto stall_after = interval * std::max<uint32_t>(cfg_.keepalive.max_missed, 1);
  const bool pending =
      owner_ != op::none || inflight_ ||
      std::any_of(chans_.begin(), chans_.end(), [](const auto& c) { return c->tr_b != c->tr_e; });
  if (pending && now - last_progress_ > stall_after) {
    die("no progress on the SSH session to " + where + " for " +
        std::to_string(
            std::chrono::duration_cast<std::chrono::seconds>(now - last_progress_).count()) +
        "s with data waiting (stalled, e.g. during a rekey); reconnecting");
    return;
  }
  // Liveness is checked four times per interval so a silent peer is declared dead
  // close to interval x max_missed after its last byte, not a whole interval later.
  if (now < next_tick_)
    return;
  next_tick_ = now + std::max(interval / 4, std::chrono::milliseconds(50));
  const uint64_t inbound = link_->inbound_bytes();
  if (inbound != last_inbound_) {
    last_inbound_ = inbound;
    last_inbound_at_ = now;
    unanswered_ = 0;
  }
  const uint32_t limit = std::max<uint32_t>(cfg_.keepalive.max_missed, 1);
  if (unanswered_ >= limit && now - last_inbound_at_ >= interval * limit) {
    die("bastion " + where + " answered none of " + std::to_string(unanswered_) +
        " keepalives in " +
        std::to_string(
            std::chrono::duration_cast<std::chrono::milliseconds>(now - last_inbound_at_).count()) +
        "ms (interval " + std::to_string(interval.count()) + "ms x max_missed " +
        std::to_string(limit) + "): the peer or the network path is silent");
    return;
  }
  if (now < next_probe_)
    return;
  next_probe_ = now + interval;
  if (owner_ == op::none && !blocked_out()) {
    int outq = 0, sndbuf = 0;
    socklen_t l = sizeof sndbuf;
    ::ioctl(link_->socket().native_handle(), SIOCOUTQ, &outq);
    ::getsockopt(link_->socket().native_handle(), SOL_SOCKET, SO_SNDBUF, &sndbuf, &l);
    // A probe is only sent when it surely fits the socket buffer: a partial keepalive
    // packet would block every other libssh2 send (its buffer lives on libssh2's stack).
    if (outq + 8192 < sndbuf) {
      int next = 0;
      int rc = libssh2_keepalive_send(link_->session(), &next);
      if (rc != 0 && rc != LIBSSH2_ERROR_EAGAIN) {
        die("SSH session to bastion " + where + " lost (keepalive): " + link_->last_error());
        return;
      }
      ++unanswered_;
    }
  }
  // Idle sessions have no channel reading the socket: drain replies and server requests
  // (keepalive@openssh.com, rekeys) with a throwaway open.
  int queued = 0;
  ::ioctl(link_->socket().native_handle(), FIONREAD, &queued);
  if (queued > 0 && !want_read() && now - last_drain_ >= interval) {
    last_drain_ = now;
    auto r = std::make_shared<open_request>();
    r->drain = true;
    queue_.push_back(std::move(r));
  }
}

void ssh_session::kick() {
  if (kick_posted_)
    return;
  kick_posted_ = true;
  asio::post(link_->socket().get_executor(), [self = shared_from_this()] {
    self->kick_posted_ = false;
    self->drive();
  });
}

void ssh_session::drive() {
  if (driving_ || dead_ || stopping_)
    return;
  driving_ = true;
  tick(clock::now());
  bool progress = false;
  for (int passes = 0; !dead_ && !stopping_; ++passes) {
    if (!pass())
      break;
    progress = true;
    if (passes == kPassesPerTurn) {
      // Still busy (bulk transfer): let the thread's other sessions run first.
      driving_ = false;
      kick();
      return;
    }
  }
  driving_ = false;
  if (dead_ || stopping_) {
    waker_->notify();  // run() tears down
    return;
  }
  if (progress) {
    idle_passes_ = 0;
  } else if (++idle_passes_ > 50) {
    // Woken again and again with nothing to do (a stuck libssh2 state): slow down and
    // let the watchdog decide.
    idle_passes_ = 40;
    if (!slow_armed_) {
      slow_armed_ = true;
      slow_.expires_after(std::chrono::milliseconds(5));
      slow_.async_wait([self = shared_from_this()](const boost::system::error_code&) {
        self->slow_armed_ = false;
        self->drive();
      });
    }
    return;
  }
  arm();
}

asio::awaitable<void> ssh_session::run() {
  auto self = shared_from_this();
  const auto start = clock::now();
  last_progress_ = start;
  last_drain_ = start;
  next_tick_ = start;
  next_probe_ = start + std::max(cfg_.keepalive.interval, std::chrono::milliseconds(200));
  last_inbound_ = link_->inbound_bytes();
  last_inbound_at_ = start;
  link_->start_pumping();
  drive();
  // Data moves in drive(), called by the readiness callbacks; this loop only ticks
  // (keepalives, watchdog) and ends the session.
  while (!dead_ && !stopping_) {
    co_await waker_->wait_until(next_tick_);
    drive();
  }
  if (dead_) {
    log::warn("tunnel_session_lost")
        .kv("tunnel", cfg_.name)
        .kv("error", death_.message)
        .kv("channels", static_cast<uint64_t>(chans_.size()));
  }
  teardown();
}

void ssh_session::teardown() {
  const bool graceful = stopping_ && !dead_;
  tunnel_error e{tunnel_stage::tunnel_down, dead_ ? death_.message : "tunnel stopped"};
  for (auto& r : queue_)
    fail_open(r, e);
  queue_.clear();
  if (inflight_)
    fail_open(std::move(inflight_), e);
  inflight_.reset();
  for (auto& c : chans_) {
    if (c->handed)
      end_handed(*c, dead_ ? "SSH tunnel lost: " + death_.message : std::string("tunnel stopped"));
    boost::system::error_code ec;
    c->local.close(ec);  // the client sees the connection end
    c->done = true;
  }
  stats_->open_channels -= static_cast<uint32_t>(chans_.size());
  chans_.clear();
  closing_.clear();  // freed with the session
  set_owner(op::none, nullptr, nullptr);
  slow_.cancel();
  if (link_)
    link_->close(graceful);
}

}  // namespace sluice::tunnel
