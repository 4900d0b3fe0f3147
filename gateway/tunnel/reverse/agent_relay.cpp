#include "gateway/tunnel/reverse/agent_relay.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace sluice::tunnel::reverse {

namespace {
// Per direction: libssh sends at most the peer's max packet (32 KiB from both OpenSSH
// and libssh) per SSH packet; 64 KiB per step keeps the syscalls few.
constexpr size_t kChunk = 64 * 1024;
}  // namespace

channel_relay::channel_relay(ssh_channel ch, int fd) : ch_(ch), fd_(fd) {
  to_target_.buf.resize(kChunk);
  to_gateway_.buf.resize(kChunk);
}

channel_relay::~channel_relay() {
  if (fd_ >= 0)
    ::close(fd_);
  if (ch_) {
    if (!ssh_channel_is_closed(ch_))
      ssh_channel_close(ch_);
    ssh_channel_free(ch_);  // libssh keeps it until the gateway's CLOSE arrives
  }
}

void channel_relay::fail(const std::string& why) {
  if (failure_.empty())
    failure_ = why;
}

void channel_relay::pump() {
  if (!failure_.empty())
    return;
  to_target();
  to_gateway();
}

void channel_relay::to_target() {
  while (failure_.empty()) {
    auto& p = to_target_;
    if (!p.empty()) {
      const ssize_t n =
          ::send(fd_, p.buf.data() + p.off, p.len - p.off, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
          return;  // POLLOUT resumes
        fail(std::string("write to the target failed: ") + std::strerror(errno));
        return;
      }
      p.off += static_cast<size_t>(n);
      to_target_bytes_ += static_cast<uint64_t>(n);
      continue;
    }
    if (target_shut_)
      return;
    // Only now take more out of libssh: until then its buffer holds the window closed.
    const int n =
        ssh_channel_read_nonblocking(ch_, p.buf.data(), static_cast<uint32_t>(p.buf.size()), 0);
    if (n > 0) {
      p.off = 0;
      p.len = static_cast<size_t>(n);
      continue;
    }
    if (ssh_channel_is_eof(ch_)) {  // the gateway's EOF (or CLOSE), after all its data
      ::shutdown(fd_, SHUT_WR);
      target_shut_ = true;
      return;
    }
    if (n == SSH_ERROR)
      fail("reading the channel failed");
    return;  // nothing buffered yet
  }
}

void channel_relay::to_gateway() {
  while (failure_.empty()) {
    auto& p = to_gateway_;
    if (!p.empty()) {
      if (gateway_gone_ || ssh_channel_is_closed(ch_))
        return;  // the client went away: nothing can take these bytes (see finished())
      const uint32_t window = ssh_channel_window_size(ch_);
      if (window == 0)
        return;  // the gateway's window adjust (on the session socket) resumes
      const uint32_t want = static_cast<uint32_t>(std::min<size_t>(p.len - p.off, window));
      const int w = ssh_channel_write(ch_, p.buf.data() + p.off, want);
      if (w < 0) {
        // The gateway closed the channel (libssh refuses writes once its CLOSE arrived,
        // even while its last bytes still wait in our buffer) or the session broke (the
        // loop ends it). Keep delivering what the gateway sent; finished() ends the relay.
        gateway_gone_ = true;
        return;
      }
      if (w == 0)
        return;  // libssh is busy (e.g. re-keying); the next pass retries
      p.off += static_cast<size_t>(w);
      to_gateway_bytes_ += static_cast<uint64_t>(w);
      continue;
    }
    if (target_eof_) {
      if (!eof_sent_ && !gateway_gone_ && !ssh_channel_is_closed(ch_))
        ssh_channel_send_eof(ch_);
      eof_sent_ = true;
      return;
    }
    const uint32_t window = ssh_channel_window_size(ch_);
    // Never recv() with a length of 0: its 0 would look like the target's EOF.
    if (window == 0 || gateway_gone_ || ssh_channel_is_closed(ch_))
      return;
    const size_t want = std::min<size_t>(p.buf.size(), window);
    const ssize_t n = ::recv(fd_, p.buf.data(), want, MSG_DONTWAIT);
    // A reset is how PostgreSQL usually ends: after Terminate the backend exits with the
    // client's TLS close_notify unread, and the kernel answers with RST. For the relay it
    // is the target's end, as EOF is (the gateway's side already said goodbye).
    if (n == 0 || (n < 0 && errno == ECONNRESET)) {
      target_eof_ = true;
      continue;
    }
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return;  // POLLIN resumes
      fail(std::string("reading the target failed: ") + std::strerror(errno));
      return;
    }
    p.off = 0;
    p.len = static_cast<size_t>(n);
  }
}

short channel_relay::wanted_events() const {
  short ev = 0;
  if (!failure_.empty())
    return ev;
  if (!to_target_.empty())
    ev |= POLLOUT;
  if (!target_eof_ && !gateway_gone_ && to_gateway_.empty() && ssh_channel_window_size(ch_) > 0)
    ev |= POLLIN;
  return ev;
}

bool channel_relay::finished() const {
  if (!failure_.empty())
    return true;
  if (eof_sent_ && target_shut_ && to_target_.empty())
    return true;  // both sides said EOF and everything was delivered
  // The gateway closed the channel: once its last bytes reached the target, nothing
  // remains to do (the target's unsent data has nowhere to go).
  return (gateway_gone_ || ssh_channel_is_closed(ch_)) && target_shut_ && to_target_.empty();
}

}  // namespace sluice::tunnel::reverse
