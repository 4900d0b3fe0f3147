// Over 400 lines on purpose: the stages of one SSH login (TCP with a deadline, the
// libssh2 handshake, host-key trust, public-key authentication) share this file's
// non-blocking drive loop and libssh2 callbacks, and each stage's words for failure.
// The parsers it uses are pure and elsewhere (ssh_format, known_hosts, keys).
#include "gateway/tunnel/link.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <fstream>
#include <mutex>
#include <sstream>

#include "config/log.hpp"
#include "config/read_file.hpp"
#include "config/validate.hpp"
#include "gateway/tunnel/keys.hpp"
#include "gateway/tunnel/known_hosts.hpp"
#include "gateway/tunnel/ssh_format.hpp"
#include "gateway/tunnel/waker.hpp"

namespace sluice::tunnel {

namespace asio = boost::asio;
using clock = std::chrono::steady_clock;

namespace {

ssize_t recv_cb(libssh2_socket_t fd, void* buf, size_t len, int flags, void** abstract) {
  auto* c = &static_cast<link_io*>(*abstract)->counters;
  // libssh2 reads before every write and twice per channel read; most of those reads
  // would only return EAGAIN.
  if (c->gate && !c->readable)
    return -EAGAIN;
  ssize_t n = ::recv(fd, buf, len, flags);
  if (n < 0) {
    const int e = errno;
    if (e == EAGAIN || e == EWOULDBLOCK)
      c->readable = false;
    return -e;
  }
  // A short read has most likely emptied the socket; the armed read wait says otherwise.
  if (n > 0 && static_cast<size_t>(n) < len)
    c->readable = false;
  c->recv += static_cast<uint64_t>(n);
  return n;
}

ssize_t send_cb(libssh2_socket_t fd, const void* buf, size_t len, int flags, void** abstract) {
  ssize_t n = ::send(fd, buf, len, flags | MSG_NOSIGNAL);
  if (n < 0)
    return -errno;
  static_cast<link_io*>(*abstract)->counters.sent += static_cast<uint64_t>(n);
  return n;
}

void* alloc_cb(size_t n, void** abstract) {
  return static_cast<link_io*>(*abstract)->cache.alloc(n);
}

void free_cb(void* p, void** abstract) {
  static_cast<link_io*>(*abstract)->cache.free(p);
}

void* realloc_cb(void* p, size_t n, void** abstract) {
  return static_cast<link_io*>(*abstract)->cache.realloc(p, n);
}

std::string seconds_text(std::chrono::milliseconds d) {
  std::ostringstream s;
  s << static_cast<double>(d.count()) / 1000.0 << "s";
  return s.str();
}

void set_tcp_keepalive(int fd) {
  // Lets the kernel notice a vanished bastion even when the SSH layer is idle.
  int on = 1, idle = 30, intvl = 10, cnt = 3;
  ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

asio::awaitable<tunnel_error> tcp_connect(asio::ip::tcp::socket& sock, const std::string& host,
                                          uint16_t port, std::chrono::milliseconds timeout) {
  const auto where = host + ":" + std::to_string(port);
  auto ex = co_await asio::this_coro::executor;
  asio::ip::tcp::resolver resolver(ex);
  boost::system::error_code ec;
  auto results = co_await resolver.async_resolve(host, std::to_string(port),
                                                 asio::redirect_error(asio::use_awaitable, ec));
  if (ec)
    co_return tunnel_error{tunnel_stage::tcp_connect,
                           "cannot resolve bastion host " + host + ": " + ec.message()};
  if (log::enabled(log::level::debug)) {
    std::string addresses;
    for (const auto& e : results)
      addresses += (addresses.empty() ? "" : ",") + e.endpoint().address().to_string();
    log::debug("tunnel_resolved").kv("bastion", where).kv("addresses", addresses);
  }
  const auto until = clock::now() + timeout;
  tunnel_error last{tunnel_stage::tcp_connect, "no address for " + host};
  for (const auto& entry : results) {
    auto w = std::make_shared<waker>(ex);
    auto result = std::make_shared<std::pair<bool, boost::system::error_code>>(
        false, boost::system::error_code{});
    boost::system::error_code oc;
    sock.close(oc);
    sock.open(entry.endpoint().protocol(), oc);
    sock.async_connect(entry.endpoint(), [w, result](const boost::system::error_code& e) {
      *result = {true, e};
      w->notify();
    });
    co_await w->wait_until(until);
    if (!result->first) {
      sock.close(oc);  // aborts the connect; wait for its handler before reusing the socket
      while (!result->first)
        co_await w->wait_until(clock::now() + std::chrono::seconds(1));
      co_return tunnel_error{tunnel_stage::tcp_connect,
                             "TCP connect to bastion " + where + " timed out after " +
                                 seconds_text(timeout) +
                                 ": packets are dropped (firewall/security group must allow this "
                                 "gateway's egress addresses) or the host is down"};
    }
    const auto e = result->second;
    if (!e) {
      set_tcp_keepalive(sock.native_handle());
      log::debug("tunnel_tcp_connected")
          .kv("bastion", where)
          .kv("address", entry.endpoint().address().to_string());
      co_return tunnel_error{};
    }
    if (e == asio::error::connection_refused) {
      last = {tunnel_stage::tcp_connect,
              "TCP connect to bastion " + where +
                  " refused: nothing listens on that port (is sshd running? is "
                  "the port right?)"};
    } else {
      last = {tunnel_stage::tcp_connect,
              "TCP connect to bastion " + where + " failed: " + e.message()};
    }
  }
  co_return last;
}

std::string pref_for(const std::string& type) {
  // libssh2 1.10 prefers ECDSA; pinning the preference makes it negotiate the trusted type.
  return type;
}

}  // namespace

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { libssh2_init(0); });  // libssh2_init is not thread-safe
}

const std::vector<std::string>& host_key_types() {
  static const std::vector<std::string> types{"ssh-ed25519", "ecdsa-sha2-nistp256",
                                              "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
                                              "ssh-rsa"};
  return types;
}

ssh_link::ssh_link(const asio::any_io_executor& ex)
    : socket_(ex), io_(std::make_unique<link_io>()) {}

ssh_link::~ssh_link() {
  close(false);
}

bool ssh_link::init(const std::string& hostkey_pref) {
  global_init();
  session_ = libssh2_session_init_ex(alloc_cb, free_cb, realloc_cb, io_.get());
  if (!session_)
    return false;
  libssh2_session_callback_set(session_, LIBSSH2_CALLBACK_RECV, reinterpret_cast<void*>(&recv_cb));
  libssh2_session_callback_set(session_, LIBSSH2_CALLBACK_SEND, reinterpret_cast<void*>(&send_cb));
  libssh2_session_set_blocking(session_, 0);
  if (!hostkey_pref.empty() &&
      libssh2_session_method_pref(session_, LIBSSH2_METHOD_HOSTKEY, hostkey_pref.c_str()) != 0) {
    return false;
  }
  return true;
}

uint64_t ssh_link::inbound_bytes() const {
  int queued = 0;
  if (socket_.is_open())
    ::ioctl(const_cast<ssh_link*>(this)->socket_.native_handle(), FIONREAD, &queued);
  return io_->counters.recv + static_cast<uint64_t>(queued > 0 ? queued : 0);
}

std::string ssh_link::last_error() const {
  if (!session_)
    return "no session";
  char* msg = nullptr;
  int len = 0;
  libssh2_session_last_error(session_, &msg, &len, 0);
  return msg ? std::string(msg, static_cast<size_t>(len)) : std::string();
}

asio::awaitable<bool> ssh_link::wait(clock::time_point until) {
  auto w = std::make_shared<waker>(socket_.get_executor());
  const int dirs = session_ ? libssh2_session_block_directions(session_) : 0;
  auto cb = [w](const boost::system::error_code&) { w->notify(); };
  if (dirs & LIBSSH2_SESSION_BLOCK_OUTBOUND)
    socket_.async_wait(asio::socket_base::wait_write, cb);
  if ((dirs & LIBSSH2_SESSION_BLOCK_INBOUND) || dirs == 0) {
    socket_.async_wait(asio::socket_base::wait_read, cb);
  }
  co_await w->wait_until(until);
  boost::system::error_code ec;
  socket_.cancel(ec);
  co_return clock::now() < until;
}

void ssh_link::start_pumping() {
  boost::system::error_code ec;
  const auto proto = socket_.local_endpoint(ec).protocol();
  if (!ec) {
    const int fd = socket_.release(ec);
    if (!ec) {
      socket_ = asio::ip::tcp::socket(socket_.get_executor());
      socket_.assign(proto, fd, ec);
      if (ec) {
        // libssh2 holds this fd number: keep it open (so it cannot be reused) but dead,
        // so the session fails on its first I/O and reconnects.
        ::shutdown(fd, SHUT_RDWR);
        stray_fd_ = fd;
      } else {
        ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);  // recv_cb relies on it
      }
    }
  }
  io_->counters.readable = true;
  io_->counters.gate = true;
}

void ssh_link::close(bool graceful) {
  io_->counters.gate = false;  // the goodbye and libssh2_session_free read for real
  if (session_) {
    if (graceful)
      libssh2_session_disconnect(session_, "sluice closing tunnel");  // best effort
    boost::system::error_code ec;
    // With the socket shut down, libssh2's pending sends fail fast instead of EAGAIN forever.
    socket_.shutdown(asio::socket_base::shutdown_both, ec);
    for (int i = 0; i < 50 && libssh2_session_free(session_) == LIBSSH2_ERROR_EAGAIN; ++i) {
    }
    session_ = nullptr;
  }
  boost::system::error_code ec;
  socket_.close(ec);
  if (stray_fd_ >= 0) {
    ::close(stray_fd_);
    stray_fd_ = -1;
  }
}

asio::awaitable<tunnel_error> connect_and_handshake(ssh_link& link, const std::string& host,
                                                    uint16_t port, const std::string& type,
                                                    std::chrono::milliseconds timeout) {
  const auto until = clock::now() + timeout;
  const auto where = host + ":" + std::to_string(port);
  auto err = co_await tcp_connect(link.socket(), host, port, timeout);
  if (!err.empty())
    co_return err;
  if (!link.init(pref_for(type))) {
    co_return tunnel_error{tunnel_stage::ssh_handshake, "libssh2 could not create a session"};
  }
  int rc;
  while ((rc = libssh2_session_handshake(link.session(), link.socket().native_handle())) ==
         LIBSSH2_ERROR_EAGAIN) {
    if (!co_await link.wait(until)) {
      co_return tunnel_error{tunnel_stage::ssh_handshake,
                             "SSH handshake with " + where + " timed out after " +
                                 seconds_text(timeout) +
                                 ": the port answers TCP but not SSH in time"};
    }
  }
  if (rc == LIBSSH2_ERROR_KEX_FAILURE) {
    co_return tunnel_error{tunnel_stage::ssh_handshake, "SSH key exchange with " + where +
                                                            " failed (host key type " + type +
                                                            "): " + link.last_error()};
  }
  if (rc != 0) {
    co_return tunnel_error{tunnel_stage::ssh_handshake, "SSH handshake with " + where +
                                                            " failed: " + link.last_error() +
                                                            " (is this port an SSH server?)"};
  }
  size_t len = 0;
  int kt = 0;
  const char* blob = libssh2_session_hostkey(link.session(), &len, &kt);
  if (!blob)
    co_return tunnel_error{tunnel_stage::ssh_handshake, "bastion " + where + " sent no host key"};
  link.host_key_blob.assign(blob, len);
  link.host_key_type = blob_key_type(link.host_key_blob);
  link.host_key_fingerprint = fingerprint_of_blob(link.host_key_blob);
  log::debug("tunnel_ssh_handshake")
      .kv("bastion", where)
      .kv("host_key_type", link.host_key_type)
      .kv("host_key", link.host_key_fingerprint);
  co_return tunnel_error{};
}

namespace {

struct trust {
  std::vector<std::string> types;  // to try, in order
  std::string pin;                 // or
  std::vector<known_host_entry> entries;
  std::string known_hosts_path;
};

bool trusted(const trust& t, const ssh_link& l, bool& revoked) {
  revoked = false;
  if (!t.pin.empty())
    return same_fingerprint(t.pin, l.host_key_fingerprint);
  for (const auto& e : t.entries) {
    if (e.key_blob == l.host_key_blob) {
      if (e.revoked) {
        revoked = true;
        return false;
      }
      return true;
    }
  }
  return false;
}

asio::awaitable<tunnel_error> authenticate(ssh_link& link, const config::tunnel& t,
                                           clock::time_point until) {
  const auto where = t.user + "@" + t.host + ":" + std::to_string(t.port);
  std::vector<std::pair<std::string, std::string>> keys{{"primary", t.private_key}};
  if (!t.secondary_key.empty())
    keys.emplace_back("secondary", t.secondary_key);
  std::string tried;
  for (const auto& [which, path] : keys) {
    // Re-checked at every connect: the file may have changed since the config was loaded.
    if (auto p = config::private_file_problem(path); !p.empty()) {
      co_return tunnel_error{tunnel_stage::auth, which + " key refused: " + p};
    }
    std::string error;
    auto text = config::read_file(path, &error).value_or("");
    if (!error.empty())
      co_return tunnel_error{tunnel_stage::auth, which + " key: " + error};
    auto pub = public_key_from_private(text, error);
    if (!error.empty())
      co_return tunnel_error{tunnel_stage::auth, which + " key " + path + ": " + error};
    if (pub.type == "ssh-rsa" && !rsa_supported()) {
      co_return tunnel_error{tunnel_stage::auth,
                             which + " key " + path + ": " + rsa_refusal_message()};
    }
    const auto line = pub.line("sluice");
    int rc;
    while ((rc = libssh2_userauth_publickey_frommemory(
                link.session(), t.user.data(), t.user.size(), line.data(), line.size(), text.data(),
                text.size(), nullptr)) == LIBSSH2_ERROR_EAGAIN) {
      if (!co_await link.wait(until)) {
        co_return tunnel_error{tunnel_stage::auth, "authentication to " + where + " timed out"};
      }
    }
    if (rc == 0) {
      link.key_used = which;
      co_return tunnel_error{};
    }
    if (rc != LIBSSH2_ERROR_AUTHENTICATION_FAILED && rc != LIBSSH2_ERROR_PUBLICKEY_UNVERIFIED) {
      co_return tunnel_error{tunnel_stage::auth, "authentication to " + where + " failed with " +
                                                     which + " key " + path + ": " +
                                                     link.last_error()};
    }
    if (!tried.empty())
      tried += ", ";
    tried += which + " " + pub.fingerprint();
  }
  co_return tunnel_error{
      tunnel_stage::auth,
      "bastion " + where + " refused public key authentication (tried " + tried +
          "): the key is not in ~" + t.user +
          "/.ssh/authorized_keys on the bastion (print it with `sluice tunnel pubkey " + t.name +
          " -c CONFIG`), or that file or its directory is writable by "
          "group/others (chmod 700 ~/.ssh; chmod 600 ~/.ssh/authorized_keys), or the "
          "user does not exist"};
}

}  // namespace

asio::awaitable<tunnel_error> connect_tunnel(const config::tunnel& t,
                                             std::unique_ptr<ssh_link>& out,
                                             std::string& learned_type) {
  auto ex = co_await asio::this_coro::executor;
  const auto where = t.host + ":" + std::to_string(t.port);
  trust tr;
  if (!t.host_key.empty()) {
    tr.pin = t.host_key;
    tr.types = host_key_types();
  } else {
    std::string error;
    auto text = config::read_file(t.known_hosts, &error).value_or("");
    if (!error.empty())
      co_return tunnel_error{tunnel_stage::host_key, error};
    tr.entries = known_hosts_for(parse_known_hosts(text), t.host, t.port);
    for (const auto& type : host_key_types()) {
      for (const auto& e : tr.entries) {
        if (!e.revoked && e.key_type == type) {
          tr.types.push_back(type);
          break;
        }
      }
    }
    if (tr.types.empty()) {
      co_return tunnel_error{tunnel_stage::host_key,
                             "no usable entry for " + known_hosts_name(t.host, t.port) + " in " +
                                 t.known_hosts +
                                 " (libssh2 checks ssh-ed25519, ecdsa-sha2-* and "
                                 "ssh-rsa keys); add the bastion's key after "
                                 "verifying it, or pin host_key from `sluice tunnel "
                                 "fingerprint " +
                                 where + "`"};
    }
  }
  if (!learned_type.empty()) {
    auto it = std::find(tr.types.begin(), tr.types.end(), learned_type);
    if (it != tr.types.end())
      std::rotate(tr.types.begin(), it, it + 1);
  }
  std::vector<offered_key> offered;
  tunnel_error last_kex;
  bool revoked_seen = false;
  for (const auto& type : tr.types) {
    auto link = std::make_unique<ssh_link>(ex);
    const auto until = clock::now() + t.connect_timeout;
    auto err = co_await connect_and_handshake(*link, t.host, t.port, type, t.connect_timeout);
    if (err.stage == tunnel_stage::ssh_handshake &&
        err.message.find("key exchange") != std::string::npos) {
      last_kex = err;  // the server does not offer this type; try the next one
      continue;
    }
    if (!err.empty())
      co_return err;
    bool revoked = false;
    if (!trusted(tr, *link, revoked)) {
      revoked_seen = revoked_seen || revoked;
      offered.push_back({link->host_key_type, link->host_key_fingerprint});
      if (!learned_type.empty() && type == learned_type)
        learned_type.clear();
      continue;
    }
    learned_type = type;
    log::debug("tunnel_host_key_trusted")
        .kv("tunnel", t.name)
        .kv("host_key", link->host_key_fingerprint);
    err = co_await authenticate(*link, t, until);
    if (!err.empty())
      co_return err;
    log::debug("tunnel_authenticated")
        .kv("tunnel", t.name)
        .kv("user", t.user)
        .kv("key", link->key_used);
    out = std::move(link);
    co_return tunnel_error{};
  }
  if (offered.empty()) {
    co_return tunnel_error{tunnel_stage::ssh_handshake,
                           "bastion " + where + " offers none of the trusted host key types: " +
                               (last_kex.empty() ? std::string("no handshake") : last_kex.message)};
  }
  std::string received;
  for (const auto& o : offered) {
    if (!received.empty())
      received += ", ";
    received += o.type + " " + o.fingerprint;
  }
  const std::string expected =
      !tr.pin.empty()
          ? tr.pin
          : "a key listed for " + known_hosts_name(t.host, t.port) + " in " + t.known_hosts;
  co_return tunnel_error{tunnel_stage::host_key,
                         std::string(revoked_seen ? "REVOKED host key" : "host key mismatch") +
                             " for bastion " + where + ": expected " + expected + ", received " +
                             received +
                             ". If the bastion's host key was changed on purpose, verify the new "
                             "fingerprint with its administrator and update host_key; otherwise "
                             "something is intercepting the connection. Not connecting."};
}

asio::awaitable<tunnel_error> probe_host_keys(const std::string& host, uint16_t port,
                                              std::chrono::milliseconds timeout,
                                              std::vector<offered_key>& out) {
  auto ex = co_await asio::this_coro::executor;
  tunnel_error last;
  for (const auto& type : host_key_types()) {
    ssh_link link(ex);
    auto err = co_await connect_and_handshake(link, host, port, type, timeout);
    if (err.stage == tunnel_stage::tcp_connect)
      co_return err;
    if (!err.empty()) {
      last = err;
      continue;
    }
    out.push_back({link.host_key_type, link.host_key_fingerprint});
    link.close(true);
  }
  if (out.empty())
    co_return last.empty() ? tunnel_error{tunnel_stage::ssh_handshake, "no host key"} : last;
  co_return tunnel_error{};
}

}  // namespace sluice::tunnel
