#include "gateway/tunnel/reverse/endpoint.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <ctime>
#include <future>
#include <list>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "config/allowlist.hpp"
#include "config/log.hpp"
#include "gateway/tunnel/reverse/agent.hpp"
#include "gateway/tunnel/reverse/host_key.hpp"
#include "gateway/tunnel/status_text.hpp"

namespace sluice::tunnel::reverse {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using clock = std::chrono::steady_clock;

namespace {

struct tunnel_entry {
  config::tunnel cfg;
  std::shared_ptr<tunnel_counters> counters = std::make_shared<tunnel_counters>();
  std::vector<std::shared_ptr<waker>> waiters;
  std::string last_agent_left;  // "at T: reason"
  std::string last_refusal;     // the last channel open an agent refused
  std::chrono::system_clock::time_point since = std::chrono::system_clock::now();
};

}  // namespace

struct endpoint::impl : agent_host, std::enable_shared_from_this<endpoint::impl> {
  asio::io_context ioc{1};
  asio::executor_work_guard<asio::io_context::executor_type> work{ioc.get_executor()};
  std::thread thread;
  std::atomic<uint16_t> bound_port{0};

  // Endpoint thread only, from here on.
  std::optional<config::ssh_server_settings> server;
  config::settings_ptr snapshot;
  config::allowlist allow;
  ssh_bind bind = nullptr;
  std::string host_key_path, host_key_fp;
  std::shared_ptr<tcp::acceptor> acceptor;
  key_index keys;
  std::map<std::string, tunnel_entry> tunnels;
  std::list<std::shared_ptr<agent>> agents;
  address_limiter unauth;
  bool stopped = false;

  ~impl() override {
    if (bind)
      ssh_bind_free(bind);
  }

  // ---- agent_host ----
  auth_verdict authorize(const std::string& user, const std::string& key_b64) override {
    return check_agent_key(keys, user, key_b64);
  }
  const config::tunnel* tunnel_config(const std::string& name) override {
    auto it = tunnels.find(name);
    return it == tunnels.end() ? nullptr : &it->second.cfg;
  }
  std::shared_ptr<tunnel_counters> counters(const std::string& name) override {
    auto it = tunnels.find(name);
    return it == tunnels.end() ? std::make_shared<tunnel_counters>() : it->second.counters;
  }
  void on_authenticated(agent& a) override {
    unauth.release(a.address());
    if (auto it = tunnels.find(a.tunnel()); it != tunnels.end())
      it->second.since = std::chrono::system_clock::now();
  }
  void on_forwards_changed(agent& a) override { wake(a.tunnel()); }
  void on_closed(agent& a) override {
    if (!a.authenticated()) {
      unauth.release(a.address());
    } else if (auto it = tunnels.find(a.tunnel()); it != tunnels.end()) {
      it->second.last_agent_left = "the last agent (" + a.address() + ") left at " +
                                   iso8601(std::chrono::system_clock::now());
      it->second.since = std::chrono::system_clock::now();
    }
    // Not erased here: close() may run inside an iteration over `agents`.
    auto self = shared_from_this();
    asio::post(ioc, [self] {
      self->agents.remove_if([](const std::shared_ptr<agent>& x) { return !x->alive(); });
    });
    wake(a.tunnel());
  }

  void wake(const std::string& tunnel) {
    auto it = tunnels.find(tunnel);
    if (it == tunnels.end())
      return;
    for (auto& w : it->second.waiters)
      w->notify();
  }

  // ---- configuration ----
  void apply_here(config::settings_ptr s) {
    if (stopped)
      return;
    snapshot = s;
    std::vector<std::string> errors;
    keys = build_key_index(*s, errors);
    for (const auto& e : errors)
      log::warn("reverse_keys_unreadable").kv("error", e);
    std::map<std::string, bool> wanted;
    for (const auto& t : s->tunnels) {
      if (!t.reverse)
        continue;
      wanted[t.name] = true;
      auto [it, fresh] = tunnels.try_emplace(t.name);
      it->second.cfg = t;
      if (fresh)
        log::info("reverse_tunnel_add").kv("tunnel", t.name);
    }
    for (auto it = tunnels.begin(); it != tunnels.end();) {
      if (wanted.count(it->first)) {
        ++it;
        continue;
      }
      log::info("reverse_tunnel_remove").kv("tunnel", it->first);
      for (auto& w : it->second.waiters)
        w->notify();
      it = tunnels.erase(it);
    }
    // A key removed (or its tunnel gone) ends that agent's session now.
    std::vector<std::shared_ptr<agent>> doomed;
    for (auto& a : agents) {
      if (!a->alive() || !a->authenticated())
        continue;
      if (!tunnels.count(a->tunnel())) {
        doomed.push_back(a);
      } else if (!check_agent_key(keys, a->tunnel(), a->key_b64()).allowed) {
        doomed.push_back(a);
      }
    }
    for (auto& a : doomed) {
      a->close(tunnels.count(a->tunnel())
                   ? "its key " + a->key_fingerprint() + " was removed from tunnel '" +
                         a->tunnel() + "' by a configuration reload"
                   : "tunnel '" + a->tunnel() + "' was removed by a configuration reload");
    }
    apply_server(s->ssh_server);
  }

  void apply_server(const std::optional<config::ssh_server_settings>& next) {
    if (!next) {
      if (acceptor) {
        log::info("reverse_endpoint_stopped").kv("reason", "ssh_server removed from the config");
        close_listener();
      }
      server.reset();
      return;
    }
    allow = config::allowlist(next->allow, snapshot->allowlists);
    unauth.set_limit(next->max_unauthenticated_per_address);
    // The host key is re-read on every reload (a rotated key applies to new connections).
    std::string fp, error;
    ssh_bind b = make_bind(next->host_key, fp, error);
    if (!b) {
      log::error("reverse_endpoint_host_key").kv("path", next->host_key).kv("error", error);
      if (!bind)
        return;  // nothing to serve with
    } else {
      if (bind)
        ssh_bind_free(bind);
      bind = b;
      if (fp != host_key_fp && !host_key_fp.empty())
        log::notice("reverse_endpoint_host_key_changed").kv("old", host_key_fp).kv("new", fp);
      host_key_fp = fp;
      host_key_path = next->host_key;
    }
    const bool moved = !server || !(server->listen == next->listen) || !acceptor;
    server = next;
    if (moved)
      listen(next->listen);
  }

  ssh_bind make_bind(const std::string& path, std::string& fp, std::string& error) {
    auto info = load_host_key(path, error);
    if (!info)
      return nullptr;
    fp = info->fingerprint;
    ssh_bind b = ssh_bind_new();
    const int verbosity = SSH_LOG_NOLOG;
    bool ok =
        b && ssh_bind_options_set(b, SSH_BIND_OPTIONS_LOG_VERBOSITY, &verbosity) == 0 &&
        ssh_bind_options_set(b, SSH_BIND_OPTIONS_HOSTKEY, path.c_str()) == 0 &&
        ssh_bind_options_set(b, SSH_BIND_OPTIONS_HOSTKEY_ALGORITHMS, info->algorithms.c_str()) ==
            0 &&
        ssh_bind_options_set(b, SSH_BIND_OPTIONS_KEY_EXCHANGE, kKeyExchange) == 0 &&
        ssh_bind_options_set(b, SSH_BIND_OPTIONS_CIPHERS_C_S, kCiphers) == 0 &&
        ssh_bind_options_set(b, SSH_BIND_OPTIONS_CIPHERS_S_C, kCiphers) == 0 &&
        ssh_bind_options_set(b, SSH_BIND_OPTIONS_HMAC_C_S, kMacs) == 0 &&
        ssh_bind_options_set(b, SSH_BIND_OPTIONS_HMAC_S_C, kMacs) == 0 &&
        ssh_bind_options_set(b, SSH_BIND_OPTIONS_PUBKEY_ACCEPTED_KEY_TYPES, kAgentKeyTypes) == 0;
    if (!ok) {
      error = b ? std::string("libssh refused the endpoint settings: ") + ssh_get_error(b)
                : "libssh could not create a server";
      if (b)
        ssh_bind_free(b);
      return nullptr;
    }
    return b;
  }

  void close_listener() {
    if (acceptor) {
      boost::system::error_code ec;
      acceptor->close(ec);
      acceptor.reset();
    }
    bound_port = 0;
  }

  void listen(const config::host_port& where) {
    close_listener();
    boost::system::error_code ec;
    auto addr = asio::ip::make_address(where.host.empty() ? "0.0.0.0" : where.host, ec);
    if (ec) {
      log::error("reverse_endpoint_listen")
          .kv("listen", where.str())
          .kv("error", "not an IP address: " + where.host);
      return;
    }
    auto a = std::make_shared<tcp::acceptor>(ioc);
    const tcp::endpoint ep(addr, where.port);
    a->open(ep.protocol(), ec);
    if (!ec)
      a->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) {
      // SO_REUSEPORT: a new sluice binds the same port while this one drains (an upgrade
      // on one host, docs/operations.md "Upgrade without downtime").
      int one = 1;
      if (::setsockopt(a->native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
        ec = boost::system::error_code(errno, boost::system::system_category());
    }
    if (!ec)
      a->bind(ep, ec);
    if (!ec)
      a->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      log::error("reverse_endpoint_listen").kv("listen", where.str()).kv("error", ec.message());
      return;
    }
    acceptor = a;
    bound_port = a->local_endpoint(ec).port();
    log::info("reverse_endpoint_listening")
        .kv("listen", where.host + ":" + std::to_string(bound_port.load()))
        .kv("host_key", host_key_fp);
    asio::co_spawn(ioc, accept_loop(shared_from_this(), a), asio::detached);
  }

  static asio::awaitable<void> accept_loop(std::shared_ptr<impl> self,
                                           std::shared_ptr<tcp::acceptor> a) {
    while (a->is_open()) {
      boost::system::error_code ec;
      auto s = co_await a->async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        if (ec == asio::error::operation_aborted || !a->is_open())
          break;
        continue;
      }
      self->admit(std::move(s));
    }
  }

  void admit(tcp::socket s) {
    boost::system::error_code ec;
    const auto peer = s.remote_endpoint(ec);
    if (ec || stopped || !server || !bind)
      return;
    auto ip = peer.address();
    if (ip.is_v6() && ip.to_v6().is_v4_mapped())
      ip = asio::ip::make_address_v4(asio::ip::v4_mapped, ip.to_v6());
    const auto address = ip.to_string();
    auto refuse = [&](const std::string& why) {
      log::warn("reverse_connection_refused").kv("address", address).kv("reason", why);
    };
    if (!allow.admits_everyone()) {
      auto parsed = config::ip_address::parse(address);
      if (!parsed || !allow.check(*parsed).allowed) {
        refuse("address not in ssh_server.allow (" + allow.describe() + ")");
        return;
      }
    }
    size_t live = 0;
    for (const auto& x : agents)
      live += x->alive() ? 1 : 0;
    if (live >= server->max_sessions) {
      refuse("ssh_server.max_sessions=" + std::to_string(server->max_sessions) + " reached");
      return;
    }
    if (!unauth.try_admit(address)) {
      refuse("this address already has ssh_server.max_unauthenticated_per_address=" +
             std::to_string(server->max_unauthenticated_per_address) +
             " connections that have not logged in");
      return;
    }
    s.set_option(tcp::no_delay(true), ec);
    const int on = 1;
    ::setsockopt(s.native_handle(), SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
    ssh_session session = ssh_new();
    const int fd = s.release(ec);
    if (!session || ec || ssh_bind_accept_fd(bind, session, fd) != SSH_OK) {
      refuse(std::string("SSH session setup failed: ") +
             (session ? ssh_get_error(bind) : "ssh_new failed"));
      unauth.release(address);
      if (session)
        ssh_free(session);  // closes fd if it was taken
      else
        ::close(fd);
      return;
    }
    auto a = std::make_shared<agent>(ioc, *this, session, fd, address, server->login_timeout);
    agents.push_back(a);
    a->start();
  }

  // ---- channels ----
  static asio::awaitable<channel_result> open(std::shared_ptr<impl> self, std::string tunnel,
                                              std::string host, uint16_t port, int local_fd) {
    auto fail = [&](std::string stage, std::string msg) {
      if (local_fd >= 0)
        ::close(local_fd);
      local_fd = -1;
      return channel_result{-1, std::move(stage), std::move(msg)};
    };
    auto it = self->tunnels.find(tunnel);
    if (it == self->tunnels.end() || self->stopped)
      co_return fail("unknown-tunnel", "no reverse tunnel named '" + tunnel + "' is configured");
    const auto cfg = it->second.cfg;
    const auto deadline = clock::now() + cfg.wait_for_up;
    std::shared_ptr<agent> chosen;
    for (;;) {
      std::vector<std::shared_ptr<agent>> mine;
      std::vector<agent_load> loads;
      for (auto& a : self->agents) {
        if (!a->authenticated() || a->tunnel() != tunnel)
          continue;
        mine.push_back(a);
        loads.push_back({a->alive(), a->forwards(), a->channel_count()});
      }
      const int i = pick_agent(loads, port);
      if (i >= 0) {
        chosen = mine[static_cast<size_t>(i)];
        break;
      }
      it = self->tunnels.find(tunnel);
      if (it == self->tunnels.end() || self->stopped)
        co_return fail("tunnel-down", "reverse tunnel '" + tunnel + "' was removed");
      if (clock::now() >= deadline) {
        size_t live = 0;
        std::string ports;
        for (const auto& l : loads) {
          if (!l.alive)
            continue;
          ++live;
          for (const auto& f : l.forwards)
            ports += (ports.empty() ? "" : ", ") + std::to_string(f.port);
        }
        if (live == 0) {
          co_return fail(
              "no-agent",
              "reverse tunnel '" + tunnel + "' has no agent connected to this gateway (waited " +
                  secs(cfg.wait_for_up) +
                  (it->second.last_agent_left.empty() ? std::string()
                                                      : "; " + it->second.last_agent_left) +
                  "): start one in the database's network, e.g. `ssh -N -R " +
                  std::to_string(port) + ":" + host + ":" + std::to_string(port) + " " + tunnel +
                  "@GATEWAY -p PORT` or `sluice agent`; see docs/tunnels.md");
        }
        co_return fail("no-forward",
                       "reverse tunnel '" + tunnel + "' has " + std::to_string(live) +
                           " agent(s) connected but none forwards port " + std::to_string(port) +
                           " (announced: " + (ports.empty() ? std::string("none") : ports) +
                           "): run the agent with -R " + std::to_string(port) + ":" + host + ":" +
                           std::to_string(port));
      }
      auto w = std::make_shared<waker>(self->ioc.get_executor());
      it->second.waiters.push_back(w);
      co_await w->wait_until(deadline);
      if (auto again = self->tunnels.find(tunnel); again != self->tunnels.end()) {
        auto& ws = again->second.waiters;
        ws.erase(std::remove(ws.begin(), ws.end(), w), ws.end());
      }
    }
    if (it->second.counters->open_channels.load() >= cfg.max_channels) {
      co_return fail("channel-open", "reverse tunnel '" + tunnel + "' already has max_channels=" +
                                         std::to_string(cfg.max_channels) + " channels open");
    }
    int theirs = -1;
    if (local_fd < 0) {
      int fds[2];
      if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
        co_return fail("channel-open", std::string("socketpair: ") + std::strerror(errno));
      local_fd = fds[0];
      theirs = fds[1];
    }
    auto req = std::make_shared<channel_request>();
    req->host = host;
    req->port = port;
    req->local_fd = local_fd;
    local_fd = -1;
    req->w = std::make_shared<waker>(self->ioc.get_executor());
    chosen->open_forward(req);
    const auto until = clock::now() + cfg.connect_timeout + std::chrono::milliseconds(500);
    while (!req->done) {
      if (clock::now() >= until) {
        req->abandoned = true;
        if (theirs >= 0)
          ::close(theirs);
        co_return channel_result{-1, "channel-open",
                                 "reverse tunnel '" + tunnel + "': the agent at " +
                                     chosen->address() + " did not answer the channel open for " +
                                     "port " + std::to_string(port) + " within " +
                                     secs(cfg.connect_timeout)};
      }
      co_await req->w->wait_until(until);
    }
    if (!req->error.empty()) {
      if (theirs >= 0)
        ::close(theirs);
      if (auto e = self->tunnels.find(tunnel); e != self->tunnels.end())
        e->second.last_refusal = iso8601(std::chrono::system_clock::now()) + ": " + req->error;
      co_return channel_result{-1, req->stage, "reverse tunnel '" + tunnel + "': " + req->error};
    }
    co_return channel_result{theirs, "", "", 0};
  }

  nlohmann::json status_here() const {
    auto out = nlohmann::json::array();
    for (const auto& [name, e] : tunnels) {
      auto agents_j = nlohmann::json::array();
      std::set<uint16_t> ports;
      for (const auto& a : agents) {
        if (!a->alive() || !a->authenticated() || a->tunnel() != name)
          continue;
        agents_j.push_back(a->status());
        for (const auto& f : a->forwards())
          ports.insert(f.port);
      }
      const bool up = !agents_j.empty();
      out.push_back({
          {"name", name},
          {"type", "reverse"},
          {"state", up ? "up" : "waiting-for-agent"},
          {"since", iso8601(e.since)},
          {"last_error",
           up ? std::string()
              : "no agent connected" +
                    (e.last_agent_left.empty() ? std::string() : " (" + e.last_agent_left + ")")},
          {"last_error_stage", up ? "" : "no-agent"},
          {"agents", agents_j},
          {"agents_connected", agents_j.size()},
          // What the forward tunnels' consumers (status page, metrics) read.
          {"bastion", "reverse: " + std::to_string(agents_j.size()) + " agent(s)"},
          {"reconnects", 0},
          {"forwards", nlohmann::json(std::vector<uint16_t>(ports.begin(), ports.end()))},
          {"open_channels", e.counters->open_channels.load()},
          {"channels_opened", e.counters->channels_opened.load()},
          {"channels_refused", e.counters->channels_refused.load()},
          {"last_channel_refusal", e.last_refusal},
          {"bytes_in", e.counters->bytes_in.load()},
          {"bytes_out", e.counters->bytes_out.load()},
          {"host_key", host_key_fp},
          {"listen",
           server ? server->listen.host + ":" + std::to_string(bound_port.load()) : std::string()},
      });
    }
    return out;
  }

  void stop_here() {
    if (stopped)
      return;
    stopped = true;
    close_listener();
    auto all = agents;
    for (auto& a : all)
      a->close("the gateway is shutting down");
    agents.clear();
    for (auto& [_, e] : tunnels)
      for (auto& w : e.waiters)
        w->notify();
  }
};

endpoint::endpoint() : impl_(std::make_shared<impl>()) {
  ssh_init();
  auto i = impl_;
  impl_->thread = std::thread([i] { i->ioc.run(); });
}

endpoint::~endpoint() {
  stop();
}

void endpoint::apply(config::settings_ptr s) {
  if (!s)
    return;
  auto i = impl_;
  asio::post(i->ioc, [i, s] { i->apply_here(s); });
}

void endpoint::stop() {
  auto i = impl_;
  if (!i->thread.joinable())
    return;
  auto done = std::make_shared<std::promise<void>>();
  auto f = done->get_future();
  asio::post(i->ioc, [i, done] {
    i->stop_here();
    done->set_value();
  });
  f.wait_for(std::chrono::seconds(3));
  i->work.reset();
  // Let the agents' handlers drain, then end the thread.
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
  while (!i->ioc.stopped() && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  i->ioc.stop();
  i->thread.join();
}

asio::awaitable<channel_result> endpoint::open_channel(std::string tunnel, std::string host,
                                                       uint16_t port, int local_fd) {
  try {
    co_return co_await asio::co_spawn(
        impl_->ioc, impl::open(impl_, std::move(tunnel), std::move(host), port, local_fd),
        asio::use_awaitable);
  } catch (const std::exception& e) {
    co_return channel_result{-1, "tunnel-down", std::string("reverse tunnel error: ") + e.what()};
  }
}

nlohmann::json endpoint::status() const {
  auto i = impl_;
  auto p = std::make_shared<std::promise<nlohmann::json>>();
  auto f = p->get_future();
  asio::post(i->ioc, [i, p] { p->set_value(i->status_here()); });
  if (f.wait_for(std::chrono::seconds(2)) != std::future_status::ready)
    return nlohmann::json::array();
  return f.get();
}

uint16_t endpoint::port() const {
  return impl_->bound_port.load();
}

}  // namespace sluice::tunnel::reverse
