// The blind relay: each direction waits for readability, reads into the thread's
// scratch buffer and writes without blocking (docs/architecture.md, "Relay"), or, with
// relay: splice on plaintext legs, moves the bytes through a kernel pipe.
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
  auto self = shared_from_this();
  net::co_spawn(
      client_.socket().get_executor(), [self] { return self->pump(true); }, net::detached);
}

void session::spawn_server_to_client(bool in_kernel) {
  auto self = shared_from_this();
  net::co_spawn(
      client_.socket().get_executor(),
      [self, in_kernel]() -> net::awaitable<void> {
        try {
          if (in_kernel)
            co_await self->relay_in_kernel();
          else
            co_await self->pump(false);
          if (self->relay_.pooled)
            co_await self->release_backend();  // reset and kept, or closed
        } catch (const std::exception& e) {
          // run() no longer waits for the relay: nothing may escape it here either.
          self->record_.end(close_reason::internal_error, e.what());
          self->close_all();
        }
      },
      net::detached);
}

net::awaitable<void> session::pump(bool client_to_server) {
  auto self = shared_from_this();
  pg_stream& from = client_to_server ? client_ : *server_;
  pg_stream& to = client_to_server ? *server_ : client_;
  uint64_t& counter = client_to_server ? record_.bytes_in : record_.bytes_out;
  const auto handing_off = [this] { return phase_ == phase::handing_off; };
  error_code ec;
  // A pooled session must see its bytes (to keep the backend), so never splices.
  const bool splice = !from.is_tls() && !to.is_tls() && !relay_.pooled &&
                      rt_->settings->relay == config::settings::relay_mode::splice;
  if (record_.relay == "-")
    record_.relay = splice ? "splice" : "copy";
  if (splice) {
    co_await splice_pump(from, to, counter, client_to_server);
  } else {
    // Wait for readability (unless TLS already holds bytes), read into the thread's
    // scratch buffer, write without blocking; only a partial write needs a buffer of
    // its own. TLS legs run the same loop through the SSL object on the descriptor, so
    // an idle session, plaintext or TLS, holds no relay buffer at all.
    from.socket().non_blocking(true, ec);
    to.socket().non_blocking(true, ec);
    auto& scratch = thread_scratch();
    pg::bytes overflow;
    bool starved = false;  // the last read would block: buffered bytes are a partial record
    for (;;) {
      if (client_to_server && handing_off())
        break;  // at a chunk boundary: all that was read has been written
      if (relay_.pool_release)
        break;  // the client left a pooled session: the backend stays open
      if (starved || !from.has_buffered()) {
        co_await from.wait_readable(ec);
        if (ec)
          break;
      }
      size_t n = from.read_now(net::buffer(scratch), ec);
      starved = would_block(ec);
      if (starved)
        continue;
      if (ec)
        break;
      counter += n;
      relay_.last_activity = std::chrono::steady_clock::now();
      if (relay_.pooled) {
        if (client_to_server)
          n = relay_.client.feed({scratch.data(), n});  // up to its Terminate, if any
        else
          relay_.backend.feed({scratch.data(), n});
        if (n == 0)
          break;  // a Terminate: the backend is kept, not told
      }
      (client_to_server ? relay_.from_client : relay_.to_client).feed({scratch.data(), n});
      size_t w = to.write_now(net::buffer(scratch.data(), n), ec);
      if (would_block(ec))
        ec = {};
      if (ec)
        break;
      if (w < n) {
        // TLS may hold part of this rest in a record already: it must be offered again
        // as is (SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER lets it move to the heap).
        overflow.assign(scratch.begin() + static_cast<std::ptrdiff_t>(w),
                        scratch.begin() + static_cast<std::ptrdiff_t>(n));
        if (!client_to_server)
          relay_.client_write_busy = true;
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
            relay_.c2s_rest.assign(overflow.begin() + static_cast<std::ptrdiff_t>(sent),
                                   overflow.end());
            ec = {};
            break;
          }
        } else {
          co_await to.write_all(net::buffer(overflow), ec);
        }
        if (!client_to_server)
          relay_.client_write_busy = false;
        if (ec)
          break;
        pg::bytes().swap(overflow);
      }
      if (client_to_server && relay_.pooled && relay_.client.terminated())
        break;  // what came before the Terminate is written
    }
  }
  if (relay_.pooled && !ending()) {
    if (client_to_server) {
      // The client left: stop the other direction without closing the backend, whose
      // fate (kept or closed) the session decides once the pumps are done.
      relay_.client_left_cleanly = relay_.client.terminated() || ec == net::error::eof;
      relay_.pool_release = true;
      record_.end(close_reason::client_closed);
      error_code ignored;
      server_->socket().cancel(ignored);
      client_.socket().cancel(ignored);
      co_return;
    }
    if (relay_.pool_release)
      co_return;
  }
  if (client_to_server && handing_off() && (!ec || ec == net::error::operation_aborted)) {
    relay_.c2s_parked = true;
    gate_.notify();
    co_return;
  }
  // Passthrough bytes are TLS records, not messages: no Terminate to see there.
  record_.end(client_to_server || relay_.client_sent_terminate() ? close_reason::client_closed
                                                                 : close_reason::server_closed);
  if (phase_ != phase::terminating)
    close_all();
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
