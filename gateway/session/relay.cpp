// The blind relay: each direction waits for readability, reads into the thread's
// scratch buffer and writes without blocking (docs/architecture.md, "Relay"), or, with
// relay: splice on plaintext legs, moves the bytes through a kernel pipe.
//
// The copy relay runs from readiness callbacks, not from a coroutine: while a direction
// waits, it holds one pending async_wait and nothing else (no coroutine frame, no
// buffer), which is most of what an idle session would otherwise keep. A coroutine
// runs only while a partial write is flushed.
#include <utility>  // before Asio: GCC 12 + Boost 1.74 awaitable.hpp needs std::exchange

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "gateway/session/session.hpp"

namespace sluice::gateway {

namespace {

// Shared by every relay on this thread: a chunk only lives here between a
// read and the non-blocking write that follows it, never across a suspension.
std::array<uint8_t, 64 * 1024>& thread_scratch() {
  static thread_local std::array<uint8_t, 64 * 1024> buf;
  return buf;
}

}  // namespace

void session::spawn_client_to_server() {
  start_relay(true);
}

void session::spawn_server_to_client(bool in_kernel) {
  if (!in_kernel) {
    start_relay(false);
    return;
  }
  auto self = shared_from_this();
  net::co_spawn(
      client_.socket().get_executor(),
      [self]() -> net::awaitable<void> {
        try {
          co_await self->relay_in_kernel();
        } catch (const std::exception& e) {
          // run() no longer waits for the relay: nothing may escape it here either.
          self->record_.end(close_reason::internal_error, e.what());
          self->close_all();
        }
      },
      net::detached);
}

void session::start_relay(bool client_to_server) {
  pg_stream& from = client_to_server ? client_ : *server_;
  pg_stream& to = client_to_server ? *server_ : client_;
  // A pooled session must see its bytes (to keep the backend), so never splices.
  const bool splice = !from.is_tls() && !to.is_tls() && !relay_.pooled &&
                      rt_->settings->relay == config::settings::relay_mode::splice;
  if (record_.relay == "-")
    record_.relay = splice ? "splice" : "copy";
  error_code ec;
  from.socket().non_blocking(true, ec);
  to.socket().non_blocking(true, ec);
  if (splice) {
    auto self = shared_from_this();
    net::co_spawn(
        client_.socket().get_executor(),
        [self, client_to_server]() -> net::awaitable<void> {
          pg_stream& from = client_to_server ? self->client_ : *self->server_;
          pg_stream& to = client_to_server ? *self->server_ : self->client_;
          co_await self->splice_pump(
              from, to, client_to_server ? self->record_.bytes_in : self->record_.bytes_out,
              client_to_server);
          self->relay_finish(client_to_server, {});
        },
        net::detached);
    return;
  }
  relay_run(client_to_server, false);
}

void session::relay_arm(bool client_to_server) {
  pg_stream& from = client_to_server ? client_ : *server_;
  auto self = shared_from_this();
  from.async_wait_readable(in_slot(
      wait_slots_[client_to_server ? 0 : 1],
      [self, client_to_server](error_code ec) { self->relay_run(client_to_server, true, ec); }));
}

void session::relay_run(bool client_to_server, bool readable, error_code ec) {
  try {
    if (ec)
      relay_finish(client_to_server, ec);
    else
      relay_burst(client_to_server, readable);
  } catch (const std::exception& e) {
    // A callback: nothing may escape into the io_context.
    record_.end(close_reason::internal_error, e.what());
    close_all();
  }
}

// Reads and writes without waiting until the source would block (then it arms the wait),
// a write is partial (then a coroutine flushes the rest), or the direction ends.
void session::relay_burst(bool client_to_server, bool readable) {
  pg_stream& from = client_to_server ? client_ : *server_;
  pg_stream& to = client_to_server ? *server_ : client_;
  uint64_t& counter = client_to_server ? record_.bytes_in : record_.bytes_out;
  auto& scratch = thread_scratch();
  error_code ec;
  bool starved = false;  // the last read would block: buffered bytes are a partial record
  for (;;) {
    if (client_to_server && phase_ == phase::handing_off)
      return relay_finish(client_to_server, {});  // at a chunk boundary: all read is written
    if (relay_.pool_release)
      return relay_finish(client_to_server, {});  // the client left a pooled session
    // Wait for readability unless just woken for it or TLS already holds bytes.
    if (starved || (!readable && !from.has_buffered()))
      return relay_arm(client_to_server);
    readable = false;
    size_t n = from.read_now(net::buffer(scratch), ec);
    starved = would_block(ec);
    if (starved)
      continue;
    if (ec)
      return relay_finish(client_to_server, ec);
    counter += n;
    relay_.last_activity = std::chrono::steady_clock::now();
    if (relay_.pooled) {
      if (client_to_server)
        n = pool_->client.feed({scratch.data(), n});  // up to its Terminate, if any
      else
        pool_->backend.feed({scratch.data(), n});
      if (n == 0)
        return relay_finish(client_to_server, ec);  // a Terminate: the backend is kept
    }
    (client_to_server ? relay_.from_client : relay_.to_client).feed({scratch.data(), n});
    size_t w = to.write_now(net::buffer(scratch.data(), n), ec);
    if (would_block(ec))
      ec = {};
    if (ec)
      return relay_finish(client_to_server, ec);
    if (w < n) {
      // TLS may hold part of this rest in a record already: it must be offered again
      // as is (SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER lets it move to the heap).
      pg::bytes rest(scratch.begin() + static_cast<std::ptrdiff_t>(w),
                     scratch.begin() + static_cast<std::ptrdiff_t>(n));
      if (!client_to_server)
        relay_.client_write_busy = true;
      auto self = shared_from_this();
      net::co_spawn(
          client_.socket().get_executor(),
          [self, client_to_server, rest = std::move(rest)]() mutable -> net::awaitable<void> {
            try {
              co_await self->relay_flush(client_to_server, std::move(rest));
            } catch (const std::exception& e) {
              self->record_.end(close_reason::internal_error, e.what());
              self->close_all();
            }
          },
          net::detached);
      return;
    }
    if (client_to_server && relay_.pooled && pool_->client.terminated())
      return relay_finish(client_to_server, ec);  // what came before the Terminate is written
  }
}

// A write would block mid-chunk: the rest waits here for the peer to read, then the
// direction goes back to the callbacks.
net::awaitable<void> session::relay_flush(bool client_to_server, pg::bytes overflow) {
  pg_stream& to = client_to_server ? *server_ : client_;
  const auto handing_off = [this] { return phase_ == phase::handing_off; };
  error_code ec;
  if (client_to_server && tunnel_channel_ != 0 && !to.is_tls()) {
    // A hand-off must not wait for a slow tunnel (the database may be waiting for
    // its results to be read first): what is unsent goes along with the socket.
    size_t sent = 0;
    while (sent < overflow.size() && !handing_off()) {
      co_await to.socket().async_wait(tcp::socket::wait_write,
                                      net::redirect_error(net::use_awaitable, ec));
      if (ec)
        break;
      sent += to.write_now(net::buffer(overflow.data() + sent, overflow.size() - sent), ec);
      if (would_block(ec))
        ec = {};
      if (ec)
        break;
    }
    if (handing_off() && (!ec || ec == net::error::operation_aborted)) {
      relay_.c2s_rest.assign(overflow.begin() + static_cast<std::ptrdiff_t>(sent), overflow.end());
      relay_finish(client_to_server, {});
      co_return;
    }
  } else {
    co_await to.write_all(net::buffer(overflow), ec);
  }
  if (!client_to_server)
    relay_.client_write_busy = false;
  if (ec) {
    relay_finish(client_to_server, ec);
    co_return;
  }
  if (client_to_server && relay_.pooled && pool_->client.terminated()) {
    relay_finish(client_to_server, ec);  // what came before the Terminate is written
    co_return;
  }
  relay_run(client_to_server, false);
}

// One direction is done (`ec`: why its last read or write failed, if it did).
void session::relay_finish(bool client_to_server, error_code ec) {
  if (relay_.pooled && !ending()) {
    if (client_to_server) {
      // The client left: stop the other direction without closing the backend, whose
      // fate (kept or closed) the session decides once the pumps are done.
      relay_.client_left_cleanly = pool_->client.terminated() || ec == net::error::eof;
      relay_.pool_release = true;
      record_.end(close_reason::client_closed);
      error_code ignored;
      server_->socket().cancel(ignored);
      client_.socket().cancel(ignored);
      return;
    }
    if (relay_.pool_release)
      return release_after_relay();
  }
  if (client_to_server && phase_ == phase::handing_off &&
      (!ec || ec == net::error::operation_aborted)) {
    relay_.c2s_parked = true;
    notify_gate();
    return;
  }
  // Passthrough bytes are TLS records, not messages: no Terminate to see there.
  record_.end(client_to_server || relay_.client_sent_terminate() ? close_reason::client_closed
                                                                 : close_reason::server_closed);
  if (phase_ != phase::terminating)
    close_all();
  if (!client_to_server)
    release_after_relay();
}

// A pooled session's backend is reset and kept, or closed, once the server->client
// direction is done.
void session::release_after_relay() {
  if (!relay_.pooled)
    return;
  auto self = shared_from_this();
  net::co_spawn(
      client_.socket().get_executor(),
      [self]() -> net::awaitable<void> {
        try {
          co_await self->release_backend();
        } catch (const std::exception& e) {
          self->record_.end(close_reason::internal_error, e.what());
          self->close_all();
        }
      },
      net::detached);
}
net::awaitable<void> session::splice_pump(pg_stream& from, pg_stream& to, uint64_t& counter,
                                          bool client_to_server) {
  // Bytes go socket -> pipe -> socket inside the kernel. The relay cannot see them, so
  // a session relayed this way is closed without a message when terminated.
  if (!client_to_server)
    relay_.untracked_to_client = true;
  error_code ec;
  // SPLICE_F_NONBLOCK covers only the pipe; the sockets must not block either.
  from.socket().non_blocking(true, ec);
  to.socket().non_blocking(true, ec);
  int p[2];
  if (pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0)
    co_return;
  size_t in_pipe = 0;
  for (;;) {
    if (in_pipe == 0) {
      co_await from.socket().async_wait(tcp::socket::wait_read,
                                        net::redirect_error(net::use_awaitable, ec));
      if (ec)
        break;
      ssize_t n = ::splice(from.socket().native_handle(), nullptr, p[1], nullptr, 1 << 16,
                           SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n < 0 && (errno == EAGAIN || errno == EINTR))
        continue;
      if (n <= 0)
        break;
      in_pipe = static_cast<size_t>(n);
      counter += in_pipe;
      relay_.last_activity = std::chrono::steady_clock::now();
    }
    ssize_t w = ::splice(p[0], nullptr, to.socket().native_handle(), nullptr, in_pipe,
                         SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
      co_await to.socket().async_wait(tcp::socket::wait_write,
                                      net::redirect_error(net::use_awaitable, ec));
      if (ec)
        break;
      continue;
    }
    if (w <= 0)
      break;
    in_pipe -= static_cast<size_t>(w);
  }
  ::close(p[0]);
  ::close(p[1]);
}

}  // namespace sluice::gateway
