// relay: kernel (docs/architecture.md, "Relay"): once a plaintext session is logged in,
// both sockets go into the BPF sockhash (gateway/relay/) and the kernel forwards each
// one's bytes to the other. The session keeps the control: it forwards what it had
// read, and what the program passes up whenever the pair is not armed; it watches for
// EOF and errors; the idle timer reads the program's timestamps; terminate() disarms
// the pair, waits for the redirected bytes to leave, and puts the ErrorResponse after
// them when the server's stream is between two messages.
#include <utility>  // before Asio: GCC 12 + Boost 1.74 awaitable.hpp needs std::exchange

#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "config/log.hpp"
#include "gateway/relay/frames.hpp"
#include "gateway/relay/leg_watch.hpp"
#include "gateway/relay/tcp_written.hpp"
#include "gateway/session/session.hpp"

namespace sluice::gateway {

namespace {

enum class peeked { data, nothing, ended };

peeked peek(int fd) {
  uint8_t b;
  ssize_t n = ::recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n > 0)
    return peeked::data;
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
    return peeked::nothing;
  return peeked::ended;  // EOF or an error: the relay ends either way
}

std::array<uint8_t, 64 * 1024>& scratch() {
  static thread_local std::array<uint8_t, 64 * 1024> buf;
  return buf;
}

net::awaitable<void> pause_for(std::chrono::milliseconds d) {
  net::steady_timer t(co_await net::this_coro::executor);
  t.expires_after(d);
  error_code ec;
  co_await t.async_wait(net::redirect_error(net::use_awaitable, ec));
}

}  // namespace

bool session::can_relay_in_kernel() const {
  // TLS needs this thread's SSL objects; a tunnel route hands off instead; a pooled
  // session must watch its bytes to know whether the backend can be kept.
  return rt_->settings->relay == config::settings::relay_mode::kernel && !relay_.opaque &&
         !relay_.pooled && !client_.is_tls() && !record_.upstream_tls && tunnel_channel_ == 0 &&
         !ending() && kernel_relay::get() != nullptr;
}

net::awaitable<void> session::relay_in_kernel() {
  auto self = shared_from_this();
  error_code ec;
  // 1. Stop the client->server pump between chunks, as the hand-off does. Only the
  //    client's socket is cancelled: a write to the server in progress completes.
  advance(phase::handing_off);
  gate();  // before the pump can park and ring it
  client_.socket().cancel(ec);
  while (!relay_.c2s_parked && phase_ != phase::closed)
    co_await gate().wait_until(std::chrono::steady_clock::time_point::max());
  if (phase_ != phase::handing_off)
    co_return;  // the client left, or the session was ended, meanwhile
  relay_.c2s_parked = false;
  // 2. Both sockets into the sockhash, unarmed.
  auto legs = std::make_unique<kernel_legs>();
  legs->relay = kernel_relay::get();
  const int cfd = client_.socket().native_handle(), sfd = server_->socket().native_handle();
  legs->base_to_client = tcp_written_total(cfd);
  legs->base_to_server = tcp_written_total(sfd);
  std::string why;
  auto pair = legs->relay->enter(cfd, sfd, why);
  if (!pair) {
    static std::atomic<bool> said{false};
    if (!said.exchange(true))
      log::warn("kernel_relay_skipped")
          .kv("conn", record_.conn)
          .kv("reason", why)
          .kv("effect",
              "this session (and any other that fails the same way) uses the copy "
              "relay; logged once");
    phase_ = phase::relaying;  // back from handing_off: nothing was handed anywhere
    spawn_client_to_server();
    spawn_server_to_client(false);
    co_return;
  }
  legs->pair = *pair;
  record_.relay = "kernel";
  kernel_relay& k = *legs->relay;
  k.end(pair->server).frames = frames_from(relay_.to_client);
  k.end(pair->client).frames = frames_from(relay_.from_client);
  kernel_ = std::move(legs);
  advance(phase::in_kernel);
  // 3. Forward what arrived meanwhile, arm; then watch both sockets until the end.
  co_await kernel_resync();
  for (;;) {
    if (phase_ != phase::in_kernel)
      co_return;
    bool resync = false;
    // The server's leg first: when it ends, the psock reports EPIPE on the client's
    // socket too, and the close reason must be the server's EOF.
    for (bool client_side : {false, true}) {
      auto p = peek(client_side ? cfd : sfd);
      if (p == peeked::ended) {
        log::debug("kernel_relay_leg_ended")
            .kv("conn", record_.conn)
            .kv("leg", client_side ? "client" : "server")
            .kv("errno", errno);
        co_await kernel_finish(client_side);
        co_return;
      }
      resync = resync || p == peeked::data;
    }
    if (resync) {
      co_await kernel_resync();
      continue;
    }
    if (kernel_park()) {
      co_await gate().wait_until(std::chrono::steady_clock::time_point::max());
      kernel_unpark();
      continue;
    }
    for (int i = 0; i < 2; ++i) {
      if (kernel_->waiting[i])
        continue;
      kernel_->waiting[i] = true;
      tcp::socket& s = i == 0 ? client_.socket() : server_->socket();
      s.async_wait(tcp::socket::wait_read, [self, i](error_code) {
        if (self->kernel_)
          self->kernel_->waiting[i] = false;
        self->notify_gate();
      });
    }
    co_await gate().wait_until(std::chrono::steady_clock::time_point::max());
  }
}

// The program passes bytes up while a pair is not armed, or armed but with passed bytes
// sluice has not forwarded yet (a byte that arrived in between): those must reach the
// peer before anything the program redirects. So: disarm, let what was redirected leave,
// forward what was passed up, and arm again with the count forwarded.
net::awaitable<void> session::kernel_resync() {
  kernel_relay& k = *kernel_->relay;
  relay_end& c = k.end(kernel_->pair.client);
  relay_end& s = k.end(kernel_->pair.server);
  shared_store(c.armed, 0u);
  shared_store(s.armed, 0u);
  auto quiet = [&] {
    return shared_load(c.entered) == shared_load(c.left) &&
           shared_load(s.entered) == shared_load(s.left);
  };
  while (phase_ == phase::in_kernel && !quiet())
    co_await pause_for(std::chrono::milliseconds(1));
  // Nothing redirected may still wait in a psock queue: what the program passes up
  // behind it would be delayed, and forwarded late.
  if (!co_await kernel_wait_delivered(true, std::chrono::hours(24)) ||
      !co_await kernel_wait_delivered(false, std::chrono::hours(24)))
    co_return;
  for (;;) {
    if (phase_ != phase::in_kernel)
      co_return;
    uint64_t pc = shared_load(c.passed), ps = shared_load(s.passed);
    if (!co_await kernel_drain(true) || !co_await kernel_drain(false))
      co_return;  // EOF or an error: the watch loop sees it and ends the session
    if (shared_load(c.passed) == pc && shared_load(s.passed) == ps) {
      shared_store(c.acked, pc);
      shared_store(s.acked, ps);
      shared_store(c.armed, 1u);
      shared_store(s.armed, 1u);
      // A program run that read `armed` as 0 just before these stores may still pass its
      // skb up (runs on one socket are serialised, so nothing was redirected before it).
      // Once the runs in flight are done nothing else can pass while the pair stays
      // armed, which is what lets kernel_park() stop watching for readable data.
      while (phase_ == phase::in_kernel && !quiet())
        co_await pause_for(std::chrono::milliseconds(1));
      if (shared_load(c.passed) == pc && shared_load(s.passed) == ps)
        co_return;
    }
  }
}

// Reads one leg until it would block and writes it all to the other. False at EOF/error.
net::awaitable<bool> session::kernel_drain(bool client_to_server) {
  pg_stream& from = client_to_server ? client_ : *server_;
  pg_stream& to = client_to_server ? *server_ : client_;
  relay_end& e =
      kernel_->relay->end(client_to_server ? kernel_->pair.client : kernel_->pair.server);
  auto& buf = scratch();
  for (;;) {
    error_code ec;
    size_t n = from.read_now(net::buffer(buf), ec);
    if (would_block(ec))
      co_return true;
    if (ec)
      co_return false;
    advance_frames(e.frames, {buf.data(), n});
    // The buffer is this thread's: copy what a suspended write still needs.
    pg::bytes chunk(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
    co_await to.write_all(net::buffer(chunk), ec);
    if (ec || !kernel_)
      co_return false;  // kernel_ is gone once the session closed meanwhile
    (client_to_server ? kernel_->user_to_server : kernel_->user_to_client) += n;
    (client_to_server ? record_.bytes_in : record_.bytes_out) += n;
    relay_.last_activity = std::chrono::steady_clock::now();
  }
}

net::awaitable<bool> session::kernel_wait_delivered(bool to_client,
                                                    std::chrono::milliseconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  kernel_relay& k = *kernel_->relay;
  const relay_end& src = k.end(to_client ? kernel_->pair.server : kernel_->pair.client);
  const int fd = (to_client ? client_ : *server_).socket().native_handle();
  const uint64_t base = to_client ? kernel_->base_to_client : kernel_->base_to_server;
  auto pending = [&] {
    const uint64_t mine = to_client ? kernel_->user_to_client : kernel_->user_to_server;
    const int64_t sent = static_cast<int64_t>(tcp_written_total(fd) - base - mine);
    return static_cast<int64_t>(shared_load(src.redirected)) - sent;
  };
  auto wait = std::chrono::milliseconds(1);
  for (;;) {
    if (!kernel_ || phase_ == phase::closed)
      co_return false;
    if (pending() <= 0)
      co_return true;
    if (std::chrono::steady_clock::now() >= until)
      co_return false;
    co_await pause_for(wait);
    wait = std::min(wait * 2, std::chrono::milliseconds(50));
  }
}

// One leg ended (EOF or an error): what the program redirected from it reaches the
// other leg first, then the session closes as the copy relay closes it.
net::awaitable<void> session::kernel_finish(bool client_side) {
  auto self = shared_from_this();
  co_await kernel_wait_delivered(!client_side, std::chrono::seconds(5));
  if (phase_ == phase::in_kernel && kernel_) {
    const auto& client_frames = kernel_->relay->end(kernel_->pair.client).frames;
    record_.end(client_side || client_frames.last_type == 'X' ? close_reason::client_closed
                                                              : close_reason::server_closed);
    close_all();
  }
}

net::awaitable<void> session::kernel_terminate(std::string sqlstate, std::string message) {
  auto self = shared_from_this();
  kernel_unpark();
  kernel_relay& k = *kernel_->relay;
  relay_end& c = k.end(kernel_->pair.client);
  relay_end& s = k.end(kernel_->pair.server);
  // From here the program passes everything up, and sluice no longer forwards it.
  shared_store(c.armed, 0u);
  shared_store(s.armed, 0u);
  for (int i = 0; i < 1000 && (shared_load(s.entered) != shared_load(s.left) ||
                               shared_load(c.entered) != shared_load(c.left));
       ++i)
    co_await pause_for(std::chrono::milliseconds(1));
  // A client that does not read gets no message, as with the copy relay's busy write.
  bool delivered = co_await kernel_wait_delivered(true, std::chrono::seconds(1));
  if (server_)
    server_->close();
  if (delivered && kernel_ && frames_at_boundary(s.frames) && phase_ != phase::closed) {
    auto bytes = pg::encode_error({"FATAL", sqlstate, message, {}, {}});
    error_code ec;
    co_await client_.write_all(net::buffer(bytes), ec);
  }
  close_all();
}

bool session::kernel_park() {
  std::string why;
  leg_watch* w = leg_watch::get(why);
  if (!w) {
    static std::atomic<bool> said{false};
    if (!said.exchange(true))
      log::warn("kernel_relay_watch_unavailable")
          .kv("reason", why)
          .kv("effect",
              "relayed sockets stay in the workers' epoll: each message wakes a "
              "worker; logged once");
    return false;
  }
  kernel_legs& k = *kernel_;
  tcp::socket* socks[2] = {&client_.socket(), &server_->socket()};
  error_code ec;
  for (int i = 0; i < 2; ++i) {
    auto ep = socks[i]->local_endpoint(ec);
    k.parked_v6[i] = !ec && ep.address().is_v6();
  }
  // The wake runs on the watch thread: it only posts to this session's thread.
  auto wake = [weak = weak_from_this(), ex = client_.socket().get_executor()] {
    net::post(ex, [weak] {
      if (auto s = weak.lock())
        s->notify_gate();
    });
  };
  k.watch = w->add(socks[0]->native_handle(), socks[1]->native_handle(), std::move(wake), why);
  if (!k.watch) {
    log::debug("kernel_relay_park_failed").kv("conn", record_.conn).kv("reason", why);
    return false;
  }
  for (int i = 0; i < 2; ++i)
    k.parked_fd[i] = socks[i]->release(ec);  // no operation is pending on either
  return true;
}

void session::kernel_unpark() {
  if (!kernel_ || !kernel_->watch)
    return;
  kernel_legs& k = *kernel_;
  leg_watch::forget(k.watch);
  k.watch = 0;
  tcp::socket* socks[2] = {&client_.socket(), &server_->socket()};
  for (int i = 0; i < 2; ++i) {
    error_code ec;
    socks[i]->assign(k.parked_v6[i] ? tcp::v6() : tcp::v4(), k.parked_fd[i], ec);
    if (ec)
      ::close(k.parked_fd[i]);  // the socket stays closed: the watch loop sees the end
    else
      socks[i]->non_blocking(true, ec);
    k.parked_fd[i] = -1;
  }
}

session::kernel_legs::~kernel_legs() {
  if (watch)
    leg_watch::forget(watch);
  for (int fd : parked_fd)
    if (fd >= 0)
      ::close(fd);
}

void session::kernel_leave() {
  if (!kernel_)
    return;
  // Sockets are closed: they left the sockhash. Count what the program moved.
  kernel_relay& k = *kernel_->relay;
  record_.bytes_in += shared_load(k.end(kernel_->pair.client).redirected);
  record_.bytes_out += shared_load(k.end(kernel_->pair.server).redirected);
  k.leave(kernel_->pair);
  kernel_.reset();
}

}  // namespace sluice::gateway
