#include "gateway/tunnel/reverse/agent_client.hpp"

#include <libssh/libssh.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <list>
#include <memory>
#include <thread>

#include "config/log.hpp"
#include "gateway/tunnel/backoff.hpp"
#include "gateway/tunnel/reverse/agent.hpp"
#include "gateway/tunnel/reverse/agent_relay.hpp"
#include "gateway/tunnel/reverse/target_connect.hpp"
#include "gateway/tunnel/ssh_format.hpp"

namespace sluice::tunnel::reverse {

namespace {

bool parse_port(const std::string& s, uint16_t& out) {
  if (s.empty() || s.size() > 5 || s.find_first_not_of("0123456789") != std::string::npos)
    return false;
  const unsigned long v = std::stoul(s);
  if (v < 1 || v > 65535)
    return false;
  out = static_cast<uint16_t>(v);
  return true;
}

bool split_host_port(const std::string& s, std::string& host, uint16_t& port) {
  if (!s.empty() && s.front() == '[') {
    auto close = s.find(']');
    if (close == std::string::npos || close + 1 >= s.size() || s[close + 1] != ':')
      return false;
    host = s.substr(1, close - 1);
    return !host.empty() && parse_port(s.substr(close + 2), port);
  }
  auto colon = s.rfind(':');
  if (colon == std::string::npos)
    return false;
  host = s.substr(0, colon);
  return !host.empty() && parse_port(s.substr(colon + 1), port);
}

class gateway_link {
 public:
  gateway_link(const agent_options& o, std::string gateway, const std::atomic<bool>& stop)
      : o_(o), gateway_(std::move(gateway)), stop_(stop) {}

  void run() {
    backoff_schedule backoff(o_.backoff_initial, o_.backoff_max);
    while (!stop_) {
      const auto started = std::chrono::steady_clock::now();
      std::string why = session_once();
      if (stop_)
        break;
      if (std::chrono::steady_clock::now() - started > std::chrono::seconds(30))
        backoff.reset();  // it was up for a while: retry soon
      const auto delay = backoff.next();
      log::warn("agent_disconnected")
          .kv("gateway", gateway_)
          .kv("tunnel", o_.tunnel)
          .kv("reason", why)
          .kv("retry_in_ms", static_cast<int64_t>(delay.count()));
      const auto until = std::chrono::steady_clock::now() + delay;
      while (!stop_ && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }

 private:
  std::string session_once() {
    std::string host;
    uint16_t port = 0;
    if (!split_host_port(gateway_, host, port))
      return "--gateway must be HOST:PORT, got '" + gateway_ + "'";
    ssh_session s = ssh_new();
    if (!s)
      return "libssh could not create a session";
    std::unique_ptr<ssh_session_struct, void (*)(ssh_session)> guard(s, [](ssh_session x) {
      ssh_disconnect(x);
      ssh_free(x);
    });
    const long timeout_s = std::max<long>(1, o_.connect_timeout.count() / 1000);
    const int off = 0;
    const unsigned int port_u = port;
    ssh_options_set(s, SSH_OPTIONS_HOST, host.c_str());
    ssh_options_set(s, SSH_OPTIONS_PORT, &port_u);
    ssh_options_set(s, SSH_OPTIONS_USER, o_.tunnel.c_str());
    ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &timeout_s);
    ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &off);  // no ~/.ssh/config surprises
    ssh_options_set(s, SSH_OPTIONS_KEY_EXCHANGE, kKeyExchange);
    ssh_options_set(s, SSH_OPTIONS_CIPHERS_C_S, kCiphers);
    ssh_options_set(s, SSH_OPTIONS_CIPHERS_S_C, kCiphers);
    ssh_options_set(s, SSH_OPTIONS_HMAC_C_S, kMacs);
    ssh_options_set(s, SSH_OPTIONS_HMAC_S_C, kMacs);
    if (ssh_connect(s) != SSH_OK)
      return std::string("cannot connect: ") + ssh_get_error(s);
    // Pin before sending anything that depends on the server being the right one.
    ssh_key srv = nullptr;
    if (ssh_get_server_publickey(s, &srv) != SSH_OK || !srv)
      return "the gateway sent no host key";
    char* b64 = nullptr;
    ssh_pki_export_pubkey_base64(srv, &b64);
    const std::string fp = fingerprint_of_b64(b64 ? b64 : "");
    ssh_string_free_char(b64);
    ssh_key_free(srv);
    if (!same_fingerprint(o_.host_key, fp)) {
      log::error("agent_host_key_mismatch")
          .kv("gateway", gateway_)
          .kv("expected", o_.host_key)
          .kv("received", fp);
      return "host key mismatch: expected " + o_.host_key + ", received " + fp +
             " (check `sluice tunnel host-key` on the gateway; not logging in)";
    }
    ssh_key key = nullptr;
    if (ssh_pki_import_privkey_file(o_.key_path.c_str(), nullptr, nullptr, nullptr, &key) != SSH_OK)
      return "cannot read the private key " + o_.key_path;
    const int auth = ssh_userauth_publickey(s, nullptr, key);
    ssh_key_free(key);
    if (auth != SSH_AUTH_SUCCESS) {
      return "the gateway refused this key for tunnel '" + o_.tunnel +
             "': its public key must be in that tunnel's reverse.authorized_keys";
    }
    std::string ports;
    for (const auto& f : o_.forwards) {
      int bound = 0;
      if (ssh_channel_listen_forward(s, "localhost", f.remote_port, &bound) != SSH_OK) {
        return "the gateway refused the forward for port " + std::to_string(f.remote_port) + ": " +
               ssh_get_error(s);
      }
      ports += (ports.empty() ? "" : ",") + std::to_string(f.remote_port) + "->" + f.target_host +
               ":" + std::to_string(f.target_port);
    }
    // Silent gateway: unacknowledged keepalives time the TCP connection out.
    const int fd = ssh_get_fd(s);
    const unsigned user_timeout = static_cast<unsigned>(o_.keepalive_interval.count() *
                                                        static_cast<long>(o_.keepalive_max_missed));
    ::setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout, sizeof user_timeout);
    const int on = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
    log::info("agent_connected")
        .kv("gateway", gateway_)
        .kv("tunnel", o_.tunnel)
        .kv("host_key", fp)
        .kv("forwards", ports);
    return pump(s);
  }

  // Closes and frees a channel no relay took over (refused target, stop, exception).
  struct channel_closer {
    void operator()(ssh_channel ch) const {
      ssh_channel_close(ch);
      ssh_channel_free(ch);
    }
  };
  using owned_channel = std::unique_ptr<ssh_channel_struct, channel_closer>;

  // A channel the gateway opened, waiting for its target's TCP connect.
  struct opening {
    owned_channel ch;
    std::unique_ptr<target_connect> connect;  // null: no --forward for the port
    int dport;
  };

  opening open_target(ssh_channel ch, int dport) {
    const forward_spec* f = nullptr;
    for (const auto& x : o_.forwards)
      f = x.remote_port == dport ? &x : f;
    opening o{owned_channel(ch), nullptr, dport};
    if (f)
      o.connect =
          std::make_unique<target_connect>(f->target_host, f->target_port, std::chrono::seconds(5));
    return o;
  }

  // The relay takes over the channel and the connected socket.
  static void start_relay(std::list<std::unique_ptr<channel_relay>>& relays, opening& o) {
    auto r = std::make_unique<channel_relay>(o.ch.get(), o.connect->fd());
    o.ch.release();
    o.connect->take_fd();
    relays.push_back(std::move(r));
  }

  void log_unreachable(int dport, const std::string& error) {
    log::warn("agent_target_unreachable")
        .kv("gateway", gateway_)
        .kv("port", dport)
        .kv("error", error);
  }

  // The session's loop: one poll(2) over the SSH socket and every target socket, libssh
  // processes what arrived, then each relay moves what the windows allow (see
  // agent_relay.hpp for why this is not libssh's ssh_connector).
  std::string pump(ssh_session s) {
    ssh_set_blocking(s, 0);
    ssh_event ev = ssh_event_new();
    std::unique_ptr<ssh_event_struct, void (*)(ssh_event)> ev_guard(ev, ssh_event_free);
    ssh_event_add_session(ev, s);
    const int sfd = ssh_get_fd(s);
    std::list<std::unique_ptr<channel_relay>> relays;
    std::list<opening> openings;
    std::vector<pollfd> fds;
    auto last_keepalive = std::chrono::steady_clock::now();
    std::string why;
    while (!stop_) {
      fds.clear();
      const bool write_pending = (ssh_get_status(s) & SSH_WRITE_PENDING) != 0;
      fds.push_back({sfd, static_cast<short>(POLLIN | (write_pending ? POLLOUT : 0)), 0});
      for (const auto& r : relays)
        fds.push_back({r->fd(), r->wanted_events(), 0});
      for (const auto& o : openings)
        fds.push_back({o.connect->fd(), o.connect->wanted_events(), 0});
      ::poll(fds.data(), fds.size(), 100);
      // Targets whose connect finished become relays; the channel waits meanwhile (what
      // the client sends stays in libssh's buffer, bounded by the window).
      {
        const auto now = std::chrono::steady_clock::now();
        size_t i = 1 + relays.size();
        for (auto it = openings.begin(); it != openings.end(); ++i) {
          const auto st = it->connect->advance(fds[i].revents, now);
          if (st == target_connect::state::connecting) {
            ++it;
            continue;
          }
          if (st == target_connect::state::connected)
            start_relay(relays, *it);
          else
            log_unreachable(it->dport, it->connect->error());
          it = openings.erase(it);  // closes a channel no relay took
        }
      }
      // libssh reads at most 4 KiB per poll: keep it going while the kernel holds more.
      // What it buffers per channel is bounded by the window we grant.
      for (int i = 0; i < 256; ++i) {
        ssh_event_dopoll(ev, 0);
        int queued = 0;
        if (!ssh_is_connected(s) || ::ioctl(sfd, FIONREAD, &queued) != 0 || queued <= 0)
          break;
      }
      if (!ssh_is_connected(s)) {
        why = std::string("connection lost: ") + ssh_get_error(s);
        break;
      }
      int dport = 0;
      char* originator = nullptr;
      int oport = 0;
      while (ssh_channel ch = ssh_channel_open_forward_port(s, 0, &dport, &originator, &oport)) {
        ssh_string_free_char(originator);
        originator = nullptr;
        auto o = open_target(ch, dport);
        if (!o.connect || o.connect->current() == target_connect::state::failed) {
          log_unreachable(dport, o.connect ? o.connect->error()
                                           : "no --forward for port " + std::to_string(dport));
          continue;  // `o` closes the channel
        }
        if (o.connect->current() == target_connect::state::connected)
          start_relay(relays, o);
        else
          openings.push_back(std::move(o));
      }
      for (auto it = relays.begin(); it != relays.end();) {
        auto& r = **it;
        r.pump();
        if (!r.finished()) {
          ++it;
          continue;
        }
        if (!r.failure().empty()) {
          log::warn("agent_channel_failed")
              .kv("gateway", gateway_)
              .kv("error", r.failure())
              .kv("bytes_to_target", r.bytes_to_target())
              .kv("bytes_to_gateway", r.bytes_to_gateway());
        }
        it = relays.erase(it);
      }
      const auto now = std::chrono::steady_clock::now();
      if (now - last_keepalive >= o_.keepalive_interval) {
        ssh_send_keepalive(s);
        last_keepalive = now;
      }
    }
    relays.clear();
    openings.clear();
    return stop_ ? std::string("stopping") : why;
  }

  const agent_options& o_;
  const std::string gateway_;
  const std::atomic<bool>& stop_;
};

}  // namespace

std::optional<forward_spec> parse_forward_spec(const std::string& s, std::string& error) {
  forward_spec f;
  auto first = s.find(':');
  if (first == std::string::npos || !parse_port(s.substr(0, first), f.remote_port)) {
    error = "--forward must be PORT:HOST:PORT (e.g. 5432:db.internal:5432), got '" + s + "'";
    return std::nullopt;
  }
  if (!split_host_port(s.substr(first + 1), f.target_host, f.target_port)) {
    error = "--forward must be PORT:HOST:PORT (e.g. 5432:db.internal:5432), got '" + s + "'";
    return std::nullopt;
  }
  return f;
}

int run_agent(const agent_options& o, const std::atomic<bool>& stop) {
  ssh_init();
  ssh_key key = nullptr;
  if (ssh_pki_import_privkey_file(o.key_path.c_str(), nullptr, nullptr, nullptr, &key) != SSH_OK) {
    log::error("agent_key_unreadable")
        .kv("path", o.key_path)
        .kv("error", "not a private key libssh can read (OpenSSH or PEM, no passphrase)");
    return 2;
  }
  char* b64 = nullptr;
  ssh_key pub = nullptr;
  ssh_pki_export_privkey_to_pubkey(key, &pub);
  if (pub)
    ssh_pki_export_pubkey_base64(pub, &b64);
  log::info("agent_start")
      .kv("tunnel", o.tunnel)
      .kv("key", fingerprint_of_b64(b64 ? b64 : ""))
      .kv("gateways", static_cast<uint64_t>(o.gateways.size()));
  ssh_string_free_char(b64);
  ssh_key_free(pub);
  ssh_key_free(key);
  std::vector<std::thread> threads;
  std::list<gateway_link> links;
  for (const auto& g : o.gateways) {
    links.emplace_back(o, g, stop);
    auto* l = &links.back();
    threads.emplace_back([l] { l->run(); });
  }
  for (auto& t : threads)
    t.join();
  return 0;
}

}  // namespace sluice::tunnel::reverse
